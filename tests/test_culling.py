import math

import pytest

from keras_prune_nas import culling


@pytest.mark.parametrize(
    "population, cull_fraction, min_survivors, expected",
    [
        (50, 0.15, 10, [50, 43, 37, 32, 28, 24, 21, 18, 16, 14, 12, 11, 10]),
        (20, 0.15, 10, [20, 17, 15, 13, 12, 11, 10]),
        (11, 0.15, 10, [11, 10]),
        (10, 0.15, 10, [10]),
        (3, 0.15, 10, [3]),
        (3, 0.15, 1, [3, 2, 1]),
        (100, 0.5, 10, [100, 50, 25, 13, 10]),
        (40, 0.25, 5, [40, 30, 23, 18, 14, 11, 9, 7, 6, 5]),
        # 0.15 * 20 is 2.9999999999999996 in floating point: still 3.
        (20, 0.15, 1, [20, 17, 15, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ],
)
def test_cull_schedule(population, cull_fraction, min_survivors, expected):
    assert culling.cull_schedule(population, cull_fraction, min_survivors) == expected


@pytest.mark.parametrize(
    "alive, expected",
    [(50, 7), (43, 6), (37, 5), (32, 4), (20, 3), (12, 1), (11, 1), (10, 0), (2, 0)],
)
def test_cull_count_default_rule(alive, expected):
    assert culling.cull_count(alive, 0.15, 10) == expected


@pytest.mark.parametrize(
    "population, grace_rounds, expected",
    [
        (50, 3, [50, 50, 50, 32, 28, 24, 21, 18, 16, 14, 12, 11, 10]),
        (30, 2, [30, 30, 23, 20, 17, 15, 13, 12, 11, 10]),
        # The grace outlasts the schedule: one cull, straight to the finalists.
        (12, 4, [12, 12, 12, 12, 10]),
        (10, 4, [10]),
    ],
)
def test_cull_schedule_with_grace_keeps_everyone_then_catches_up(
        population, grace_rounds, expected):
    assert culling.cull_schedule(population, 0.15, 10, grace_rounds) == expected


def test_cull_count_after_round_follows_the_schedule_with_grace():
    sizes = culling.cull_schedule(30, 0.15, 10, grace_rounds=3)
    alive = 30
    for round_index in range(len(sizes) - 1):
        count = culling.cull_count_after_round(alive, round_index, 30, 0.15, 10, 3)
        assert alive - count == sizes[round_index + 1]
        alive -= count
    assert alive == 10


def test_cull_count_after_round_never_culls_fewer_than_usual_after_failures():
    # Failures left 20 of 30 by the first cull: the usual 3 go (the schedule's
    # target, 20, is already reached).
    assert culling.cull_count_after_round(20, 2, 30, 0.15, 10, 3) == 3
    assert culling.cull_count_after_round(20, 1, 30, 0.15, 10, 3) == 0
    assert culling.cull_count_after_round(11, 2, 30, 0.15, 10, 3) == 1


@pytest.mark.parametrize("grace_epochs, epochs_per_round, expected",
                         [(1, 1, 1), (4, 1, 4), (4, 2, 2), (5, 2, 3), (1, 3, 1)])
def test_grace_rounds(grace_epochs, epochs_per_round, expected):
    assert culling.grace_rounds(grace_epochs, epochs_per_round) == expected


def test_planned_epochs_counts_the_grace_rounds():
    assert culling.planned_epochs(30, 15, grace_epochs=3)["total"] == (
        30 * 3 + 20 + 17 + 15 + 13 + 12 + 11 + 10 * 6
    )


def test_cull_count_never_goes_below_min_survivors():
    assert culling.cull_count(12, 0.5, 10) == 2
    assert culling.cull_count(11, 0.9, 10) == 1


def test_rank_puts_unusable_scores_last_and_keeps_ties_in_order():
    scores = {"a": 0.5, "b": None, "c": 0.9, "d": float("nan"), "e": 0.5}
    assert culling.rank(scores, "max") == ["c", "a", "e", "b", "d"]
    assert culling.rank(scores, "min") == ["a", "e", "c", "b", "d"]


def test_select_culled_returns_the_worst_with_their_rank():
    scores = {f"t{i}": float(i) for i in range(20)}  # t19 is best for "max"
    culled = culling.select_culled(scores, 0.15, 10, "max")
    assert culled == [("t0", 20), ("t1", 19), ("t2", 18)]
    culled = culling.select_culled(scores, 0.15, 10, "min")
    assert culled == [("t19", 20), ("t18", 19), ("t17", 18)]


def test_select_culled_culls_diverged_first():
    scores = {"good": 0.9, "bad": 0.1, "nan": None, "ok": 0.5}
    assert culling.select_culled(scores, 0.25, 1, "max") == [("nan", 4)]


@pytest.mark.parametrize(
    "curve, direction, rank_by, expected",
    [
        ([0.5, 0.7, 0.6], "max", "best", 0.7),
        ([0.5, 0.7, 0.6], "max", "last", 0.6),
        ([0.9, 0.4, 0.6], "min", "best", 0.4),
        ([0.5, float("nan")], "max", "best", None),
        ([0.5, float("inf")], "min", "best", None),
        ([float("nan"), 0.5], "max", "best", 0.5),
        ([], "max", "best", None),
    ],
)
def test_curve_score(curve, direction, rank_by, expected):
    assert culling.curve_score(curve, direction, rank_by) == expected


@pytest.mark.parametrize(
    "curve, patience, expected",
    [
        ([0.1, 0.2, 0.3], 2, False),
        ([0.3, 0.2, 0.2], 2, True),
        ([0.3, 0.2, 0.2], 3, False),
        ([0.3, 0.2, 0.2], None, False),
        ([0.3, 0.3], 1, True),  # equal is no improvement, as in EarlyStopping
    ],
)
def test_should_stop_early(curve, patience, expected):
    assert culling.should_stop_early(curve, "max", patience) is expected


def test_round_end_epoch_is_capped_by_epochs():
    assert [culling.round_end_epoch(r, 2, 5) for r in range(4)] == [2, 4, 5, 5]


def test_planned_epochs_default_digits_setting():
    plan = culling.planned_epochs(50, 20)
    assert plan == {
        "culling": 306, "finalists": 80, "total": 386, "random_search": 1000,
    }


def test_planned_epochs_when_epochs_run_out_first():
    plan = culling.planned_epochs(50, 3)
    assert plan["finalists"] == 0
    assert plan["total"] == 50 + 43 + 37


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cull_fraction": 0}, "strictly between 0 and 1"),
        ({"cull_fraction": 1}, "strictly between 0 and 1"),
        ({"cull_fraction": -0.2}, "strictly between 0 and 1"),
        ({"cull_fraction": math.nan}, "strictly between 0 and 1"),
        ({"cull_fraction": "0.15"}, "must be a number"),
        ({"min_survivors": 0}, "min_survivors"),
        ({"min_survivors": 2.5}, "min_survivors"),
        ({"epochs_per_round": 0}, "epochs_per_round"),
        ({"grace_epochs": 0}, "grace_epochs"),
        ({"grace_epochs": 1.5}, "grace_epochs"),
    ],
)
def test_validate_cull_parameters(kwargs, message):
    arguments = {"cull_fraction": 0.15, "min_survivors": 10, "epochs_per_round": 1}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        culling.validate_cull_parameters(**arguments)


def test_best_first_puts_completed_candidates_first_each_part_by_score():
    scores = {"a": 0.9, "b": 0.5, "c": None, "d": 0.7, "e": 0.95}
    # "e" scores best but did not complete; unusable scores last in each part.
    assert culling.best_first(scores, {"b", "c", "d"}, "max") == ["d", "b", "c", "e", "a"]
    assert culling.best_first(scores, {"a", "b"}, "min") == ["b", "a", "d", "e", "c"]
    assert culling.best_first({}, set(), "max") == []
