"""NAO against random search, regularized evolution and Bayesian optimization
on NAS-Bench-201 (CIFAR-10): a query is a table look-up, nothing trains.

The space is six `Choice` hyperparameters (one per edge of the cell, five
operations each). Every method is driven as a worker drives an oracle: ask
for a candidate, report its validation accuracy (one epoch, from the
table), end it. For every method and budget it prints

    method=<name> queries=<N> mean_regret=<x> p90_regret=<y>

(regret in accuracy points against the table's best), for N and the
smaller budgets in --budgets, over --seeds seeds. `nao` is NAOSearch's
policy with its defaults, run through the search's own engine; `nao_gradient_only` (the paper's decoding alone),
`nao_score_targets` (min-max scores instead of ranks) and `nao_no_random` (no
random share) change one argument each.

    python benchmarks/nao_nasbench201.py --queries 150 --seeds 10
    python benchmarks/nao_nasbench201.py --table other.npz --methods random,nao
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras_tuner as kt  # noqa: E402

from keras_prune_nas.engine import RoundEngine  # noqa: E402
from keras_prune_nas.engine import play  # noqa: E402
from keras_prune_nas.nao.oracle import distinct_sampler  # noqa: E402
from keras_prune_nas.nao.oracle import make_nao_policy  # noqa: E402

DEFAULT_TABLE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
    "nasbench201", "nasbench201_cifar10.npz",
)
METHODS = ("random", "evolution", "bayesian", "nao", "nao_gradient_only",
           "nao_score_targets", "nao_no_random")
# The variants: NAOOracle's defaults but for these arguments.
NAO_VARIANTS = {
    "nao": {},
    "nao_gradient_only": {"proposals": "gradient"},
    "nao_score_targets": {"targets": "score"},
    "nao_no_random": {"random_share": 0.0},
}


class Table:
    """Every cell's accuracy, looked up by its six operations."""

    def __init__(self, path):
        with np.load(path) as stored:
            self.ops = stored["ops"].astype(int)
            self.names = [str(name) for name in stored["op_names"]]
            self.accuracy = stored["val_accuracy"].astype(float)
        self.best = float(self.accuracy.max())
        self.index = {tuple(row): i for i, row in enumerate(self.ops)}

    def space(self):
        hp = kt.HyperParameters()
        for edge in range(self.ops.shape[1]):
            hp.Choice(f"edge_{edge}", self.names)
        return hp

    def query(self, values):
        key = tuple(self.names.index(values[f"edge_{e}"]) for e in range(self.ops.shape[1]))
        return self.accuracy[self.index[key]]


def drive(oracle, table, queries, directory):
    """Plays the worker for a keras_tuner oracle: returns the accuracy of every
    query, in order. The oracle gets its project directory from a `Tuner`,
    as in any search."""
    kt.Tuner(oracle=oracle, hypermodel=lambda hp: None, directory=directory,
             project_name="search", overwrite=True)
    oracle.verbose = 0  # no per-trial table
    found = []
    while len(found) < queries:
        trial = oracle.create_trial("worker")
        if trial.status == "STOPPED":
            break
        value = table.query(trial.hyperparameters.values)
        found.append(value)
        oracle.update_trial(trial.trial_id, {"val_accuracy": value}, step=0)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return found


def run_nao(table, queries, seed, variant):
    """NAO through the search's own engine: one epoch per candidate (a
    look-up is a final accuracy: nothing to cull, nothing to wait for)."""
    space = table.space()
    policy = make_nao_policy(lambda: space, queries, seed=seed, min_survivors=queries,
                             **NAO_VARIANTS[variant])
    engine = RoundEngine(policy, max_candidates=queries, direction="max", patience=None,
                         name="NAOSearch")
    engine.sample = distinct_sampler(space, seed, engine.population)
    engine.set_epochs(1)
    found = []

    def objective(work, epoch):
        found.append(table.query(work.values))
        return found[-1]

    play.play(engine, objective)
    return found


def run_bayesian(table, queries, seed, directory):
    oracle = kt.oracles.BayesianOptimizationOracle(
        objective=kt.Objective("val_accuracy", "max"), max_trials=queries, seed=seed,
        hyperparameters=table.space(),
    )
    return drive(oracle, table, queries, directory)


def run_random(table, queries, seed):
    rng = np.random.default_rng(seed)
    return list(table.accuracy[rng.choice(len(table.accuracy), queries, replace=False)])


def run_evolution(table, queries, seed, population=20, tournament=5):
    """Regularized evolution (Real et al. 2019): age-based removal, one-edge mutation."""
    rng = np.random.default_rng(seed)
    edges, operations = table.ops.shape[1], len(table.names)
    alive, found = [], []
    while len(found) < queries:
        if len(alive) < population:
            cell = tuple(rng.integers(0, operations, edges))
        else:
            contenders = [alive[i] for i in rng.choice(len(alive), tournament, replace=False)]
            parent = max(contenders, key=lambda item: item[1])[0]
            cell = list(parent)
            edge = rng.integers(edges)
            cell[edge] = rng.choice([op for op in range(operations) if op != parent[edge]])
            cell = tuple(cell)
        value = table.accuracy[table.index[cell]]
        found.append(value)
        alive.append((cell, value))
        if len(alive) > population:
            alive.pop(0)
    return found


def pairwise_accuracy(predicted, actual):
    """Share of pairs with different accuracies that `predicted` orders rightly."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    truth = np.sign(actual[:, None] - actual[None, :])
    guess = np.sign(predicted[:, None] - predicted[None, :])
    pairs = truth != 0
    return float(np.mean(truth[pairs] == guess[pairs]))


def predictor_quality(table, train, held_out, seed, targets="rank", epochs=200):
    """NAO's predictor trained on `train` random cells, ranking `held_out` others."""
    from keras_prune_nas.nao.codec import SearchSpaceCodec
    from keras_prune_nas.nao.model import NAOModel
    from keras_prune_nas.nao.policy import rank_targets
    from keras_prune_nas.nao.policy import score_targets

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(table.accuracy), train + held_out, replace=False)
    codec = SearchSpaceCodec(table.space())

    def tokens(indices):
        return np.array([
            codec.encode({f"edge_{e}": table.names[op] for e, op in enumerate(table.ops[i])})
            for i in indices
        ])

    model = NAOModel(codec, seed=seed)
    accuracy = table.accuracy[rows]
    learned = (rank_targets(list(accuracy[:train])) if targets == "rank"
               else score_targets(list(accuracy[:train])))
    model.fit(tokens(rows[:train]), learned, epochs=epochs, seed=seed)
    return pairwise_accuracy(model.predict(tokens(rows[train:])), accuracy[train:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=DEFAULT_TABLE)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="50,100")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--cost-pool", type=int, default=0,
        help="also time NAO's own cost (train its model, propose 25) on a pool of this many cells",
    )
    parser.add_argument(
        "--predictor-seeds", type=int, default=0,
        help="also print the predictor's pairwise ranking accuracy on 1000 held-out "
        "cells after training on 100, over this many seeds",
    )
    args = parser.parse_args(argv)
    if not os.path.exists(args.table):
        print(f"No NAS-Bench-201 table at {os.path.abspath(args.table)}: nothing to run.")
        return 1
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    budgets = sorted({int(b) for b in args.budgets.split(",") if b and int(b) < args.queries}
                     | {args.queries})
    table = Table(args.table)
    for method in methods:
        regrets = {budget: [] for budget in budgets}
        started = time.perf_counter()
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as directory:
                if method == "random":
                    found = run_random(table, args.queries, seed)
                elif method == "evolution":
                    found = run_evolution(table, args.queries, seed)
                elif method == "bayesian":
                    found = run_bayesian(table, args.queries, seed, directory)
                else:
                    found = run_nao(table, args.queries, seed, method)
            best = np.maximum.accumulate(found)
            for budget in budgets:
                regrets[budget].append(table.best - best[min(budget, len(best)) - 1])
        seconds = (time.perf_counter() - started) / args.seeds
        for budget in budgets:
            values = np.array(regrets[budget])
            print(
                f"method={method} queries={budget} mean_regret={values.mean():.3f} "
                f"p90_regret={np.percentile(values, 90):.3f}"
            )
        print(f"# {method}: {seconds:.1f} s per seed", flush=True)
    if args.cost_pool:
        from keras_prune_nas.nao.oracle import propose_architectures
        from keras_prune_nas.nao.policy import rank_targets

        rng = np.random.default_rng(0)
        rows = rng.choice(len(table.accuracy), args.cost_pool, replace=False)
        evaluated = [
            {f"edge_{e}": table.names[op] for e, op in enumerate(table.ops[i])} for i in rows
        ]
        started = time.perf_counter()
        proposed = propose_architectures(
            table.space(), evaluated, rank_targets(list(table.accuracy[rows])), 25
        )
        print(
            f"nao_cost pool={args.cost_pool} proposed={len(proposed)} "
            f"seconds={time.perf_counter() - started:.1f}"
        )
    if args.predictor_seeds:
        for targets in ("rank", "score"):
            scores = [predictor_quality(table, 100, 1000, seed, targets)
                      for seed in range(args.predictor_seeds)]
            print(
                f"predictor targets={targets} train=100 held_out=1000 "
                f"pairwise_accuracy={np.mean(scores):.3f} "
                f"(min {np.min(scores):.3f}, {args.predictor_seeds} seeds)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
