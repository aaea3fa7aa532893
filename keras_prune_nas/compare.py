"""PruneSearch against the other ways to pick a model, on the same splits.

```python
from keras_prune_nas import compare

report = compare.compare("digits", seeds=(0, 1, 2), output="compare/digits")
print(report.markdown)
```

or `keras-prune-nas compare --dataset digits`. For each seed, every method
gets the same train / validation / test split; neural methods search the same
`NASHyperModel` space with the same `max_trials`, seeded with
`search_seed(seed)` (independent searches for different seeds, the same
candidates for every method of a seed), and pick on validation accuracy;
everything is scored once on the test split. Writes `results.csv`
(one row per method and seed), `report.md` (mean +- std per method) and PNG
plots (PruneSearch's learning curves with culled candidates in grey and the
cull points marked; test accuracy against wall seconds per method; the
finalists' accuracy against their parameter count).
"""

import concurrent.futures
import csv
import dataclasses
import importlib.util
import io
import json
import math
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
import warnings
from typing import Optional

from keras_prune_nas import checks
from keras_prune_nas import files
from keras_prune_nas import culling
from keras_prune_nas import datasets
from keras_prune_nas import schedules

# name -> (dataset, architecture, input reshape or None)
DATASETS = {
    "digits": ("digits", "dense", None),
    "digits-conv": ("digits", "conv2d", (8, 8, 1)),
    "wine": ("wine", "dense", None),
    "breast_cancer": ("breast_cancer", "dense", None),
    "mnist1d": ("mnist1d", "dense", None),
    "mnist1d-conv": ("mnist1d", "conv1d", (40, 1)),
}
NEURAL_METHODS = (
    "prune", "prune_batch_schedule", "random", "hyperband", "bayesian", "secretary", "nao",
)
CLASSIC_METHODS = (
    "logistic_regression", "random_forest", "hist_gradient_boosting", "svm", "knn",
)
METHODS = NEURAL_METHODS + CLASSIC_METHODS
# The neural methods `equal_wall` grows to RandomSearch's wall time: PruneSearch
# and NAOSearch by their population, Hyperband by its iterations. RandomSearch
# and BayesianOptimization train every candidate fully (the same cost at the
# same trials); the secretary rule trains one candidate fully whatever the
# population, so growing it buys nothing.
GROWN_METHODS = ("prune", "prune_batch_schedule", "hyperband", "nao")
BUDGETS = ("trials", "wall")
FIELDS = (
    "dataset", "method", "seed", "budget", "test_accuracy", "val_accuracy", "epochs",
    "wall_seconds", "cpu_seconds", "parameters", "candidates", "sizing_runs", "error",
)
# A grown search whose cost misses RandomSearch's by more than this share is
# sized again from its own measurement and run once more (the closer run is kept).
COST_TOLERANCE = 0.2


@dataclasses.dataclass
class Settings:
    """What every neural search gets."""

    trials: int = 20
    epochs: int = 10
    batch_size: int = 32
    cull_fraction: float = 0.15
    min_survivors: int = 10
    patience: int = 3
    probe_epochs: int = 1
    batch_size_schedule: tuple = (256, 32)
    hyperband_factor: int = 3
    # NAOSearch's generation size; None: half the trials (two generations,
    # the second proposed by NAO).
    generation_size: Optional[int] = None
    # Hyperband's iterations; None: as close to PruneSearch's planned epochs
    # as whole iterations come.
    hyperband_iterations: Optional[int] = None

    def nao_generation_size(self):
        return self.generation_size or max(2, -(-self.trials // 2))


@dataclasses.dataclass
class Report:
    rows: list
    markdown: str
    files: dict


def hyperband_planned_epochs(max_epochs, factor=3, iterations=1):
    """Epochs keras_tuner's Hyperband trains, as its oracle plans them.

    Mirrors `HyperbandOracle`'s brackets (sizes, epochs per round); a trial
    of a later round continues from its parent, so it trains only the
    difference in epochs.
    """
    brackets = 0
    epochs = max_epochs
    while epochs >= 1:
        epochs /= factor
        brackets += 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))
    total = 0
    for bracket in range(brackets):
        previous = 0
        for round_index in range(bracket + 1):
            size = math.ceil(end_size / (bracket + 1) * factor ** (bracket - round_index))
            round_epochs = math.ceil(max_epochs / factor ** (bracket - round_index))
            total += size * (round_epochs - previous)
            previous = round_epochs
    return total * iterations


def hyperband_iterations_near(target_epochs, max_epochs, factor=3):
    """The `hyperband_iterations` whose planned epochs come closest to a target."""
    per_iteration = hyperband_planned_epochs(max_epochs, factor)
    return max(1, round(target_epochs / per_iteration))


def planned_search_epochs(method, settings):
    """The epochs a neural search plans (an upper bound: early stopping and
    Hyperband's early finishers train fewer), for the growable methods."""
    if method in ("prune", "prune_batch_schedule"):
        return culling.planned_epochs(
            settings.trials, settings.epochs, settings.cull_fraction, settings.min_survivors
        )["total"]
    if method == "nao":
        from keras_prune_nas.nao.policy import generation_sizes

        return sum(
            culling.planned_epochs(size, settings.epochs, settings.cull_fraction,
                                   settings.min_survivors)["total"]
            for size in generation_sizes(settings.trials, settings.nao_generation_size())
        )
    if method == "hyperband":
        return hyperband_planned_epochs(
            settings.epochs, settings.hyperband_factor, hyperband_iterations(settings)
        )
    raise ValueError(f"{method!r} is not grown at equal wall time: use one of "
                     f"{list(GROWN_METHODS)}.")


def hyperband_iterations(settings):
    """Hyperband's iterations under `settings` (see `Settings`)."""
    if settings.hyperband_iterations is not None:
        return settings.hyperband_iterations
    planned = culling.planned_epochs(
        settings.trials, settings.epochs, settings.cull_fraction, settings.min_survivors
    )["total"]
    return hyperband_iterations_near(planned, settings.epochs, settings.hyperband_factor)


def settings_for_wall(method, settings, measured_seconds, target_seconds, max_scale=50,
                      measured_settings=None):
    """`settings` grown so that `method` should take `target_seconds`.

    The search ran under `measured_settings` (default: `settings`) in
    `measured_seconds`; its seconds per
    planned epoch are taken to hold for a larger search (the first culls and
    Hyperband's brackets are where the epochs go, and they grow in
    proportion). PruneSearch's and NAOSearch's population (NAO's generation
    size kept, so it runs more generations) and Hyperband's iterations are
    set to the value whose predicted time comes closest to the target, never
    below today's.

    Returns:
        A new `Settings`.
    """
    seconds_per_epoch = measured_seconds / planned_search_epochs(
        method, measured_settings or settings)

    def predicted(candidate):
        return seconds_per_epoch * planned_search_epochs(method, candidate)

    if method == "hyperband":
        options = [dataclasses.replace(settings, hyperband_iterations=count)
                   for count in range(hyperband_iterations(settings), 1 + max_scale)]
    else:
        fixed = dataclasses.replace(settings, generation_size=settings.nao_generation_size())
        options = [dataclasses.replace(fixed, trials=count)
                   for count in range(settings.trials, 1 + max_scale * settings.trials)]
    best = options[0]
    for option in options:
        if abs(predicted(option) - target_seconds) < abs(predicted(best) - target_seconds):
            best = option
        if predicted(option) > target_seconds:
            break
    return best


def validate(dataset, methods, seeds, settings, equal_wall=False):
    """Raises a `ValueError` naming the bad argument, before anything trains."""
    if equal_wall and "random" not in methods:
        raise ValueError(
            "equal_wall gives every search RandomSearch's wall time: add 'random' "
            "to the methods (it runs first on every seed)."
        )
    if dataset not in DATASETS:
        raise ValueError(
            f"Unknown comparison dataset {dataset!r}: use one of {list(DATASETS)}."
        )
    if DATASETS[dataset][0] == "mnist1d" and importlib.util.find_spec("mnist1d") is None:
        raise ValueError(
            f"The dataset {dataset!r} needs the mnist1d package: "
            "pip install 'keras-prune-nas[analysis]' (or pip install mnist1d)."
        )
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(
            f"Unknown or no methods {unknown or methods!r}: use some of {list(METHODS)}."
        )
    checks.require_int_list("seeds", list(seeds) if isinstance(seeds, tuple) else seeds,
                            0, "the random seeds, one split and run each")
    culling.validate_cull_parameters(settings.cull_fraction, settings.min_survivors)
    schedule = settings.batch_size_schedule
    if not (isinstance(schedule, (tuple, list)) and len(schedule) == 2):
        raise ValueError(
            "`Settings.batch_size_schedule` must be (first, last): the batch "
            f"sizes of the first round and of the finalists; got {schedule!r}."
        )
    schedules.validate_batch_size_schedule(list(schedule))
    for name in ("trials", "epochs", "batch_size", "patience", "probe_epochs"):
        checks.require_int(name, getattr(settings, name), 1, "see `compare`")
    if settings.generation_size is not None:
        checks.require_int("generation_size", settings.generation_size, 2,
                           "NAOSearch's most candidates per generation")
    if settings.hyperband_iterations is not None:
        checks.require_int("hyperband_iterations", settings.hyperband_iterations, 1,
                           "Hyperband's iterations (None: near PruneSearch's epochs)")


def compare(dataset="digits", seeds=(0, 1, 2), methods=METHODS, output="compare",
            settings=None, progress=print, fresh_process=True, equal_wall=False,
            resume=False):
    """Runs every method on `dataset` for every seed; writes the report.

    Args:
        dataset: One of `DATASETS` ("digits", "digits-conv", "wine",
            "breast_cancer", "mnist1d", "mnist1d-conv").
        seeds: The seeds; each gives its own split and its own searches.
        methods: Some of `METHODS`.
        output: Directory for results.csv, report.md and the plots.
        settings: A `Settings` (trials, epochs, ...); defaults if None.
        progress: Called with one line per finished run (None: silent).
        fresh_process: Run every neural search in a fresh process (spawned),
            timed inside it. TensorFlow keeps state for every model built in
            a process, and keras_tuner's tuners slow down as it grows (on
            digits, RandomSearch took 80, 103 and 134 s for its three seeds
            in one process, 57, 63 and 54 s in fresh ones), so without this
            the later searches pay for the earlier ones. False runs them all
            in this process.
        equal_wall: Also run each of `GROWN_METHODS` among `methods` at
            RandomSearch's cost on the same seed (RandomSearch runs first):
            grown by `run_at_cost_of` from its own equal-trials run (the
            cost is `search_cost`, CPU seconds). Those rows have `budget`
            "wall"; the report gets a second table, paired against
            RandomSearch.
        resume: Keep the runs `output/results.csv` already holds (those
            without an error) and run only the others, so a comparison that
            takes hours can be stopped and started again. Refused if
            `output/settings.json` says it was run with other settings. The
            runs of seeds or methods not asked for this time stay in
            results.csv, outside this report.

    A run that fails is recorded with its error (the `error` column) and the
    comparison goes on; `results.csv` is rewritten after every run, so a
    comparison stopped half-way keeps what it measured.

    Returns:
        A `Report`: the rows, the markdown text and the files written.
    """
    settings = settings or Settings()
    methods = list(methods)
    seeds = list(seeds)
    validate(dataset, methods, seeds, settings, equal_wall)
    if equal_wall:  # RandomSearch first: it sets the others' wall time
        methods = ["random"] + [m for m in methods if m != "random"]
    os.makedirs(output, exist_ok=True)
    rows = []
    curves = None
    finalists = None
    results_path = os.path.join(output, "results.csv")
    done = _runs_to_keep(output, dataset, settings) if resume else {}
    if equal_wall:
        done = keep_whole_seeds(done, seeds, methods, output)
    # Resuming with fewer seeds or methods keeps the other runs in results.csv.
    planned = planned_runs(seeds, methods, equal_wall)
    untouched = [
        row for row in _previous_rows(output)
        if row["dataset"] != dataset
        or (row["method"], row["seed"], budget_of(row)) not in planned
    ] if resume else []
    files.atomic_write_json(os.path.join(output, "settings.json"),
                            dataclasses.asdict(settings))

    def record(row, method, seed, budget):
        row.update(dataset=dataset, method=method, seed=seed, budget=budget)
        rows.append(row)
        write_results(untouched + rows, results_path)
        if progress:
            progress(_progress_line(row))

    for seed in seeds:
        splits = load_splits(dataset, seed)
        measured = {}
        for method in methods:
            if (method, seed, "trials") in done:
                measured[method] = done[method, seed, "trials"]
                rows.append(measured[method])
                continue
            try:
                if method in CLASSIC_METHODS:
                    row, extra = _timed(run_classifier, method, splits, seed)
                else:
                    row, extra = _run_timed(method, splits, seed, settings, dataset,
                                            fresh_process)
                if method == "prune" and curves is None:
                    curves, finalists = extra
            except Exception as error:  # one failed run must not end the comparison
                row = _failed(error)
            measured[method] = row
            record(row, method, seed, "trials")
        if not equal_wall:
            continue
        for method in [m for m in methods if m in GROWN_METHODS]:
            if (method, seed, "wall") in done:
                rows.append(done[method, seed, "wall"])
                continue
            try:
                row = run_at_cost_of(
                    measured["random"], measured[method], method, settings,
                    lambda grown: _run_timed(method, splits, seed, grown, dataset,
                                             fresh_process)[0],
                )
            except Exception as error:
                row = _failed(error)
            record(row, method, seed, "wall")
    written = {"results": results_path}
    written.update(_plots(rows, curves, finalists, output, dataset))
    markdown = summary_markdown(rows, dataset, seeds, settings, written, output)
    written["report"] = os.path.join(output, "report.md")
    with open(written["report"], "w") as stream:
        stream.write(markdown)
    return Report(rows=rows, markdown=markdown, files=written)


def _runs_to_keep(output, dataset, settings):
    """(method, seed, budget) -> row of the successful runs already in
    `output`, if they were run with `settings`."""
    settings_path = os.path.join(output, "settings.json")
    results_path = os.path.join(output, "results.csv")
    if not os.path.exists(results_path):
        return {}
    if os.path.exists(settings_path):
        with open(settings_path) as stream:
            saved = json.load(stream)
        current = json.loads(json.dumps(dataclasses.asdict(settings)))
        changed = [f"{name}={saved.get(name)!r} (now {value!r})"
                   for name, value in current.items() if saved.get(name) != value]
        if changed:
            raise ValueError(
                f"{output} holds a comparison run with other settings: "
                f"{', '.join(changed)}. Pass the same settings to resume it, or "
                "another output directory."
            )
    return {
        (row["method"], row["seed"], budget_of(row)): row
        for row in read_results(results_path)
        if row["dataset"] == dataset and not row.get("error")
    }


def planned_runs(seeds, methods, equal_wall):
    """The (method, seed, budget) of every run a comparison makes."""
    return {(method, seed, budget) for seed in seeds for method in methods
            for budget in BUDGETS
            if budget == "trials" or (equal_wall and method in GROWN_METHODS)}


def keep_whole_seeds(done, seeds, methods, output):
    """`done` without the runs of any seed that lacks one of its equal-wall
    runs; those rows go to `output/superseded.csv`.

    A grown search is sized to RandomSearch's cost on its seed, so all of a
    seed's runs must be timed in one sitting: a seed resumed on another day
    (or another machine, which can be twice as fast) would compare costs
    measured apart. An unfinished seed is run again from its RandomSearch.
    """
    unfinished = {seed for seed in seeds
                  if not planned_runs([seed], methods, equal_wall=True) <= set(done)}
    previous = _previous_rows(output, "superseded.csv")
    # A comparison stopped before its first new run leaves them in results.csv
    # too: moved again on the next resume, they are not written twice.
    superseded = [row for key, row in done.items()
                  if key[1] in unfinished and row not in previous]
    if superseded:
        write_results(previous + superseded, os.path.join(output, "superseded.csv"))
    return {key: row for key, row in done.items() if key[1] not in unfinished}


def _previous_rows(output, name="results.csv"):
    path = os.path.join(output, name)
    return read_results(path) if os.path.exists(path) else []


def run_at_cost_of(baseline, measured, method, settings, run):
    """`method` grown to the cost of `baseline` (RandomSearch's row), sized
    from `measured` (its own equal-trials row) by `settings_for_wall`; if the
    grown run misses by more than `COST_TOLERANCE`, sized again from that
    run's own measurement and run once more.

    Args:
        run: `run(grown_settings)` runs the search and returns its row.

    Returns:
        The row of the run closer in cost, with `sizing_runs` (the sizes
        tried, 1 or 2). A size that is the equal-trials search itself is
        not run again: its row stands for it (at the first size, the search
        cost at least RandomSearch's already; at the second, e.g. Hyperband,
        whose cost grows by whole iterations, one iteration came closer
        than two).
    """
    for name, row in (("random", baseline), (method, measured)):
        if row.get("error") or not search_cost(row):
            raise RuntimeError(f"no equal-wall run: the equal-trials run of {name} failed")

    def miss(row):
        return abs(math.log(search_cost(row, baseline) / search_cost(baseline, row)))

    best, basis, basis_settings, tried = None, measured, None, []
    while len(tried) < 2:
        grown = settings_for_wall(method, settings, search_cost(basis, baseline),
                                  search_cost(baseline, basis),
                                  measured_settings=basis_settings)
        if grown in tried:
            break
        tried.append(grown)
        if _same_search(method, grown, settings):
            row = dict(measured)
            if best is None:
                best = row
                break  # it cannot grow: it cost at least RandomSearch's already
        else:
            try:
                row = run(grown)
            except Exception:
                if best is None:
                    raise
                break  # the first run stands
        if best is None or miss(row) < miss(best):
            best = row
        if miss(row) <= math.log(1 + COST_TOLERANCE):
            break
        basis, basis_settings = row, grown
    best["sizing_runs"] = len(tried)
    return best


def _same_search(method, grown, settings):
    return (grown.trials == settings.trials
            and planned_search_epochs(method, grown) == planned_search_epochs(method, settings))


def _run_timed(method, splits, seed, settings, dataset, fresh_process):
    run = (_run_neural, method, splits, seed, settings, dataset)
    return _in_fresh_process(_timed, *run) if fresh_process else _timed(*run)


def _failed(error):
    return {"error": f"{type(error).__name__}: {error}".replace("\n", " ")}


def write_results(rows, path):
    """Writes the rows to `path` (CSV, `FIELDS`), atomically; returns `path`."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in FIELDS})
    files.atomic_write_text(path, stream.getvalue())
    return path


def _progress_line(row):
    head = f"{row['dataset']} seed {row['seed']} {row['method']}"
    if row.get("budget") == "wall":
        head += " (at RandomSearch's wall time)"
    if row.get("error"):
        return f"{head}: FAILED, {row['error']}"
    return (
        f"{head}: test accuracy {row['test_accuracy']:.4f}, {row['wall_seconds']:.1f} s"
        + (f", {row['epochs']} epochs" if row.get("epochs") else "")
    )


def _timed(function, *args):
    """`function(*args)`, a (row, extra) pair, with `wall_seconds` and
    `cpu_seconds` (this process's, all its threads) in the row."""
    started, cpu_started = time.perf_counter(), time.process_time()
    row, extra = function(*args)
    row["wall_seconds"] = round(time.perf_counter() - started, 2)
    row["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
    return row, extra


def search_cost(row, other=None):
    """The cost `equal_wall` matches: a run's CPU seconds where it (and `other`,
    the run it is compared with) has them, else its wall seconds.

    CPU seconds are the wall seconds of a search on a machine to itself, and
    grow far less than wall seconds when other jobs share the cores (though
    they do grow once more processes are busy than there are cores).
    """
    if row.get("cpu_seconds") and (other is None or other.get("cpu_seconds")):
        return row["cpu_seconds"]
    return row.get("wall_seconds")


def _in_fresh_process(function, *args):
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return pool.submit(function, *args).result()


def search_seed(seed):
    """The keras_tuner seed of a comparison's `seed`: `1009 * seed + 17`.

    keras_tuner's samplers advance their seed by one per value drawn, so the
    searches seeded s and s + k (k values per candidate) would sample nearly
    the same candidates, and its seed 0 means "no seed" (not reproducible).
    Seeds this far apart give independent searches, the same for every
    method of a seed.

    >>> [search_seed(s) for s in (0, 1, 2)]
    [17, 1026, 2035]
    """
    return 1009 * seed + 17


def load_splits(dataset, seed):
    """The train/validation/test splits of a `compare` dataset for `seed`."""
    name, _, shape = DATASETS[dataset]
    splits = datasets.load(name, seed=seed)
    return splits.reshaped(shape) if shape else splits


def run_classifier(method, splits, seed):
    """Fits and scores one scikit-learn baseline `method` on `splits`."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    model = {
        "logistic_regression": lambda: LogisticRegression(max_iter=5000),
        "random_forest": lambda: RandomForestClassifier(random_state=seed),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
        "svm": lambda: SVC(),
        "knn": lambda: KNeighborsClassifier(),
    }[method]()

    def flat(x):
        return x.reshape(len(x), -1)

    model.fit(flat(splits.x_train), splits.y_train)
    row = {
        "test_accuracy": float(model.score(flat(splits.x_test), splits.y_test)),
        "val_accuracy": float(model.score(flat(splits.x_val), splits.y_val)),
    }
    return row, None


def shared_callback(callback):
    """Makes `callback` survive keras_tuner's per-trial deep copy of the
    callbacks: every copy is the callback itself, so what it counts or
    records covers every trial. Returns `callback`."""
    callback.__deepcopy__ = lambda memo: callback
    return callback


def _epoch_counter():
    """A shared callback whose `epochs` counts every epoch any candidate trains."""
    import keras

    class EpochCounter(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs += 1

    return shared_callback(EpochCounter())


def _run_neural(method, splits, seed, settings, dataset):
    from keras_prune_nas import quiet

    keras = quiet.import_keras_quietly()
    import keras_tuner as kt

    import keras_prune_nas as kpn

    _, architecture, _ = DATASETS[dataset]
    hypermodel = kpn.NASHyperModel(
        splits.input_shape, splits.num_classes, architecture=architecture
    )
    directory = tempfile.mkdtemp(prefix=f"kpn-compare-{method}-")
    common = dict(objective="val_accuracy", seed=search_seed(seed), directory=directory,
                  project_name=method, overwrite=True)
    prune_options = dict(
        max_trials=settings.trials, cull_fraction=settings.cull_fraction,
        min_survivors=settings.min_survivors, patience=settings.patience,
        progress=False,
    )
    if method == "prune":
        tuner = kpn.PruneSearch(hypermodel, **prune_options, **common)
    elif method == "prune_batch_schedule":
        rounds = culling.culling_rounds(
            settings.trials, settings.cull_fraction, settings.min_survivors
        ) + 1
        start, stop = settings.batch_size_schedule
        tuner = kpn.PruneSearch(
            hypermodel, **prune_options, **common,
            batch_size_schedule=schedules.geometric_batch_sizes(start, stop, rounds),
            learning_rate_scaling="sqrt",
        )
    elif method == "secretary":
        tuner = kpn.SecretarySearch(
            hypermodel, max_trials=settings.trials, probe_epochs=settings.probe_epochs,
            patience=settings.patience, progress=False, **common,
        )
    elif method == "nao":
        from keras_prune_nas.nao import NAOSearch

        tuner = NAOSearch(
            hypermodel, **prune_options, **common,
            generation_size=settings.nao_generation_size(),
        )
    elif method == "random":
        tuner = kt.RandomSearch(hypermodel, max_trials=settings.trials, **common)
    elif method == "bayesian":
        tuner = kt.BayesianOptimization(hypermodel, max_trials=settings.trials, **common)
    else:
        tuner = kt.Hyperband(
            hypermodel, max_epochs=settings.epochs, factor=settings.hyperband_factor,
            hyperband_iterations=hyperband_iterations(settings), **common,
        )
    counter = _epoch_counter()
    keras.utils.set_random_seed(search_seed(seed))
    try:
        with warnings.catch_warnings():
            # keras_tuner reloads checkpoints into models whose optimizer is
            # not built (RandomSearch's best model, every trial Hyperband
            # continues), and Keras warns at each reload that it leaves the
            # saved optimizer variables out: keras_tuner's design, nothing a
            # user of this comparison can act on.
            warnings.filterwarnings("ignore", category=UserWarning,
                                    message="Skipping variable loading for optimizer")
            tuner.search(
                splits.x_train, splits.y_train, epochs=settings.epochs,
                batch_size=settings.batch_size,
                validation_data=(splits.x_val, splits.y_val),
                callbacks=[counter], verbose=0,
            )
            model = tuner.get_best_models(1)[0]
        row = {
            "test_accuracy": _accuracy(model, splits.x_test, splits.y_test),
            "val_accuracy": _accuracy(model, splits.x_val, splits.y_val),
            "epochs": counter.epochs,
            "parameters": int(model.count_params()),
            "candidates": len(tuner.oracle.trials),
        }
        extra = None
        if method == "prune":
            extra = (tuner.curves(), _finalists(tuner))
        return row, extra
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _accuracy(model, x, y):
    return float(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"])


def _finalists(tuner):
    """(parameters, best val_accuracy, trial_id) of every finalist."""
    from keras_tuner.engine.trial import TrialStatus

    found = []
    for trial in tuner.oracle.trials.values():
        if trial.status == TrialStatus.COMPLETED:
            model = tuner.hypermodel.build(trial.hyperparameters)
            found.append((int(model.count_params()), trial.score, trial.trial_id))
    return found


_NUMERIC_FIELDS = {
    "seed": int, "epochs": int, "parameters": int, "candidates": int,
    "test_accuracy": float, "val_accuracy": float, "wall_seconds": float,
    "cpu_seconds": float, "sizing_runs": int,
}


def read_results(path):
    """The rows of a `results.csv`, with numbers as numbers (None if empty)."""
    def parse(name, text):
        if text in ("", None):  # None: a row written before a field existed
            return None
        return _NUMERIC_FIELDS[name](text) if name in _NUMERIC_FIELDS else text

    with open(path, newline="") as stream:
        return [
            {name: parse(name, text) for name, text in row.items()}
            for row in csv.DictReader(stream)
        ]


def budget_of(row):
    """A row's budget: "trials" (also for rows written before budgets) or "wall"."""
    return row.get("budget") or "trials"


def aggregate(rows, budget="trials"):
    """Per method: mean and std of test accuracy, epochs, wall, parameters.

    Only the rows of `budget` ("trials" or "wall") count. Failed runs (with
    an `error`) count in `failed` only; a method whose runs all failed has
    None for every figure.
    """
    by_method = {}
    for row in rows:
        if budget_of(row) == budget:
            by_method.setdefault(row["method"], []).append(row)
    summary = {}
    for method, group in by_method.items():
        succeeded = [r for r in group if not r.get("error")]

        def mean(name):
            values = [r[name] for r in succeeded if r.get(name) not in (None, "")]
            return statistics.fmean(values) if values else None

        accuracies = [r["test_accuracy"] for r in succeeded]
        parameters = [r["parameters"] for r in succeeded if r.get("parameters") not in (None, "")]
        summary[method] = {
            "runs": len(succeeded),
            "failed": len(group) - len(succeeded),
            "test_mean": mean("test_accuracy"),
            "test_std": statistics.stdev(accuracies) if len(accuracies) > 1 else (
                0.0 if accuracies else None
            ),
            "epochs": mean("epochs"),
            "wall": mean("wall_seconds"),
            "parameters": statistics.median(parameters) if parameters else None,
            "candidates": mean("candidates"),
        }
    return summary


def _pairs(rows, baseline, budget, baseline_budget):
    """Per method of `budget` (other than `baseline` itself): the list of
    (row, baseline's row of `baseline_budget` on the same seed), failed runs
    and unpaired seeds left out."""
    baselines = {r["seed"]: r for r in rows
                 if r["method"] == baseline and budget_of(r) == baseline_budget
                 and not r.get("error")}
    pairs = {}
    for row in rows:
        if (budget_of(row) != budget or row["method"] == baseline or row.get("error")
                or row["seed"] not in baselines):
            continue
        pairs.setdefault(row["method"], []).append((row, baselines[row["seed"]]))
    return pairs


def paired_against_random(rows, budget="trials"):
    """Per method of `budget`: its test accuracy minus RandomSearch's
    (equal-trials run) on the same seed, as an `analysis.PairedDifference`,
    and the mean ratios of its wall and CPU seconds to RandomSearch's (None
    where no row has them)."""
    from keras_prune_nas import analysis

    def mean_ratio(pairs, name):
        ratios = [row[name] / base[name] for row, base in pairs
                  if row.get(name) and base.get(name)]
        return statistics.fmean(ratios) if ratios else None

    return {
        method: (
            analysis.paired_difference(
                row["test_accuracy"] - base["test_accuracy"] for row, base in pairs
            ),
            mean_ratio(pairs, "wall_seconds"),
            mean_ratio(pairs, "cpu_seconds"),
        )
        for method, pairs in _pairs(rows, "random", budget, "trials").items()
    }


def prune_against_grown(rows):
    """At RandomSearch's cost: PruneSearch's test accuracy minus that of each
    other grown search (Hyperband, NAOSearch, ...) on the same seed, as an
    `analysis.PairedDifference` per method."""
    from keras_prune_nas import analysis

    return {
        method: analysis.paired_difference(
            base["test_accuracy"] - row["test_accuracy"] for row, base in pairs
        )
        for method, pairs in _pairs(rows, "prune", "wall", "wall").items()
    }


def paired_lines(rows, budget):
    """The report's markdown lines of paired differences for `budget`: every
    method against RandomSearch and, at RandomSearch's cost ("wall"),
    PruneSearch against every other grown search."""
    paired = paired_against_random(rows, budget)
    if not paired:
        return []
    lines = [
        "",
        "| method | minus RandomSearch on the same seed (points): mean [95% interval], "
        "Wilcoxon p | seeds | wall time / RandomSearch's | CPU time / RandomSearch's |",
        "| --- | --- | --- | --- | --- |",
    ]
    for method in (m for m in METHODS if m in paired):
        difference, *ratios = paired[method]
        ratio_texts = ["" if ratio is None else f"{ratio:.2f}" for ratio in ratios]
        lines.append(f"| {method} | {difference.format()} | {difference.count} | "
                     f"{' | '.join(ratio_texts)} |")
    if budget == "wall":
        against = prune_against_grown(rows)
        if against:
            lines += [
                "",
                "| PruneSearch minus, at the same cost | on the same seed (points): mean "
                "[95% interval], Wilcoxon p | seeds |",
                "| --- | --- | --- |",
            ]
            lines += [f"| {method} | {against[method].format()} | {against[method].count} |"
                      for method in METHODS if method in against]
    return lines


def _summary_table_rows(summary, candidates=False):
    """One markdown row per method, best mean test accuracy first."""
    lines = []
    order = sorted(
        summary, key=lambda m: -summary[m]["test_mean"] if summary[m]["runs"] else 1.0
    )
    for method in order:
        entry = summary[method]
        if not entry["runs"]:
            lines.append(f"| {method} | failed in every run |" + " |" * (4 if candidates else 3))
            continue
        epochs = "" if entry["epochs"] is None else f"{entry['epochs']:.0f}"
        parameters = (
            "" if entry["parameters"] is None else f"{entry['parameters']:,.0f}"
        )
        failed = f" ({entry['failed']} failed)" if entry["failed"] else ""
        size = ""
        if candidates:
            size = "" if entry["candidates"] is None else f" {entry['candidates']:.0f} |"
        lines.append(
            f"| {method} | {entry['test_mean']:.4f} ± {entry['test_std']:.4f}{failed} |"
            f"{size} {epochs} | {entry['wall']:.1f} | {parameters} |"
        )
    return lines


def summary_markdown(rows, dataset, seeds, settings, files, output):
    summary = aggregate(rows)
    lines = [
        f"# Comparison on {dataset}",
        "",
        f"Seeds {', '.join(map(str, seeds))}; neural searches: {settings.trials} "
        f"candidates, up to {settings.epochs} epochs, batch {settings.batch_size}; "
        f"PruneSearch culls {settings.cull_fraction} down to "
        f"{settings.min_survivors}, patience {settings.patience}; "
        f"prune_batch_schedule goes from batch {settings.batch_size_schedule[0]} "
        f"down to {settings.batch_size_schedule[1]} over the rounds (learning rate "
        f"scaled by the square root); secretary probes {settings.probe_epochs} "
        f"epoch(s); nao runs generations of {settings.nao_generation_size()}, each "
        "culled like PruneSearch; Hyperband's budget is set close to PruneSearch's epochs. "
        "Test accuracy is mean ± standard deviation over the seeds; epochs are "
        "all epochs trained by the search; wall seconds include building the "
        "models (each neural search in a fresh process).",
        "",
        "| method | test accuracy | epochs trained | wall seconds | parameters of the chosen model |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += _summary_table_rows(summary)
    lines += paired_lines(rows, "trials")
    wall_summary = aggregate(rows, "wall")
    if wall_summary:
        lines += [
            "",
            "**At RandomSearch's wall time** (same seeds): each grown search's population "
            "(Hyperband: its iterations) set from its own equal-trials run so that it "
            "should cost what RandomSearch did on that seed, and if it missed by more "
            f"than {COST_TOLERANCE:.0%}, set again from that run and run once more (the "
            "closer run counts). The cost is the search process's CPU seconds: a search's "
            "wall time on a machine to itself, which other jobs on the machine change far "
            "less than its wall time (though they do once more processes are busy than "
            "there are cores); both ratios are shown.",
            "",
            "| method | test accuracy | candidates | epochs trained | wall seconds | "
            "parameters of the chosen model |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += _summary_table_rows(wall_summary, candidates=True)
        lines += paired_lines(rows, "wall")
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "Failed runs:", ""]
        lines += [
            f"- {r['method']}{' at the wall time' if budget_of(r) == 'wall' else ''}, "
            f"seed {r['seed']}: {r['error']}" for r in errors
        ]
    lines.append("")
    for key in ("curves", "cost", "finalists"):
        if key in files:
            lines.append(f"![{key}]({os.path.relpath(files[key], output)})")
    lines.append("")
    return "\n".join(lines)


def plot_accuracy_against_cost(rows, ax=None, title=None):
    """Test accuracy against wall seconds: one dot per run, a larger marker per
    method at its mean (diamonds for neural searches, squares for the
    scikit-learn classifiers). Returns the Axes."""
    from keras_prune_nas import analysis

    import matplotlib

    ax = analysis.axes_or_new(ax)
    colors = matplotlib.colormaps["tab20"]
    rows = [r for r in rows if not r.get("error")]
    groups = [(m, b) for b in BUDGETS for m in METHODS
              if any(r["method"] == m and budget_of(r) == b for r in rows)]
    for index, (method, budget) in enumerate(groups):
        points = [(r["wall_seconds"], r["test_accuracy"]) for r in rows
                  if r["method"] == method and budget_of(r) == budget]
        xs, ys = zip(*points)
        color = colors(index % 20)
        ax.scatter(xs, ys, color=color, alpha=0.45, s=18)
        label = method if budget == "trials" else f"{method} at RandomSearch's wall time"
        ax.scatter([statistics.fmean(xs)], [statistics.fmean(ys)], color=color,
                   marker="D" if method in NEURAL_METHODS else "s", s=60,
                   edgecolors="black", linewidths=0.6, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds (log)")
    ax.set_ylabel("test accuracy")
    ax.set_title((title or "Accuracy against cost") + " (large marker: mean over seeds)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax


def _plots(rows, curves, finalists, output, dataset):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    files = {}
    if curves:
        from keras_prune_nas import analysis

        figure, ax = plt.subplots(figsize=(7, 4.5))
        analysis.plot_learning_curves(
            curves, ax=ax,
            title=f"PruneSearch on {dataset}: culled in grey (x: cull), finalists in colour",
        )
        files["curves"] = os.path.join(output, "learning_curves.png")
        figure.savefig(files["curves"], dpi=110, bbox_inches="tight")
        plt.close(figure)
    figure, ax = plt.subplots(figsize=(8, 4.5))
    plot_accuracy_against_cost(rows, ax=ax, title=f"Accuracy against cost on {dataset}")
    files["cost"] = os.path.join(output, "accuracy_vs_cost.png")
    figure.savefig(files["cost"], dpi=110, bbox_inches="tight")
    plt.close(figure)
    if finalists:
        figure, ax = plt.subplots(figsize=(6, 4))
        parameters, scores, labels = zip(*finalists)
        ax.scatter(parameters, scores)
        for x, y, label in zip(parameters, scores, labels):
            ax.annotate(label, (x, y), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("parameters (log)")
        ax.set_ylabel("best validation accuracy")
        ax.set_title("PruneSearch finalists: accuracy against size")
        files["finalists"] = os.path.join(output, "finalists_accuracy_vs_parameters.png")
        figure.savefig(files["finalists"], dpi=110, bbox_inches="tight")
        plt.close(figure)
    return files
