"""The `keras-prune-nas` command.

    keras-prune-nas search                      # digits, 50 candidates, 20 epochs
    keras-prune-nas search --dataset wine --trials 30 --epochs 15
    keras-prune-nas search --strategy nao --trials 75   # NAO: 3 generations of 25
    keras-prune-nas compare --dataset digits   # against RandomSearch, Hyperband, ...
    keras-prune-nas compare --dataset all      # every comparison dataset, 3 seeds
"""

import argparse
import json
import os
import sys
import time

from keras_prune_nas import memory
from keras_prune_nas.distributed import WorkersGone

# PruneSearch's own default.
PRUNE_MIN_SURVIVORS = 10
DEFAULTS = {
    "dataset": "digits",
    "trials": 50,
    "epochs": 20,
    "cull_fraction": 0.15,
    # None: the strategy's own (PruneSearch 10, NAOSearch 4 of each generation).
    "min_survivors": None,
    "grace_epochs": 1,
    "epochs_per_round": 1,
    "patience": 5,
    "batch_size": 32,
    "directory": "runs",
    "seed": 0,
    "architecture": "auto",
    "strategy": "prune",
    # None: NAOSearch's own (10).
    "generation_size": None,
    "memory_budget": memory.DEFAULT_BUDGET_MIB,
    # None: whatever Keras would use (KERAS_BACKEND, then ~/.keras/keras.json).
    "backend": None,
}


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, but not None: an option whose default
    is None says in its help what None means."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-prune-nas",
        description=(
            "Cheap neural architecture search: sample random architectures, "
            "cull the worst 15%% after every epoch, train the last ten "
            "properly and keep the best."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    search = commands.add_parser(
        "search",
        help="run a PruneSearch (or an NAOSearch) on a dataset",
        formatter_class=DefaultsHelpFormatter,
    )
    search.add_argument(
        "--dataset", default=DEFAULTS["dataset"],
        help="digits, wine, breast_cancer, iris, or a .npz file with arrays x and y",
    )
    search.add_argument(
        "--strategy", default=DEFAULTS["strategy"], choices=("prune", "nao"),
        help="prune: one random population, culled; nao: generations proposed by "
        "Neural Architecture Optimization, each culled",
    )
    search.add_argument("--trials", type=int, default=DEFAULTS["trials"],
                        help="candidate architectures, over all generations (max_trials)")
    search.add_argument("--generation-size", type=int, default=DEFAULTS["generation_size"],
                        help="with --strategy nao: the most candidates per generation "
                        "(default: NAOSearch's, 10)")
    search.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                        help="most epochs any candidate trains")
    search.add_argument("--cull-fraction", type=float, default=DEFAULTS["cull_fraction"],
                        help="share of survivors dropped after every round")
    search.add_argument("--min-survivors", type=int, default=DEFAULTS["min_survivors"],
                        help="culling stops when this many are left (default: 10; "
                        "with --strategy nao, 4 of each generation)")
    search.add_argument("--epochs-per-round", type=int,
                        default=DEFAULTS["epochs_per_round"],
                        help="epochs between two culls")
    search.add_argument("--patience", type=int, default=DEFAULTS["patience"],
                        help="early-stopping patience of the finalists")
    search.add_argument("--grace-epochs", type=int, default=DEFAULTS["grace_epochs"],
                        help="with --strategy prune: epochs every candidate trains "
                        "before the first cull")
    search.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    search.add_argument(
        "--architecture", default=DEFAULTS["architecture"],
        help="auto, dense, conv1d, conv2d, or several joined by commas",
    )
    search.add_argument("--directory", default=DEFAULTS["directory"],
                        help="where the project directory is written")
    search.add_argument("--project-name", default=None,
                        help="project directory name (default: the dataset's)")
    search.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    search.add_argument("--backend", default=DEFAULTS["backend"],
                        choices=("tensorflow", "jax", "torch"),
                        help="Keras backend (default: Keras' own choice: KERAS_BACKEND, "
                        "then ~/.keras/keras.json, then tensorflow)")
    search.add_argument("--overwrite", action="store_true",
                        help="start afresh instead of resuming the project")
    search.add_argument(
        "--workers", type=int, default=1,
        help="worker processes on this machine (a chief and N workers, each pinned "
        "to its share of the cores or to its own GPU); 1: one process",
    )
    search.add_argument(
        "--memory-budget", type=float, default=DEFAULTS["memory_budget"], metavar="MIB",
        help="with --workers: a worker past this resident memory (MiB) is replaced by a "
        "fresh one after its current unit, so the search's memory stays bounded; "
        "0: never replaced",
    )
    search.add_argument("--lease-timeout", type=float, default=60,
                        help="seconds of silence after which a worker is taken for dead")
    _add_compare_parser(commands)
    report = commands.add_parser(
        "report",
        help="print what a finished or running search did and draw its curves",
    )
    report.add_argument("directory", help="the search's project directory, e.g. runs/digits")
    report.add_argument("--output", default=None,
                        help="where to write the picture (default: DIRECTORY/curves.png)")
    return parser


def _add_compare_parser(commands):
    from keras_prune_nas import compare

    defaults = compare.Settings()
    parser = commands.add_parser(
        "compare",
        help="PruneSearch against NAOSearch, RandomSearch, Hyperband, "
        "BayesianOptimization, the secretary rule and scikit-learn classifiers",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default="digits",
        help="one of " + ", ".join(compare.DATASETS)
        + "; several comma-separated, or all",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--methods", default=",".join(compare.METHODS),
                        help="comma-separated methods")
    parser.add_argument("--trials", type=int, default=defaults.trials,
                        help="candidates per neural search")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="most epochs a candidate trains")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="batch size (fixed; prune_batch_schedule goes "
                        f"from {defaults.batch_size_schedule[0]} down to "
                        f"{defaults.batch_size_schedule[1]})")
    parser.add_argument("--cull-fraction", type=float, default=defaults.cull_fraction,
                        help="PruneSearch's cull_fraction")
    parser.add_argument("--min-survivors", type=int, default=defaults.min_survivors,
                        help="PruneSearch's min_survivors")
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="early-stopping patience of the finalists")
    parser.add_argument("--generation-size", type=int, default=None,
                        help="nao's most candidates per generation (default: half "
                        "the trials, two generations)")
    parser.add_argument("--equal-wall", action="store_true",
                        help="also run PruneSearch, NAOSearch and Hyperband grown to "
                        "RandomSearch's wall time on each seed (needs random among "
                        "the methods)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs OUTPUT/<dataset>/results.csv already holds "
                        "and run the others")
    parser.add_argument("--output", default="compare",
                        help="reports go to OUTPUT/<dataset>/")
    parser.add_argument("--backend", default=DEFAULTS["backend"],
                        choices=("tensorflow", "jax", "torch"),
                        help="Keras backend (default: Keras' own choice)")


def _integers(text, option):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}.") from None


def run_compare(args):
    from keras_prune_nas import compare

    settings = compare.Settings(
        trials=args.trials, epochs=args.epochs, batch_size=args.batch_size,
        cull_fraction=args.cull_fraction, min_survivors=args.min_survivors,
        patience=args.patience, generation_size=args.generation_size,
    )
    names = (
        list(compare.DATASETS) if args.dataset == "all"
        else [name.strip() for name in args.dataset.split(",") if name.strip()]
    )
    if not names:
        raise ValueError("--dataset names no dataset: pass one of "
                         f"{', '.join(compare.DATASETS)}, several comma-separated, or all.")
    seeds = _integers(args.seeds, "--seeds")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in names:  # every dataset checked before the first one trains
        compare.validate(name, methods, seeds, settings, args.equal_wall)
    for name in names:
        report = compare.compare(
            name, seeds=seeds, methods=methods,
            output=os.path.join(args.output, name), settings=settings,
            equal_wall=args.equal_wall, resume=args.resume,
        )
        print()
        print(report.markdown)
        print(f"Written: {', '.join(sorted(report.files.values()))}")
    return 0


def main(argv=None):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    # The backend must be chosen before Keras is first imported; without
    # --backend, Keras chooses as it always does.
    if getattr(args, "backend", None):
        os.environ["KERAS_BACKEND"] = args.backend
    try:
        if args.command == "compare":
            return run_compare(args)
        if args.command == "report":
            from keras_prune_nas import report

            report.write_report(args.directory, args.output)
            return 0
        return run_search(args)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"keras-prune-nas: error: {error}\n")
    except WorkersGone as error:
        parser.exit(1, f"keras-prune-nas: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "keras-prune-nas: interrupted; what was trained is saved, "
                    "and the same command resumes the search.\n")


def run_search(args):
    from keras_prune_nas import quiet

    try:
        keras = quiet.import_keras_quietly()
    except ImportError as error:
        backend = args.backend or os.environ.get("KERAS_BACKEND", "the configured one")
        raise ValueError(
            f"the Keras backend {backend!r} cannot be imported ({error}); "
            f"install it (e.g. pip install {backend}) or pick another "
            "with --backend"
        ) from None

    import keras_prune_nas as kpn
    from keras_prune_nas import checks
    from keras_prune_nas import culling
    from keras_prune_nas import datasets
    from keras_prune_nas.local_workers import LocalWorkers

    architecture = args.architecture
    if "," in architecture:
        architecture = [part.strip() for part in architecture.split(",")]
    # Everything a user can get wrong is checked before any training.
    splits = datasets.load(args.dataset, seed=args.seed)
    hypermodel = kpn.NASHyperModel(
        input_shape=splits.input_shape,
        num_classes=splits.num_classes,
        architecture=architecture,
    )
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}.")
    keras.utils.set_random_seed(args.seed)
    project_name = args.project_name or splits.name
    if args.strategy == "nao":
        from keras_prune_nas.nao.oracle import resolve_proposal_settings

        nao_defaults = resolve_proposal_settings(
            "wide", generation_size=args.generation_size, min_survivors=args.min_survivors
        )
        args.generation_size = nao_defaults["generation_size"]
        args.min_survivors = nao_defaults["min_survivors"]
    elif args.min_survivors is None:
        args.min_survivors = PRUNE_MIN_SURVIVORS
    options = dict(
        objective="val_accuracy",
        max_trials=args.trials,
        cull_fraction=args.cull_fraction,
        min_survivors=args.min_survivors,
        epochs_per_round=args.epochs_per_round,
        patience=args.patience,
        seed=args.seed,
        directory=args.directory,
        project_name=project_name,
        overwrite=args.overwrite,
        progress=True,
    )
    # The first line says what runs, before the tuner's own messages: so
    # what the tuner would refuse is checked first.
    checks.require_int("max_trials", args.trials, 1, "--trials: the candidates")
    checks.validate_epochs(args.epochs)
    culling.validate_cull_parameters(
        args.cull_fraction, args.min_survivors, args.epochs_per_round, args.grace_epochs
    )
    if args.strategy == "nao" and args.grace_epochs != DEFAULTS["grace_epochs"]:
        raise ValueError("--grace-epochs applies to --strategy prune only; drop it "
                         "for --strategy nao.")
    checks.require_number("lease_timeout", args.lease_timeout,
                          "--lease-timeout: seconds", minimum=0, exclusive=True)
    workers = LocalWorkers(
        args.workers,
        argv=[sys.executable, "-m", "keras_prune_nas.cli", *args.argv],
        log_directory=os.path.join(args.directory, project_name, "workers"),
        memory_budget_mib=args.memory_budget or None,
    )
    if args.strategy == "nao":
        from keras_prune_nas.nao import NAOSearch
        from keras_prune_nas.nao.gradients import require_supported_backend
        from keras_prune_nas.nao.policy import generation_sizes

        require_supported_backend()
        checks.require_int("generation_size", args.generation_size, 2,
                           "--generation-size: the most candidates per generation")
        sizes = generation_sizes(args.trials, args.generation_size)
        populations = "; generations of " + ", ".join(map(str, sizes))
    else:
        options["grace_epochs"] = args.grace_epochs
        schedule = culling.cull_schedule(
            args.trials, args.cull_fraction, args.min_survivors,
            culling.grace_rounds(args.grace_epochs, args.epochs_per_round),
        )
        populations = f"; population by round: {schedule}"
    strategy = "NAOSearch" if args.strategy == "nao" else "PruneSearch"
    where = f", on {args.workers} local workers" if args.workers > 1 else ""
    if not workers.is_worker:
        print(
            f"{strategy} on {splits.name} ({keras.backend.backend()} backend{where}): "
            f"{len(splits.x_train)} train / "
            f"{len(splits.x_val)} validation / {len(splits.x_test)} test samples, "
            f"{splits.num_classes} classes; {args.trials} candidates, up to "
            f"{args.epochs} epochs{populations}",
            flush=True,
        )
    started = time.perf_counter()
    with workers:
        options["lease_timeout"] = args.lease_timeout
        if args.strategy == "nao":
            tuner = NAOSearch(hypermodel, generation_size=args.generation_size, **options)
        else:
            tuner = kpn.PruneSearch(hypermodel, **options)
        tuner.search(
            splits.x_train, splits.y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_data=(splits.x_val, splits.y_val),
            verbose=0,
        )
    plan = culling.planned_epochs(
        args.trials, args.epochs, args.cull_fraction, args.min_survivors,
        args.epochs_per_round, args.grace_epochs,
    )
    wall = time.perf_counter() - started
    summary = summarize(tuner, splits, plan, wall)
    path = os.path.join(tuner.project_dir, "summary.json")
    with open(path, "w") as stream:
        json.dump(summary, stream, indent=2)
    print_summary(summary)
    print_picture(tuner)
    return 0


def print_picture(tuner):
    """Draws the search's curves next to its curves.csv (with matplotlib)."""
    import importlib.util

    from keras_prune_nas import report

    if importlib.util.find_spec("matplotlib") is None:
        print("A picture of the search (curves.png) needs matplotlib: "
              "pip install 'keras-prune-nas[analysis]'.")
        return
    path = report.save_plot(report.project_of(tuner.round_oracle, tuner.project_dir))
    print(f"Picture of the search: {path}")


def summarize(tuner, splits, plan, wall_seconds):
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.load_model(best_trial)
    _, val_accuracy = model.evaluate(splits.x_val, splits.y_val, verbose=0)
    _, test_accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
    statuses = {}
    for trial in tuner.oracle.trials.values():
        statuses[trial.status] = statuses.get(trial.status, 0) + 1
    epochs_trained = tuner.oracle.epochs_trained()
    return {
        "dataset": splits.name,
        "best_trial": best_trial.trial_id,
        "architecture": dict(best_trial.hyperparameters.values),
        "parameters": int(model.count_params()),
        "val_accuracy": float(val_accuracy),
        "test_accuracy": float(test_accuracy),
        "epochs_trained": int(epochs_trained),
        "random_search_epochs": int(plan["random_search"]),
        "candidates": len(tuner.oracle.trials),
        "statuses": statuses,
        "wall_seconds": round(wall_seconds, 1),
        "curves_csv": os.path.join(tuner.project_dir, "curves.csv"),
    }


def print_summary(summary):
    share = summary["epochs_trained"] / max(1, summary["random_search_epochs"])
    print()
    print(f"Best architecture (trial {summary['best_trial']}), "
          f"{summary['parameters']:,} parameters:")
    for name, value in summary["architecture"].items():
        print(f"  {name:>16}: {value}")
    print(f"Validation accuracy: {summary['val_accuracy']:.4f}")
    print(f"Test accuracy:       {summary['test_accuracy']:.4f}")
    print(
        f"Epochs trained: {summary['epochs_trained']} (RandomSearch would "
        f"train {summary['random_search_epochs']}: {share:.0%} of it)"
    )
    print(f"Candidates: {summary['candidates']} {summary['statuses']}")
    print(f"Wall time: {summary['wall_seconds']} s")
    print(f"Per-epoch curves of every candidate: {summary['curves_csv']}")


if __name__ == "__main__":
    sys.exit(main())
