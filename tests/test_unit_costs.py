"""UnitCosts (what a unit of work costs, per candidate) and worth_moving."""

import pytest

from keras_prune_nas.unit_costs import UnitCosts
from keras_prune_nas.unit_costs import worth_moving


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def timed_unit(costs, clock, trial_id, epochs_done, epochs, seconds, builds):
    costs.start(trial_id, epochs_done, builds)
    clock.now += seconds
    costs.end(trial_id, epochs_done + epochs)


def test_an_epoch_and_a_build_are_told_apart():
    clock = Clock()
    costs = UnitCosts(clock)
    assert costs.epoch_seconds("0") is None and costs.build_seconds("0") is None
    timed_unit(costs, clock, "0", 0, 1, 3.0, builds=True)   # built, one epoch
    assert costs.epoch_seconds("0") == pytest.approx(3.0)  # no better estimate yet
    assert costs.build_seconds("0") is None
    timed_unit(costs, clock, "0", 1, 2, 1.0, builds=False)  # live: two epochs
    assert costs.epoch_seconds("0") == pytest.approx(0.5)
    assert costs.build_seconds("0") == pytest.approx(2.5)


def test_candidates_not_yet_measured_get_the_typical_build():
    clock = Clock()
    costs = UnitCosts(clock)
    for trial_id, build in (("0", 1.0), ("1", 2.0), ("2", 9.0)):
        timed_unit(costs, clock, trial_id, 0, 1, build + 0.5, builds=True)
        timed_unit(costs, clock, trial_id, 1, 1, 0.5, builds=False)
    assert costs.typical_build_seconds() == pytest.approx(2.0)  # the median
    timed_unit(costs, clock, "3", 0, 1, 2.8, builds=True)
    assert costs.build_seconds("3") == pytest.approx(2.0)
    assert costs.epoch_seconds("3") == pytest.approx(0.8)  # 2.8 - 2.0
    # Never below a tenth of the unit when the build was atypically cheap.
    timed_unit(costs, clock, "4", 0, 1, 1.0, builds=True)
    assert costs.epoch_seconds("4") == pytest.approx(0.1)


def test_an_unfinished_unit_measures_nothing():
    clock = Clock()
    costs = UnitCosts(clock)
    costs.start("0", 0, builds=True)
    clock.now += 50.0
    costs.cancel("0")
    costs.end("0", 1)  # a late report of the cancelled unit
    assert costs.epoch_seconds("0") is None
    timed_unit(costs, clock, "0", 2, 0, 5.0, builds=False)  # no epoch trained
    assert costs.epoch_seconds("0") is None


@pytest.mark.parametrize(
    "moved, rebuild, remaining, expected",
    [
        (1.0, 0.5, 3.0, True),    # done at 1.5 s instead of 3 s
        (1.0, 2.0, 3.0, False),   # 3 s either way: no point rebuilding
        (1.0, 5.0, 3.0, False),
        (None, 5.0, 3.0, True),   # unknown: do not leave work waiting
        (1.0, None, 3.0, True),
        (1.0, 0.5, None, True),
    ],
)
def test_worth_moving(moved, rebuild, remaining, expected):
    assert worth_moving(moved, rebuild, remaining) is expected
