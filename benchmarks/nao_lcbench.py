"""NAO with the cull against random candidates with the cull, on the LCBench
surrogate: 34 OpenML tasks, any MLP configuration, nothing trains.

The surrogate (`../shared/data/lcbench_surrogate/`, YAHPO Gym's ONNX model of
LCBench) gives the validation-accuracy curve of any configuration of
LCBench's seven hyperparameters. Its epoch 1 is the untrained model, so a
candidate's Keras epoch k (after k epochs of training) is surrogate epoch
k + 1: a curve holds 51 trained epochs.

Every method is NAOSearch's policy with its defaults, run through the
search's own engine as a worker drives it (ask for a unit, report its epochs
from the surrogate, end it): the same generations (of 10 by default; 75
candidates make eight of 9 or 10), each culled after every epoch to its
finalists (4 by default), trained with early stopping. `nao` proposes
every later generation with NAO; `random` samples it at random
(`random_share=1`); `nao_score_targets` and
`nao_gradient_only` change one argument, and `random_binned` is random with
every candidate moved to the bin centres NAO's codec proposes from
(--methods); `--nao-options` changes NAO's arguments (into another
--results directory). Each run is charged the
epochs it trained; all are compared at the same budget: for a seed, the
smallest of the runs' epoch totals, and a method's result is the best
validation accuracy reported within that many epochs.

Regret is in accuracy points below the task's reference: the best final
validation accuracy among --reference random configurations trained for all
51 epochs. Per task it prints the mean regret of each method over --seeds
seeds, then for each method the mean over tasks and the tasks it won, tied
(mean regrets within --tie points) and lost against random, the advantage
on every task that would make 2:1 the expected count at this noise (at these
seeds, 30 and 100), and the epochs each method trained.

Runs are seeded 1..--seeds and independent of each other: the sampler of
seed s starts at a position hashed from s (as `NAOSearch`'s does), the same
for every method of that seed, so generation 0 is the same candidates for
NAO and random. Each run's record (the accuracy of every epoch trained) is
written to --results as it finishes (`<task>/<method>_<seed>.json`) and
read back instead of run again, so the study can span sessions; so is each
task's reference (`<task>/reference_<count>.json`).

    pip install -e ".[lcbench]"      # onnxruntime
    python benchmarks/nao_lcbench.py --seeds 10          # max_trials 75: eight generations
    python benchmarks/nao_lcbench.py --tasks 3945,7593 --seeds 2 --max-trials 50
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras_tuner as kt  # noqa: E402

from keras_prune_nas import analysis  # noqa: E402
from keras_prune_nas import files  # noqa: E402
from keras_prune_nas.engine import RoundEngine  # noqa: E402
from keras_prune_nas.engine import play  # noqa: E402
from keras_prune_nas.nao.oracle import distinct_sampler  # noqa: E402
from keras_prune_nas.nao.oracle import make_nao_policy  # noqa: E402
from keras_prune_nas.nao.codec import SearchSpaceCodec  # noqa: E402
from keras_prune_nas.nao.oracle import sample_values  # noqa: E402
from keras_prune_nas.nao.oracle import sampling_stream_start  # noqa: E402

DEFAULT_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
    "lcbench_surrogate",
)
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                               "nao_lcbench")
# The surrogate's continuous inputs after the epoch, in its order.
CONFIG_NAMES = ("batch_size", "learning_rate", "momentum", "weight_decay",
                "num_layers", "max_units", "max_dropout")
TRAINED_EPOCHS = 51
# NAOSearch's defaults but for these arguments; "random" is the baseline.
VARIANTS = {
    "nao": {},
    "random": {"random_share": 1.0},
    "nao_score_targets": {"targets": "score"},
    "nao_gradient_only": {"proposals": "gradient"},
    "random_binned": {"random_share": 1.0},
}
# Methods whose every candidate is snapped to the bin centres NAO's codec
# gives a continuous hyperparameter (what NAO's proposals are made of): random
# search on NAO's grid, to measure what the grid costs.
ON_CODEC_GRID = ("random_binned",)


def search_space():
    """LCBench's seven hyperparameters, as `config_space.json` gives them."""
    hp = kt.HyperParameters()
    hp.Int("batch_size", 16, 512, sampling="log")
    hp.Float("learning_rate", 1e-4, 0.1, sampling="log")
    hp.Float("momentum", 0.1, 0.99)
    hp.Float("weight_decay", 1e-5, 0.1)
    hp.Int("num_layers", 1, 5)
    hp.Int("max_units", 64, 1024, sampling="log")
    hp.Float("max_dropout", 0.0, 1.0)
    return hp


class Surrogate:
    """Validation-accuracy curves (percent, 51 trained epochs) of one task."""

    def __init__(self, directory, task):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            os.path.join(directory, "model.onnx"), options,
            providers=["CPUExecutionProvider"],
        )
        with open(os.path.join(directory, "encoding.json")) as file:
            self.task_code = json.load(file)["OpenML_task_id"][task]

    def curves(self, configs):
        """One row of 51 trained epochs per config (a sequence of 7 values)."""
        configs = np.asarray(configs, dtype=np.float32)
        epochs = np.arange(2, TRAINED_EPOCHS + 2, dtype=np.float32)
        rows = np.concatenate(
            [np.repeat(epochs[None, :, None], len(configs), axis=0),
             np.repeat(configs[:, None, :], len(epochs), axis=1)],
            axis=2,
        ).reshape(-1, 1 + len(CONFIG_NAMES))
        x_cat = np.full((len(rows), 1), self.task_code, dtype=np.int32)
        output = self.session.run(None, {"x_cat": x_cat, "x_cont": rows})[0]
        return output[:, 1].reshape(len(configs), len(epochs)).astype(float)

    def curve(self, values):
        return self.curves([[values[name] for name in CONFIG_NAMES]])[0]


def reference_accuracy(surrogate, count, seed=12345):
    """The best final accuracy among `count` random configurations."""
    hp = search_space()
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(count):
        values = {}
        for parameter in hp.space:
            values[parameter.name] = parameter.prob_to_value(rng.uniform())
        configs.append([values[name] for name in CONFIG_NAMES])
    return float(surrogate.curves(configs)[:, -1].max())


def method_options(method, nao_options=None):
    """`make_nao_policy`'s arguments for `method`: its variant's, over
    `nao_options` for every method but random."""
    if method == "random":
        return dict(VARIANTS[method])
    return {**(nao_options or {}), **VARIANTS[method]}


def run(method, surrogate, max_trials, seed, nao_options=None, population=None):
    """One search through the search's own engine (NAOSearch's policy and
    defaults, or `nao_options`); returns the accuracy of every epoch
    trained, in order.

    A list given as `population` receives one dict per candidate sampled,
    in order: its `generation`, `origin` ("nao" or "random"), `epochs`
    trained and `best`, the best accuracy of its whole 51-epoch curve (what
    it would have reached had nothing culled or stopped it)."""
    space = search_space()
    policy = make_nao_policy(lambda: space, max_trials, seed=seed,
                             **method_options(method, nao_options))
    engine = RoundEngine(policy, max_candidates=max_trials, direction="max",
                         name="NAOSearch")
    if method in ON_CODEC_GRID:
        engine.sample = codec_grid_sampler(space, sampling_stream_start(seed),
                                           engine.population)
    else:
        engine.sample = distinct_sampler(space, sampling_stream_start(seed),
                                         engine.population)
    engine.set_epochs(TRAINED_EPOCHS)
    curves = {}
    trained = []

    def objective(work, epoch):
        if work.candidate_id not in curves:
            curves[work.candidate_id] = surrogate.curve(work.values)
        trained.append(float(curves[work.candidate_id][epoch]))
        return trained[-1]

    play.play(engine, objective)
    if population is not None:
        population.extend(
            {"generation": row["generation"], "origin": row["origin"],
             "epochs": row["epochs"], "best": float(curves[row["trial_id"]].max())}
            for row in policy.candidate_table(engine)
        )
    return trained


def measured_run(method, surrogate, max_trials, seed, nao_options=None,
                 with_population=False):
    """`run`'s record: its `trained` accuracies, and its `population` if asked."""
    population = [] if with_population else None
    trained = run(method, surrogate, max_trials, seed, nao_options, population)
    return {"trained": trained,
            **({"population": population} if with_population else {})}


def population_summary(population, trained, reference):
    """Figures of one run's candidates (regrets in points below `reference`):
    the best candidate sampled, had every one trained its whole curve; the
    best the run reported (what the cull and early stopping kept of it); the
    mean best accuracy of generation 0 and of the later ones; and the mean
    gap between a generation's best and second best candidate."""
    best = [candidate["best"] for candidate in population]
    generations = {}
    for candidate in population:
        generations.setdefault(candidate["generation"], []).append(candidate["best"])
    later = [value for generation, values in generations.items() if generation
             for value in values]
    ranked = [sorted(values, reverse=True) for values in generations.values()]
    gaps = [values[0] - values[1] for values in ranked if len(values) > 1]
    return {
        "sampled": reference - max(best),
        "reported": reference - max(trained),
        "generation_0": float(np.mean(generations[0])),
        "later": float(np.mean(later)) if later else np.nan,
        "gap": float(np.mean(gaps)) if gaps else np.nan,
    }


def codec_grid_sampler(space, seed, population, max_collisions=100):
    """`distinct_sampler`'s draws, each moved to the nearest values NAO's
    codec can express (the bin centres of a continuous hyperparameter)."""
    codec = SearchSpaceCodec(space)
    state = {"seed": seed}

    def sample(candidate_id):
        for _ in range(max_collisions):
            drawn, state["seed"] = sample_values(space, state["seed"])
            values = codec.decode(codec.encode(drawn))
            if not population.has_values(values):
                return values
        return None

    return sample


def policy_parameters(method, max_trials, nao_options=None):
    """The NAO parameters `run` runs `method` with, as a record keeps them (a
    record made with others, e.g. before a default changed, is stale)."""
    space = search_space()
    policy = make_nao_policy(lambda: space, max_trials, **method_options(method, nao_options))
    return json.loads(json.dumps(policy.parameters()))


def stored_reference(results, task, count, compute):
    """A task's reference accuracy: read from `results` if recorded there for
    `count` configurations, else computed by `compute()` (half a minute: the
    surrogate's curves of every configuration) and recorded."""
    path = results and os.path.join(results, str(task), f"reference_{count}.json")
    if path and os.path.exists(path):
        with open(path) as stored:
            return json.load(stored)["reference"]
    reference = compute()
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files.atomic_write_json(path, {"task": task, "count": count, "reference": reference})
    return reference


def stored_run(results, task, method, seed, max_trials, compute, parameters=None,
               with_population=False):
    """A run's record (`trained`: its accuracies; `population`: its
    candidates, where kept): read from `results` if it was made with
    `max_trials` and `parameters` (a record without them is taken as made
    with them) and holds a population if `with_population`; else
    `compute()`'s (a dict with `trained`, and `population` if kept),
    recorded there ('' keeps no record)."""
    path = results and os.path.join(results, str(task), f"{method}_{seed}.json")
    if path and os.path.exists(path):
        with open(path) as stored:
            record = json.load(stored)
        if (record["max_trials"] == max_trials
                and record.get("parameters") in (None, parameters)
                and (not with_population or "population" in record)):
            return record
    record = {"task": task, "method": method, "seed": seed, "max_trials": max_trials,
              "parameters": parameters, **compute()}
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files.atomic_write_json(path, record)
    return record


def expected_task_count(standard_errors, advantage, tie):
    """Tasks a method is expected to win and lose against random when it is
    `advantage` points of regret better on every task.

    A task's mean paired difference over its seeds is taken as normal around
    -advantage with that task's standard error; a win is a mean below -tie, a
    loss one above +tie (the count this benchmark prints).

    >>> won, lost = expected_task_count([0.1, 0.1], advantage=0.0, tie=0.05)
    >>> round(won, 3) == round(lost, 3)
    True
    """
    from scipy import stats

    errors = np.maximum(np.asarray(standard_errors, dtype=float), 1e-12)
    won = float(stats.norm.cdf((advantage - tie) / errors).sum())
    lost = float(stats.norm.cdf((-advantage - tie) / errors).sum())
    return won, lost


def advantage_for_count_ratio(standard_errors, tie, ratio=2.0):
    """The smallest advantage on every task (points of regret) whose expected
    count of won tasks is `ratio` times that of lost ones."""
    from scipy import optimize

    if ratio <= 1:
        raise ValueError(f"ratio must be above 1, got {ratio}")

    def excess(advantage):
        won, lost = expected_task_count(standard_errors, advantage, tie)
        return won - ratio * lost

    high = tie + 10 * float(np.max(standard_errors)) + 1.0
    return float(optimize.brentq(excess, 0.0, high))


def print_population_lines(populations, means, methods):
    """Splits each method's regret into the best candidate it sampled (had
    every candidate trained to the end), what the cull and early stopping
    lost of it in the whole run and what the budget shared with the other
    methods cut (`means`: each task's mean regret at that budget), and
    compares the best candidates with random's over tasks."""

    def per_task(rows, key):
        tasks = list(dict.fromkeys(row[0] for row in rows))
        return np.array([np.mean([row[1][key] for row in rows if row[0] == task])
                         for task in tasks])

    for method in methods:
        rows = populations[method]
        sampled = per_task(rows, "sampled")
        reported = per_task(rows, "reported")
        found = np.array(means[method])
        line = (
            f"population {method}: regret of the best candidate sampled {sampled.mean():.3f}, "
            f"reported {reported.mean():.3f} (the cull and stopping lost "
            f"{(reported - sampled).mean():.3f}), at the budget {found.mean():.3f}; "
            f"mean best accuracy of generation 0 {per_task(rows, 'generation_0').mean():.2f}, "
            f"of later ones {np.nanmean(per_task(rows, 'later')):.2f}; a generation's best "
            f"minus its second best {np.nanmean(per_task(rows, 'gap')):.2f}"
        )
        if method != "random":
            paired = analysis.paired_difference(
                sampled - per_task(populations["random"], "sampled"))
            line += f"; best sampled {method}-random over tasks {paired.format(scale=1.0)}"
        print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--tasks", default="all",
                        help="comma-separated OpenML task ids, or 'all' (the 34)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default="nao,random",
                        help="comma-separated, from " + ", ".join(VARIANTS)
                        + "; each is compared with random")
    parser.add_argument("--max-trials", type=int, default=75)
    parser.add_argument("--reference", type=int, default=10000)
    parser.add_argument("--results", default=DEFAULT_RESULTS,
                        help="where each run's record is kept ('' keeps none)")
    parser.add_argument("--tie", type=float, default=0.05,
                        help="mean regrets closer than this (points) are a tie")
    parser.add_argument("--populations", action="store_true",
                        help="keep every run's candidates (a record without them is "
                        "run again) and print where the regret comes from: the "
                        "candidates sampled or the cull's choice among them")
    parser.add_argument("--nao-options", type=json.loads, default=None,
                        help="JSON of make_nao_policy arguments for every method but "
                        "random, e.g. '{\"local_share\": 0}'; needs its own --results")
    args = parser.parse_args(argv)
    if args.nao_options and os.path.abspath(args.results or DEFAULT_RESULTS) == \
            os.path.abspath(DEFAULT_RESULTS):
        parser.error("--nao-options needs its own --results directory (or '' for none): "
                     "its runs would replace the default's records")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime is not installed: pip install -e ".[lcbench]"')
        return 1
    if not os.path.exists(os.path.join(args.data, "model.onnx")):
        print(f"No LCBench surrogate at {os.path.abspath(args.data)}: nothing to run.")
        return 1
    with open(os.path.join(args.data, "config_space.json")) as file:
        all_tasks = next(
            p["choices"] for p in json.load(file)["hyperparameters"]
            if p["name"] == "OpenML_task_id"
        )
    methods = [m for m in args.methods.split(",") if m]
    if sorted(set(methods) - set(VARIANTS)) or "random" not in methods or len(methods) < 2:
        parser.error(f"--methods must name random and some of {list(VARIANTS)}")
    tasks = all_tasks if args.tasks == "all" else args.tasks.split(",")
    unknown = sorted(set(tasks) - set(all_tasks))
    if unknown:
        parser.error(f"unknown tasks {unknown}; the surrogate knows {all_tasks}")

    print(f"# {len(tasks)} tasks, {args.seeds} seeds, max_trials={args.max_trials}, "
          f"{TRAINED_EPOCHS} trained epochs per curve", flush=True)
    parameters = {method: policy_parameters(method, args.max_trials, args.nao_options)
                  for method in methods}
    means = {method: [] for method in methods}
    standard_errors = {method: [] for method in methods}
    clear = {method: [0, 0] for method in methods}  # tasks won, lost at 95%
    # Per run whose record keeps its candidates: (task, population_summary).
    populations = {method: [] for method in methods}
    epochs = {method: [] for method in methods}
    budgets = []
    started = time.perf_counter()
    for task in tasks:
        surrogate = Surrogate(args.data, task)
        reference = stored_reference(args.results, task, args.reference,
                                     lambda: reference_accuracy(surrogate, args.reference))
        regrets = {method: [] for method in methods}
        for seed in range(1, args.seeds + 1):
            trained = {}
            for method in methods:
                record = stored_run(
                    args.results, task, method, seed, args.max_trials,
                    lambda: measured_run(method, surrogate, args.max_trials, seed,
                                         args.nao_options, args.populations),
                    parameters[method], with_population=args.populations,
                )
                trained[method] = record["trained"]
                epochs[method].append(len(trained[method]))
                if "population" in record:
                    populations[method].append((task, population_summary(
                        record["population"], record["trained"], reference)))
            budget = min(len(found) for found in trained.values())
            budgets.append(budget)
            for method in methods:
                regrets[method].append(reference - max(trained[method][:budget]))
        line = " ".join(
            f"{method}_regret={np.mean(regrets[method]):.3f}" for method in methods
        )
        for method in methods:
            means[method].append(float(np.mean(regrets[method])))
            if method == "random":
                continue
            # Regret is in points already: scale 1 keeps them.
            differences = np.subtract(regrets[method], regrets["random"])
            paired = analysis.paired_difference(differences)
            standard_errors[method].append(
                float(np.std(differences, ddof=1) / np.sqrt(len(differences)))
                if len(differences) > 1 else np.nan)
            line += f" {method}-random={paired.format(scale=1.0)}"
            if paired.high < 0:
                clear[method][0] += 1
            elif paired.low > 0:
                clear[method][1] += 1
        print(f"task={task} reference={reference:.2f} {line}", flush=True)

    random = np.array(means["random"])
    for method in methods:
        if method == "random":
            continue
        ours = np.array(means[method])
        won = int(np.sum(ours < random - args.tie))
        lost = int(np.sum(ours > random + args.tie))
        over_tasks = analysis.paired_difference(ours - random)
        print(
            f"mean_regret {method}={ours.mean():.3f} random={random.mean():.3f} "
            f"tasks={len(tasks)} won={won} tied={len(tasks) - won - lost} lost={lost}; "
            f"{method}-random over tasks {over_tasks.format(scale=1.0)}; "
            f"won {clear[method][0]} and lost {clear[method][1]} with the task's "
            "95% interval clear of 0"
        )
        errors = np.array(standard_errors[method])
        if len(errors) and np.all(np.isfinite(errors)):
            # What the won:lost bar can see at this noise: the advantage on
            # every task that makes 2:1 the expected count, at these seeds
            # and at more (a task's standard error shrinks with sqrt(seeds)).
            needed = " ".join(
                f"{count}_seeds=" + format(advantage_for_count_ratio(
                    errors * np.sqrt(args.seeds / count), args.tie), ".3f")
                for count in sorted({args.seeds, 30, 100})
            )
            print(f"advantage on every task for an expected 2:1 count ({method}): {needed} "
                  f"points of regret (tie {args.tie})")
    if all(len(populations[method]) == len(tasks) * args.seeds for method in methods):
        print_population_lines(populations, means, methods)
    spent = " ".join(f"{method}={np.mean(epochs[method]):.0f}" for method in methods)
    print(
        f"epochs per run: {spent}, compared at {np.mean(budgets):.0f}; "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
