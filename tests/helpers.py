"""Shared helpers of the tests: a small model, and a worker that plays
synthetic curves to an oracle (no Keras training).

Fixtures are in `conftest.py`; these are plain functions, imported.
"""

import keras
import keras_tuner as kt
from keras_tuner.engine import trial as trial_module

from keras_prune_nas import PruneOracle

TrialStatus = trial_module.TrialStatus


def nan_loss(y_true, y_pred):
    """A loss that diverges at once."""
    return keras.ops.mean(y_pred) * float("nan")


def build_mlp(hp, explode=False):
    seed = hp.Int("init_seed", 0, 10_000)
    initializer = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                hp.Int("units", 4, 64, sampling="log"), activation="relu",
                kernel_initializer=initializer,
            ),
            keras.layers.Dense(
                10, activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 3e-2, sampling="log")),
        loss=nan_loss if explode else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_oracle(tmp_path, max_trials=50, epochs=20, **kwargs):
    hp = kt.HyperParameters()
    hp.Int("quality", 0, 1_000_000)
    kwargs.setdefault("seed", 7)
    oracle = PruneOracle(
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=max_trials,
        hyperparameters=hp,
        **kwargs,
    )
    oracle._set_project_dir(str(tmp_path), "project")
    oracle.set_epochs(epochs)
    return oracle


def rising_curve(trial, epoch):
    """Better candidates are better at every epoch; all keep improving."""
    quality = trial.hyperparameters.get("quality") / 1_000_000
    return quality * (1 - 0.5 ** (epoch + 1))


def run_unit(oracle, tuner_id="tuner0", curve=rising_curve, fail=None, parameters=None,
             allow_idle=False):
    """Plays one unit of work. Returns the trial, or None when the search ended.

    `parameters(trial)`, if given, is reported as the model's parameter count.
    With `allow_idle`, an IDLE answer (wait at the barrier) is returned as is.
    """
    trial = oracle.create_trial(tuner_id)
    if trial.status == TrialStatus.STOPPED:
        return None
    if allow_idle and trial.status == TrialStatus.IDLE:
        return trial
    assert trial.status == TrialStatus.RUNNING
    if fail is not None and fail(trial):
        trial.status = TrialStatus.FAILED
        trial.message = "boom"
        oracle.end_trial(trial)
        return trial
    epoch = culling_start(oracle, trial)
    while True:
        value = curve(trial, epoch)
        metrics = {"val_accuracy": value, "loss": 1 - value}
        if parameters is not None:
            metrics["num_parameters"] = parameters(trial)
        answer = oracle.update_trial(trial.trial_id, metrics, step=epoch)
        epoch += 1
        if answer.status != TrialStatus.RUNNING or epoch >= oracle.epochs:
            break
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    return trial


def culling_start(oracle, trial):
    return len(oracle.curve(trial.trial_id))


def run_search(oracle, **kwargs):
    units = 0
    while run_unit(oracle, **kwargs) is not None:
        units += 1
        assert units < 10_000, "the oracle never stopped"
    return units


def statuses(oracle):
    counts = {}
    for trial in oracle.trials.values():
        counts[trial.status] = counts.get(trial.status, 0) + 1
    return counts
