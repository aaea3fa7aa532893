"""Why batch-normalized candidates look bad early: the moving statistics.

A Keras `BatchNormalization` layer evaluates with moving averages of the
batch statistics, updated with momentum 0.99 by default: after n training
steps 0.99**n of the initial mean 0 and variance 1 is still in them. On a
small dataset (MNIST-1D: about 50 steps of 64 per epoch) that is 60% after
one epoch and 37% after two, so a model whose training is going well can
still score near chance on validation for several epochs, and the per-epoch
cull ranks it last. With momentum 0.9 (PyTorch's default, 0.1 there) 0.5%
is left after one epoch.

This trains RandomSearch's best batch-normalized candidates of every seed of
the attribution study (`benchmarks/attribution.py`), each from the same
initial weights, with both momenta, and prints the mean validation accuracy
after epochs 1, 2, 3 and 5, the best over all epochs, and the paired
difference of each (0.9 minus 0.99) with a 95% interval and a Wilcoxon
p-value.

    python benchmarks/bn_momentum.py --dataset mnist1d-conv --top 1
"""

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_prune_nas import analysis  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attribution import DEFAULT_RESULTS  # noqa: E402
from continuing_vs_one_fit import attribution_candidates  # noqa: E402
from continuing_vs_one_fit import build  # noqa: E402

EPOCHS_SHOWN = (1, 2, 3, 5)


def curve(hypermodel, hp, splits, momentum, seed, epochs, batch_size):
    """The validation curve of one candidate, its moving statistics updated
    with `momentum`, from the initial weights of `seed`."""
    import dataclasses

    hypermodel.search_space = dataclasses.replace(hypermodel.search_space,
                                                  batch_norm_momentum=momentum)
    model = build(hypermodel, hp, seed)
    history = model.fit(splits.x_train, splits.y_train, batch_size=batch_size, epochs=epochs,
                        validation_data=(splits.x_val, splits.y_val), verbose=0)
    return history.history["val_accuracy"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d-conv")
    parser.add_argument("--top", type=int, default=1,
                        help="per seed, its best this many batch-normalized candidates")
    parser.add_argument("--momenta", default="0.99,0.9")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1, help="of the initial weights")
    parser.add_argument("--results", default=os.path.join(DEFAULT_RESULTS, "bn_momentum_0.99"),
                        help="the attribution records to take the candidates from (by "
                        "default those run with Keras' momentum 0.99)")
    args = parser.parse_args(argv)
    momenta = [float(m) for m in args.momenta.split(",")]
    candidates = [c for c in attribution_candidates(args.dataset, 30, args.results)
                  if c[2].values.get("batch_norm")]
    per_seed, chosen = {}, []
    for label, hypermodel, hp, splits in candidates:
        seed_label = label.split(" trial")[0]
        if per_seed.get(seed_label, 0) < args.top:
            per_seed[seed_label] = per_seed.get(seed_label, 0) + 1
            chosen.append((label, hypermodel, hp, splits))
    curves = {momentum: [] for momentum in momenta}
    for label, hypermodel, hp, splits in chosen:
        row = []
        for momentum in momenta:
            found = curve(hypermodel, hp, splits, momentum, args.seed, args.epochs,
                          args.batch_size)
            curves[momentum].append(found)
            row.append(f"{momentum}: " + " ".join(f"{value:.2f}" for value in found[:5])
                       + f" ... best {max(found):.3f}")
        print(f"{label}: " + " | ".join(row), flush=True)
    print(f"\n{args.dataset}: {len(chosen)} batch-normalized candidates, "
          f"{args.epochs} epochs, batch {args.batch_size}")
    columns = [f"epoch {e}" for e in EPOCHS_SHOWN] + ["best"]
    print("| momentum | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))

    def points(found):
        return [found[e - 1] for e in EPOCHS_SHOWN] + [max(found)]

    table = {momentum: np.array([points(found) for found in curves[momentum]])
             for momentum in momenta}
    for momentum in momenta:
        print(f"| {momentum} | " + " | ".join(f"{v:.3f}" for v in table[momentum].mean(axis=0))
              + " |")
    base, other = momenta[0], momenta[1:]
    for momentum in other:
        differences = table[momentum] - table[base]
        cells = [analysis.paired_difference(differences[:, i]).format()
                 for i in range(len(columns))]
        print(f"| {momentum} - {base} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
