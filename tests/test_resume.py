"""A search killed with SIGKILL and started again resumes where it was.

Real processes (`tests/search_process.py`), real training, real kills.
`patience=None`, so an uninterrupted search trains a fixed number of epochs
whatever the random numbers, and the interrupted one can be held to it.
"""

import collections
import os
import sys

import keras_tuner as kt
import pytest
from processes import PLAN
from processes import SCRIPT
from processes import check_finished_search
from processes import epoch_lines
from processes import finish
from processes import kill_when
from processes import oracle_state
from processes import start

pytestmark = pytest.mark.slow


def backend_available(backend):
    import importlib.util

    return importlib.util.find_spec(backend) is not None


@pytest.mark.parametrize("backend", [
    "tensorflow",
    pytest.param("jax", marks=pytest.mark.skipif(
        not backend_available("jax"), reason="JAX is not installed (it is in the test extra)")),
    pytest.param("torch", marks=pytest.mark.skipif(
        not backend_available("torch"),
        reason="PyTorch is not installed (its wheels are large: pip install torch)")),
])
def test_search_killed_mid_round_resumes_without_retraining(tmp_path, backend):
    # The searches run on `backend`; this process checks them on TensorFlow
    # (the checkpoints are backend-neutral). `check_finished_search` holds
    # the resumed search to what an uninterrupted one does: the same cull
    # schedule and PLAN's epochs.
    on = dict(KERAS_BACKEND=backend)
    directory, log = tmp_path / "killed", tmp_path / "killed.log"
    # Kill 1: in round 2, part-way through the population.
    first = start(directory, log, **on)
    kill_when(first, log, lambda lines: len(lines) >= 12 + 4)
    history_at_kill = oracle_state(directory)["round_oracle"]["engine"]["policy"]["cull"]["cull_history"]
    assert len(history_at_kill) == 1
    # Kill 2: among the finalists.
    second = start(directory, log, **on)
    kill_when(second, log, lambda lines: len(lines) >= PLAN["total"] - 3)
    history_at_second_kill = oracle_state(directory)["round_oracle"]["engine"]["policy"]["cull"]["cull_history"]
    assert f"backend={backend}" in finish(start(directory, log, **on))

    resumed = check_finished_search(directory)
    history = resumed.oracle.cull_history
    # The culls made before each kill stand unchanged.
    assert history[: len(history_at_kill)] == history_at_kill
    assert history[: len(history_at_second_kill)] == history_at_second_kill
    # Epochs trained in all three processes: those of an uninterrupted run,
    # plus at most the one epoch in flight at each kill.
    lines = epoch_lines(log)
    assert PLAN["total"] <= len(lines) <= PLAN["total"] + 2
    # No candidate started over: epoch 0 was trained once per candidate.
    per_trial = collections.Counter((trial, epoch) for _, trial, epoch in lines)
    assert all(per_trial[(t, "0")] == 1 for t in resumed.oracle.trials)
    # The result is a usable model with the weights of its best epoch.
    best_trial = resumed.oracle.get_best_trials(1)[0]
    assert best_trial.status == "COMPLETED"
    resumed.hypermodel = kt.HyperModel()
    resumed.hypermodel.build = _build_for(resumed)
    model = resumed.get_best_models(1)[0]
    assert model.count_params() > 0
    leftovers = [
        name for _, _, names in os.walk(directory) for name in names
        if name.startswith(".tmp-")
    ]
    assert leftovers == []


def _build_for(tuner):
    sys.path.insert(0, os.path.dirname(SCRIPT))
    try:
        import search_process
    finally:
        sys.path.pop(0)
    return search_process.build_mlp


def test_nao_search_killed_in_its_second_generation_resumes_without_retraining(tmp_path):
    from keras_prune_nas.nao import NAOSearch

    directory, log = tmp_path / "nao", tmp_path / "nao.log"
    options = ("--nao-generation-size", "6", "--min-survivors", "3")
    # Trials 00-05 are generation 0; kill once generation 1 has trained two epochs.
    first = start(directory, log, *options)
    kill_when(first, log, lambda lines: sum(trial >= "06" for _, trial, _ in lines) >= 2)
    state = oracle_state(directory)["round_oracle"]["engine"]["policy"]["nao"]
    assert state["generation"] == 1 and len(state["generation_history"]) == 1
    proposed_at_kill = dict(state["origin_of"])
    finish(start(directory, log, *options))

    tuner = NAOSearch(
        lambda hp: None, objective="val_accuracy", max_trials=12, generation_size=6,
        min_survivors=3, cull_fraction=0.3, patience=None, seed=3,
        directory=directory, project_name="search",
    )
    oracle = tuner.oracle
    assert oracle.phase == "finished" and len(oracle.trials) == 12
    # NAO was not asked again: the generation it proposed is the one trained.
    assert len(oracle.generation_history) == 1
    assert {t: o for t, o in oracle.origin_of.items() if t in proposed_at_kill} == proposed_at_kill
    lines = epoch_lines(log)
    per_trial = collections.Counter((trial, epoch) for _, trial, epoch in lines)
    # Generation 0 was not trained again; of generation 1 at most the epoch
    # in flight at the kill (logged, not yet saved) was trained twice.
    assert all(count == 1 for (trial, _), count in per_trial.items() if trial < "06")
    assert sum(count - 1 for count in per_trial.values()) <= 1
    assert len(lines) <= oracle.epochs_trained() + 1
