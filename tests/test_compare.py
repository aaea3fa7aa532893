"""The comparison runs: `keras-prune-nas compare` and `compare.compare`."""

import csv
import math
import os
import statistics
import warnings

import pytest

from keras_prune_nas import cli
from keras_prune_nas import compare
from keras_prune_nas import culling


def test_hyperband_budget_mirrors_keras_tuner():
    # max_epochs=10, factor=3: brackets of 12@2 -> 4@4 -> 2@10, 6@4 -> 2@10, 4@10.
    assert compare.hyperband_planned_epochs(10, 3) == 12 * 2 + 4 * 2 + 2 * 6 + 6 * 4 + 2 * 6 + 4 * 10
    assert compare.hyperband_planned_epochs(10, 3, iterations=2) == 2 * 120
    planned = culling.planned_epochs(50, 20)["total"]
    iterations = compare.hyperband_iterations_near(planned, 20)
    per_iteration = compare.hyperband_planned_epochs(20)
    assert abs(iterations * per_iteration - planned) <= per_iteration / 2


def test_settings_for_wall_grows_each_search_until_its_predicted_time_matches():
    settings = compare.Settings(trials=30, epochs=15, patience=5)
    for method in ("prune", "nao", "hyperband"):
        planned = compare.planned_search_epochs(method, settings)
        # It took 100 s for `planned` epochs; RandomSearch took 250 s.
        grown = compare.settings_for_wall(method, settings, 100.0, 250.0)
        predicted = 100.0 / planned * compare.planned_search_epochs(method, grown)
        if method == "hyperband":
            assert grown.trials == 30
            step = 100.0 / planned * compare.hyperband_planned_epochs(15)
        else:
            assert grown.trials > 30 and grown.generation_size == settings.nao_generation_size()
            step = 100.0 / planned * 15  # one more candidate costs at most its epochs
        assert abs(predicted - 250.0) <= step / 2 + 1e-9
    # Never smaller than the equal-trials search, even if that was slower.
    assert compare.settings_for_wall("prune", settings, 300.0, 250.0).trials == 30
    with pytest.raises(ValueError, match="not grown at equal wall time"):
        compare.planned_search_epochs("random", settings)
    # Sized from a run of 60 candidates: its own planned epochs set the rate.
    bigger = compare.Settings(trials=60, epochs=15, patience=5)
    seconds = 2.0 * compare.planned_search_epochs("prune", bigger)
    assert compare.settings_for_wall("prune", settings, seconds, seconds,
                                     measured_settings=bigger).trials == 60


def test_search_cost_is_cpu_seconds_where_both_runs_have_them():
    assert compare.search_cost({"wall_seconds": 10.0, "cpu_seconds": 8.0}) == 8.0
    assert compare.search_cost({"wall_seconds": 10.0, "cpu_seconds": 8.0},
                               {"wall_seconds": 20.0}) == 10.0
    assert compare.search_cost({"wall_seconds": 10.0}) == 10.0


def _scripted_prune_run(seconds_per_epoch):
    """A PruneSearch stand-in whose cost is `seconds_per_epoch(trials)` per
    planned epoch: the sizing logic is what the tests below check."""
    def run(grown):
        epochs = compare.planned_search_epochs("prune", grown)
        return {"test_accuracy": 0.9, "cpu_seconds": seconds_per_epoch(grown.trials) * epochs,
                "candidates": grown.trials}
    return run


def test_run_at_cost_of_keeps_a_first_run_within_tolerance():
    settings = compare.Settings(trials=30, epochs=15, patience=5)
    planned = compare.planned_search_epochs("prune", settings)
    tried = []
    run = _scripted_prune_run(lambda trials: tried.append(trials) or 1.0)
    row = compare.run_at_cost_of({"cpu_seconds": 2.0 * planned}, {"cpu_seconds": planned},
                                 "prune", settings, run)
    assert row["sizing_runs"] == 1 and len(tried) == 1 and tried[0] > 30
    assert abs(math.log(row["cpu_seconds"] / (2.0 * planned))) <= math.log(1.2)


def test_run_at_cost_of_sizes_again_from_a_run_that_missed():
    settings = compare.Settings(trials=30, epochs=15, patience=5)
    planned = compare.planned_search_epochs("prune", settings)
    target = 2.0 * planned
    # Larger populations keep larger (slower) candidates: the first sizing,
    # at the equal-trials run's rate, costs far more than the target.
    row = compare.run_at_cost_of(
        {"cpu_seconds": target}, {"cpu_seconds": planned}, "prune", settings,
        _scripted_prune_run(lambda trials: 1.0 if trials == 30 else 1.5),
    )
    assert row["sizing_runs"] == 2
    assert abs(math.log(row["cpu_seconds"] / target)) < math.log(1.2)
    assert 30 <= row["candidates"]


def test_run_at_cost_of_keeps_the_first_run_if_the_second_fails():
    settings = compare.Settings(trials=30, epochs=15, patience=5)
    planned = compare.planned_search_epochs("prune", settings)
    runs = []

    def run(grown):
        runs.append(grown)
        if len(runs) == 2:
            raise RuntimeError("injected failure")
        # 1.5 times as slow per epoch as sized for: the second size is larger
        # than the equal-trials search, so it runs (and fails).
        return {"cpu_seconds": 1.5 * compare.planned_search_epochs("prune", grown),
                "candidates": grown.trials}

    row = compare.run_at_cost_of({"cpu_seconds": 2.0 * planned}, {"cpu_seconds": planned},
                                 "prune", settings, run)
    assert len(runs) == 2 and row["candidates"] == runs[0].trials
    # A search that already cost more than RandomSearch is not run again.
    slower = {"cpu_seconds": 3.0 * planned, "candidates": 30, "test_accuracy": 0.8}
    runs.clear()
    row = compare.run_at_cost_of({"cpu_seconds": 2.0 * planned}, slower, "prune", settings, run)
    assert not runs and row["candidates"] == 30 and row["cpu_seconds"] == slower["cpu_seconds"]
    with pytest.raises(RuntimeError, match="equal-trials run of prune failed"):
        compare.run_at_cost_of({"cpu_seconds": 1.0}, {"error": "x"}, "prune", settings, run)


def test_run_at_cost_of_reuses_the_equal_trials_run_when_a_resize_lands_on_it():
    # Hyperband grows by whole iterations: one costs 0.64 of RandomSearch,
    # two cost 1.8 times it, so the second sizing comes back to one
    # iteration, which is the equal-trials search: its row stands, unrun.
    settings = compare.Settings(trials=30, epochs=15, patience=5)
    one_iteration = compare.planned_search_epochs("hyperband", settings)
    measured = {"cpu_seconds": float(one_iteration), "candidates": 30, "test_accuracy": 0.8}
    runs = []

    def run(grown):
        runs.append(grown)
        return {"cpu_seconds": 1.4 * compare.planned_search_epochs("hyperband", grown),
                "candidates": 60}

    row = compare.run_at_cost_of({"cpu_seconds": 260.0}, measured, "hyperband", settings, run)
    assert [grown.hyperband_iterations for grown in runs] == [2]
    assert row["sizing_runs"] == 2 and row["candidates"] == 30
    assert row["cpu_seconds"] == measured["cpu_seconds"]


def test_paired_against_random_pairs_each_method_with_randomsearch_on_its_seed():
    rows = [
        {"method": "random", "seed": 1, "test_accuracy": 0.80, "wall_seconds": 100.0,
         "cpu_seconds": 90.0},
        {"method": "random", "seed": 2, "test_accuracy": 0.90, "wall_seconds": 200.0},
        {"method": "prune", "seed": 1, "test_accuracy": 0.81, "wall_seconds": 40.0,
         "cpu_seconds": 45.0},
        {"method": "prune", "seed": 2, "test_accuracy": 0.88, "wall_seconds": 60.0,
         "cpu_seconds": 50.0},
        {"method": "prune", "seed": 3, "test_accuracy": 0.99, "wall_seconds": 1.0},  # no pair
        {"method": "prune", "seed": 1, "budget": "wall", "test_accuracy": 0.83,
         "wall_seconds": 101.0},
        {"method": "hyperband", "seed": 1, "error": "RuntimeError: x"},
    ]
    trials = compare.paired_against_random(rows)
    difference, wall_ratio, cpu_ratio = trials["prune"]
    assert difference.count == 2 and difference.mean == pytest.approx(-0.005)
    assert wall_ratio == pytest.approx((0.4 + 0.3) / 2)
    assert cpu_ratio == pytest.approx(0.5)  # only seed 1 has both CPU times
    assert "hyperband" not in trials
    wall = compare.paired_against_random(rows, "wall")
    assert wall["prune"][0].count == 1 and wall["prune"][0].mean == pytest.approx(0.03)


def test_prune_against_grown_pairs_the_searches_grown_to_the_same_cost():
    rows = [
        {"method": "random", "seed": seed, "test_accuracy": 0.5} for seed in (1, 2, 3)
    ] + [
        {"method": "prune", "seed": 1, "budget": "wall", "test_accuracy": 0.83},
        {"method": "prune", "seed": 2, "budget": "wall", "test_accuracy": 0.90},
        {"method": "prune", "seed": 3, "budget": "wall", "test_accuracy": 0.70},
        # Equal trials: not paired with the grown PruneSearch.
        {"method": "hyperband", "seed": 1, "test_accuracy": 0.10},
        {"method": "hyperband", "seed": 1, "budget": "wall", "test_accuracy": 0.80},
        {"method": "hyperband", "seed": 2, "budget": "wall", "test_accuracy": 0.86},
        {"method": "hyperband", "seed": 3, "budget": "wall", "error": "RuntimeError: x"},
        {"method": "nao", "seed": 4, "budget": "wall", "test_accuracy": 0.99},  # no pair
    ]
    against = compare.prune_against_grown(rows)
    assert set(against) == {"hyperband"}
    assert against["hyperband"].count == 2
    assert against["hyperband"].mean == pytest.approx(0.035)
    lines = "\n".join(compare.paired_lines(rows, "wall"))
    assert "| hyperband | +3.50 [" in lines and "PruneSearch minus, at the same cost" in lines
    assert "PruneSearch minus" not in "\n".join(compare.paired_lines(rows, "trials"))


def test_resume_keeps_what_was_measured_and_reruns_what_failed(tmp_path, monkeypatch):
    calls = []
    run_classic = compare.run_classifier

    def counted(method, splits, seed):
        calls.append((method, seed))
        if method == "knn" and len([c for c in calls if c[0] == "knn"]) == 1:
            raise RuntimeError("injected failure")
        return run_classic(method, splits, seed)

    monkeypatch.setattr(compare, "run_classifier", counted)
    options = dict(dataset="wine", methods=["knn", "logistic_regression"],
                   output=str(tmp_path), progress=None)
    compare.compare(seeds=[0], **options)
    assert calls == [("knn", 0), ("logistic_regression", 0)]
    report = compare.compare(seeds=[0, 1], resume=True, **options)
    # Only the failed run and the new seed's runs ran again.
    assert calls[2:] == [("knn", 0), ("knn", 1), ("logistic_regression", 1)]
    rows = compare.read_results(report.files["results"])
    assert [(r["method"], r["seed"], r["error"]) for r in rows] == [
        ("knn", 0, None), ("logistic_regression", 0, None),
        ("knn", 1, None), ("logistic_regression", 1, None)]
    with pytest.raises(ValueError, match=r"other settings: trials=20 \(now 7\)"):
        compare.compare(seeds=[0], resume=True, settings=compare.Settings(trials=7),
                        **options)


def test_resume_with_fewer_seeds_or_methods_keeps_the_other_runs(tmp_path):
    options = dict(dataset="wine", output=str(tmp_path), progress=None)
    compare.compare(seeds=[0, 1], methods=["knn", "logistic_regression"], **options)
    path = os.path.join(str(tmp_path), "results.csv")
    before = compare.read_results(path)
    report = compare.compare(seeds=[1], methods=["knn", "svm"], resume=True, **options)
    # The report covers what was asked; the file keeps everything measured.
    assert [(r["method"], r["seed"]) for r in report.rows] == [("knn", 1), ("svm", 1)]
    after = compare.read_results(path)
    assert {(r["method"], r["seed"]) for r in after} == {
        ("knn", 0), ("logistic_regression", 0), ("knn", 1),
        ("logistic_regression", 1), ("svm", 1)}
    kept = {(r["method"], r["seed"]): r["test_accuracy"] for r in after}
    assert all(kept[r["method"], r["seed"]] == r["test_accuracy"] for r in before)


def test_an_unfinished_equal_wall_seed_is_run_again_whole(tmp_path):
    # A grown search is sized to RandomSearch's cost on its seed: a seed
    # finished in another sitting would compare costs measured apart.
    finished_seed = [("random", 1, "trials"), ("prune", 1, "trials"), ("prune", 1, "wall"),
                     ("knn", 1, "trials")]
    unfinished_seed = [("random", 2, "trials"), ("prune", 2, "trials")]
    not_asked_for = [("knn", 3, "trials")]
    done = {key: {"dataset": "wine", "method": key[0], "seed": key[1], "budget": key[2],
                  "test_accuracy": 0.5}
            for key in finished_seed + unfinished_seed + not_asked_for}
    kept = compare.keep_whole_seeds(done, [1, 2], ["random", "prune", "knn"], str(tmp_path))
    assert set(kept) == set(finished_seed + not_asked_for)
    superseded = compare.read_results(os.path.join(str(tmp_path), "superseded.csv"))
    assert {(r["method"], r["seed"], r["budget"]) for r in superseded} == set(unfinished_seed)
    # Stopped before its first new run, the comparison moves them again: not twice.
    again = {(r["method"], r["seed"], r["budget"]): r for r in superseded}
    compare.keep_whole_seeds(again, [2], ["random", "prune"], str(tmp_path))
    assert len(compare.read_results(os.path.join(str(tmp_path), "superseded.csv"))) == 2
    # A later supersession adds to the file.
    compare.keep_whole_seeds({("random", 4, "trials"): dict(done[unfinished_seed[0]], seed=4)},
                              [4], ["random", "prune"], str(tmp_path))
    assert len(compare.read_results(os.path.join(str(tmp_path), "superseded.csv"))) == 3


def test_keras_tuners_reload_warning_is_kept_out_of_the_comparison(tmp_path):
    # RandomSearch loads its best checkpoint into a model whose optimizer is
    # not built; Keras warns that it skips the saved optimizer variables.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = compare.compare(
            dataset="wine", seeds=[0], methods=["random"], output=str(tmp_path),
            settings=compare.Settings(trials=2, epochs=1), progress=None,
            fresh_process=False,
        )
    [row] = report.rows
    assert not row.get("error") and row["candidates"] == 2
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]


def test_aggregate_means_and_standard_deviations():
    rows = [
        {"method": "a", "test_accuracy": 0.9, "epochs": 10, "wall_seconds": 2.0, "parameters": 100},
        {"method": "a", "test_accuracy": 0.8, "epochs": 20, "wall_seconds": 4.0, "parameters": 300},
        {"method": "b", "test_accuracy": 0.7, "wall_seconds": 1.0},
    ]
    summary = compare.aggregate(rows)
    assert summary["a"]["test_mean"] == pytest.approx(0.85)
    assert summary["a"]["test_std"] == pytest.approx(statistics.stdev([0.9, 0.8]))
    assert summary["a"]["epochs"] == 15 and summary["a"]["parameters"] == 200
    assert summary["b"]["epochs"] is None and summary["b"]["test_std"] == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dataset="cifar10"), "Unknown comparison dataset 'cifar10'"),
        (dict(methods=["prune", "grid"]), r"Unknown or no methods \['grid'\]"),
        (dict(seeds=[]), "`seeds` must be a non-empty list of integers"),
        (dict(settings=compare.Settings(trials=0)), "`trials` must be an integer >= 1"),
        (dict(settings=compare.Settings(cull_fraction=2.0)), "`cull_fraction` must be a number strictly"),
        (dict(settings=compare.Settings(batch_size_schedule=(256, 0))),
         "`batch_size_schedule` must be a non-empty list of integers >= 1"),
        (dict(settings=compare.Settings(generation_size=1)),
         "`generation_size` must be an integer >= 2"),
        (dict(settings=compare.Settings(batch_size_schedule=256)),
         r"`Settings.batch_size_schedule` must be \(first, last\)"),
        (dict(methods=["prune"], equal_wall=True), "add 'random' to the methods"),
        (dict(settings=compare.Settings(hyperband_iterations=0)),
         "`hyperband_iterations` must be an integer >= 1"),
    ],
)
def test_bad_comparison_input_is_rejected_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare.compare(**{"dataset": "wine", "output": str(tmp_path), **kwargs})


@pytest.mark.slow
def test_compare_command_writes_results_report_and_plots(tmp_path, capsys):
    output = tmp_path / "reports" / "wine"
    methods = ["prune", "random", "hyperband", "secretary", "nao", "logistic_regression", "knn"]
    status = cli.main([
        "compare", "--dataset", "wine", "--seeds", "1", "--trials", "6",
        "--epochs", "3", "--min-survivors", "3", "--patience", "5",
        "--methods", ",".join(methods), "--output", str(tmp_path / "reports"),
    ])
    assert status == 0
    with open(output / "results.csv") as stream:
        rows = list(csv.DictReader(stream))
    # One seed: every search is a fresh process, and the order of several
    # seeds is checked on the classifiers (the resume tests).
    assert [(r["method"], r["seed"]) for r in rows] == [(m, "1") for m in methods]
    by_method = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
        # A search trains: its wall time is measured (> 0); a scikit-learn
        # baseline on wine can round to 0.00 s.
        neural = row["method"] not in ("logistic_regression", "knn")
        assert float(row["wall_seconds"]) > 0 if neural else float(row["wall_seconds"]) >= 0
    planned = culling.planned_epochs(6, 3, 0.15, 3)["total"]
    for row in by_method["prune"]:
        assert int(row["epochs"]) == planned  # no early stop within 3 epochs
        assert int(row["candidates"]) == 6 and int(row["parameters"]) > 0
    assert {int(r["epochs"]) for r in by_method["random"]} == {6 * 3}
    # Two generations of 3, not culled (3 is min_survivors), 3 epochs each.
    assert {(int(r["epochs"]), int(r["candidates"])) for r in by_method["nao"]} == {(18, 6)}
    assert all(r["error"] == "" for r in rows)
    assert {int(r["epochs"]) for r in by_method["hyperband"]} == {
        compare.hyperband_planned_epochs(3)
    }
    assert all(r["epochs"] == "" for r in by_method["knn"])
    report = (output / "report.md").read_text()
    assert "| method | test accuracy | epochs trained |" in report
    for method in methods:
        assert f"| {method} | " in report
    for name in ("learning_curves.png", "accuracy_vs_cost.png",
                 "finalists_accuracy_vs_parameters.png"):
        assert (output / name).stat().st_size > 5000
        assert f"]({name})" in report
    assert "Written:" in capsys.readouterr().out


def test_an_empty_dataset_list_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--dataset", ",", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--dataset names no dataset" in capsys.readouterr().err


def test_equal_wall_needs_randomsearch_before_anything_trains(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--dataset", "wine", "--methods", "prune,hyperband",
                  "--equal-wall", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "add 'random' to the methods" in capsys.readouterr().err
    assert not (tmp_path / "wine").exists()


def test_every_dataset_is_checked_before_any_trains(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--dataset", "wine,cifar10", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "Unknown comparison dataset 'cifar10'" in capsys.readouterr().err
    assert not (tmp_path / "wine").exists()


def test_results_are_read_back_with_numbers_and_plotted_per_method(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    path = tmp_path / "results.csv"
    path.write_text(
        ",".join(compare.FIELDS) + "\n"
        "digits,prune,0,trials,0.97,0.98,123,29.7,28.1,39087,20,,\n"
        "digits,prune,1,trials,0.98,0.99,118,27.5,26.0,1000,20,,\n"
        "digits,svm,0,,0.975,0.97,,0.04,,,,,\n"
        "digits,knn,0,trials,,,,,,,,,ValueError: broken\n"
        "digits,prune,0,wall,0.99,0.99,300,60.0,58.0,1000,50,1,\n"
    )
    rows = compare.read_results(path)
    assert rows[0]["seed"] == 0 and rows[0]["epochs"] == 123
    assert rows[0]["test_accuracy"] == pytest.approx(0.97)
    assert rows[2]["epochs"] is None and rows[2]["parameters"] is None
    assert rows[0]["error"] is None and rows[3]["error"] == "ValueError: broken"
    ax = compare.plot_accuracy_against_cost(rows)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "prune", "svm", "prune at RandomSearch's wall time"]
    assert compare.aggregate(rows)["prune"]["runs"] == 2  # a row without budget: trials
    assert compare.aggregate(rows, "wall")["prune"]["candidates"] == 50
    means = [c for c in ax.collections if c.get_label() == "prune"]
    assert means[0].get_offsets().tolist() == [[pytest.approx(28.6), pytest.approx(0.975)]]


def test_a_failed_run_is_reported_and_the_comparison_goes_on(tmp_path, monkeypatch):
    run_classic = compare.run_classifier

    def knn_breaks(method, splits, seed):  # injected fault: one method fails
        if method == "knn":
            raise RuntimeError("injected failure")
        return run_classic(method, splits, seed)

    monkeypatch.setattr(compare, "run_classifier", knn_breaks)
    report = compare.compare(
        "wine", seeds=[0, 1], methods=["knn", "logistic_regression"],
        output=str(tmp_path), progress=None,
    )
    rows = compare.read_results(report.files["results"])
    assert [(r["method"], r["seed"], r["error"]) for r in rows] == [
        ("knn", 0, "RuntimeError: injected failure"),
        ("logistic_regression", 0, None),
        ("knn", 1, "RuntimeError: injected failure"),
        ("logistic_regression", 1, None),
    ]
    assert all(r["test_accuracy"] > 0.8 for r in rows if not r["error"])
    assert "| knn | failed in every run |" in report.markdown
    assert "- knn, seed 1: RuntimeError: injected failure" in report.markdown
    summary = compare.aggregate(rows)
    assert summary["knn"]["runs"] == 0 and summary["knn"]["failed"] == 2
    assert summary["logistic_regression"]["runs"] == 2


@pytest.mark.slow
def test_equal_wall_runs_each_grown_search_at_randomsearchs_wall_time(tmp_path):
    settings = compare.Settings(trials=6, epochs=3, min_survivors=3, patience=5)
    report = compare.compare(
        "wine", seeds=[1], methods=["prune", "hyperband", "random"], output=str(tmp_path),
        settings=settings, progress=None, fresh_process=False, equal_wall=True,
    )
    rows = compare.read_results(report.files["results"])
    # RandomSearch first, then the equal-trials runs, then the grown ones.
    assert [(r["method"], r["budget"]) for r in rows] == [
        ("random", "trials"), ("prune", "trials"), ("hyperband", "trials"),
        ("prune", "wall"), ("hyperband", "wall"),
    ]
    assert all(r["error"] is None for r in rows)
    by = {(r["method"], r["budget"]): r for r in rows}
    assert all(r["cpu_seconds"] > 0 for r in rows)
    grown = compare.settings_for_wall(
        "prune", settings, by["prune", "trials"]["cpu_seconds"],
        by["random", "trials"]["cpu_seconds"])
    assert by["prune", "wall"]["sizing_runs"] in (1, 2)
    if by["prune", "wall"]["sizing_runs"] == 1:
        assert by["prune", "wall"]["candidates"] == grown.trials
    assert by["prune", "wall"]["candidates"] >= 6
    assert "**At RandomSearch's wall time**" in report.markdown
    assert "| prune | " in report.markdown.split("**At RandomSearch's wall time**")[1]
    assert "minus RandomSearch on the same seed" in report.markdown
