"""Peak memory of PruneSearch for growing populations, per backend.

Each search (digits, NASHyperModel dense, default culling) runs in a fresh
process; this script samples the resident memory (RSS) of that process and
of every process it starts (the chief and its local workers) twice a
second, and prints the peak of their sum. A search in one process also
prints its RSS round by round and how much it grew per candidate built
(candidates sampled plus rebuilds from checkpoints): what the backend keeps
of every model it ever built. With `--workers N`, N local workers train and
each is replaced by a fresh one once it passes `--memory-budget` MiB, so the
peak should not grow with the population.

    pip install -e ".[benchmark]"                      # psutil, for the RSS
    python benchmarks/memory.py                                  # 100 candidates, one process
    python benchmarks/memory.py --trials 100 300 --epochs 3
    python benchmarks/memory.py --trials 1000 --epochs 3 --workers 2
    KERAS_BACKEND=jax python benchmarks/memory.py --trials 1000 --epochs 3 --workers 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def mib(n_bytes):
    return n_bytes / 2**20


def search(args):
    """The measured search, in this (fresh) process; prints one JSON line."""
    import keras

    import keras_prune_nas as kpn
    from keras_prune_nas import datasets
    from keras_prune_nas import memory
    from keras_prune_nas.local_workers import LocalWorkers

    baseline = memory.resident_mib()
    splits = datasets.load("digits", seed=0)
    rounds = []

    class MeasuredSearch(kpn.PruneSearch):
        def on_trial_end(self, trial):
            if args.workers > 1:  # a worker: its oracle is the chief's
                return super().on_trial_end(trial)
            round_before = self.oracle.round
            super().on_trial_end(trial)
            if self.oracle.round != round_before or not rounds:
                rounds.append({"round": round_before + 1,
                               "live_models": self.live_models.live_count(),
                               "rss_mib": round(memory.resident_mib(), 1)})

    keras.utils.set_random_seed(0)
    workers = LocalWorkers(args.workers, memory_budget_mib=args.memory_budget or None,
                           log_directory=os.path.join(args.directory, "workers"))
    start = time.perf_counter()
    with workers:
        tuner = MeasuredSearch(
            kpn.NASHyperModel(splits.input_shape, splits.num_classes),
            objective="val_accuracy", max_trials=args.trials[0], seed=1,
            directory=args.directory, project_name=f"memory_{args.trials[0]}",
            overwrite=True, progress=False,
        )
        tuner.search(splits.x_train, splits.y_train, epochs=args.epochs, batch_size=32,
                     validation_data=(splits.x_val, splits.y_val), verbose=0)
    history = tuner.oracle.cull_history
    print(json.dumps({
        "backend": keras.backend.backend(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "trials": args.trials[0],
        "workers": args.workers,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "epochs_trained": tuner.oracle.epochs_trained(),
        "populations": [r["alive"] for r in history],
        "builds": args.trials[0] + tuner.checkpoint_resumes,
        "workers_replaced": len(workers.replaced),
        "baseline_rss_mib": round(baseline, 1),
        "final_rss_mib": round(memory.resident_mib(), 1),
        "rounds": rounds,
    }))


def tree_rss_mib(process):
    """RSS of `process` and all its descendants together, in MiB."""
    import psutil

    total = 0
    for member in [process] + process.children(recursive=True):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return mib(total)


def measure(args, trials, directory):
    import psutil

    command = [sys.executable, os.path.abspath(__file__), "--search", "--trials", str(trials),
               "--epochs", str(args.epochs), "--workers", str(args.workers),
               "--memory-budget", str(args.memory_budget), "--directory", directory]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    peak = [0.0]
    done = threading.Event()

    def sample():
        watched = psutil.Process(child.pid)
        while not done.wait(0.5):
            try:
                peak[0] = max(peak[0], tree_rss_mib(watched))
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        sys.exit(f"The {trials}-candidate search failed:\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_all_processes_mib"] = round(peak[0], 1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1,
                        help="local worker processes (1: the search in one process)")
    parser.add_argument("--memory-budget", type=float, default=2048,
                        help="with --workers: each worker's budget in MiB (0: none)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--search", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.search:
        return search(args)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit('benchmarks/memory.py needs psutil: pip install -e ".[benchmark]"')

    results = []
    with tempfile.TemporaryDirectory() as directory:
        for trials in args.trials:
            result = measure(args, trials, os.path.join(directory, str(trials)))
            results.append(result)
            where = ("one process" if args.workers == 1 else
                     f"{args.workers} local workers, budget {args.memory_budget:g} MiB each, "
                     f"{result['workers_replaced']} replaced")
            print(f"\n{result['backend']}, {trials} candidates, {args.epochs} epochs, {where}: "
                  f"{result['wall_seconds']} s, {result['epochs_trained']} epochs, "
                  f"populations {result['populations']}")
            if result["rounds"]:
                print("  round  live models  RSS MiB")
                for row in result["rounds"]:
                    print(f"  {row['round']:>5}  {row['live_models']:>11}  {row['rss_mib']:>7}")
                growth = (result["final_rss_mib"] - result["baseline_rss_mib"]) / result["builds"]
                print(f"  RSS before the search {result['baseline_rss_mib']} MiB, after "
                      f"{result['final_rss_mib']} MiB: {growth:.1f} MiB per candidate built "
                      f"({result['builds']} builds)")
            print(f"  peak RSS of all its processes together: "
                  f"{result['peak_all_processes_mib']} MiB")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(results, stream, indent=2)


if __name__ == "__main__":
    main()
