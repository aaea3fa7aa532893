"""keras_prune_nas.analysis: rank correlation and replays of the rules."""

import os

import numpy as np
import pytest
from scipy import stats

from keras_prune_nas import analysis

from helpers import make_oracle
from helpers import run_search

LCBENCH = os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "lcbench"
)


def synthetic_curves(count=40, epochs=12, seed=0):
    """Saturating curves with crossing ranks and a little noise."""
    rng = np.random.default_rng(seed)
    ceiling = rng.uniform(0.5, 0.95, count)
    speed = rng.uniform(0.5, 6.0, count)
    steps = np.arange(1, epochs + 1)
    curves = ceiling[:, None] * (1 - np.exp(-steps[None, :] / speed[:, None]))
    return curves + rng.normal(0, 0.01, curves.shape)


# ----------------------------------------------------------------------
# rank_correlation
# ----------------------------------------------------------------------
def test_rank_correlation_matches_scipy_on_best_so_far_scores():
    curves = synthetic_curves()
    result = analysis.rank_correlation(curves)
    best_so_far = np.maximum.accumulate(curves, axis=1)
    for epoch in (0, 3, 11):
        assert result.spearman[epoch] == pytest.approx(
            stats.spearmanr(best_so_far[:, epoch], best_so_far[:, -1]).statistic
        )
        assert result.kendall[epoch] == pytest.approx(
            stats.kendalltau(best_so_far[:, epoch], best_so_far[:, -1]).statistic
        )
    assert result.spearman[-1] == pytest.approx(1.0)
    assert list(result.epochs) == list(range(1, 13))


def test_rank_correlation_sees_a_ranking_that_flips():
    curves = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    result = analysis.rank_correlation(curves, rank_by="last")
    assert result.spearman[0] == pytest.approx(-1.0)
    assert result.kendall[0] == pytest.approx(-1.0)


def test_rank_correlation_for_a_loss_and_with_a_diverged_candidate():
    curves = np.array(
        [[0.9, 0.5], [0.8, 0.4], [0.7, 0.3], [0.6, np.nan], [0.5, 0.1]]
    )
    result = analysis.rank_correlation(curves, direction="min", rank_by="last")
    # The NaN candidate is left out of the epoch-2 figures.
    assert result.spearman[1] == pytest.approx(1.0)
    assert result.spearman[0] == pytest.approx(1.0)


def test_rank_correlation_plot(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = analysis.plot_rank_correlation(analysis.rank_correlation(synthetic_curves()))
    path = tmp_path / "rank.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 1000
    assert [line.get_label() for line in ax.get_lines()][:2] == ["Spearman", "Kendall"]



def test_learning_curves_plot_greys_out_culled_candidates():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    rows = [
        {"trial_id": "00", "status": "STOPPED", "epoch": 0, "val_accuracy": 0.2},
        {"trial_id": "01", "status": "COMPLETED", "epoch": 0, "val_accuracy": 0.5},
        {"trial_id": "01", "status": "COMPLETED", "epoch": 1, "val_accuracy": 0.7},
        {"trial_id": "01", "status": "COMPLETED", "epoch": 2, "loss": 0.1},
    ]
    ax = analysis.plot_learning_curves(rows)
    culled, finalist = ax.get_lines()
    assert list(culled.get_xdata()) == [1] and culled.get_color() == "0.75"
    assert list(finalist.get_xdata()) == [1, 2] and list(finalist.get_ydata()) == [0.5, 0.7]
    # One cull mark, at the culled candidate's last epoch.
    (marks,) = ax.collections
    assert marks.get_offsets().tolist() == [[1.0, 0.2]]


# ----------------------------------------------------------------------
# replay
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        dict(cull_fraction=0.15, min_survivors=5, patience=3),
        dict(cull_fraction=0.3, min_survivors=4, patience=None, epochs_per_round=2),
        dict(cull_fraction=0.05, min_survivors=10, patience=2, rank_by="last"),
        dict(cull_fraction=0.5, min_survivors=2, patience=5),
        dict(cull_fraction=0.3, min_survivors=4, patience=3, grace_epochs=3),
        dict(cull_fraction=0.3, min_survivors=4, patience=None, epochs_per_round=2,
             grace_epochs=3),
    ],
)
def test_prune_replay_makes_the_oracles_decisions(tmp_path, options):
    """A real PruneOracle fed the same curves trains and picks the same."""
    curves = synthetic_curves(seed=3)
    count, epochs = curves.shape
    oracle = make_oracle(tmp_path, max_trials=count, epochs=epochs, **options)

    def recorded(trial, epoch):
        return float(curves[oracle.start_order.index(trial.trial_id), epoch])

    run_search(oracle, curve=recorded)
    trained = [len(oracle.curve(trial_id)) for trial_id in oracle.start_order]
    chosen = oracle.start_order.index(oracle.get_best_trials(1)[0].trial_id)

    result = analysis.replay(curves, **options)
    assert list(result.trained) == trained
    assert result.chosen == chosen
    assert result.epochs == sum(trained) == oracle.epochs_trained()
    assert result.full_epochs == count * epochs


def test_prune_replay_regret_and_cost_on_a_known_case():
    # Candidate 1 starts slowly but ends best; a 50% cull after epoch 1
    # removes it, so the pick is candidate 0 with a regret of 0.2.
    curves = np.array([
        [0.5, 0.6, 0.7],
        [0.1, 0.8, 0.9],
        [0.4, 0.5, 0.6],
        [0.2, 0.3, 0.4],
    ])
    result = analysis.replay(curves, cull_fraction=0.5, min_survivors=2, patience=None)
    assert result.chosen == 0
    assert list(result.trained) == [3, 1, 3, 1]
    assert result.value == pytest.approx(0.7)
    assert result.best_value == pytest.approx(0.9)
    assert result.regret == pytest.approx(0.2)
    assert result.share == pytest.approx(8 / 12)
    # With two epochs of grace it is still there when it overtakes.
    graced = analysis.replay(curves, cull_fraction=0.5, min_survivors=2, patience=None,
                             grace_epochs=2)
    assert graced.chosen == 1 and graced.regret == 0
    assert list(graced.trained) == [3, 3, 2, 2]


def test_replay_policy_runs_any_policy_as_replay_runs_its_own():
    from keras_prune_nas.engine import CullPolicy
    from keras_prune_nas.engine import RoundPolicy

    curves = synthetic_curves(seed=5)
    own = analysis.replay(curves, cull_fraction=0.3, min_survivors=4, grace_epochs=2)
    policy = analysis.replay_policy(curves, CullPolicy(0.3, 4, grace_rounds=2))
    assert policy.chosen == own.chosen and list(policy.trained) == list(own.trained)
    everyone = analysis.replay_policy(curves, RoundPolicy(), patience=None)
    assert everyone.epochs == everyone.full_epochs and everyone.regret == 0


def test_complexity_penalty_in_the_replay_changes_the_pick():
    curves = np.array([[0.80, 0.90], [0.79, 0.89], [0.1, 0.1]])
    parameters = [1_000_000, 1_000]
    plain = analysis.replay(
        curves, cull_fraction=0.34, min_survivors=2, patience=None
    )
    assert plain.chosen == 0
    penalized = analysis.replay(
        curves, cull_fraction=0.34, min_survivors=2, patience=None,
        parameters=parameters + [10], complexity_penalty=0.01,
    )
    # 0.90 - 0.06 = 0.84 against 0.89 - 0.03 = 0.86.
    assert penalized.chosen == 1
    assert penalized.regret == pytest.approx(0.01)


def test_secretary_replay_accepts_the_first_that_beats_the_observed():
    # 10 candidates: floor(10 / e) = 3 observed (best 0.5); candidate 4 is
    # the first later one above 0.5.
    probe = [0.3, 0.5, 0.2, 0.4, 0.6, 0.9, 0.1, 0.2, 0.3, 0.4]
    curves = np.array([[p, p + 0.01, p + 0.02] for p in probe])
    result = analysis.replay(curves, rule="secretary", probe_epochs=1, patience=None)
    assert result.chosen == 4
    assert list(result.trained) == [1, 1, 1, 1, 3, 0, 0, 0, 0, 0]
    assert result.regret == pytest.approx(0.3)


def test_secretary_replay_takes_the_last_when_none_beats_the_observed():
    probe = [0.9, 0.5, 0.2, 0.4, 0.6]
    curves = np.array([[p, p] for p in probe])
    result = analysis.replay(curves, rule="secretary", probe_epochs=1, patience=None)
    assert result.chosen == 4
    assert list(result.trained) == [1, 1, 1, 1, 2]


def test_successive_halving_rungs_and_replay():
    assert analysis.successive_halving_rungs(27, 27) == [(27, 1), (9, 3), (3, 9), (1, 27)]
    assert analysis.successive_halving_rungs(10, 5, eta=3) == [(10, 2), (3, 5)]
    curves = synthetic_curves(count=27, epochs=27, seed=1)
    result = analysis.replay(curves, rule="successive_halving", eta=3)
    assert result.epochs == 27 * 1 + 9 * 2 + 3 * 6 + 1 * 18
    assert sorted(result.trained)[-1] == 27


def test_replay_of_a_search_csv_refuses_epochs_never_recorded(tmp_path):
    path = tmp_path / "curves.csv"
    path.write_text(
        "trial_id,status,epoch,val_accuracy\n"
        "0,COMPLETED,0,0.5\n0,COMPLETED,1,0.7\n"
        "1,STOPPED,0,0.2\n"
        "2,COMPLETED,0,0.6\n2,COMPLETED,1,0.65\n"
    )
    curves = analysis.load_curves(path)
    assert curves.shape == (3, 2)
    assert np.ma.getmaskarray(curves).tolist() == [
        [False, False], [False, True], [False, False]
    ]
    # Replaying the cull the search made works ...
    result = analysis.replay(curves, cull_fraction=0.34, min_survivors=2, patience=None)
    assert result.chosen == 0
    # ... one that needs the culled candidate's second epoch does not.
    with pytest.raises(ValueError, match="epoch 2 of candidate 1, which was never recorded"):
        analysis.replay(curves, cull_fraction=0.2, min_survivors=3, patience=None)
    with pytest.raises(ValueError, match="no column 'accuracy'"):
        analysis.load_curves(path, objective="accuracy")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rule="hyperband"), "`rule` must be one of"),
        (dict(direction="up"), "`direction` must be 'max' or 'min'"),
        (dict(cull_fraction=1.5), "`cull_fraction` must be a number strictly between 0 and 1"),
        (dict(rule="secretary", probe_epochs=0), "`probe_epochs` must be an integer >= 1"),
        (dict(rule="successive_halving", eta=1), "`eta` must be an integer >= 2"),
        (dict(complexity_penalty=0.1), "`complexity_penalty` needs `parameters`"),
        (dict(complexity_penalty=-1), "`complexity_penalty` must be a finite number >= 0"),
        (dict(grace_epochs=0), "`grace_epochs` must be an integer >= 1"),
    ],
)
def test_replay_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        analysis.replay(synthetic_curves(count=5, epochs=3), **kwargs)


def test_replay_rejects_curves_that_are_not_a_table():
    with pytest.raises(ValueError, match="2-D array of candidates x epochs"):
        analysis.replay([0.1, 0.2])


@pytest.mark.skipif(
    not os.path.isdir(LCBENCH), reason="needs the shared LCBench tables (../shared/data/lcbench)"
)
def test_lcbench_benchmark_runs_on_every_table(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "replay_lcbench",
        os.path.join(os.path.dirname(__file__), "..", "benchmarks", "replay_lcbench.py"),
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--data", LCBENCH, "--candidates", "60"]) == 0
    output = capsys.readouterr().out
    assert "| prune cull_fraction=0.15 |" in output
    assert "| successive halving eta=3 |" in output


def test_load_lcbench_drops_the_untrained_column(tmp_path):
    untrained = np.array([[90.0], [10.0]])  # ranks opposite to the trained ones
    trained = np.array([[20.0, 30.0], [60.0, 70.0]])
    path = tmp_path / "lcbench_1.npz"
    np.savez(path, val_accuracy=np.hstack([untrained, trained]).astype("float32"))
    curves = analysis.load_lcbench(path)
    assert curves.shape == (2, 2)
    np.testing.assert_allclose(curves, trained / 100.0, rtol=1e-6)
    with pytest.raises(ValueError, match="no array 'val_loss'"):
        analysis.load_lcbench(path, metric="val_loss")
