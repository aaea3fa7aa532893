"""Does training round by round cost accuracy? A paired study.

PruneSearch trains a candidate in many short `fit` calls (one per round),
keeps it live between rounds or reloads it from its checkpoint, and feeds it
a tf.data pipeline built once per search. This trains the same candidates,
from the same initial weights (same seed), four ways:

* `one_fit`: one `fit(epochs=E)` on the NumPy arrays (RandomSearch's way);
* `rounds_live`: E one-epoch `fit` calls on the same live model, NumPy input;
* `rounds_cached`: the same on PruneSearch's cached pipeline;
* `rounds_reloaded`: the same, but the model is rebuilt and reloaded from
  its `.npz` checkpoint (weights and optimizer state) before every epoch.

and reports, per variant, the mean best and final validation accuracy and
the paired difference to `one_fit` with a 95% confidence interval and the
Wilcoxon signed-rank test (scipy), over every (candidate, seed) pair.

    python benchmarks/continuing_vs_one_fit.py                   # MNIST-1D
    python benchmarks/continuing_vs_one_fit.py --candidates 10 --seeds 5 --epochs 15
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import keras_tuner as kt  # noqa: E402
from scipy import stats  # noqa: E402

import keras_prune_nas as kpn  # noqa: E402
from keras_prune_nas import checkpoints  # noqa: E402
from keras_prune_nas import datasets  # noqa: E402
from keras_prune_nas import pipeline  # noqa: E402

VARIANTS = ("one_fit", "rounds_live", "rounds_cached", "rounds_reloaded")


def sample_candidates(hypermodel, count, seed):
    """`count` distinct hyperparameter sets of the search space."""
    oracle = kt.oracles.RandomSearchOracle(
        objective="val_accuracy", max_trials=count, seed=seed
    )
    probe = kt.HyperParameters()
    hypermodel.build(probe)
    oracle.hyperparameters = probe
    candidates = []
    while len(candidates) < count:
        hp = probe.copy()
        values = oracle.populate_space(str(len(candidates)))["values"]
        hp.values = values
        # Conditional values exist only once the model asks for them.
        hypermodel.build(hp)
        candidates.append(hp)
    return candidates


def build(hypermodel, hp, seed):
    keras.utils.set_random_seed(seed)
    model = hypermodel.build(hp)
    model.optimizer.build(model.trainable_variables)
    return model


def train(variant, hypermodel, hp, seed, splits, epochs, batch_size, cached, directory):
    data = dict(
        x=splits.x_train, y=splits.y_train, batch_size=batch_size,
        validation_data=(splits.x_val, splits.y_val),
    )
    model = build(hypermodel, hp, seed)
    curve = []
    if variant == "one_fit":
        history = model.fit(epochs=epochs, verbose=0, **data)
        return history.history["val_accuracy"]
    path = os.path.join(directory, "checkpoint.npz")
    for epoch in range(epochs):
        if variant == "rounds_reloaded" and epoch:
            checkpoints.save_model_state(model, path)
            model = build(hypermodel, hp, seed)
            checkpoints.load_model_state(model, path)
        inputs = cached if variant in ("rounds_cached", "rounds_reloaded") else data
        history = model.fit(initial_epoch=epoch, epochs=epoch + 1, verbose=0, **inputs)
        curve.extend(history.history["val_accuracy"])
    return curve


def paired(differences):
    """Mean, 95% CI half-width and Wilcoxon p-value of paired differences."""
    mean = statistics.mean(differences)
    half = stats.t.ppf(0.975, len(differences) - 1) * stats.sem(differences)
    nonzero = [d for d in differences if d != 0]
    p_value = stats.wilcoxon(nonzero).pvalue if len(nonzero) >= 6 else float("nan")
    return mean, half, p_value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    splits = datasets.load(args.dataset, seed=0)
    hypermodel = kpn.NASHyperModel(
        splits.input_shape, splits.num_classes, architecture="dense"
    )
    candidates = sample_candidates(hypermodel, args.candidates, seed=0)
    _, cached = pipeline.cache_fit_inputs(
        (), dict(
            x=splits.x_train, y=splits.y_train, batch_size=args.batch_size,
            validation_data=(splits.x_val, splits.y_val),
        ),
    )
    results = {variant: {"best": [], "final": []} for variant in VARIANTS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for index, hp in enumerate(candidates):
            for seed in range(args.seeds):
                for variant in VARIANTS:
                    curve = train(
                        variant, hypermodel, hp, seed, splits, args.epochs,
                        args.batch_size, cached, directory,
                    )
                    results[variant]["best"].append(max(curve))
                    results[variant]["final"].append(curve[-1])
            print(
                f"candidate {index + 1}/{len(candidates)} done "
                f"({time.perf_counter() - started:.0f} s)", flush=True,
            )
    pairs = len(candidates) * args.seeds
    print()
    print(
        f"{args.dataset}, NASHyperModel dense, {len(candidates)} candidates x "
        f"{args.seeds} seeds = {pairs} pairs, {args.epochs} epochs, batch "
        f"{args.batch_size}; validation accuracy in points"
    )
    print()
    print("| variant | mean best | best - one_fit (95% CI) | Wilcoxon p | mean final | final - one_fit (95% CI) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for variant in VARIANTS:
        best = results[variant]["best"]
        final = results[variant]["final"]
        row = f"| {variant} | {100 * statistics.mean(best):.2f} |"
        if variant == "one_fit":
            row += f" | | {100 * statistics.mean(final):.2f} | |"
        else:
            mean, half, p_value = paired(
                [100 * (a - b) for a, b in zip(best, results["one_fit"]["best"])]
            )
            final_mean, final_half, _ = paired(
                [100 * (a - b) for a, b in zip(final, results["one_fit"]["final"])]
            )
            row += (
                f" {mean:+.2f} ± {half:.2f} | {p_value:.2f} | "
                f"{100 * statistics.mean(final):.2f} | {final_mean:+.2f} ± {final_half:.2f} |"
            )
        print(row)
    print()
    print(f"measured in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
