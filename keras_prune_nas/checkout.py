"""Checking a candidate's model out for its next unit of work.

The live model if this process holds it, else the newest checkpoint at or
before the last epoch the oracle heard of (rebuilt, with its optimizer
state), else a fresh model at epoch 0. Checkpoints of reports the oracle
never saved are dropped on the way.
"""

import os

from keras_tuner import errors
from keras_tuner.src.backend import keras
from keras_tuner.src.engine import tuner as tuner_module

from keras_prune_nas import checks
from keras_prune_nas import files
from keras_prune_nas.callbacks import ContinuingCallbacks
from keras_prune_nas.live_models import LiveModel
from keras_prune_nas.retention import best_epochs


def constant_learning_rate(model):
    """The optimizer's learning rate if it is a constant, else None."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    # A schedule is serialized as a dict, a constant as a number.
    rate = optimizer.get_config().get("learning_rate")
    return float(rate) if checks.is_number(rate) else None


def build_checked_model(build_hypermodel, hp, max_model_size=None):
    """A new model of the candidate with hyperparameters `hp`.

    As `keras_tuner.Tuner` builds it (the size check included), but without
    `clear_session()`, which would cost a garbage collection per candidate,
    and with the optimizer built up front.
    """
    model = build_hypermodel(hp)
    if not isinstance(model, keras.Model):
        raise errors.FatalTypeError(
            "Expected the model-building function, or HyperModel.build() "
            "to return a valid Keras Model instance. "
            f"Received: {model} of type {type(model)}."
        )
    size = tuner_module.maybe_compute_model_size(model)
    if max_model_size and size > max_model_size:
        raise errors.FailedTrialError(
            f"Oversized model: {size} parameters (max_model_size="
            f"{max_model_size}). Skip model."
        )
    optimizer = getattr(model, "optimizer", None)
    if model.built and optimizer is not None and not optimizer.built:
        # Built inside the first traced train step instead, the optimizer
        # makes TensorFlow trace that step twice: ~0.3 s per candidate.
        optimizer.build(model.trainable_variables)
    return model


def load_best_model(checkpoints, build, trial, objective_name):
    """A fresh model of `trial` with the weights of its best epoch."""
    epochs = best_epochs(trial, objective_name)
    path = epochs and checkpoints.path(trial.trial_id, 0, epochs)
    if not path or not os.path.exists(path):
        raise FileNotFoundError(
            f"Trial {trial.trial_id} has no checkpoint of its best epoch "
            f"({path or 'it reported no epoch'}): it failed before "
            "finishing an epoch, or its files were removed."
        )
    model = build(trial.hyperparameters)
    checkpoints.load(trial.trial_id, model, epochs)
    return model


class ModelCheckout:
    """Hands a worker the model of a candidate at the right epoch.

    Args:
        live_models: The worker's `LiveModelCache`.
        checkpoints: The worker's `CheckpointStore`.
        build: `build(hp) -> model`: a new compiled model.
        new_callbacks: `new_callbacks(trial, execution) -> list`: fresh
            copies of the user's callbacks for a new run.
        trial_dir: `trial_dir(trial_id) -> path`.
    """

    def __init__(self, live_models, checkpoints, build, new_callbacks, trial_dir):
        self.live_models = live_models
        self.checkpoints = checkpoints
        self.build = build
        self.new_callbacks = new_callbacks
        self.trial_dir = trial_dir

    def check_out(self, trial, execution, reported):
        """The candidate's model at its newest epoch the oracle has heard of.

        Returns:
            `(live, rebuilt_from_checkpoint)`.
        """
        trial_id = trial.trial_id
        key = (trial_id, execution)
        self.checkpoints.settle(trial_id, reported)
        saved = self.checkpoints.epochs_saved(trial_id, execution)
        for epochs in [n for n in saved if n > reported]:
            # Of a report the oracle never saved.
            self.checkpoints.discard(saved.pop(epochs))
        live = self.live_models.get(key)
        in_memory = live is not None and live.model is not None and live.epoch <= reported
        resume = max(list(saved) + ([live.epoch] if in_memory else []), default=0)
        if live is not None and not (in_memory and live.epoch == resume):
            if resume == 0:
                # Starts over: the callbacks see a new run.
                self.live_models.discard(key)
                live = None
            else:
                self.live_models.drop(key)
        if live is None:
            live = LiveModel(ContinuingCallbacks(self.new_callbacks(trial, execution)))
            self.live_models.add(key, live)
        rebuilt = False
        if live.model is None:
            live.model = self.build(trial.hyperparameters)
            live.base_learning_rate = constant_learning_rate(live.model)
            live.epoch = resume
            if resume:
                files.remove_temporaries(self.trial_dir(trial_id))
                self.checkpoints.load(trial_id, live.model, resume, execution)
                rebuilt = True
        self.live_models.check_out(key)
        return live, rebuilt
