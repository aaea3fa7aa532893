"""SecretarySearch and its oracle: which candidate the rule accepts.

The oracle is driven by the synthetic worker loop of `test_oracle`; one test
runs the real tuner on digits.
"""

import keras_tuner as kt
import pytest

import keras_prune_nas as kpn
from keras_prune_nas import culling
from keras_prune_nas.oracle import PHASE_FINISHED

from helpers import run_search

TrialStatus = kt.engine.trial.TrialStatus


def make_secretary(tmp_path, max_trials=10, epochs=6, **kwargs):
    hp = kt.HyperParameters()
    hp.Int("quality", 0, 1_000_000)
    oracle = kpn.SecretaryOracle(
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=max_trials, hyperparameters=hp, seed=7, **kwargs,
    )
    oracle._set_project_dir(str(tmp_path), "project")
    oracle.set_epochs(epochs)
    return oracle


def playing(oracle, probe_values, gain=0.01):
    """Curve of the i-th candidate sampled: its probe value, then rising."""

    def curve(trial, epoch):
        index = oracle.start_order.index(trial.trial_id)
        return probe_values[index] + gain * epoch

    return curve


def outcome(oracle):
    return [
        (oracle.start_order.index(t.trial_id), t.status, len(oracle.curve(t.trial_id)))
        for t in oracle.trials.values()
    ]


def test_accepts_the_first_candidate_that_beats_every_observed_one(tmp_path):
    oracle = make_secretary(tmp_path, patience=None)
    assert oracle.observe == 3  # floor(10 / e)
    probes = [0.3, 0.5, 0.2, 0.4, 0.6, 0.9, 0.1, 0.2, 0.3, 0.4]
    run_search(oracle, curve=playing(oracle, probes))
    # 0-2 observed (best 0.5), 3 rejected, 4 accepted; 5-9 never sampled.
    assert outcome(oracle) == [
        (0, TrialStatus.STOPPED, 1), (1, TrialStatus.STOPPED, 1),
        (2, TrialStatus.STOPPED, 1), (3, TrialStatus.STOPPED, 1),
        (4, TrialStatus.COMPLETED, 6),
    ]
    assert oracle.get_best_trials(1)[0].trial_id == oracle.start_order[4]
    assert oracle.accepted == oracle.start_order[4]
    assert [d["decision"] for d in oracle.decisions] == [
        "observed", "observed", "observed", "rejected", "accepted"
    ]
    assert oracle.benchmark == pytest.approx(0.5)
    assert oracle.phase == PHASE_FINISHED
    messages = [oracle.trials[t].message for t in oracle.start_order[:4]]
    assert messages[0].startswith("Observed only (the secretary rule observes the first 3 of 10)")
    assert messages[3].startswith("Rejected: val_accuracy 0.4000 after 1 epoch(s)")


def test_a_tie_with_the_best_observed_is_not_accepted(tmp_path):
    oracle = make_secretary(tmp_path, patience=None)
    probes = [0.5, 0.1, 0.1, 0.5, 0.51, 0.2, 0.2, 0.2, 0.2, 0.2]
    run_search(oracle, curve=playing(oracle, probes, gain=0.0))
    assert oracle.accepted == oracle.start_order[4]


def test_the_last_candidate_is_accepted_when_none_beats_the_observed(tmp_path):
    oracle = make_secretary(tmp_path, patience=None)
    probes = [0.9, 0.5, 0.2, 0.4, 0.6, 0.1, 0.1, 0.2, 0.3, 0.4]
    run_search(oracle, curve=playing(oracle, probes))
    assert len(oracle.trials) == 10
    assert oracle.accepted == oracle.start_order[9]
    statuses = [t.status for t in oracle.trials.values()]
    assert statuses == [TrialStatus.STOPPED] * 9 + [TrialStatus.COMPLETED]
    assert oracle.epochs_trained() == 9 + 6


def test_probe_epochs_and_early_stopping_of_the_accepted_one(tmp_path):
    oracle = make_secretary(tmp_path, max_trials=6, epochs=10, probe_epochs=2, patience=2)
    assert oracle.observe == 2

    def curve(trial, epoch):
        index = oracle.start_order.index(trial.trial_id)
        # Candidate 2 is accepted and stops improving after its 4th epoch.
        peak = [0.3, 0.4, 0.6, 0.1, 0.1, 0.1][index]
        return peak + 0.01 * min(epoch, 3)

    run_search(oracle, curve=curve)
    assert outcome(oracle) == [
        (0, TrialStatus.STOPPED, 2), (1, TrialStatus.STOPPED, 2),
        (2, TrialStatus.COMPLETED, 6),
    ]


def test_the_rule_judges_with_the_complexity_penalty(tmp_path):
    oracle = make_secretary(tmp_path, max_trials=5, patience=None, complexity_penalty=0.1)
    probes = [0.5, 0.6, 0.2, 0.2, 0.2]
    sizes = [10, 100_000, 10, 10, 1_000]

    run_search(
        oracle, curve=playing(oracle, probes, gain=0.0),
        parameters=lambda trial: sizes[oracle.start_order.index(trial.trial_id)],
    )
    # observe = 1: benchmark 0.5 - 0.1 = 0.4; candidate 1 scores
    # 0.6 - 0.5 = 0.1 and is rejected (without the penalty it would be
    # accepted); 2 and 3 score 0.1; the last is taken.
    assert oracle.accepted == oracle.start_order[4]


def test_a_failing_last_candidate_leaves_the_best_probed_as_result(tmp_path):
    oracle = make_secretary(tmp_path, max_trials=4, patience=None)
    probes = [0.9, 0.5, 0.2, 0.4]
    run_search(
        oracle, curve=playing(oracle, probes),
        fail=lambda trial: oracle.start_order.index(trial.trial_id) == 3,
    )
    assert oracle.phase == PHASE_FINISHED
    assert oracle.accepted is None
    assert oracle.get_best_trials(1)[0].trial_id == oracle.start_order[0]


def test_state_round_trip_and_resume_refuses_other_probe_epochs(tmp_path):
    oracle = make_secretary(tmp_path, patience=None)
    probes = [0.3, 0.5, 0.2, 0.4, 0.6, 0.9, 0.1, 0.2, 0.3, 0.4]
    from helpers import run_unit

    for _ in range(3):
        run_unit(oracle, curve=playing(oracle, probes))
    state = oracle.get_state()
    again = make_secretary(tmp_path, patience=None)
    again.set_state(state)
    assert again.decisions == oracle.decisions
    assert again.benchmark == oracle.benchmark
    other = make_secretary(tmp_path, patience=None, probe_epochs=2)
    with pytest.raises(ValueError, match=r"probe_epochs=1 \(now 2\)"):
        other.set_state(state)
    prune = kpn.PruneOracle(objective="val_accuracy", max_trials=10)
    with pytest.raises(RuntimeError, match="state of a SecretaryOracle, not of a PruneOracle"):
        prune.set_state(state)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(probe_epochs=0), "`probe_epochs` must be an integer >= 1"),
        (dict(probe_epochs=1.5), "`probe_epochs` must be an integer >= 1"),
        (dict(patience=0), "`patience` must be an integer >= 1"),
        (dict(complexity_penalty=float("nan")), "`complexity_penalty` must be a finite number"),
    ],
)
def test_bad_parameters_are_rejected_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kpn.SecretarySearch(lambda hp: None, objective="val_accuracy", **kwargs)


def test_secretary_observe_count():
    assert [culling.secretary_observe_count(n) for n in (1, 2, 3, 10, 50)] == [0, 0, 1, 3, 18]


def test_secretary_search_on_digits(tmp_path):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    tuner = kpn.SecretarySearch(
        kpn.NASHyperModel((64,), 10, architecture="dense"),
        objective="val_accuracy", max_trials=8, probe_epochs=1, patience=2,
        seed=2, directory=tmp_path,
    )
    tuner.search(x[:600], y[:600], epochs=5, validation_data=(x[600:900], y[600:900]), verbose=0)
    oracle = tuner.oracle
    accepted = oracle.trials[oracle.accepted]
    assert accepted.status == TrialStatus.COMPLETED
    probed = [t for t in oracle.trials.values() if t.status == TrialStatus.STOPPED]
    assert all(len(oracle.curve(t.trial_id)) == 1 for t in probed)
    index = oracle.start_order.index(oracle.accepted)
    observed = [oracle.curve(t)[0] for t in oracle.start_order[: oracle.observe]]
    # Accepted: after the observed ones, and better than all of them (or last).
    assert index >= oracle.observe
    assert index == 7 or oracle.curve(oracle.accepted)[0] > max(observed)
    for trial_id in oracle.start_order[oracle.observe:index]:
        assert oracle.curve(trial_id)[0] <= max(observed)
    model = tuner.get_best_models(1)[0]
    accuracy = model.evaluate(x[600:900], y[600:900], verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(accepted.score, abs=1e-6)
