"""Where PruneSearch loses points against RandomSearch: the attribution study.

For every dataset and seed this runs, each in a fresh process:

* RandomSearch (keras_tuner), recording every candidate's validation and
  test accuracy after every epoch (the test set is read for the study only);
* PruneSearch with the same seed (the same candidates), recording the same;
* with `--methods ...,prune_grace5`, PruneSearch(grace_epochs=5) likewise.

Each run's record is written to `--results` as it finishes
(`<dataset>/<method>_<seed>.json`), and a run whose record exists is skipped,
so the study can be stopped and started again, across sessions. The wall
time of a run, and its CPU time (all threads; unlike the wall time, not
moved by other jobs on the machine), exclude the seconds spent reading the
test set.

`--report` reads the records and prints, per dataset and seed: RandomSearch's
test accuracy, that of PruneSearch's whole rule replayed on RandomSearch's
curves through the search's own engine (cull, finalists' early stopping,
pick on validation), the real PruneSearch's, and where RandomSearch's winner
went in the real search; then the paired differences with a 95% interval
and a Wilcoxon p-value.

    python benchmarks/attribution.py --seeds 1-10              # run what is missing
    python benchmarks/attribution.py --seeds 1-10 --report     # the tables
    python benchmarks/attribution.py --report --remedies        # + the rule's variants

Seeds are independent: seed s runs with keras_tuner seed 1009 * s + 17 (its
sampler advances by one per value drawn, so nearby seeds share candidates),
the same for both methods.
"""

import argparse
import multiprocessing
import os
import sys
import time

DATASETS = ("mnist1d", "mnist1d-conv")
# method -> PruneSearch's options (None: RandomSearch). prune_grace5 is the
# remedy the replays point to where good candidates start late.
SEARCHES = {"random": None, "prune": {}, "prune_grace5": {"grace_epochs": 5}}
METHODS = tuple(SEARCHES)
DEFAULT_METHODS = ("random", "prune")
DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "results", "attribution")


def parse_seeds(text):
    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    if any(seed < 1 for seed in seeds):
        raise SystemExit("--seeds: every seed must be >= 1 (0 means 'no seed' to keras_tuner).")
    return seeds


def record_path(results, dataset, method, seed):
    return os.path.join(results, dataset, f"{method}_{seed}.json")


def run_one(dataset, method, seed, trials, epochs, batch_size, path):
    """One search in this (fresh) process; writes its record to `path`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import shutil
    import tempfile

    import keras
    import keras_tuner as kt

    import keras_prune_nas as kpn
    from keras_prune_nas import compare
    from keras_prune_nas import files

    splits = compare.load_splits(dataset, compare.search_seed(seed))
    architecture = compare.DATASETS[dataset][1]
    hypermodel = kpn.NASHyperModel(splits.input_shape, splits.num_classes,
                                   architecture=architecture)
    curves = {}
    reading = [0.0, 0.0]  # wall and CPU seconds spent on the test set

    class Recorder:
        """Records validation and test accuracy after every epoch."""

        def on_epoch_end(self, trial, model, epoch, logs=None):
            started, cpu_started = time.perf_counter(), time.process_time()
            test = model.evaluate(splits.x_test, splits.y_test, verbose=0,
                                  return_dict=True)["accuracy"]
            entry = curves.setdefault(trial.trial_id, {"val": {}, "test": {}})
            entry["val"][epoch] = float(logs["val_accuracy"])
            entry["test"][epoch] = float(test)
            reading[0] += time.perf_counter() - started
            reading[1] += time.process_time() - cpu_started
            super().on_epoch_end(trial, model, epoch, logs=logs)

    class RecordedRandomSearch(Recorder, kt.RandomSearch):
        pass

    class RecordedPruneSearch(Recorder, kpn.PruneSearch):
        pass

    directory = tempfile.mkdtemp(prefix=f"kpn-attribution-{method}-")
    common = dict(objective="val_accuracy", max_trials=trials, seed=compare.search_seed(seed),
                  directory=directory, project_name=method, overwrite=True)
    if SEARCHES[method] is None:
        tuner = RecordedRandomSearch(hypermodel, **common)
    else:
        tuner = RecordedPruneSearch(hypermodel, progress=False, **SEARCHES[method], **common)
    keras.utils.set_random_seed(compare.search_seed(seed))
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        tuner.search(splits.x_train, splits.y_train, epochs=epochs, batch_size=batch_size,
                     validation_data=(splits.x_val, splits.y_val), verbose=0)
        wall = time.perf_counter() - started - reading[0]
        cpu = time.process_time() - cpu_started - reading[1]
        best = tuner.oracle.get_best_trials(1)[0]
        model = tuner.get_best_models(1)[0]
        test_accuracy = float(model.evaluate(splits.x_test, splits.y_test, verbose=0,
                                             return_dict=True)["accuracy"])
        candidates = {}
        for trial_id, trial in tuner.oracle.trials.items():
            entry = curves.get(trial_id, {"val": {}, "test": {}})
            length = 1 + max(entry["val"], default=-1)
            candidates[trial_id] = {
                "values": trial.hyperparameters.values,
                "status": trial.status,
                "message": trial.message,
                "val": [entry["val"].get(e) for e in range(length)],
                "test": [entry["test"].get(e) for e in range(length)],
            }
        record = {
            "dataset": dataset, "method": method, "seed": seed,
            "search_seed": compare.search_seed(seed), "trials": trials, "epochs": epochs,
            "batch_size": batch_size, "backend": keras.backend.backend(),
            "intra_op_threads": os.environ.get("TF_NUM_INTRAOP_THREADS", "default"),
            "batch_norm_momentum": hypermodel.search_space.batch_norm_momentum,
            "wall_seconds": round(wall, 2), "test_reading_seconds": round(reading[0], 2),
            "cpu_seconds": round(cpu, 2),
            "best_trial": best.trial_id, "test_accuracy": test_accuracy,
            "epochs_trained": sum(len(c["val"]) for c in candidates.values()),
            "candidates": candidates,
        }
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files.atomic_write_json(path, record)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run_missing(args):
    context = multiprocessing.get_context("spawn")
    # Seed by seed, its methods back to back: a study stopped at any point
    # leaves whole pairs, and both searches of a pair run under the same load.
    for seed in args.seeds:
        for dataset in args.datasets:
            for method in args.methods:
                path = record_path(args.results, dataset, method, seed)
                if os.path.exists(path):
                    continue
                started = time.perf_counter()
                process = context.Process(target=run_one, args=(
                    dataset, method, seed, args.trials, args.epochs, args.batch_size, path))
                process.start()
                process.join()
                state = "done" if process.exitcode == 0 else f"FAILED ({process.exitcode})"
                print(f"{dataset:>13} {method:>6} seed {seed:>3}: {state} in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1-10"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"which searches to run, in this order: some of {list(METHODS)}")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--results", default=DEFAULT_RESULTS)
    parser.add_argument("--report", action="store_true",
                        help="print the tables from the records instead of running")
    parser.add_argument("--remedies", action="store_true",
                        help="with --report: also replay the rule's variants on the "
                        "records and on LCBench")
    args = parser.parse_args(argv)
    args.datasets = args.datasets.split(",")
    args.methods = args.methods.split(",")
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: unknown {unknown}; expected some of {list(METHODS)}")
    if args.report:
        from attribution_report import report  # noqa: E402 (a sibling script)

        report(args)
        if args.remedies:
            from attribution_report import remedies  # noqa: E402

            remedies(args)
        return 0
    run_missing(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
