"""One simulated LCBench search through the engine, and through keras_tuner.

The same PruneSearch rule on the same recorded curves, played by one worker:

* `engine`: `RoundEngine` + `CullPolicy`, nothing else (what the replays and
  the simulations run);
* `adapter`: `PruneOracle`, the keras_tuner Oracle a real search runs, with
  its project directory, trial files and state saved as in a search.

It checks that both make the same decisions (the same culls, the same
finalists, the same pick) and prints the wall time of each, per table:

    python benchmarks/engine_vs_adapter.py                   # every table, 200 candidates
    python benchmarks/engine_vs_adapter.py --candidates 2000 --tables 1
"""

import argparse
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras_tuner as kt  # noqa: E402

from keras_prune_nas import analysis  # noqa: E402
from keras_prune_nas import simulation  # noqa: E402
from keras_prune_nas.engine import CullPolicy  # noqa: E402
from keras_prune_nas.engine import RoundEngine  # noqa: E402
from keras_prune_nas.engine import play  # noqa: E402
from keras_prune_nas.oracle import PruneOracle  # noqa: E402

DEFAULT_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "lcbench"
)


class RowOracle(PruneOracle):
    """Candidate i is row i of the table, in order (keras_tuner's documented
    `populate_space` hook), as in the engine run."""

    def populate_space(self, trial_id):
        return {"status": "RUNNING", "values": {"row": len(self.trials)}}


def through_engine(curves):
    engine = RoundEngine(CullPolicy(), max_candidates=len(curves),
                         sample=lambda candidate_id: {"row": int(candidate_id)})
    engine.set_epochs(curves.shape[1])
    play.play(engine, lambda work, epoch: float(curves[work.values["row"], epoch]))
    pick = engine.population[engine.population.results()[0]].values["row"]
    return engine.policy.cull_history, pick, engine.population.epochs_trained()


def through_adapter(curves, directory):
    hp = kt.HyperParameters()
    hp.Int("row", 0, len(curves) - 1)
    oracle = RowOracle(objective=kt.Objective("val_accuracy", "max"),
                       max_trials=len(curves), hyperparameters=hp)
    # A Tuner gives the oracle its project directory, as in any search.
    kt.Tuner(oracle=oracle, hypermodel=lambda hp: None, directory=directory,
             project_name="adapter", overwrite=True)
    oracle.verbose = 0
    oracle.set_epochs(curves.shape[1])
    simulation.play(oracle, lambda trial, epoch: {
        "val_accuracy": float(curves[trial.hyperparameters["row"], epoch])})
    pick = oracle.get_best_trials(1)[0].hyperparameters["row"]
    return oracle.cull_history, pick, oracle.epochs_trained()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--tables", type=int, default=None, help="the first N tables only")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.data, "lcbench_*.npz")))[: args.tables]
    if not paths:
        print(f"No lcbench_*.npz in {os.path.abspath(args.data)}: nothing to run.")
        return 1
    print("| table | candidates | epochs trained | engine | adapter | adapter / engine | same decisions |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    totals = [0.0, 0.0]
    for path in paths:
        curves = analysis.load_lcbench(path)[: args.candidates]
        started = time.perf_counter()
        engine = through_engine(curves)
        engine_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as directory:
            started = time.perf_counter()
            adapter = through_adapter(curves, directory)
            adapter_seconds = time.perf_counter() - started
        totals[0] += engine_seconds
        totals[1] += adapter_seconds
        same = engine == adapter
        print(f"| {os.path.basename(path)[8:-4]} | {len(curves)} | {engine[2]} | "
              f"{engine_seconds:.2f} s | {adapter_seconds:.2f} s | "
              f"{adapter_seconds / engine_seconds:.0f}x | {'yes' if same else 'NO'} |",
              flush=True)
        if not same:
            return 2
    print(f"\ntotal: engine {totals[0]:.1f} s, adapter {totals[1]:.1f} s "
          f"({totals[1] / totals[0]:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
