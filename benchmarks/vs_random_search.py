"""PruneSearch against keras_tuner.RandomSearch, side by side in one process.

Same hypermodel (NASHyperModel; by default dense, on scikit-learn's digits;
`--dataset` takes any `compare` dataset, e.g. mnist1d-conv), same data
splits, same seed, same `max_trials`; RandomSearch trains every candidate for
all epochs. For each seed it prints epochs trained, wall seconds and test
accuracy of each result, and their ratios. It also measures PruneSearch's
overhead: its wall time over the floor, which is the same training done
without a search around it (each candidate built once, compiled once and
trained in a single long `fit` for the epochs PruneSearch gave it, on the
same input pipeline). Every search runs in a fresh process.

    python benchmarks/vs_random_search.py                 # 3 seeds, 50 trials, 20 epochs
    python benchmarks/vs_random_search.py --seeds 1 --trials 20 --epochs 8
    python benchmarks/vs_random_search.py --backend tensorflow,jax --overhead-only
    python benchmarks/vs_random_search.py --backend tensorflow,jax,torch --search-only \
        --dataset mnist1d-conv --seeds 1
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

if "--backend" in sys.argv:
    # One backend per process, chosen before Keras is imported.
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1].split(",")[0]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

import keras_prune_nas as kpn  # noqa: E402
from keras_prune_nas import pipeline  # noqa: E402
from keras_prune_nas import compare  # noqa: E402


def hypermodel(splits, args):
    architecture = compare.DATASETS[args.dataset][1]
    return kpn.NASHyperModel(splits.input_shape, splits.num_classes, architecture=architecture)


def test_accuracy(tuner, splits):
    model = tuner.get_best_models(1)[0]
    return float(model.evaluate(splits.x_test, splits.y_test, verbose=0)[1])


def cached_inputs(splits, args):
    """What PruneSearch feeds `fit`: on TensorFlow the tf.data pipeline it
    builds once per search, on the other backends the arrays themselves."""
    if keras.backend.backend() != "tensorflow":
        return {"x": splits.x_train, "y": splits.y_train, "batch_size": args.batch_size,
                "validation_data": (splits.x_val, splits.y_val)}
    _, fit_kwargs = pipeline.cache_fit_inputs(
        (splits.x_train, splits.y_train),
        {"batch_size": args.batch_size,
         "validation_data": (splits.x_val, splits.y_val)},
    )
    return fit_kwargs


def run_random_search(splits, args, seed, directory, same_pipeline=False):
    keras.utils.set_random_seed(seed)
    tuner = kt.RandomSearch(
        hypermodel(splits, args),
        objective="val_accuracy", max_trials=args.trials, seed=seed,
        directory=directory, overwrite=True,
        project_name=f"random_{seed}_{'cached' if same_pipeline else 'numpy'}",
    )
    if same_pipeline:
        fit_kwargs = cached_inputs(splits, args)
    else:
        fit_kwargs = {
            "x": splits.x_train, "y": splits.y_train,
            "batch_size": args.batch_size,
            "validation_data": (splits.x_val, splits.y_val),
        }
    started = time.perf_counter()
    tuner.search(epochs=args.epochs, verbose=0, **fit_kwargs)
    wall = time.perf_counter() - started
    return tuner, wall, args.trials * args.epochs


def run_prune_search(splits, args, seed, directory):
    keras.utils.set_random_seed(seed)
    tuner = kpn.PruneSearch(
        hypermodel(splits, args),
        objective="val_accuracy", max_trials=args.trials, seed=seed,
        directory=directory, project_name=f"prune_{seed}", overwrite=True,
        progress=False,
    )
    started = time.perf_counter()
    tuner.search(
        splits.x_train, splits.y_train, epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(splits.x_val, splits.y_val), verbose=0,
    )
    wall = time.perf_counter() - started
    return tuner, wall, tuner.oracle.epochs_trained()


def floor_seconds(tuner, splits, args):
    """The same training as the search, without the search: one long fit each."""
    fit_kwargs = cached_inputs(splits, args)
    total = 0.0
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.get_trial(trial_id)
        epochs = len(tuner.oracle.curve(trial_id))
        if epochs == 0:
            continue
        started = time.perf_counter()
        model = tuner.build_candidate(trial.hyperparameters)
        model.fit(epochs=epochs, verbose=0, **fit_kwargs)
        total += time.perf_counter() - started
    return total


def candidate_values(tuner):
    return [t.hyperparameters.values for t in tuner.oracle.trials.values()]


def worker(args):
    """One measurement in a fresh process, printed as a JSON line."""
    # Seed s runs with keras_tuner seed 1009 s + 17 (compare.search_seed):
    # both searches sample the same candidates, other seeds other ones.
    seed = compare.search_seed(args.seed)
    splits = compare.load_splits(args.dataset, seed)
    result = {"seed": args.seed, "run": args.worker}
    if args.worker in ("random", "random-same-pipeline"):
        tuner, wall, epochs = run_random_search(
            splits, args, seed, args.directory,
            same_pipeline=args.worker == "random-same-pipeline",
        )
        result.update(wall=wall, epochs=epochs, test_acc=test_accuracy(tuner, splits),
                      candidates=candidate_values(tuner))
    elif args.worker == "prune":
        tuner, wall, epochs = run_prune_search(splits, args, seed, args.directory)
        result.update(wall=wall, epochs=epochs, test_acc=test_accuracy(tuner, splits),
                      candidates=candidate_values(tuner))
    elif args.worker == "floor":
        # Reload the finished PruneSearch project: same candidates, same epochs.
        tuner = kpn.PruneSearch(
            hypermodel(splits, args),
            objective="val_accuracy", max_trials=args.trials, seed=seed,
            directory=args.directory, project_name=f"prune_{seed}",
        )
        result.update(wall=floor_seconds(tuner, splits, args))
    print("RESULT " + json.dumps(result), flush=True)


def measure(args, run, seed, directory, backend="tensorflow"):
    command = [
        sys.executable, os.path.abspath(__file__), "--worker", run,
        "--seed", str(seed), "--directory", directory,
        "--trials", str(args.trials), "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size), "--backend", backend,
        "--dataset", args.dataset,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seed s runs with keras_tuner seed 1009 s + 17 (independent "
                        "seeds, the same candidates for both searches)")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dataset", default="digits", choices=sorted(compare.DATASETS),
                        help="a `compare` dataset (default digits, dense)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument(
        "--same-pipeline-random-search", action="store_true",
        help="also run RandomSearch fed PruneSearch's cached tf.data pipeline, "
        "to separate the pipeline's share of the speed-up from the cull's",
    )
    parser.add_argument(
        "--backend", default="tensorflow",
        help="comma-separated Keras backends: PruneSearch's wall time, floor and "
        "overhead on each (RandomSearch on the first)",
    )
    parser.add_argument("--overhead-only", action="store_true",
                        help="skip RandomSearch: PruneSearch and its floor only")
    parser.add_argument("--search-only", action="store_true",
                        help="PruneSearch alone on each backend (which is fastest), "
                        "no floor, no RandomSearch")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--directory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    backends = [b for b in args.backend.split(",") if b]
    rows = []
    overhead = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory() as directory:
        for seed in args.seeds:
            # Every run in a fresh process: TensorFlow slows down as a
            # process accumulates traced functions, which would favour
            # whichever search runs first.
            for backend in backends:
                prune_run = measure(args, "prune", seed, directory, backend)
                if args.search_only:
                    overhead[backend].append((prune_run["wall"], None, prune_run["epochs"]))
                    print(f"seed {seed} {backend}: PruneSearch {prune_run['epochs']} epochs "
                          f"{prune_run['wall']:.1f} s, test accuracy "
                          f"{prune_run['test_acc']:.4f}", flush=True)
                    continue
                floor_run = measure(args, "floor", seed, directory, backend)
                overhead[backend].append(
                    (prune_run["wall"], floor_run["wall"], prune_run["epochs"])
                )
                print(
                    f"seed {seed} {backend}: PruneSearch {prune_run['epochs']} epochs "
                    f"{prune_run['wall']:.1f} s, floor {floor_run['wall']:.1f} s, "
                    f"overhead {prune_run['wall'] / floor_run['wall']:.2f}",
                    flush=True,
                )
                if backend != backends[0] or args.overhead_only:
                    continue
                rows.append(compare_row(args, seed, directory, prune_run, floor_run, backend))

    print()
    print(f"{args.dataset}, max_trials={args.trials}, epochs={args.epochs}, "
          f"batch_size={args.batch_size}, seeds {args.seeds}, keras {keras.__version__}, "
          f"keras_tuner {kt.__version__}; "
          + ("PruneSearch per backend:" if args.search_only else "wall / floor per backend:"))
    if args.search_only:
        print("| backend | PruneSearch wall seconds | epochs |")
        print("| --- | --- | --- |")
        for backend, runs in overhead.items():
            print(f"| {backend} | {statistics.mean(run[0] for run in runs):.1f} | "
                  f"{statistics.mean(run[2] for run in runs):.0f} |")
        return 0
    print("| backend | PruneSearch wall seconds | floor seconds | overhead (wall / floor) |")
    print("| --- | --- | --- | --- |")
    for backend, runs in overhead.items():
        wall = statistics.mean(run[0] for run in runs)
        floor = statistics.mean(run[1] for run in runs)
        ratio = statistics.mean(run[0] / run[1] for run in runs)
        print(f"| {backend} | {wall:.1f} | {floor:.1f} | {ratio:.2f} |")
    if not rows:
        return 0
    print_comparison(args, rows, backends[0])
    return 0


def compare_row(args, seed, directory, prune_run, floor_run, backend):
    random_run = measure(args, "random", seed, directory, backend)
    cached_wall = None
    if args.same_pipeline_random_search:
        cached_wall = measure(args, "random-same-pipeline", seed, directory, backend)["wall"]
    row = {
        "seed": seed,
        "random_epochs": random_run["epochs"],
        "prune_epochs": prune_run["epochs"],
        "random_wall": random_run["wall"],
        "prune_wall": prune_run["wall"],
        "random_test_acc": random_run["test_acc"],
        "prune_test_acc": prune_run["test_acc"],
        "floor_wall": floor_run["wall"],
        "epoch_ratio": prune_run["epochs"] / random_run["epochs"],
        "wall_ratio": prune_run["wall"] / random_run["wall"],
        "overhead_ratio": prune_run["wall"] / floor_run["wall"],
        "same_candidates": sum(
            1 for values in prune_run["candidates"] if values in random_run["candidates"]
        ),
        "random_same_pipeline_wall": cached_wall,
    }
    print(
        f"seed {seed}: RandomSearch {row['random_epochs']} epochs "
        f"{row['random_wall']:.1f} s test {row['random_test_acc']:.4f} | "
        f"PruneSearch {row['prune_epochs']} epochs {row['prune_wall']:.1f} s "
        f"test {row['prune_test_acc']:.4f} | floor {row['floor_wall']:.1f} s "
        f"| same candidates {row['same_candidates']}/{args.trials}"
        + (f" | RandomSearch on the same pipeline {cached_wall:.1f} s"
           if cached_wall is not None else ""),
        flush=True,
    )
    return row


def print_comparison(args, rows, backend):
    def mean(key):
        return statistics.mean(row[key] for row in rows)

    print()
    print(
        f"{args.dataset}, max_trials={args.trials}, epochs={args.epochs}, "
        f"batch_size={args.batch_size}, mean of {len(rows)} seed(s) "
        f"{args.seeds}, keras {keras.__version__} ({backend}), "
        f"keras_tuner {kt.__version__}"
    )
    print("| | RandomSearch | PruneSearch | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| epochs trained | {mean('random_epochs'):.0f} | {mean('prune_epochs'):.0f} "
          f"| {mean('epoch_ratio'):.1%} |")
    print(f"| wall seconds | {mean('random_wall'):.1f} | {mean('prune_wall'):.1f} "
          f"| {mean('wall_ratio'):.1%} |")
    print(f"| test accuracy | {mean('random_test_acc'):.4f} | "
          f"{mean('prune_test_acc'):.4f} | "
          f"{100 * (mean('prune_test_acc') - mean('random_test_acc')):+.2f} points |")
    print(f"| overhead: wall / floor ({mean('floor_wall'):.1f} s) | | "
          f"{mean('overhead_ratio'):.2f} | |")
    if args.same_pipeline_random_search:
        cached = statistics.mean(r["random_same_pipeline_wall"] for r in rows)
        print(f"| wall seconds, RandomSearch fed PruneSearch's input pipeline | "
              f"{cached:.1f} | {mean('prune_wall'):.1f} | "
              f"{mean('prune_wall') / cached:.1%} |")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "rows": rows}, stream, indent=2)


if __name__ == "__main__":
    sys.exit(main())
