"""Batch-size schedule: which batch size and learning rate every round gets."""

import csv
import math

import keras
import pytest

import keras_prune_nas as kpn
from keras_prune_nas import culling
from keras_prune_nas import schedules

from helpers import build_mlp


def test_geometric_batch_sizes():
    assert schedules.geometric_batch_sizes(256, 32, 4) == [256, 128, 64, 32]
    assert schedules.geometric_batch_sizes(256, 32, 1) == [32]
    assert schedules.geometric_batch_sizes(32, 256, 2) == [32, 256]


def test_rounds_and_their_batch_sizes():
    schedule = [256, 128, 64]
    # 5 culls, 2 epochs per round: epochs 0-1 are round 0, ... 10+ finalists.
    rounds = [schedules.round_of_epoch(e, 2, 5) for e in range(12)]
    assert rounds == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    sizes = [schedules.batch_size_for_round(schedule, r, 5) for r in range(6)]
    assert sizes == [256, 128, 64, 64, 64, 64]
    # The finalists take the last entry even when the schedule is longer.
    assert schedules.batch_size_for_round([256, 128, 64, 32], 2, 2) == 32


@pytest.mark.parametrize(
    "rule, expected",
    [("linear", 0.008), ("sqrt", 0.001 * math.sqrt(8)), (None, 0.001)],
)
def test_scaled_learning_rate(rule, expected):
    assert schedules.scaled_learning_rate(0.001, 256, 32, rule) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size_schedule=[]), "must be a non-empty list of integers >= 1"),
        (dict(batch_size_schedule=[64, 0]), "must be a non-empty list of integers >= 1"),
        (dict(batch_size_schedule=[64, 32.5]), r"Received: batch_size_schedule=\[64, 32.5\]"),
        (dict(batch_size_schedule=64), "must be a non-empty list of integers >= 1"),
        (dict(batch_size_schedule="256,32"), "must be a non-empty list of integers >= 1"),
        (dict(batch_size_schedule=[64], learning_rate_scaling="cubic"),
         "`learning_rate_scaling` must be 'linear', 'sqrt' or None"),
    ],
)
def test_bad_schedules_are_rejected_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kpn.PruneSearch(build_mlp, objective="val_accuracy", **kwargs)


class StepCounter(keras.callbacks.Callback):
    """Records (epoch, steps trained in it, learning rate) of every epoch."""

    seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        StepCounter.seen.append((epoch, self.steps, rate))


@pytest.mark.parametrize(
    "rule, max_live_models",
    [("linear", 256), ("sqrt", 256), ("linear", 0)],
    ids=["linear", "sqrt", "linear-reloaded-from-checkpoints"],
)
def test_every_round_trains_with_its_batch_size_and_learning_rate(
    digits, tmp_path, rule, max_live_models  # noqa: F811
):
    x, y, xv, yv = digits
    # 6 candidates culled by 30% to 3: rounds [6, 5, 4, 3], 3 culls.
    assert culling.cull_schedule(6, 0.3, 3) == [6, 5, 4, 3]
    schedule = [256, 128, 64, 32]
    StepCounter.seen = []
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=6, cull_fraction=0.3,
        min_survivors=3, patience=None, seed=4, directory=tmp_path,
        batch_size_schedule=schedule, learning_rate_scaling=rule,
        max_live_models=max_live_models,
    )
    tuner.search(
        x, y, epochs=5, batch_size=32, validation_data=(xv, yv), verbose=0,
        callbacks=[StepCounter()],
    )
    # Rounds 0-2 take entries 0-2; the finalists (epochs 3+) the last one.
    expected_size = {0: 256, 1: 128, 2: 64, 3: 32, 4: 32}
    factor = {256: 8.0, 128: 4.0, 64: 2.0, 32: 1.0}
    scale = (lambda f: f) if rule == "linear" else math.sqrt

    with open(tuner.write_curves()) as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == tuner.oracle.epochs_trained() == 6 + 5 + 4 + 3 * 2
    # Without live models every later unit starts from a checkpoint.
    assert tuner.checkpoint_resumes == (5 + 4 + 3 if max_live_models == 0 else 0)
    for row in rows:
        epoch = int(row["epoch"])
        base = tuner.oracle.get_trial(row["trial_id"]).hyperparameters.get("lr")
        size = expected_size[epoch]
        assert float(row["batch_size"]) == size
        assert float(row["learning_rate"]) == pytest.approx(
            base * scale(factor[size]), rel=1e-5
        )
    # `fit` really ran those batch sizes: 480 samples -> ceil(480 / size) steps.
    assert len(StepCounter.seen) == len(rows)
    for epoch, steps, _ in StepCounter.seen:
        assert steps == math.ceil(480 / expected_size[epoch])


def test_secretary_search_probes_with_the_first_batch_size(digits, tmp_path):  # noqa: F811
    """The secretary rule's one round is its probe: entry 0, then the last."""
    x, y, xv, yv = digits
    StepCounter.seen = []
    tuner = kpn.SecretarySearch(
        build_mlp, objective="val_accuracy", max_trials=4, probe_epochs=2,
        patience=None, seed=4, directory=tmp_path,
        batch_size_schedule=[240, 120, 60], learning_rate_scaling=None,
    )
    assert tuner.plan.rounds == 1
    tuner.search(
        x, y, epochs=4, batch_size=32, validation_data=(xv, yv), verbose=0,
        callbacks=[StepCounter()],
    )
    with open(tuner.write_curves()) as stream:
        rows = list(csv.DictReader(stream))
    accepted = tuner.oracle.accepted
    assert accepted is not None
    for row in rows:
        probing = int(row["epoch"]) < 2
        assert float(row["batch_size"]) == (240 if probing else 60), row
    # The accepted candidate trained on after its probe, with the last size.
    assert sum(1 for row in rows if row["trial_id"] == accepted) == 4
    assert [steps for epoch, steps, _ in StepCounter.seen if epoch >= 2] == [8, 8]
