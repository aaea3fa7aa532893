"""NAO against random search, local search, regularized evolution and
Bayesian optimization on NAS-Bench-201 (CIFAR-10): a query is a table
look-up, nothing trains.

The space is six `Choice` hyperparameters (one per edge of the cell, five
operations each). For every method and budget it prints

    method=<name> queries=<N> mean_regret=<x> p90_regret=<y>

(regret in accuracy points against the table's best), for N and the
smaller budgets in --budgets, over the seeds 1..--seeds; then each method's
paired difference against --reference (the same seeds: mean, 95% interval,
Wilcoxon p). Every method of a seed runs on that seed; runs are independent:
NAO's sampler starts at a position hashed from its seed (as `NAOSearch`'s
does), the NumPy methods draw from `default_rng(seed)`, Bayesian
optimization's keras_tuner sampler starts at the same hashed position.

`nao` is NAOSearch's policy with its defaults, run through the search's own
engine; `nao_paper` is `proposals="paper"` (the reference code's procedure);
`nao_gradient_only`, `nao_score_targets`, `nao_no_local`,
`nao_random_share` and `nao_generation25` change one argument each (the
ablation of the default). For each NAO method it prints where its proposals came from
(decoded gradient steps, ranked neighbours, random draws), per seed.
`local_search` evaluates the whole one-edit neighbourhood of its current
cell and moves to the best, restarting at a random cell at a local optimum
(White et al., "Local search is state of the art for NAS benchmarks");
`evolution` is regularized evolution charged for every cell it queries
again, `evolution_cached` is it with a cache (a repeated cell costs no
query).

Each run's record is written to --results (`<backend>/<method>_<seed>.json`)
as it finishes and skipped when there, so a long study can span sessions;
with records of another backend for the same method and seeds it also
prints the paired difference between the backends.

    python benchmarks/nao_nasbench201.py --queries 150 --seeds 30
    KERAS_BACKEND=jax python benchmarks/nao_nasbench201.py --methods nao --seeds 30
    python benchmarks/nao_nasbench201.py --table other.npz --methods random,nao
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras_tuner as kt  # noqa: E402

from keras_prune_nas import files  # noqa: E402
from keras_prune_nas.analysis import paired_difference  # noqa: E402
from keras_prune_nas.engine import RoundEngine  # noqa: E402
from keras_prune_nas.engine import play  # noqa: E402
from keras_prune_nas.nao.oracle import distinct_sampler  # noqa: E402
from keras_prune_nas.nao.oracle import make_nao_policy  # noqa: E402
from keras_prune_nas.nao.oracle import sampling_stream_start  # noqa: E402
from keras_prune_nas.oracle import start_sampling_at  # noqa: E402

DEFAULT_TABLE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
    "nasbench201", "nasbench201_cifar10.npz",
)
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                               "nao_nasbench201")
# The variants: NAOOracle's defaults but for these arguments.
NAO_VARIANTS = {
    "nao": {},
    "nao_paper": {"proposals": "paper"},
    "nao_gradient_only": {"proposals": "gradient"},
    "nao_score_targets": {"targets": "score"},
    "nao_no_local": {"local_share": 0.0},
    "nao_random_share": {"random_share": 0.2},
    "nao_generation25": {"generation_size": 25},
}
BASELINES = ("random", "local_search", "evolution", "evolution_cached", "bayesian")
METHODS = BASELINES + tuple(NAO_VARIANTS)
DEFAULT_METHODS = ("random", "local_search", "evolution", "evolution_cached", "nao",
                   "nao_paper")


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

    def accuracies(self, cells):
        """The accuracy of each cell (a tuple of operation indices)."""
        return [float(self.accuracy[self.index[cell]]) for cell in cells]

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


def run_nao(table, queries, seed, variant, options=None):
    """NAO through the search's own engine: one epoch per candidate (a
    look-up is a final accuracy: nothing to cull, nothing to wait for).
    `options` override the variant's arguments. Returns (accuracies in query
    order, proposals by origin)."""
    space = table.space()
    policy = make_nao_policy(lambda: space, queries, seed=seed, min_survivors=queries,
                             **{**NAO_VARIANTS[variant], **(options or {})})
    engine = RoundEngine(policy, max_candidates=queries, direction="max", patience=None,
                         name="NAOSearch")
    engine.sample = distinct_sampler(space, sampling_stream_start(seed), engine.population)
    engine.set_epochs(1)
    found = []

    def objective(work, epoch):
        found.append(table.query(work.values))
        return found[-1]

    play.play(engine, objective)
    origins = {}
    for entry in policy.generation_history:
        for origin, count in {**entry["origins"], "random": entry["random"]}.items():
            origins[origin] = origins.get(origin, 0) + count
    return found, origins, policy.parameters()


def nao_parameters(table, queries, variant, options=None):
    """The parameters `run_nao` runs `variant` with (a record made with
    others, e.g. before a default changed, is stale)."""
    space = table.space()
    policy = make_nao_policy(lambda: space, queries, min_survivors=queries,
                             **{**NAO_VARIANTS[variant], **(options or {})})
    return json.loads(json.dumps(policy.parameters()))


def run_bayesian(table, queries, seed, directory):
    oracle = kt.oracles.BayesianOptimizationOracle(
        objective=kt.Objective("val_accuracy", "max"), max_trials=queries, seed=seed,
        hyperparameters=table.space(),
    )
    start_sampling_at(oracle, sampling_stream_start(seed))
    return drive(oracle, table, queries, directory)


def run_evolution(table, queries, seed, population=20, tournament=5, cached=False):
    """Regularized evolution (Real et al. 2019): age-based removal, one-edge
    mutation. With `cached`, a cell queried before is looked up again for
    free: it joins the population but costs no query. Returns the cells
    queried (operation tuples), in order."""
    rng = np.random.default_rng(seed)
    edges, operations = table.ops.shape[1], len(table.names)
    alive, found, seen = [], [], set()
    draws = 0
    while len(found) < queries and draws < 100 * queries:
        draws += 1
        if len(alive) < population:
            cell = tuple(int(op) for op in rng.integers(0, operations, edges))
        else:
            contenders = [alive[i] for i in rng.choice(len(alive), tournament, replace=False)]
            parent = max(contenders, key=lambda item: item[1])[0]
            cell = list(parent)
            edge = rng.integers(edges)
            cell[edge] = int(rng.choice([op for op in range(operations) if op != parent[edge]]))
            cell = tuple(cell)
        value = table.accuracy[table.index[cell]]
        if not (cached and cell in seen):
            found.append(cell)
            seen.add(cell)
        alive.append((cell, value))
        if len(alive) > population:
            alive.pop(0)
    return found


def run_local_search(table, queries, seed, initial=10):
    """Local search as White et al. run it on NAS-Bench-201: the best of
    `initial` random cells, then its whole one-edit neighbourhood (in random
    order); move to the best neighbour if it is better, else restart at a
    random cell. Every cell is queried once. Returns the cells queried
    (operation tuples), in order."""
    rng = np.random.default_rng(seed)
    edges, operations = table.ops.shape[1], len(table.names)
    found, seen = [], {}

    def query(cell):
        if cell not in seen and len(found) < queries:
            seen[cell] = float(table.accuracy[table.index[cell]])
            found.append(cell)
        return seen.get(cell)

    def random_cell():
        while True:
            cell = tuple(int(op) for op in rng.integers(0, operations, edges))
            if cell not in seen:
                return cell

    current, starts_left = None, initial
    while len(found) < queries:
        if current is None:  # the first start takes the best of several
            starts = [random_cell() for _ in range(starts_left)]
            starts_left = 1
            scored = [(query(cell), cell) for cell in starts if query(cell) is not None]
            if not scored:
                break
            current = max(scored)[1]
        neighbours = [current[:edge] + (op,) + current[edge + 1:]
                      for edge in range(edges) for op in range(operations)
                      if op != current[edge]]
        best, best_cell = seen[current], None
        for index in rng.permutation(len(neighbours)):
            value = query(neighbours[index])
            if value is not None and value > best:
                best, best_cell = value, neighbours[index]
        current = best_cell  # None: a local optimum, restart
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


def run(table, method, queries, seed, nao_options=None):
    """One run: a record with every query's accuracy, in order."""
    started = time.perf_counter()
    origins = parameters = None
    with tempfile.TemporaryDirectory() as directory:
        if method == "random":
            rng = np.random.default_rng(seed)
            found = list(table.accuracy[rng.choice(len(table.accuracy), queries, replace=False)])
        elif method == "local_search":
            found = table.accuracies(run_local_search(table, queries, seed))
        elif method in ("evolution", "evolution_cached"):
            found = table.accuracies(
                run_evolution(table, queries, seed, cached=method == "evolution_cached")
            )
        elif method == "bayesian":
            found = run_bayesian(table, queries, seed, directory)
        else:
            found, origins, parameters = run_nao(table, queries, seed, method, nao_options)
    return {"method": method, "seed": seed, "queries": queries,
            "nao_options": nao_options if method in NAO_VARIANTS else None,
            "parameters": parameters,
            "found": [float(value) for value in found], "origins": origins,
            "seconds": round(time.perf_counter() - started, 2)}


def regrets_at(table, found, budgets):
    best = np.maximum.accumulate(found)
    return {budget: float(table.best - best[min(budget, len(best)) - 1]) for budget in budgets}


def is_current(record, queries, nao_options, parameters):
    """Whether a stored record was made as a run now would be: the same
    queries, NAO options and (where it kept them) NAO parameters."""
    return (
        record["queries"] == queries and record.get("nao_options") == nao_options
        and (record.get("parameters") is None or record["parameters"] == parameters)
    )


def records_of(results, backend, method, seeds, queries, parameters=None):
    """The stored records of `method` on `backend` for `seeds`, or None if
    any is missing or stale."""
    records = []
    for seed in seeds:
        path = os.path.join(results, backend, f"{method}_{seed}.json")
        if not os.path.exists(path):
            return None
        with open(path) as stored:
            record = json.load(stored)
        if not is_current(record, queries, None, parameters):
            return None
        records.append(record)
    return records


def main(argv=None):
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=DEFAULT_TABLE)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=30, help="runs seeded 1..SEEDS")
    parser.add_argument("--budgets", default="50,100")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"some of {list(METHODS)}")
    parser.add_argument("--reference", default="local_search",
                        help="the method every other one is paired against")
    parser.add_argument("--results", default=DEFAULT_RESULTS,
                        help="where each run's record is kept ('' keeps none)")
    parser.add_argument(
        "--nao-options", type=json.loads, default=None,
        help="JSON of NAOOracle arguments every NAO method runs with, e.g. "
        "'{\"generation_size\": 10}' (keep their records apart with --results)",
    )
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
    unknown = [m for m in methods + [args.reference] if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if args.seeds < 1:
        parser.error("--seeds must be >= 1 (runs are seeded 1..SEEDS)")
    budgets = sorted({int(b) for b in args.budgets.split(",") if b and int(b) < args.queries}
                     | {args.queries})
    table = Table(args.table)
    backend = keras.backend.backend()
    seeds = list(range(1, args.seeds + 1))
    regrets = {}
    parameters = {method: nao_parameters(table, args.queries, method, args.nao_options)
                  for method in dict.fromkeys(methods + [args.reference])
                  if method in NAO_VARIANTS}
    for method in dict.fromkeys(methods + [args.reference]):
        records = []
        for seed in seeds:
            path = args.results and os.path.join(args.results, backend, f"{method}_{seed}.json")
            record = None
            if path and os.path.exists(path):
                with open(path) as stored:
                    record = json.load(stored)
                expected = args.nao_options if method in NAO_VARIANTS else None
                if not is_current(record, args.queries, expected, parameters.get(method)):
                    record = None
            if record is None:
                record = run(table, method, args.queries, seed, args.nao_options)
                if path:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    files.atomic_write_json(path, record)
            records.append(record)
        regrets[method] = [regrets_at(table, r["found"], budgets) for r in records]
        for budget in budgets:
            values = np.array([r[budget] for r in regrets[method]])
            print(
                f"method={method} queries={budget} mean_regret={values.mean():.3f} "
                f"p90_regret={np.percentile(values, 90):.3f}"
            )
        seconds = np.mean([r["seconds"] for r in records])
        line = f"# {method}: {seconds:.1f} s per seed ({backend})"
        if records[0]["origins"] is not None:
            totals = {}
            for record in records:
                for origin, count in record["origins"].items():
                    totals[origin] = totals.get(origin, 0) + count
            line += "; proposals per seed: " + ", ".join(
                f"{origin} {count / len(records):.1f}" for origin, count in sorted(totals.items())
            )
        print(line, flush=True)
    print(f"# paired differences against {args.reference} over seeds 1-{args.seeds} "
          "(regret points, negative: lower regret than it)")
    for method in methods:
        if method == args.reference:
            continue
        for budget in budgets:
            result = paired_difference(
                [mine[budget] - theirs[budget]
                 for mine, theirs in zip(regrets[method], regrets[args.reference])]
            )
            print(f"paired method={method} reference={args.reference} queries={budget} "
                  f"{result.format(scale=1, digits=3)}")
    if args.results:
        for other in ("tensorflow", "jax", "torch"):
            if other == backend:
                continue
            for method in methods:
                if method not in NAO_VARIANTS:
                    continue
                theirs = records_of(args.results, other, method, seeds, args.queries,
                                    parameters[method])
                if theirs is None:
                    continue
                for budget in budgets:
                    result = paired_difference(
                        [mine[budget] - regrets_at(table, record["found"], budgets)[budget]
                         for mine, record in zip(regrets[method], theirs)]
                    )
                    print(f"backends method={method} {backend}-{other} queries={budget} "
                          f"{result.format(scale=1, digits=3)}")
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
                      for seed in range(1, args.predictor_seeds + 1)]
            print(
                f"predictor targets={targets} train=100 held_out=1000 "
                f"pairwise_accuracy={np.mean(scores):.3f} "
                f"(min {np.min(scores):.3f}, {args.predictor_seeds} seeds)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
