"""Real search processes for the crash-resume and distributed tests.

`start` runs `search_process.py` (a search, or a chief or worker of one) in
a subprocess; `kill_when` SIGKILLs it at a chosen epoch; the conftest's
autouse fixture kills whatever a test left running.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import keras_prune_nas as kpn
from keras_prune_nas import culling

SCRIPT = os.path.join(os.path.dirname(__file__), "search_process.py")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The search in SCRIPT: 12 candidates, culled by 30% down to 4, 5 epochs.
PLAN = culling.planned_epochs(12, 5, 0.3, 4, 1)


def process_env(**variables):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    env.update(variables)
    return env


STARTED = []


def start(directory, epoch_log, *options, **variables):
    process = subprocess.Popen(
        [sys.executable, SCRIPT, str(directory), str(epoch_log), *options],
        env=process_env(**variables),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    STARTED.append(process)
    return process


def finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def epoch_lines(epoch_log):
    if not os.path.exists(epoch_log):
        return []
    with open(epoch_log) as stream:
        return [line.strip().split(",") for line in stream if line.strip()]


def kill_when(process, epoch_log, condition, timeout=300):
    """SIGKILLs `process` once the epochs it logged satisfy `condition`."""
    deadline = time.monotonic() + timeout
    while not condition(epoch_lines(epoch_log)):
        assert process.poll() is None, "the search ended before the kill point"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def oracle_state(directory):
    with open(os.path.join(directory, "search", "oracle.json")) as stream:
        return json.load(stream)


def reload(directory):
    return kpn.PruneSearch(
        lambda hp: None, objective="val_accuracy", max_trials=12,
        cull_fraction=0.3, min_survivors=4, patience=None, seed=3,
        directory=directory, project_name="search",
    )


def check_finished_search(directory):
    tuner = reload(directory)
    oracle = tuner.oracle
    statuses = collections.Counter(t.status for t in oracle.trials.values())
    assert len(oracle.trials) == 12
    assert statuses == {"STOPPED": 8, "COMPLETED": 4}
    assert oracle.epochs_trained() == PLAN["total"]
    alive = [record["alive"] for record in oracle.cull_history]
    assert alive == culling.cull_schedule(12, 0.3, 4)[:-1]
    # Of every candidate's checkpoints, only its best epoch's is left.
    for trial in oracle.trials.values():
        names = [
            name for name in os.listdir(tuner.get_trial_dir(trial.trial_id))
            if name.startswith("checkpoint_")
        ]
        assert names == [f"checkpoint_0_epoch{trial.best_step + 1:04d}.npz"]
    return tuner
