"""A finished or running search, read back from its project directory.

`keras-prune-nas report DIR` (or `report.write_report(DIR)`) prints what a
search did and draws its curves (`curves.png`), from the files it keeps up
to date while it runs: the oracle's state (`oracle.json`, with every
candidate's objective curve, its fate and the culls) and a trial file per
candidate (the objective's name and direction). No model is loaded and no
backend is needed, so a project from another machine or backend reads the
same.

    keras-prune-nas report runs/digits
"""

import dataclasses
import json
import os
from typing import Dict
from typing import List
from typing import Optional

from keras_prune_nas import culling
from keras_prune_nas.engine import FINISHED
from keras_prune_nas.engine import SELECTION
from keras_prune_nas.engine import Population

RUNNING = "RUNNING"


@dataclasses.dataclass
class Project:
    """What a project directory says about its search.

    Attributes:
        directory: The project directory.
        kind: The oracle ("PruneOracle", "NAOOracle", ...).
        engine: The engine's saved state (`keras_prune_nas.engine.state`).
        objective: The objective's name (e.g. "val_accuracy").
        direction: "max" or "min".
        summary: The command line's `summary.json`, if it wrote one.
    """

    directory: str
    kind: str
    engine: dict
    objective: str
    direction: str
    summary: Optional[dict] = None

    @property
    def candidates(self) -> Dict[str, dict]:
        return self.engine["population"]["candidates"]

    def status(self, candidate_id: str) -> str:
        ending = self.candidates[candidate_id]["ending"]
        return RUNNING if ending is None else ending["status"]

    def population(self) -> Population:
        parameters = self.engine["parameters"]
        population = Population(self.direction, parameters.get("rank_by", "best"),
                                parameters.get("complexity_penalty", 0.0))
        population.restore(self.engine["population"])
        return population

    def best(self) -> Optional[str]:
        """The search's pick (its best candidate so far while it runs)."""
        results = self.population().results()
        return results[0] if results else None

    def rows(self) -> List[dict]:
        """Rows as `analysis.plot_learning_curves` takes them."""
        return [
            {"trial_id": cid, "status": self.status(cid), "epoch": epoch,
             self.objective: value}
            for cid, record in sorted(self.candidates.items())
            for epoch, value in enumerate(record["curve"])
        ]


def project_of(oracle, directory: str) -> Project:
    """The `Project` of a live round-based oracle (no files read)."""
    return Project(directory, type(oracle).__name__, oracle.engine.state(),
                   oracle.objective.name, oracle.objective.direction)


def load_project(directory: str) -> Project:
    """Reads a project directory (`<directory>/<project_name>` of a search).

    Raises:
        FileNotFoundError: no search state in `directory`, naming what is
            expected there.
    """
    path = os.path.join(directory, "oracle.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No search state in {directory!r} (no oracle.json): pass the project "
            "directory of a search, <directory>/<project_name>, e.g. runs/digits."
        )
    with open(path) as stream:
        state = json.load(stream)
    if "round_oracle" not in state:
        raise FileNotFoundError(
            f"{directory!r} holds a keras_tuner search that is not one of "
            "keras_prune_nas's (its oracle.json has no round_oracle state)."
        )
    engine = state["round_oracle"]["engine"]
    objective, direction = _objective_of(directory, engine["population"]["candidates"])
    summary = None
    summary_path = os.path.join(directory, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as stream:
            summary = json.load(stream)
    return Project(directory, state["round_oracle"]["kind"], engine, objective, direction,
                   summary)


def _objective_of(directory, candidates):
    """The objective's name and direction: the trial-file metric whose
    history is the engine's curve."""
    for cid, record in candidates.items():
        curve = record["curve"]
        path = os.path.join(directory, f"trial_{cid}", "trial.json")
        if not curve or not os.path.exists(path):
            continue
        with open(path) as stream:
            metrics = json.load(stream)["metrics"]["metrics"]
        for name, history in metrics.items():
            values = [sum(o["value"]) / len(o["value"]) for o in history["observations"]]
            if len(values) >= len(curve) and all(
                    abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(values, curve)):
                return name, history.get("direction", "max")
    return "objective", "max"


def summary_lines(project: Project) -> List[str]:
    """What the search did, in a few lines."""
    engine = project.engine
    epochs = engine["epochs"]
    trained = sum(len(r["curve"]) for r in project.candidates.values())
    statuses: Dict[str, int] = {}
    for cid in project.candidates:
        statuses[project.status(cid)] = statuses.get(project.status(cid), 0) + 1
    if engine["phase"] == FINISHED:
        state = "finished"
    elif engine["phase"] == SELECTION:
        state = f"running: round {engine['round'] + 1} of {engine['rounds']}"
    else:
        state = "running: the finalists train"
    lines = [
        f"{project.kind.replace('Oracle', 'Search')} in {project.directory} ({state})",
        f"Candidates: {len(project.candidates)} "
        + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())),
    ]
    if epochs:
        full = len(project.candidates) * epochs
        lines.append(f"Epochs trained: {trained} of {full} for training every candidate "
                     f"to epoch {epochs} ({trained / full:.0%})")
    history = engine["policy"].get("cull", {}).get("cull_history", [])
    if history:
        lines.append("Culls: " + ", ".join(
            f"after epoch {r['epoch']} {r['alive']} -> {r['alive'] - len(r['culled'])}"
            for r in history))
    best = project.best()
    if best is not None:
        record = project.candidates[best]
        score = culling.curve_score(record["curve"], project.direction, "best")
        label = "The pick" if engine["phase"] == FINISHED else "Best so far"
        lines.append(f"{label}: trial {best}, {project.objective} "
                     f"{'n/a' if score is None else f'{score:.4f}'} ({project.status(best)}, "
                     f"{len(record['curve'])} epochs)")
        lines += [f"  {name:>16}: {value}" for name, value in record["values"].items()]
    if project.summary and project.summary.get("best_trial") == best:
        lines.append(f"Test accuracy of the pick: {project.summary['test_accuracy']:.4f}")
    return lines


def plot_project(project: Project, ax=None):
    """The project's curves, culls marked and its pick in black; the Axes."""
    from keras_prune_nas import analysis

    best = project.best()
    return analysis.plot_learning_curves(
        project.rows(), objective=project.objective, ax=ax, best=best,
        title=f"{os.path.basename(os.path.normpath(project.directory))}: culled in grey "
              "(x: culled), finalists in colour, the pick in black",
    )


def save_plot(project: Project, path: Optional[str] = None) -> str:
    """Draws `plot_project` to `path` (default `<project>/curves.png`).

    Uses a bare matplotlib `Figure`, so the caller's pyplot backend and
    figures are left alone.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "Plots need matplotlib: pip install 'keras-prune-nas[analysis]'."
        ) from None

    path = path or os.path.join(project.directory, "curves.png")
    figure = Figure(figsize=(7.5, 4.5))
    plot_project(project, ax=figure.subplots())
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def write_report(directory: str, output: Optional[str] = None) -> str:
    """Prints the summary of the project in `directory` and draws its curves
    to `output` (default `<directory>/curves.png`); returns the image's path."""
    project = load_project(directory)
    for line in summary_lines(project):
        print(line)
    path = save_plot(project, output)
    print(f"Curves: {path}")
    return path
