"""PruneSearch against keras_tuner.RandomSearch, side by side in one process.

Same hypermodel (NASHyperModel, dense, on scikit-learn's digits), same data
splits, same seed, same `max_trials`; RandomSearch trains every candidate for
all epochs. For each seed it prints epochs trained, wall seconds and test
accuracy of each result, and their ratios. It also measures PruneSearch's
overhead: its wall time over the floor, which is the same training done
without a search around it (each candidate built once, compiled once and
trained in a single long `fit` for the epochs PruneSearch gave it, on the
same input pipeline).

    python benchmarks/vs_random_search.py                 # 3 seeds, 50 trials, 20 epochs
    python benchmarks/vs_random_search.py --seeds 0 --trials 20 --epochs 8
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402

import keras_prune_nas as kpn  # noqa: E402
from keras_prune_nas import _pipeline  # noqa: E402
from keras_prune_nas import datasets  # noqa: E402


def test_accuracy(tuner, splits):
    model = tuner.get_best_models(1)[0]
    return float(model.evaluate(splits.x_test, splits.y_test, verbose=0)[1])


def run_random_search(splits, args, seed, directory):
    keras.utils.set_random_seed(seed)
    tuner = kt.RandomSearch(
        kpn.NASHyperModel(splits.input_shape, splits.num_classes),
        objective="val_accuracy", max_trials=args.trials, seed=seed,
        directory=directory, project_name=f"random_{seed}", overwrite=True,
    )
    started = time.perf_counter()
    tuner.search(
        splits.x_train, splits.y_train, epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=(splits.x_val, splits.y_val), verbose=0,
    )
    wall = time.perf_counter() - started
    return tuner, wall, args.trials * args.epochs


def run_prune_search(splits, args, seed, directory):
    keras.utils.set_random_seed(seed)
    tuner = kpn.PruneSearch(
        kpn.NASHyperModel(splits.input_shape, splits.num_classes),
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
    _, fit_kwargs = _pipeline.cache_fit_inputs(
        (splits.x_train, splits.y_train),
        {"batch_size": args.batch_size,
         "validation_data": (splits.x_val, splits.y_val)},
    )
    total = 0.0
    for trial_id in tuner.oracle.start_order:
        trial = tuner.oracle.get_trial(trial_id)
        epochs = len(tuner.oracle.curve(trial_id))
        if epochs == 0:
            continue
        started = time.perf_counter()
        model = tuner._build_candidate(trial.hyperparameters)
        model.fit(epochs=epochs, verbose=0, **fit_kwargs)
        total += time.perf_counter() - started
    return total


def same_candidates(random_tuner, prune_tuner):
    random_values = [t.hyperparameters.values for t in random_tuner.oracle.trials.values()]
    prune_values = [t.hyperparameters.values for t in prune_tuner.oracle.trials.values()]
    return sum(1 for values in prune_values if values in random_values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for seed in args.seeds:
            splits = datasets.load("digits", seed=seed)
            random_tuner, random_wall, random_epochs = run_random_search(
                splits, args, seed, directory
            )
            random_acc = test_accuracy(random_tuner, splits)
            prune_tuner, prune_wall, prune_epochs = run_prune_search(
                splits, args, seed, directory
            )
            prune_acc = test_accuracy(prune_tuner, splits)
            floor = floor_seconds(prune_tuner, splits, args)
            row = {
                "seed": seed,
                "random_epochs": random_epochs,
                "prune_epochs": prune_epochs,
                "random_wall": random_wall,
                "prune_wall": prune_wall,
                "random_test_acc": random_acc,
                "prune_test_acc": prune_acc,
                "floor_wall": floor,
                "epoch_ratio": prune_epochs / random_epochs,
                "wall_ratio": prune_wall / random_wall,
                "overhead_ratio": prune_wall / floor,
                "same_candidates": same_candidates(random_tuner, prune_tuner),
            }
            rows.append(row)
            print(
                f"seed {seed}: RandomSearch {random_epochs} epochs "
                f"{random_wall:.1f} s test {random_acc:.4f} | PruneSearch "
                f"{prune_epochs} epochs {prune_wall:.1f} s test {prune_acc:.4f} "
                f"| floor {floor:.1f} s | same candidates "
                f"{row['same_candidates']}/{args.trials}",
                flush=True,
            )
            keras.backend.clear_session()

    def mean(key):
        return statistics.mean(row[key] for row in rows)

    print()
    print(
        f"digits, max_trials={args.trials}, epochs={args.epochs}, "
        f"batch_size={args.batch_size}, mean of {len(rows)} seed(s) "
        f"{args.seeds}, keras {keras.__version__} ({keras.backend.backend()}), "
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
    print(f"| overhead (wall / floor of {mean('floor_wall'):.1f} s) | | "
          f"{mean('overhead_ratio'):.2f} | |")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "rows": rows}, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
