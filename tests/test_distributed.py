"""PruneSearch under keras_tuner's chief/worker mode, as real processes.

A chief (which holds the oracle and the round barrier) and two workers on
127.0.0.1 share one project directory, as the README's "Running on several
machines" describes.
"""

import collections
import socket
import time

import pytest

from keras_prune_nas import culling
from processes import PLAN
from processes import check_finished_search
from processes import epoch_lines
from processes import finish
from processes import kill_when
from processes import start

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def start_cluster(directory, epoch_log, *options):
    port = free_port()
    network = dict(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
    chief = start(directory, epoch_log, *options, KERASTUNER_TUNER_ID="chief", **network)
    workers = [
        start(directory, epoch_log, *options, KERASTUNER_TUNER_ID=f"tuner{i}", **network)
        for i in range(2)
    ]
    return chief, workers


def run_cluster(directory, epoch_log, *options):
    """A chief and two workers to the end; returns the chief's output."""
    chief, workers = start_cluster(directory, epoch_log, *options)
    for worker in workers:
        finish(worker)
    return finish(chief)


def test_chief_and_two_workers_run_the_exact_cull_schedule(tmp_path):
    log = tmp_path / "epochs.log"
    output = run_cluster(tmp_path / "run", log)

    tuner = check_finished_search(tmp_path / "run")
    lines = epoch_lines(log)
    # Every epoch trained exactly once, shared between both workers.
    assert len(lines) == PLAN["total"]
    by_worker = collections.Counter(tuner_id for tuner_id, _, _ in lines)
    assert set(by_worker) == {"tuner0", "tuner1"}
    assert len({(trial, epoch) for _, trial, epoch in lines}) == PLAN["total"]
    assert [r["alive"] for r in tuner.oracle.cull_history] == culling.cull_schedule(12, 0.3, 4)[:-1]
    assert "[round   1]" not in output  # verbose=0 in the script
    assert (tmp_path / "run" / "search" / "curves.csv").exists()


def test_a_worker_killed_mid_epoch_loses_its_candidate_within_the_lease(tmp_path):
    lease_timeout = 6.0
    log = tmp_path / "epochs.log"
    # tuner1 spends a minute in each epoch 1: it is surely mid-epoch when killed.
    chief, (survivor, victim) = start_cluster(
        tmp_path / "run", log, "--lease-timeout", str(lease_timeout),
        "--slow-epoch", "tuner1:1:60",
    )
    begun = f"{log}.begin"

    def victim_inside_epoch_one(_):
        return any(t == "tuner1" and e == "1" for t, _, e in epoch_lines(begun))

    kill_when(victim, log, victim_inside_epoch_one)
    killed_at = time.time()
    trial_id = [trial for t, trial, e in epoch_lines(begun) if t == "tuner1" and e == "1"][-1]
    before_kill = epoch_lines(log)
    finish(survivor)
    finish(chief)

    tuner = check_finished_search(tmp_path / "run")
    lines = epoch_lines(log)
    assert len(lines) == PLAN["total"]
    # Its candidate went on from its checkpoint of epoch 1, on the survivor.
    after = [(t, int(e)) for t, trial, e in lines[len(before_kill):] if trial == trial_id]
    assert after[0] == ("tuner0", 1)
    expired = tuner.oracle.expired_leases
    assert [(e["tuner_id"], e["trial_id"]) for e in expired] == [("tuner1", trial_id)]
    # Heartbeats every 1.5 s: the chief noticed within the lease plus its poll.
    delay = expired[0]["expired_at"] - killed_at
    assert 0 < delay <= lease_timeout + 2, delay
    # More than the timeout, recorded to the millisecond (6.0004 is written 6.0).
    assert lease_timeout <= expired[0]["silent_seconds"] <= lease_timeout + 2


def test_a_worker_in_an_epoch_longer_than_the_lease_keeps_its_candidate(tmp_path):
    log = tmp_path / "epochs.log"
    run_cluster(tmp_path / "run", log, "--lease-timeout", "3", "--slow-epoch", "tuner1:1:8")

    tuner = check_finished_search(tmp_path / "run")
    slow = [trial for t, trial, e in epoch_lines(f"{log}.begin") if t == "tuner1" and e == "1"]
    assert slow, "tuner1 never trained an epoch 1"
    assert tuner.oracle.expired_leases == []
    lines = epoch_lines(log)
    assert len(lines) == PLAN["total"]
    # Each slow epoch was trained once, by tuner1, which kept its candidate.
    for trial_id in slow:
        assert [t for t, trial, e in lines if trial == trial_id and e == "1"] == ["tuner1"]


def test_an_nao_search_runs_its_generations_across_workers(tmp_path):
    from keras_prune_nas.nao import NAOSearch
    from search_process import build_mlp

    log = tmp_path / "epochs.log"
    run_cluster(tmp_path / "run", log, "--nao-generation-size", "6", "--min-survivors", "3")

    tuner = NAOSearch(build_mlp, objective="val_accuracy", max_trials=12,
                      generation_size=6, min_survivors=3, cull_fraction=0.3,
                      patience=None, seed=3, directory=tmp_path / "run",
                      project_name="search")
    oracle = tuner.oracle
    assert oracle.phase == "finished" and len(oracle.trials) == 12
    assert sorted(collections.Counter(oracle.generation_of.values()).items()) == [(0, 6), (1, 6)]
    proposed = oracle.generation_history[0]["proposed"]
    assert proposed == 6  # the whole generation (no random share by default)
    assert collections.Counter(oracle.origin_of.values()) == {"random": 6, "nao": 6}
    # Both workers trained; no epoch of any candidate was trained twice.
    lines = epoch_lines(log)
    assert {tuner_id for tuner_id, _, _ in lines} == {"tuner0", "tuner1"}
    assert len({(trial, epoch) for _, trial, epoch in lines}) == len(lines)
    assert len(lines) == oracle.epochs_trained()
