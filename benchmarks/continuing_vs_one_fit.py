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

With `--attribution DATASET` the candidates are RandomSearch's best `--top`
of every seed of the attribution study (`benchmarks/attribution.py`), each on
that seed's split: the training part of the gap between PruneSearch and
RandomSearch, with the spread of one candidate's result over initial weights
beside it.

    python benchmarks/continuing_vs_one_fit.py --attribution mnist1d-conv \
        --top 2 --seeds 3 --variants one_fit,rounds_reloaded
"""

import argparse
import glob
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
from keras_prune_nas import analysis  # noqa: E402
from keras_prune_nas import checkpoints  # noqa: E402
from keras_prune_nas import compare  # noqa: E402
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


def attribution_candidates(dataset, top, results):
    """RandomSearch's best `top` of every recorded seed: (label, hypermodel,
    hyperparameters, splits), each on its own seed's split."""
    paths = sorted(glob.glob(os.path.join(results, dataset, "random_*.json")))
    if not paths:
        raise SystemExit(f"No RandomSearch records in {os.path.join(results, dataset)}: "
                         "run benchmarks/attribution.py first.")
    found = []
    for path in paths:
        with open(path) as stream:
            record = json.load(stream)
        splits = compare.load_splits(dataset, record["search_seed"])
        hypermodel = kpn.NASHyperModel(splits.input_shape, splits.num_classes,
                                       architecture=compare.DATASETS[dataset][1])
        probe = kt.HyperParameters()
        hypermodel.build(probe)
        ranked = sorted(record["candidates"].items(),
                        key=lambda item: -max(v for v in item[1]["val"] if v is not None))
        for trial_id, candidate in ranked[:top]:
            hp = probe.copy()
            hp.values = dict(candidate["values"])
            hypermodel.build(hp)  # conditional values appear once asked for
            found.append((f"seed {record['seed']} trial {trial_id}", hypermodel, hp, splits))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5, help="initial weights per candidate")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"some of {list(VARIANTS)}; one_fit is the reference")
    parser.add_argument("--attribution", metavar="DATASET", default=None,
                        help="train RandomSearch's best candidates of the attribution "
                        f"study instead (one of {list(compare.DATASETS)})")
    parser.add_argument("--top", type=int, default=2,
                        help="with --attribution: candidates per recorded seed")
    parser.add_argument("--results", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", "attribution"))
    args = parser.parse_args(argv)
    variants = ["one_fit"] + [v for v in args.variants.split(",") if v and v != "one_fit"]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")

    if args.attribution:
        candidates = attribution_candidates(args.attribution, args.top, args.results)
        title = (f"{args.attribution}, RandomSearch's best {args.top} of every recorded "
                 "seed, each on its seed's split")
    else:
        splits = datasets.load(args.dataset, seed=0)
        hypermodel = kpn.NASHyperModel(
            splits.input_shape, splits.num_classes, architecture="dense"
        )
        candidates = [(f"candidate {index}", hypermodel, hp, splits) for index, hp in
                      enumerate(sample_candidates(hypermodel, args.candidates, seed=0))]
        title = f"{args.dataset}, NASHyperModel dense, {len(candidates)} random candidates"
    results = {variant: {"best": [], "final": []} for variant in variants}
    spreads = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for index, (label, hypermodel, hp, splits) in enumerate(candidates):
            _, cached = pipeline.cache_fit_inputs(
                (), dict(
                    x=splits.x_train, y=splits.y_train, batch_size=args.batch_size,
                    validation_data=(splits.x_val, splits.y_val),
                ),
            )
            bests = []
            for seed in range(1, args.seeds + 1):
                for variant in variants:
                    curve = train(
                        variant, hypermodel, hp, seed, splits, args.epochs,
                        args.batch_size, cached, directory,
                    )
                    results[variant]["best"].append(max(curve))
                    results[variant]["final"].append(curve[-1])
                bests.append(results["one_fit"]["best"][-1])
            if len(bests) > 1:
                spreads.append(statistics.stdev(bests))
            print(
                f"{label} ({index + 1}/{len(candidates)}) done: one_fit best "
                f"{', '.join(f'{b:.3f}' for b in bests)} "
                f"({time.perf_counter() - started:.0f} s)", flush=True,
            )
    pairs = len(candidates) * args.seeds
    print()
    print(
        f"{title}; {len(candidates)} candidates x {args.seeds} initial weights = {pairs} "
        f"pairs, {args.epochs} epochs, batch {args.batch_size}; validation accuracy in points"
    )
    print()
    print("| variant | mean best | best - one_fit: mean [95% interval], Wilcoxon p "
          "| mean final | final - one_fit |")
    print("| --- | --- | --- | --- | --- |")
    for variant in variants:
        best = results[variant]["best"]
        final = results[variant]["final"]
        row = f"| {variant} | {100 * statistics.mean(best):.2f} |"
        if variant == "one_fit":
            row += f" | {100 * statistics.mean(final):.2f} | |"
        else:
            best_difference = analysis.paired_difference(
                [a - b for a, b in zip(best, results["one_fit"]["best"])])
            final_difference = analysis.paired_difference(
                [a - b for a, b in zip(final, results["one_fit"]["final"])])
            row += (f" {best_difference.format()} | {100 * statistics.mean(final):.2f} | "
                    f"{final_difference.format()} |")
        print(row)
    if spreads:
        print()
        print(f"One candidate, one_fit, over {args.seeds} initial weights: best validation "
              f"accuracy varies with a standard deviation of {100 * statistics.mean(spreads):.2f} "
              f"points on average (max {100 * max(spreads):.2f}).")
    print()
    print(f"measured in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
