"""How long a SIGKILLed worker holds a distributed search up, by default.

Starts a chief and two workers on 127.0.0.1 (the search of
`tests/search_process.py`: digits, 12 candidates, 5 epochs), with the
library's default `lease_timeout` unless told otherwise. Worker tuner1
spends a long time in its epoch 1, so it is surely mid-epoch when it is
SIGKILLed there. Prints the seconds from the kill to the chief taking its
lease back, and from the kill to the end of the search.

    python benchmarks/worker_kill_delay.py
    python benchmarks/worker_kill_delay.py --lease-timeout 10
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "search_process.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def start(directory, log, tuner_id, port, options):
    env = dict(
        os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3",
        KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=port,
    )
    return subprocess.Popen(
        [sys.executable, SCRIPT, directory, log, *options],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def begun(log, tuner_id, epoch):
    path = f"{log}.begin"
    if not os.path.exists(path):
        return False
    with open(path) as stream:
        for line in stream:
            worker, _, started_epoch = line.strip().split(",")
            if worker == tuner_id and started_epoch == str(epoch):
                return True
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease-timeout", type=float, default=None,
                        help="seconds (default: the library's default)")
    args = parser.parse_args(argv)
    options = ["--slow-epoch", "tuner1:1:3600"]
    if args.lease_timeout is not None:
        options += ["--lease-timeout", str(args.lease_timeout)]
    else:
        import inspect

        from keras_prune_nas import PruneSearch

        default = inspect.signature(PruneSearch).parameters["lease_timeout"].default
        options += ["--lease-timeout", str(default)]
    with tempfile.TemporaryDirectory() as workdir:
        directory, log = os.path.join(workdir, "run"), os.path.join(workdir, "epochs.log")
        port = free_port()
        processes = [
            start(directory, log, tuner_id, port, options)
            for tuner_id in ("chief", "tuner0", "tuner1")
        ]
        try:
            deadline = time.monotonic() + 600
            while not begun(log, "tuner1", 1):
                if time.monotonic() > deadline or processes[2].poll() is not None:
                    print("tuner1 never reached its epoch 1; nothing measured")
                    return 1
                time.sleep(0.05)
            processes[2].send_signal(signal.SIGKILL)
            killed = time.time()
            processes[1].wait(timeout=1800)
            processes[0].wait(timeout=60)
            ended = time.time()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        with open(os.path.join(directory, "search", "oracle.json")) as stream:
            expired = json.load(stream)["round_oracle"]["engine"]["expired_leases"]
    print(f"lease_timeout={options[-1]} s")
    for entry in expired:
        print(
            f"worker {entry['tuner_id']} (candidate {entry['trial_id']}): lease "
            f"taken back {entry['expired_at'] - killed:.1f} s after the kill "
            f"(silent {entry['silent_seconds']:.1f} s)"
        )
    print(f"search ended {ended - killed:.1f} s after the kill")
    return 0 if expired else 1


if __name__ == "__main__":
    sys.exit(main())
