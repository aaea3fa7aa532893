"""A picture of every search: `plot_curves()`, `keras-prune-nas report`, and
the `curves.png` the command line writes."""

import os

import keras
import pytest

import keras_prune_nas as kpn
from keras_prune_nas import report
from tests.helpers import build_mlp
from tests.helpers import make_oracle
from tests.helpers import run_unit

matplotlib = pytest.importorskip("matplotlib")


def test_plot_curves_and_the_report_of_a_finished_search(digits, tmp_path, capsys):
    x, y, xv, yv = digits
    keras.utils.set_random_seed(5)
    tuner = kpn.PruneSearch(build_mlp, objective="val_accuracy", max_trials=8,
                            cull_fraction=0.3, min_survivors=3, seed=5,
                            directory=tmp_path, project_name="digits", progress=False)
    tuner.search(x, y, epochs=4, validation_data=(xv, yv), verbose=0)
    oracle = tuner.oracle
    best = oracle.get_best_trials(1)[0].trial_id

    ax = tuner.plot_curves()
    assert len(ax.lines) == 8  # one curve per candidate
    black = [line for line in ax.lines if line.get_color() == "black"]
    assert [line.get_label() for line in black] == [f"the pick (trial {best})"]
    assert len(ax.collections) == len(oracle.cull_history[0]["culled"]) + sum(
        len(r["culled"]) for r in oracle.cull_history[1:])  # an x per culled candidate

    path = report.write_report(tuner.project_dir)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"PruneSearch in {tuner.project_dir} (finished)"
    statuses = {}
    for trial in oracle.trials.values():
        statuses[trial.status] = statuses.get(trial.status, 0) + 1
    assert out[1] == "Candidates: 8 " + ", ".join(
        f"{count} {status}" for status, count in sorted(statuses.items()))
    assert out[3] == "Culls: " + ", ".join(
        f"after epoch {r['epoch']} {r['alive']} -> {r['alive'] - len(r['culled'])}"
        for r in oracle.cull_history)
    assert out[4].startswith(f"The pick: trial {best}, val_accuracy ")
    assert path == os.path.join(tuner.project_dir, "curves.png")
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 500


def test_the_report_of_a_running_search_reads_only_its_files(tmp_path, capsys):
    oracle = make_oracle(tmp_path, max_trials=12, epochs=6, cull_fraction=0.3,
                         min_survivors=4)
    for _ in range(15):  # round 1 (12 units), the cull, 3 units of round 2
        run_unit(oracle)
    oracle.save()
    project = report.load_project(os.path.join(tmp_path, "project"))
    assert project.objective == "val_accuracy" and project.direction == "max"
    lines = report.summary_lines(project)
    assert lines[0].endswith("(running: round 2 of 4)")
    assert lines[1] == "Candidates: 12 9 RUNNING, 3 STOPPED"
    assert lines[2] == "Epochs trained: 15 of 72 for training every candidate to epoch 6 (21%)"
    assert lines[4].startswith("Best so far: trial ")
    path = report.save_plot(project, str(tmp_path / "running.png"))
    assert os.path.getsize(path) > 5000


def test_a_directory_without_a_search_is_named_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass the project directory of a search"):
        report.load_project(str(tmp_path))
