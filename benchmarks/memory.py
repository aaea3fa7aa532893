"""Peak memory of PruneSearch for growing populations.

Each search (digits, NASHyperModel dense, 20 epochs, default culling) runs in
a fresh process, which prints its resident memory (RSS) at the end of every
round, how many models were in memory then, how many times a model was
reloaded from its checkpoint, and the peak RSS of the whole process
(`getrusage`). Bounded memory means: the RSS levels off once `max_live_models`
models are live, and falls as candidates are culled and released.

    pip install -e ".[benchmark]"                      # psutil, for the RSS
    python benchmarks/memory.py                        # 50 and 200 candidates
    python benchmarks/memory.py --trials 200 --max-live-models 64
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def mib(n_bytes):
    return n_bytes / 2**20


def worker(args):
    import psutil
    import keras

    import keras_prune_nas as kpn
    from keras_prune_nas import datasets

    process = psutil.Process()
    baseline = process.memory_info().rss
    splits = datasets.load("digits", seed=0)
    rounds = []

    class MeasuredSearch(kpn.PruneSearch):
        def on_trial_end(self, trial):
            round_before = self.oracle.round
            super().on_trial_end(trial)
            if self.oracle.round != round_before or not rounds:
                live = self.live_models.live_count()
                rounds.append(
                    {
                        "round": round_before + 1,
                        "alive": len(self.oracle.population()),
                        "live_models": live,
                        "rss_mib": round(mib(process.memory_info().rss), 1),
                    }
                )

    keras.utils.set_random_seed(0)
    tuner = MeasuredSearch(
        kpn.NASHyperModel(splits.input_shape, splits.num_classes),
        objective="val_accuracy", max_trials=args.trials, seed=0,
        max_live_models=args.max_live_models,
        directory=args.directory, project_name=f"memory_{args.trials}",
        overwrite=True,
    )
    start = time.perf_counter()
    tuner.search(
        splits.x_train, splits.y_train, epochs=args.epochs, batch_size=32,
        validation_data=(splits.x_val, splits.y_val), verbose=0,
    )
    result = {
        "trials": args.trials,
        "max_live_models": args.max_live_models,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "epochs_trained": tuner.oracle.epochs_trained(),
        "checkpoint_reloads": tuner.checkpoint_resumes,
        "baseline_rss_mib": round(mib(baseline), 1),
        "final_rss_mib": round(mib(process.memory_info().rss), 1),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rounds": rounds,
    }
    print(json.dumps(result))


def measure(args, trials, directory):
    command = [
        sys.executable, os.path.abspath(__file__), "--worker",
        "--trials", str(trials), "--epochs", str(args.epochs),
        "--max-live-models", str(args.max_live_models), "--directory", directory,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"The {trials}-candidate search failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-live-models", type=int, default=256)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.trials = args.trials[0]
        return worker(args)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit('benchmarks/memory.py needs psutil: pip install -e ".[benchmark]"')

    results = []
    with tempfile.TemporaryDirectory() as directory:
        for trials in args.trials:
            result = measure(args, trials, directory)
            results.append(result)
            print(f"\n{trials} candidates, {args.epochs} epochs, "
                  f"max_live_models={args.max_live_models}: "
                  f"{result['wall_seconds']} s, {result['epochs_trained']} epochs, "
                  f"{result['checkpoint_reloads']} reloads from checkpoints")
            print("  round  alive  live models  RSS MiB")
            for row in result["rounds"]:
                print(f"  {row['round']:>5}  {row['alive']:>5}  "
                      f"{row['live_models']:>11}  {row['rss_mib']:>7}")
            print(f"  RSS before the search {result['baseline_rss_mib']} MiB, "
                  f"after {result['final_rss_mib']} MiB; "
                  f"peak RSS {result['peak_rss_mib']} MiB")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(results, stream, indent=2)


if __name__ == "__main__":
    main()
