"""PruneSearch under keras_tuner's chief/worker mode, as real processes.

A chief (which holds the oracle and the round barrier) and two workers on
127.0.0.1 share one project directory, as the README's "Running on several
machines" describes.
"""

import collections
import socket

import pytest

from keras_prune_nas import culling
from test_resume import PLAN
from test_resume import check_finished_search
from test_resume import epoch_lines
from test_resume import finish
from test_resume import kill_when
from test_resume import no_process_outlives_its_test  # noqa: F401 (fixture)
from test_resume import start

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


def test_chief_and_two_workers_run_the_exact_cull_schedule(tmp_path):
    log = tmp_path / "epochs.log"
    chief, workers = start_cluster(tmp_path / "run", log)
    for worker in workers:
        finish(worker)
    output = finish(chief)

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


def test_search_completes_when_a_worker_is_killed_mid_round(tmp_path):
    log = tmp_path / "epochs.log"
    chief, (survivor, victim) = start_cluster(
        tmp_path / "run", log, "--lease-timeout", "10"
    )

    def victim_in_round_two(lines):
        return any(t == "tuner1" and int(e) >= 1 for t, _, e in lines)

    kill_when(victim, log, victim_in_round_two)
    before_kill = epoch_lines(log)
    in_flight = [(trial, int(epoch)) for t, trial, epoch in before_kill if t == "tuner1"][-1]
    finish(survivor)
    finish(chief)

    tuner = check_finished_search(tmp_path / "run")
    lines = epoch_lines(log)
    assert PLAN["total"] <= len(lines) <= PLAN["total"] + 1
    # The dead worker's candidate went on from its checkpoint, not from 0.
    trial_id, epoch = in_flight
    after = [int(e) for _, trial, e in lines[len(before_kill):] if trial == trial_id]
    if after:
        assert after[0] in (epoch, epoch + 1)
    assert tuner.oracle.trials[trial_id].status in ("STOPPED", "COMPLETED")
    # The chief took the dead worker's lease back (with its candidate, unless
    # it had reported the whole round before dying).
    expired = tuner.oracle.expired_leases
    assert [e["tuner_id"] for e in expired] == ["tuner1"]
    assert expired[0]["trial_id"] in (trial_id, None)
