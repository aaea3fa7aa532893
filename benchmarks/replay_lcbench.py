"""Replays the search rules on every LCBench table: regret against cost.

Each table in `../shared/data/lcbench/` holds 500 recorded learning curves
(validation accuracy, 51 trained epochs after the untrained column 0, which
is dropped) of random MLP configurations on one OpenML task. For every table this replays PruneSearch's cull (`analysis.replay`,
the same pure functions the oracle runs) for cull fractions 0.05 to 0.5,
the secretary rule and successive halving (eta = 3), and prints, per rule,
the median regret over the tables (validation accuracy points below the best
of the 500 trained fully) and the median share of the epochs that training
all 500 fully costs. It also prints how well the ranking after a few epochs
predicts the final one (median Spearman and Kendall over the tables).

    python benchmarks/replay_lcbench.py
    python benchmarks/replay_lcbench.py --data path/to/lcbench --candidates 100
"""

import argparse
import glob
import os
import statistics
import sys
import time

import numpy as np

from keras_prune_nas import analysis

DEFAULT_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "lcbench"
)
CULL_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def load_tables(directory):
    paths = sorted(glob.glob(os.path.join(directory, "lcbench_*.npz")))
    tables = {}
    for path in paths:
        # Without the untrained column 0: a replay starts after epoch 1.
        tables[os.path.basename(path)[len("lcbench_"):-4]] = analysis.load_lcbench(path)
    return tables


def rules(args):
    for fraction in CULL_FRACTIONS:
        yield f"prune cull_fraction={fraction}", dict(
            rule="prune", cull_fraction=fraction, min_survivors=args.min_survivors,
            patience=args.patience,
        )
    yield f"secretary probe_epochs={args.probe_epochs}", dict(
        rule="secretary", probe_epochs=args.probe_epochs, patience=args.patience
    )
    yield "successive halving eta=3", dict(rule="successive_halving", eta=3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="directory holding lcbench_*.npz")
    parser.add_argument("--candidates", type=int, default=None,
                        help="use only the first N curves of each table")
    parser.add_argument("--min-survivors", type=int, default=10)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--probe-epochs", type=int, default=1)
    args = parser.parse_args(argv)
    tables = load_tables(args.data)
    if not tables:
        print(f"No lcbench_*.npz in {os.path.abspath(args.data)}: nothing to replay.")
        return 1
    if args.candidates:
        tables = {name: curves[: args.candidates] for name, curves in tables.items()}
    started = time.perf_counter()
    shape = next(iter(tables.values())).shape
    print(
        f"{len(tables)} LCBench tables, {shape[0]} candidates x {shape[1]} "
        f"epochs each; min_survivors={args.min_survivors}, patience={args.patience}"
    )
    print()
    print("| rule | median regret (points) | worst regret | found the best | median share of epochs |")
    print("| --- | --- | --- | --- | --- |")
    for label, options in rules(args):
        results = [analysis.replay(curves, **options) for curves in tables.values()]
        regrets = [100 * r.regret for r in results]
        print(
            f"| {label} | {statistics.median(regrets):.2f} | {max(regrets):.2f} | "
            f"{sum(r.regret == 0 for r in results)}/{len(results)} | "
            f"{100 * statistics.median(r.share for r in results):.1f}% |"
        )
    print()
    correlations = [analysis.rank_correlation(curves) for curves in tables.values()]
    print("| epochs trained | median Spearman | median Kendall |")
    print("| --- | --- | --- |")
    for epochs in (1, 2, 3, 5, 10, 20):
        if epochs > shape[1]:
            break
        print(
            f"| {epochs} | "
            f"{np.median([c.spearman[epochs - 1] for c in correlations]):.3f} | "
            f"{np.median([c.kendall[epochs - 1] for c in correlations]):.3f} |"
        )
    print()
    print(f"replayed in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
