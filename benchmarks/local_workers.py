"""One process against N local workers (`keras-prune-nas search --workers N`).

Runs the same search (digits, NASHyperModel, the CLI's defaults: 50
candidates, 20 epochs) in one process and on N local worker processes, one
after the other, each in a fresh directory, and prints per seed and worker
count: the command's wall time from start to exit (and the search's own, as
the command reports it), its ratio to one process, whether the cull
schedule (alive and culled per round) is the same, and how many times a
candidate was rebuilt from a checkpoint to go on training (summed over the
processes that trained).

    python benchmarks/local_workers.py                    # seeds 0 1 2, 1 and 2 workers
    python benchmarks/local_workers.py --workers 1,2,3 --seeds 0 --trials 30
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def run_search(directory, workers, seed, args):
    command = [
        sys.executable, "-m", "keras_prune_nas.cli", "search", "--trials", str(args.trials),
        "--epochs", str(args.epochs), "--seed", str(seed), "--directory", directory,
        "--workers", str(workers),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    project = os.path.join(directory, "digits")
    with open(os.path.join(project, "summary.json")) as stream:
        summary = json.load(stream)
    resumes = 0
    for path in glob.glob(os.path.join(project, "tuner*.json")):
        with open(path) as stream:
            resumes += json.load(stream).get("checkpoint_resumes", 0)
    schedule = re.findall(r"alive +(\d+) -> (\d+)", result.stdout)
    return wall, summary, resumes, schedule


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    counts = [int(w) for w in args.workers.split(",") if w]
    if 1 not in counts:
        counts = [1] + counts
    print(f"digits, {args.trials} candidates, {args.epochs} epochs, "
          f"{os.cpu_count()} cores; seeds {seeds}", flush=True)
    walls = {count: [] for count in counts}
    for seed in seeds:
        reference = None
        for count in counts:
            with tempfile.TemporaryDirectory() as directory:
                wall, summary, resumes, schedule = run_search(directory, count, seed, args)
            if count == 1:
                reference = (wall, schedule)
            walls[count].append(wall)
            print(
                f"seed={seed} workers={count} wall={wall:.1f}s "
                f"search={summary['wall_seconds']:.1f}s ratio={wall / reference[0]:.2f} "
                f"same_schedule={schedule == reference[1]} resumes={resumes} "
                f"epochs={summary['epochs_trained']} test_acc={summary['test_accuracy']:.4f}",
                flush=True,
            )
    one = statistics.mean(walls[1])
    for count in counts:
        mean = statistics.mean(walls[count])
        print(f"workers={count} mean_wall={mean:.1f}s ratio={mean / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
