"""Local workers: one search on several processes of this machine, for real."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from keras_prune_nas import local_workers
from keras_prune_nas.local_workers import LocalWorkers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cores_are_shared_out_and_gpus_dealt_round_robin():
    assert local_workers.core_shares([0, 1], 2) == [[0], [1]]
    assert local_workers.core_shares([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    assert local_workers.core_shares([0, 1], 3) == [[0], [1], [0]]
    assert local_workers.visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert local_workers.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    environ = local_workers.worker_environment({}, 1, 4242, [1], ["2", "3"])
    assert environ["KERASTUNER_TUNER_ID"] == "tuner1"
    assert environ["KERASTUNER_ORACLE_PORT"] == "4242"
    assert environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert environ["OMP_NUM_THREADS"] == environ["TF_NUM_INTRAOP_THREADS"] == "1"
    assert "intra_op_parallelism_threads=1" in environ["XLA_FLAGS"]
    assert environ[local_workers.WORKER_MARK] == "1"


def test_a_worker_gets_its_memory_budget_and_knows_when_it_is_over_it():
    from keras_prune_nas import memory

    environ = local_workers.worker_environment(
        {memory.BUDGET_VARIABLE: "9"}, 1, 4000, [1], [], "tuner1-2", 512)
    assert environ["KERASTUNER_TUNER_ID"] == "tuner1-2"
    assert environ[memory.BUDGET_VARIABLE] == "512"
    unbounded = local_workers.worker_environment({memory.BUDGET_VARIABLE: "9"}, 0, 4000,
                                                 [0], [])
    assert memory.BUDGET_VARIABLE not in unbounded and unbounded["KERASTUNER_TUNER_ID"] == "tuner0"
    assert memory.resident_mib() > 10
    assert not memory.over_budget(None) and not memory.over_budget(10 ** 7)
    assert memory.over_budget(1.0)
    with pytest.raises(ValueError, match="memory_budget_mib"):
        LocalWorkers(2, memory_budget_mib=0)


def test_jax_workers_share_a_compilation_cache_unless_the_user_set_one(tmp_path):
    from keras_prune_nas import memory

    shared = memory.compilation_cache_environment(str(tmp_path), backend="jax")
    assert shared["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path)
    assert shared["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert memory.compilation_cache_environment(str(tmp_path), backend="tensorflow") == {}
    current = memory.compilation_cache_environment(str(tmp_path))
    environ = local_workers.worker_environment({}, 0, 4000, [0], [],
                                               compilation_cache=str(tmp_path))
    assert all(environ[name] == value for name, value in current.items())
    users = local_workers.worker_environment({"JAX_COMPILATION_CACHE_DIR": "/mine"}, 0, 4000,
                                             [0], [], compilation_cache=str(tmp_path))
    assert users["JAX_COMPILATION_CACHE_DIR"] == "/mine"


def test_bad_local_worker_settings_are_refused():
    with pytest.raises(ValueError, match="`workers` must be an integer >= 1"):
        LocalWorkers(0)
    for program in ("-c", "", "/venv/lib/python3.11/site-packages/ipykernel_launcher.py"):
        with pytest.raises(ValueError, match="run the search from a script"):
            with LocalWorkers(2, argv=[sys.executable, program, "pass"]):
                pass
    # One worker is this process: nothing starts, nothing changes.
    before = dict(os.environ)
    with LocalWorkers(1) as workers:
        assert not workers.is_chief and dict(os.environ) == before


def cli(directory, *options):
    return [
        sys.executable, "-m", "keras_prune_nas.cli", "search", "--trials", "10",
        "--epochs", "4", "--cull-fraction", "0.3", "--min-survivors", "4",
        "--seed", "3", "--directory", str(directory), *options,
    ]


def processes_of(directory, program="keras_prune_nas.cli"):
    """Pids of every process whose command line names `directory` and `program`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                command = stream.read().decode(errors="replace")
        except OSError:
            continue
        if str(directory) in command and program in command:
            found.append(int(pid))
    return found


def wait_for_line(process, text, timeout=600):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came: {''.join(lines)[-3000:]}")


def until_gone(directory, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_of(directory)
        if not left:
            return []
        time.sleep(0.2)
    return processes_of(directory)


@pytest.fixture
def cleanup():
    directories = []
    yield directories
    for directory in directories:
        for pid in processes_of(directory):
            os.kill(pid, signal.SIGKILL)


def started_search(directory, *options):
    """A chief with two local workers, once it has finished round 1."""
    chief = start(cli(directory, "--workers", "2", *options))
    wait_for_line(chief, "[round   1]")
    return chief


def run(command, **kwargs):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900,
                          **kwargs)


def start(command):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    # A test run started in the background by a shell (`pytest &`, nohup)
    # inherits SIGINT ignored, and so would the chief, which would then
    # never see the test's Ctrl-C: the chief gets the default disposition,
    # as in a terminal.
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_interrupt_handling)


def default_interrupt_handling():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_two_local_workers_run_the_same_cull_as_one_process(tmp_path, cleanup):
    cleanup += [tmp_path / "one", tmp_path / "two"]
    one = run(cli(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(cli(tmp_path / "two", "--workers", "2"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.startswith("PruneSearch on digits (tensorflow backend, on 2 local workers)")
    assert until_gone(tmp_path / "two") == []

    summaries = [json.loads((tmp_path / name / "digits" / "summary.json").read_text())
                 for name in ("one", "two")]
    assert summaries[0]["statuses"] == summaries[1]["statuses"]
    assert summaries[0]["candidates"] == summaries[1]["candidates"] == 10
    # The same cull schedule: round by round, as many alive and culled.
    def schedule(output):
        return re.findall(r"^\[round +(\d+)\] epoch +\S+ +alive +(\d+) -> (\d+)", output, re.M)

    assert schedule(one.stdout) == schedule(two.stdout) == [
        ("1", "10", "7"), ("2", "7", "5"), ("3", "5", "4"),
    ]
    state = json.loads((tmp_path / "two" / "digits" / "oracle.json").read_text())
    workers = {record["worker"] for record in state["round_oracle"]["engine"]["population"]["candidates"].values()}
    assert workers == {"tuner0", "tuner1"}
    logs = sorted(os.listdir(tmp_path / "two" / "digits" / "workers"))
    assert logs == ["tuner0.log", "tuner1.log"]


@pytest.mark.slow
def test_ctrl_c_on_the_chief_stops_every_worker(tmp_path, cleanup):
    cleanup.append(tmp_path)
    # No early stopping: the finalists' 30 epochs keep the search running
    # well past round 1, even on a loaded machine.
    chief = started_search(tmp_path, "--epochs", "30", "--patience", "30")
    assert len(processes_of(tmp_path)) == 3
    assert chief.poll() is None, "the search ended before the test could interrupt it"
    chief.send_signal(signal.SIGINT)
    chief.communicate(timeout=120)
    assert chief.returncode != 0
    assert until_gone(tmp_path) == []
    # What was trained is kept: the same command resumes the search.
    resumed = run(cli(tmp_path, "--workers", "2", "--epochs", "30", "--patience", "30"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Reloading Tuner from" in resumed.stdout
    summary = json.loads((tmp_path / "digits" / "summary.json").read_text())
    assert summary["candidates"] == 10
    assert summary["statuses"]["STOPPED"] + summary["statuses"]["COMPLETED"] == 10
    assert until_gone(tmp_path) == []


@pytest.mark.slow
def test_a_killed_local_worker_loses_its_candidate_and_the_search_ends(tmp_path, cleanup):
    cleanup.append(tmp_path)
    chief = started_search(tmp_path, "--lease-timeout", "4")
    victim = max(pid for pid in processes_of(tmp_path) if pid != chief.pid)
    os.kill(victim, signal.SIGKILL)
    output, _ = chief.communicate(timeout=600)
    assert chief.returncode == 0, output[-3000:]
    assert "Test accuracy:" in output
    assert until_gone(tmp_path) == []


@pytest.mark.slow
def test_the_chief_stops_with_an_error_when_every_worker_is_gone(tmp_path, cleanup):
    cleanup.append(tmp_path)
    chief = started_search(tmp_path, "--epochs", "30")
    for pid in processes_of(tmp_path):
        if pid != chief.pid:
            os.kill(pid, signal.SIGKILL)
    output, _ = chief.communicate(timeout=120)
    assert chief.returncode == 1
    assert "Every worker exited before the search was over" in output
    assert until_gone(tmp_path) == []


@pytest.mark.slow
def test_workers_over_their_memory_budget_are_replaced_and_train_no_epoch_twice(tmp_path):
    from keras_prune_nas import culling
    from tests import processes

    # A budget of 1 MiB: every worker leaves after every unit it trains.
    epoch_log = tmp_path / "epochs.log"
    search = processes.start(tmp_path / "run", epoch_log, "--local-workers", "2",
                             "--memory-budget", "1", "--max-trials", "6",
                             "--epochs", "3")
    processes.finish(search, timeout=900)
    trained = processes.epoch_lines(str(epoch_log))
    epochs = [(trial_id, int(epoch)) for _, trial_id, epoch in trained]
    assert len(epochs) == len(set(epochs)), "an epoch was trained twice"
    workers = {tuner_id for tuner_id, _, _ in trained}
    assert len(workers) > 2 and {w.split("-")[0] for w in workers} == {"tuner0", "tuner1"}

    state = json.loads((tmp_path / "run" / "search" / "oracle.json").read_text())
    engine = state["round_oracle"]["engine"]
    curves = {cid: len(c["curve"]) for cid, c in engine["population"]["candidates"].items()}
    assert sorted(epochs) == sorted((cid, e) for cid, n in curves.items() for e in range(n))
    # The same cull as a search in one process.
    history = engine["policy"]["cull"]["cull_history"]
    assert [r["alive"] for r in history] == culling.cull_schedule(6, 0.3, 4)[:-1]
    assert engine["phase"] == "finished"
    assert sum(n for n in curves.values()) == culling.planned_epochs(6, 3, 0.3, 4)["total"]
    assert processes_of(tmp_path, "search_process.py") == []

