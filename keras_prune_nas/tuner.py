"""PruneSearch: a drop-in `keras_tuner.RandomSearch` that culls every round."""

import csv
import glob
import io
import json
import os
import re
import time

import numpy as np
import keras_tuner
from keras_tuner import errors
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.backend import keras
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner as tuner_module
from keras_tuner.src.engine import tuner_utils

from keras_prune_nas import _checkpoint
from keras_prune_nas import _distributed
from keras_prune_nas import _io
from keras_prune_nas import _pipeline
from keras_prune_nas import _validation
from keras_prune_nas import culling
from keras_prune_nas import schedules
from keras_prune_nas.oracle import PARAMETERS_METRIC
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.oracle import last_step

TrialStatus = trial_module.TrialStatus
_ENDED = (TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED)
_BATCH_HOOKS = (
    "on_batch_begin", "on_batch_end",
    "on_train_batch_begin", "on_train_batch_end",
    "on_test_batch_begin", "on_test_batch_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)


# Marks a checkpoint saved for an epoch not yet accepted by the oracle;
# the saving tuner's id follows.
_PENDING = ".pending-"


def _holds_epoch(trial, objective_name, epoch):
    """True if the oracle recorded `epoch` in the trial it answered with."""
    if not trial.metrics.exists(objective_name):
        return False
    return any(
        obs.step == epoch for obs in trial.metrics.get_history(objective_name)
    )


def _constant_learning_rate(model):
    """The optimizer's learning rate if it is a constant, else None."""
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "_learning_rate", None)
    if rate is None or callable(rate):
        return None
    return float(keras.ops.convert_to_numpy(rate))


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _is_default(method):
    return getattr(method, "_is_default", False)


class ContinuingCallbacks(keras.callbacks.Callback):
    """Makes a candidate's many `fit` calls look like one run to callbacks.

    A candidate is trained by one `fit` call per round. Passed to each call
    as they are, a `CSVLogger` would truncate its file every round and an
    `EarlyStopping` would forget its patience. Wrapped in this, the user's
    callbacks get `on_train_begin` once, every epoch with its true number,
    and `on_train_end` once, when the candidate is culled or finished.
    """

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks = list(callbacks)
        self.started = False
        self.last_logs = None
        self._model_set = None
        for name in _BATCH_HOOKS:
            if all(_is_default(getattr(cb, name)) for cb in self.callbacks):
                # Keep Keras' fast path (async dispatch, no per-batch sync)
                # unless a wrapped callback really wants batch events.
                setattr(self, name, getattr(keras.callbacks.Callback(), name))

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        if model is not self._model_set:
            self._model_set = model
            for callback in self.callbacks:
                callback.set_model(model)

    def on_train_begin(self, logs=None):
        if not self.started:
            self.started = True
            for callback in self.callbacks:
                callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        # Deferred to `finish`: the candidate may train again next round.
        pass

    def finish(self):
        """Ends the run for the callbacks (the candidate trains no more)."""
        if self.started:
            self.started = False
            for callback in self.callbacks:
                callback.on_train_end(self.last_logs)

    def detach(self):
        """Drops the references to the model, which is being evicted."""
        self._model = None
        self._model_set = None
        for callback in self.callbacks:
            if hasattr(callback, "_model"):
                callback._model = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_logs = logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)


def _forwarding(hook):
    def forward(self, *args, **kwargs):
        for callback in self.callbacks:
            getattr(callback, hook)(*args, **kwargs)

    forward.__name__ = hook
    return forward


for _hook in _BATCH_HOOKS + (
    "on_epoch_begin", "on_test_begin", "on_test_end",
    "on_predict_begin", "on_predict_end",
):
    setattr(ContinuingCallbacks, _hook, _forwarding(_hook))


class _EpochReporter(keras.callbacks.Callback):
    """Reports every epoch to the oracle, checkpoints it, stops when told."""

    def __init__(self, tuner, trial, execution):
        super().__init__()
        self.tuner = tuner
        self.trial = trial
        self.execution = execution
        self.last_epoch = None
        if tuner._forwards_batch_hooks:
            self.on_batch_begin = self._forward_batch_begin
            self.on_batch_end = self._forward_batch_end

    def _forward_batch_begin(self, batch, logs=None):
        self.tuner.on_batch_begin(self.trial, self.model, batch, logs)

    def _forward_batch_end(self, batch, logs=None):
        self.tuner.on_batch_end(self.trial, self.model, batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.tuner.on_epoch_begin(self.trial, self.model, epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        tuner = self.tuner
        tuner.on_epoch_end(self.trial, self.model, epoch, logs=logs)
        if tuner._lease_lost():
            # The chief has given this candidate to another worker by now.
            tuner._abandoned = "its lease expired"
            self.model.stop_training = True
            return
        objective_name = tuner.oracle.objective.name
        metrics = tuner._epoch_metrics(logs)
        if tuner.complexity_penalty:
            metrics[PARAMETERS_METRIC] = float(self.model.count_params())
        if tuner._unit_schedule is not None:
            metrics["batch_size"], metrics["learning_rate"] = tuner._unit_schedule
        pending = tuner._save_pending_checkpoint(
            self.trial.trial_id, self.execution, self.model, epoch + 1
        )
        answer = tuner.oracle.update_trial(
            self.trial.trial_id, metrics, step=epoch
        )
        tuner._last_contact = time.monotonic()
        tuner._unit_reported = True
        if not _holds_epoch(answer, objective_name, epoch):
            # The oracle ignored the report: the candidate is not ours now.
            _remove(pending)
            tuner._abandoned = "the chief took it back"
            self.model.stop_training = True
            return
        self.last_epoch = epoch
        tuner._commit_checkpoint(
            self.trial.trial_id, self.execution, pending, epoch + 1, answer
        )
        if self.execution == 0 and answer.status != TrialStatus.RUNNING:
            self.model.stop_training = True


class _Unit:
    """What one execution of the current round needs to know."""

    def __init__(self, execution, start, epochs, callbacks):
        self.execution = execution
        self.start = start
        self.epochs = epochs
        self.callbacks = callbacks


class _LiveModel:
    """A candidate's model kept in memory between rounds."""

    def __init__(self, model, epoch, callbacks):
        self.model = model
        self.epoch = epoch
        self.callbacks = callbacks
        self.last_used = 0
        # The compiled learning rate, before any batch-size scaling.
        self.base_learning_rate = None


class PruneSearch(tuner_module.Tuner):
    """Random search that discards the worst candidates after every epoch.

    A drop-in replacement for `keras_tuner.RandomSearch`: the same
    constructor (the same arguments in the same order), plus the culling
    parameters after them. It samples `max_trials`
    candidates, trains them round by round (each round continues every
    survivor from its own weights and optimizer state), culls the worst
    `cull_fraction` of the survivors after each round, and once
    `min_survivors` are left trains those finalists to `epochs` with early
    stopping. The best finalist is the result.

    Args:
        hypermodel: A `HyperModel` (e.g. `keras_prune_nas.NASHyperModel`) or
            a function taking `hp` and returning a compiled Keras model.
        objective: The metric to rank by, e.g. "val_accuracy" (a string, a
            `keras_tuner.Objective`, or a list of them).
        max_trials: Integer, the number of candidates sampled. Defaults to 10,
            as for `RandomSearch`; with `max_trials <= min_survivors` nothing
            is culled.
        seed: Optional integer, the random seed.
        hyperparameters: Optional `HyperParameters`, as for `RandomSearch`.
        tune_new_entries: Boolean, as for `RandomSearch`.
        allow_new_entries: Boolean, as for `RandomSearch`.
        max_retries_per_trial: Integer, retries of a crashed candidate.
        max_consecutive_failed_trials: Integer; the search stops if this many
            candidates in a row fail before any candidate has trained.
        cull_fraction: Float in (0, 1), the share of survivors dropped after
            every round. Defaults to 0.15.
        min_survivors: Integer, culling stops once this many are left.
            Defaults to 10.
        epochs_per_round: Integer, epochs between two culls. Defaults to 1.
        patience: Integer or None, early-stopping patience of the finalists
            (None: train them to the last epoch). Defaults to 5.
        rank_by: "best" or "last": rank survivors by their best objective so
            far or by that of their last epoch. Defaults to "best".
        lease_timeout: Seconds or None. In a distributed search, a worker
            not heard from for this long is taken for dead and its candidate
            continues on another worker from its last checkpoint. Must
            exceed the longest epoch plus a model's build time. Defaults to
            600.
        complexity_penalty: Float >= 0: rank by objective minus this times
            log10 of the candidate's parameter count (direction-aware), in
            the culls and in the final pick. Defaults to 0 (no penalty).
        batch_size_schedule: None, or a list of batch sizes, one per round:
            round i trains with entry i, later rounds and the finalists with
            the last one (`keras_prune_nas.schedules.geometric_batch_sizes(
            256, 32, rounds)` makes one). Each candidate's learning rate
            follows by `learning_rate_scaling`. The batch size and learning
            rate of every epoch are reported as metrics. Defaults to None
            (the batch size passed to `search` throughout).
        learning_rate_scaling: "linear", "sqrt" or None: how the learning
            rate follows the scheduled batch size, relative to the batch
            size passed to `search` (32 if none). Needs a constant learning
            rate in the compiled optimizer. Defaults to "linear".
        max_live_models: Integer, how many models stay in memory between
            rounds. Every epoch is checkpointed to the project directory
            (weights and optimizer state); past this many, models are freed
            and reloaded from their checkpoint when their turn comes; 0
            keeps only the model in training. TensorFlow keeps memory
            (about 15 MiB on digits) for every model built, for the life of
            the process, and a reload builds the model again: lower this
            only when the weights themselves are large. Defaults to 256.
        cache_inputs: Boolean. With the TensorFlow backend and NumPy inputs,
            build the tf.data pipeline once for the whole search instead of
            once per `fit` call (same batching, shuffling and validation
            split as `Model.fit`). Only used when the hypermodel does not
            override `HyperModel.fit`. Defaults to True.
        progress: None, True or False. The search prints one line per round
            (epoch, survivors, culled, best so far, elapsed). None shows it
            unless `search(verbose=0)`, as keras_tuner does with its trial
            display; True or False shows or hides it whatever `verbose`.
        **kwargs: Arguments for `keras_tuner.Tuner`: `directory`,
            `project_name`, `overwrite`, `executions_per_trial`,
            `max_model_size`, `optimizer`, `loss`, `metrics`, ...

    Example:

    ```python
    import keras_prune_nas as kpn

    tuner = kpn.PruneSearch(         # was: keras_tuner.RandomSearch(...)
        build_model,
        objective="val_accuracy",
        max_trials=50,
        directory="runs",
        project_name="digits",
    )
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val))
    best_model = tuner.get_best_models(1)[0]
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        cull_fraction=0.15,
        min_survivors=10,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=600,
        complexity_penalty=0.0,
        batch_size_schedule=None,
        learning_rate_scaling="linear",
        max_live_models=256,
        cache_inputs=True,
        progress=None,
        **kwargs,
    ):
        schedules.validate_batch_size_schedule(
            batch_size_schedule, learning_rate_scaling
        )
        if (
            isinstance(max_live_models, bool)
            or not isinstance(max_live_models, int)
            or max_live_models < 0
        ):
            raise ValueError(
                "`max_live_models` must be an integer >= 0 (models kept in "
                "memory between rounds; 0 checkpoints every model between "
                "its rounds). "
                f"Received: max_live_models={max_live_models!r}."
            )
        if hypermodel is None and type(self).run_trial is PruneSearch.run_trial:
            raise ValueError(
                "Received `hypermodel=None`. Pass a HyperModel or a function "
                "that builds a compiled Keras model from `hp`, or subclass "
                "PruneSearch and override `run_trial()`."
            )
        self.seed = seed
        oracle = self._create_oracle(
            objective=objective,
            max_trials=max_trials,
            cull_fraction=cull_fraction,
            min_survivors=min_survivors,
            epochs_per_round=epochs_per_round,
            patience=patience,
            rank_by=rank_by,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.max_live_models = max_live_models
        self.cache_inputs = cache_inputs
        self.progress = progress
        self.lease_timeout = lease_timeout
        self.complexity_penalty = complexity_penalty
        self.batch_size_schedule = (
            None if batch_size_schedule is None else list(batch_size_schedule)
        )
        self.learning_rate_scaling = learning_rate_scaling
        self._epochs_per_round = epochs_per_round
        self._culling_rounds = culling.culling_rounds(
            max_trials, cull_fraction, min_survivors
        )
        self._base_batch_size = None
        # batch size -> (fit args, fit kwargs) with that batch size
        self._inputs_by_batch_size = {}
        # (batch size, learning rate) of the unit in training
        self._unit_schedule = None
        # (trial_id, execution) -> _LiveModel
        self._live = {}
        self._use_counter = 0
        self._last_contact = time.monotonic()
        self._abandoned = None
        self._unit_reported = False
        self._unit = None
        self._epochs = None
        self._display_verbosity = 1
        super().__init__(oracle, hypermodel, **kwargs)
        self._forwards_batch_hooks = (
            type(self).on_batch_begin is not tuner_module.Tuner.on_batch_begin
            or type(self).on_batch_end is not tuner_module.Tuner.on_batch_end
        )

    def _create_oracle(self, **options):
        """The oracle of this tuner; subclasses with another rule override it."""
        return PruneOracle(**options)

    # ------------------------------------------------------------------
    # Search
    # ------------------------------------------------------------------
    def search(self, *fit_args, **fit_kwargs):
        """Runs the search; arguments are those of `model.fit`.

        Args:
            *fit_args: Positional arguments for `fit`, e.g. `x, y`.
            **fit_kwargs: Keyword arguments for `fit`. `epochs` is the most
                epochs a candidate trains (default 1, as in `fit`);
                `callbacks` see every epoch of every candidate, one
                continuous run per candidate.
        """
        epochs = fit_kwargs.get("epochs", 1)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(
                "`epochs` must be an integer >= 1: the most epochs any "
                f"candidate trains. Received: epochs={epochs!r}."
            )
        fit_kwargs["epochs"] = epochs
        # keras_tuner's own check (and message) first, then ours.
        self._deepcopy_callbacks(fit_kwargs.get("callbacks") or [])
        _validation.check_search_inputs(self.hypermodel, fit_args, fit_kwargs)
        self._epochs = epochs
        if self.progress is None:
            self._display_verbosity = fit_kwargs.get(
                "verbose", getattr(self.oracle, "verbose", "auto")
            )
        else:
            self._display_verbosity = 1 if self.progress else 0
        if isinstance(self.oracle, PruneOracle):
            self.oracle.verbose = self._display_verbosity
            self.oracle.set_epochs(epochs)
        if dist_utils.is_chief_oracle():
            # The chief only holds the oracle (and the round barrier) and
            # answers the workers until the search is over.
            self.save()
            _distributed.serve_oracle(self.oracle)
            self._prune_all_checkpoints()
            self.write_curves()
            return
        if self.hypermodel is not None and not self._customized_training():
            _validation.probe_first_candidate(
                self._build_hypermodel, self.oracle.objective, fit_args, fit_kwargs
            )
        if self.batch_size_schedule is None:
            fit_args, fit_kwargs = self._maybe_cache_inputs(fit_args, fit_kwargs)
        else:
            fit_args, fit_kwargs = _pipeline.fit_keywords(fit_args, fit_kwargs)
            self._base_batch_size = fit_kwargs.get("batch_size") or 32
            self._inputs_by_batch_size = {}
        try:
            self._search_loop(fit_args, fit_kwargs)
        finally:
            self._free_live_models()
            if not self._is_worker():
                self._prune_all_checkpoints()
                self.write_curves()

    def _search_loop(self, fit_args, fit_kwargs):
        """`BaseTuner.search`'s loop, without spinning while others train."""
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            self._last_contact = time.monotonic()
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                # Other workers are finishing the round: wait at the barrier.
                time.sleep(_distributed.IDLE_POLL_SECONDS)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()

    def on_search_begin(self):
        super().on_search_begin()
        # keras_tuner has just set the display from `verbose`; `progress`
        # may say otherwise.
        self.oracle.verbose = self._display_verbosity

    def _customized_training(self):
        """True if a subclass or the hypermodel trains its own way."""
        custom_fit = (
            self.hypermodel is not None
            and type(self.hypermodel).fit is not keras_tuner.HyperModel.fit
        )
        return (
            custom_fit
            or type(self).run_trial is not PruneSearch.run_trial
            or type(self)._build_and_fit_model
            is not PruneSearch._build_and_fit_model
        )

    def _maybe_cache_inputs(self, fit_args, fit_kwargs):
        if (
            not self.cache_inputs
            or self._customized_training()
            or keras.backend.backend() != "tensorflow"
        ):
            return fit_args, fit_kwargs
        cached = _pipeline.cache_fit_inputs(fit_args, fit_kwargs)
        return cached if cached is not None else (fit_args, fit_kwargs)

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        self._unit_reported = False
        self._abandoned = None
        results = self.run_trial(trial, *fit_args, **fit_kwargs)
        if self._unit_reported or self._abandoned:
            return
        # No epoch reached the oracle (e.g. `run_trial` or `HyperModel.fit`
        # was overridden to return a number): report the result once, as
        # the outcome of the whole training.
        tuner_utils.validate_trial_results(
            results, self.oracle.objective, "Tuner.run_trial()"
        )
        self.oracle.update_trial(
            trial.trial_id,
            tuner_utils.convert_to_metrics_dict(results, self.oracle.objective),
            step=(self._epochs or 1) - 1,
        )

    def run_trial(self, trial, *args, **kwargs):
        """Trains one candidate for one round, continuing where it stopped.

        The oracle's answer to each epoch's report decides when the round
        ends. Returns the list of `History` objects, one per execution.
        """
        epochs = kwargs.pop("epochs", 1)
        callbacks = kwargs.pop("callbacks", None) or []
        # Epochs the oracle has heard of; each execution resumes from its
        # newest checkpoint (or live model) at or before this one.
        reported = last_step(trial, self.oracle.objective.name) + 1
        histories = []
        for execution in range(self.executions_per_trial):
            self._unit = _Unit(execution, reported, epochs, callbacks)
            histories.append(self._build_and_fit_model(trial, *args, **kwargs))
            if self._abandoned:
                break
            if execution == 0:
                # Later executions train exactly as far as the first one did.
                epochs = self._live[(trial.trial_id, 0)].epoch
        return histories

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """Continues one execution of the candidate for this round.

        The hook `keras_tuner.Tuner` offers subclasses (AutoKeras overrides
        it to adapt preprocessing); here it continues the live model instead
        of building a new one.
        """
        unit = self._unit
        key = (trial.trial_id, unit.execution)
        live = self._checkout(trial, unit.execution, unit.start, unit.callbacks)
        if self.batch_size_schedule is not None:
            args, kwargs = self._follow_batch_size_schedule(live, kwargs)
        reporter = _EpochReporter(self, trial, unit.execution)
        kwargs.update(
            initial_epoch=live.epoch,
            epochs=unit.epochs,
            callbacks=[live.callbacks, reporter],
        )
        try:
            result = self.hypermodel.fit(
                trial.hyperparameters, live.model, *args, **kwargs
            )
        except BaseException:
            # Its weights are now somewhere inside an epoch; a retry resumes
            # from the last checkpoint instead.
            self._drop_model(key)
            raise
        if self._abandoned:
            self._drop_model(key)
        elif reporter.last_epoch is None:
            # `fit` was overridden and trained nothing through Keras.
            tuner_utils.validate_trial_results(
                result, self.oracle.objective, "HyperModel.fit()"
            )
        else:
            live.epoch = reporter.last_epoch + 1
        return result

    def _follow_batch_size_schedule(self, live, kwargs):
        """Sets the round's batch size and scales the learning rate with it."""
        round_index = schedules.round_of_epoch(
            live.epoch, self._epochs_per_round, self._culling_rounds
        )
        batch_size = schedules.batch_size_for_round(
            self.batch_size_schedule, round_index, self._culling_rounds
        )
        optimizer = live.model.optimizer
        if self.learning_rate_scaling is not None:
            if live.base_learning_rate is None:
                raise errors.FatalValueError(
                    "batch_size_schedule scales the learning rate, which "
                    "needs a constant learning rate, but the model's "
                    f"optimizer has {optimizer._learning_rate!r}. Compile "
                    "with a number as learning rate, or pass "
                    "learning_rate_scaling=None."
                )
            optimizer.learning_rate = schedules.scaled_learning_rate(
                live.base_learning_rate, batch_size, self._base_batch_size,
                self.learning_rate_scaling,
            )
        self._unit_schedule = (
            float(batch_size), float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        )
        if batch_size not in self._inputs_by_batch_size:
            data = {
                name: value for name, value in kwargs.items()
                if name in _pipeline.DATA_ARGUMENTS
            }
            data["batch_size"] = batch_size
            self._inputs_by_batch_size[batch_size] = self._maybe_cache_inputs((), data)
        args, data = self._inputs_by_batch_size[batch_size]
        rest = {
            name: value for name, value in kwargs.items()
            if name not in _pipeline.DATA_ARGUMENTS
        }
        return args, {**rest, **data}

    def _epoch_metrics(self, logs):
        """The logs of one epoch as the oracle wants them, objective included."""
        logs = dict(logs or {})
        objective = self.oracle.objective
        metrics = {}
        for name, value in logs.items():
            try:
                metrics[name] = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
        if objective.name not in metrics:
            if not objective.has_value(metrics):
                raise errors.FatalValueError(
                    f"The objective {objective.name!r} is not among the "
                    f"metrics the model logs every epoch: {sorted(metrics)}. "
                    "Pass one of those as `objective`, or compile the model "
                    "with that metric (and pass validation data for a "
                    "'val_' metric)."
                )
            metrics[objective.name] = float(objective.get_value(metrics))
        return metrics

    def on_trial_end(self, trial):
        if self._abandoned:
            # Not ours any more: ending it would overrule its new worker.
            print(
                f"PruneSearch worker {self.tuner_id}: gave candidate "
                f"{trial.trial_id} up ({self._abandoned}). If epochs take "
                "longer than `lease_timeout`, raise it.",
                flush=True,
            )
            self._abandoned = None
            return
        super().on_trial_end(trial)
        self._release(
            [
                ended
                for ended in map(self.oracle.get_trial, self._live_trial_ids())
                if ended.status in _ENDED
            ]
        )

    def _lease_lost(self):
        """True if this worker has been silent so long the chief gave up."""
        return (
            self._is_worker()
            and self.lease_timeout is not None
            and time.monotonic() - self._last_contact > self.lease_timeout
        )

    # ------------------------------------------------------------------
    # Live models and checkpoints
    # ------------------------------------------------------------------
    def _live_trial_ids(self):
        return sorted({trial_id for trial_id, _ in self._live})

    def _checkout(self, trial, execution, reported, original_callbacks):
        """The candidate's model at its newest epoch the oracle has heard of.

        That is the live model if it is there, else the newest checkpoint
        at or before epoch `reported`, else a fresh model at epoch 0.
        """
        key = (trial.trial_id, execution)
        self._settle_pending_checkpoints(trial)
        checkpoints = self._checkpoints(trial.trial_id, execution)
        for epochs in [n for n in checkpoints if n > reported]:
            # Of a report the oracle never saved.
            _remove(checkpoints.pop(epochs))
        live = self._live.get(key)
        in_memory = (
            live is not None and live.model is not None and live.epoch <= reported
        )
        resume = max(
            list(checkpoints) + ([live.epoch] if in_memory else []), default=0
        )
        if live is not None and not (in_memory and live.epoch == resume):
            if resume == 0:
                # Starts over: the callbacks see a new run.
                live.callbacks.finish()
                live.callbacks.detach()
                self._live.pop(key)
                live = None
            else:
                self._drop_model(key)
        if live is None:
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            live = _LiveModel(None, 0, ContinuingCallbacks(callbacks))
            self._live[key] = live
        if live.model is None:
            live.model = self._build_candidate(trial.hyperparameters)
            live.base_learning_rate = _constant_learning_rate(live.model)
            live.epoch = resume
            if resume:
                _io.remove_temporaries(self.get_trial_dir(trial.trial_id))
                self._load_checkpoint(trial.trial_id, live.model, checkpoints[resume])
        self._use_counter += 1
        live.last_used = self._use_counter
        self._evict_beyond_limit(keep=key)
        return live

    def _build_candidate(self, hp):
        # Unlike `Tuner._try_build`, no `clear_session()`: it would cost a
        # garbage collection per candidate and the live models need no reset.
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() "
                "to return a valid Keras Model instance. "
                f"Received: {model} of type {type(model)}."
            )
        size = tuner_module.maybe_compute_model_size(model)
        if self.max_model_size and size > self.max_model_size:
            raise errors.FailedTrialError(
                f"Oversized model: {size} parameters (max_model_size="
                f"{self.max_model_size}). Skip model."
            )
        optimizer = getattr(model, "optimizer", None)
        if model.built and optimizer is not None and not optimizer.built:
            # Built inside the first traced train step instead, the optimizer
            # makes TensorFlow trace that step twice: ~0.3 s per candidate.
            optimizer.build(model.trainable_variables)
        return model

    def _checkpoint_path(self, trial_id, execution, epochs):
        return os.path.join(
            self.get_trial_dir(trial_id),
            f"checkpoint_{execution}_epoch{epochs:04d}{_checkpoint.SUFFIX}",
        )

    def _checkpoints(self, trial_id, execution):
        """{epochs trained: path} of the candidate's checkpoints on disk."""
        pattern = re.compile(
            rf"checkpoint_{execution}_epoch(\d+){re.escape(_checkpoint.SUFFIX)}$"
        )
        found = {}
        for path in glob.glob(
            os.path.join(self.get_trial_dir(trial_id), f"checkpoint_{execution}_*")
        ):
            match = pattern.search(os.path.basename(path))
            if match:
                found[int(match.group(1))] = path
        return found

    def _best_epochs(self, trial):
        """Epoch count at the candidate's best epoch (whose weights it keeps)."""
        name = self.oracle.objective.name
        if not trial.metrics.exists(name):
            return None
        step = trial.metrics.get_best_step(name)
        return None if step is None else step + 1

    def _save_pending_checkpoint(self, trial_id, execution, model, epochs):
        """Saves the epoch about to be reported, under a pending name.

        Saved before the report, so a kill between the report and the save
        cannot leave a reported epoch without weights; named as pending
        until the oracle accepts the report, so a worker that lost its
        candidate never overwrites the new owner's checkpoint.
        """
        self._save_build_config(trial_id, model)
        final = self._checkpoint_path(trial_id, execution, epochs)
        pending = f"{final}{_PENDING}{self.tuner_id}"
        _checkpoint.save(model, pending)
        return pending

    def _commit_checkpoint(self, trial_id, execution, pending, epochs, answer):
        """Makes the reported epoch's checkpoint final and prunes the others.

        Execution 0 keeps every epoch that may still turn out best (the one
        `load_model` loads) and its newest, to resume from; any other
        execution only needs to resume, and keeps its newest and its best.
        """
        try:
            os.replace(pending, self._checkpoint_path(trial_id, execution, epochs))
        except FileNotFoundError:
            pass  # another process settled it already
        # Any execution's report can settle one of execution 0's epochs.
        self._prune_first_execution(answer)
        if execution != 0:
            keep = {epochs, self._best_epochs(answer)}
            for old_epochs, path in self._checkpoints(trial_id, execution).items():
                if old_epochs not in keep:
                    _remove(path)

    def _prune_first_execution(self, answer):
        """Keeps execution 0's checkpoints of every epoch that may be best.

        With several executions the best epoch is the best average, which
        can move until the last execution has reported that epoch: pruning
        by the best so far would delete the epoch that ends up best. With
        one execution this keeps the best epoch and the newest.
        """
        name = self.oracle.objective.name
        if not answer.metrics.exists(name):
            return
        keep = _checkpoint.epochs_worth_keeping(
            [(obs.step, obs.value) for obs in answer.metrics.get_history(name)],
            self.executions_per_trial,
            self.oracle.objective.direction,
        )
        checkpoints = self._checkpoints(answer.trial_id, 0)
        keep.add(max(checkpoints, default=0))  # where execution 0 resumes
        for old_epochs, path in checkpoints.items():
            if old_epochs not in keep:
                _remove(path)

    def _settle_pending_checkpoints(self, trial):
        """Finalizes what a kill left pending: kept if the oracle has its epoch.

        A pending checkpoint whose epoch the oracle recorded was reported
        just before the kill; any other was never reported and is dropped.
        """
        reported = last_step(trial, self.oracle.objective.name) + 1
        pattern = re.compile(
            rf"^(checkpoint_\d+_epoch(\d+){re.escape(_checkpoint.SUFFIX)})"
            rf"{re.escape(_PENDING)}"
        )
        directory = self.get_trial_dir(trial.trial_id)
        if not os.path.isdir(directory):
            return
        for name in os.listdir(directory):
            match = pattern.match(name)
            if not match:
                continue
            path = os.path.join(directory, name)
            final = os.path.join(directory, match.group(1))
            if int(match.group(2)) <= reported and not os.path.exists(final):
                try:
                    os.replace(path, final)
                except FileNotFoundError:
                    pass
            else:
                _remove(path)

    def _load_checkpoint(self, trial_id, model, path):
        if not model.built:
            model.build_from_config(self._load_build_config(trial_id))
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # The optimizer's variables must exist to be filled; otherwise
            # Adam would start over.
            optimizer.build(model.trainable_variables)
        _checkpoint.load(model, path)

    def _evict_beyond_limit(self, keep):
        others = [
            k for k, live in self._live.items()
            if live.model is not None and k != keep
        ]
        excess = len(others) + 1 - self.max_live_models
        # Rounds hand candidates out in the same order every time, so the
        # model trained most recently is the one needed again last: evict
        # it first (evicting the least recent would miss on every model once
        # the population exceeds the limit).
        others.sort(key=lambda k: self._live[k].last_used, reverse=True)
        for key in others[:max(excess, 0)]:
            self._drop_model(key)

    def _drop_model(self, key):
        """Frees a live model; its checkpoint on disk stays."""
        live = self._live.get(key)
        if live is not None:
            live.callbacks.detach()
            live.model = None

    def _release(self, trials):
        """Ends the callbacks of ended candidates, frees them, prunes files.

        Only the checkpoint of the best epoch of the first execution stays:
        `load_model` needs it.
        """
        for trial in trials:
            for key in [k for k in self._live if k[0] == trial.trial_id]:
                live = self._live.pop(key)
                if live.model is not None:
                    self._save_build_config(trial.trial_id, live.model)
                live.callbacks.finish()
                live.callbacks.detach()
            self._prune_checkpoints(trial)

    def _prune_checkpoints(self, trial):
        """Removes an ended candidate's checkpoints but its best epoch's."""
        self._settle_pending_checkpoints(trial)
        best = self._best_epochs(trial)
        for execution in range(self.executions_per_trial):
            for epochs, path in self._checkpoints(trial.trial_id, execution).items():
                if execution != 0 or epochs != best:
                    _remove(path)

    def _prune_all_checkpoints(self):
        """Prunes every ended candidate's files, not only those held here.

        A process killed after its candidate ended leaves its files behind;
        so does a worker that died.
        """
        for trial in self.oracle.trials.values():
            if trial.status in _ENDED:
                self._prune_checkpoints(trial)

    def _free_live_models(self):
        """At the end of `search` (or its interruption): frees every model.

        Unfinished candidates keep their checkpoints, to resume from.
        """
        trials = [self.oracle.get_trial(t) for t in self._live_trial_ids()]
        self._release([t for t in trials if t.status in _ENDED])
        for key, live in list(self._live.items()):
            live.callbacks.finish()
            live.callbacks.detach()
            self._live.pop(key)

    def _save_build_config(self, trial_id, model):
        path = self._get_build_config_fname(trial_id)
        if model.built and not os.path.exists(path):
            _io.atomic_write_json(path, model.get_build_config())

    def _load_build_config(self, trial_id):
        with open(self._get_build_config_fname(trial_id)) as stream:
            return json.load(stream)

    def load_model(self, trial):
        """A fresh model of `trial` with the weights of its best epoch."""
        epochs = self._best_epochs(trial)
        path = epochs and self._checkpoint_path(trial.trial_id, 0, epochs)
        if not path or not os.path.exists(path):
            raise FileNotFoundError(
                f"Trial {trial.trial_id} has no checkpoint of its best epoch "
                f"({path or 'it reported no epoch'}): it failed before "
                "finishing an epoch, or its files were removed."
            )
        model = self._build_candidate(trial.hyperparameters)
        self._load_checkpoint(trial.trial_id, model, path)
        return model

    # ------------------------------------------------------------------
    # Outputs
    # ------------------------------------------------------------------
    def curves(self):
        """Every candidate's per-epoch metrics as a list of row dicts.

        One row per candidate and epoch: `trial_id`, `status`, `epoch`
        (0-based, as Keras numbers them) and one column per logged metric.
        """
        rows = []
        for trial_id in self.oracle.start_order:
            trial = self.oracle.get_trial(trial_id)
            by_epoch = {}
            for name, history in trial.metrics.metrics.items():
                for obs in history.get_history():
                    by_epoch.setdefault(obs.step, {})[name] = float(obs.mean())
            for epoch in sorted(by_epoch):
                row = {"trial_id": trial_id, "status": trial.status, "epoch": epoch}
                row.update(by_epoch[epoch])
                rows.append(row)
        return rows

    def write_curves(self, path=None):
        """Writes `curves()` to a CSV file (default: `<project>/curves.csv`)."""
        path = path or os.path.join(self.project_dir, "curves.csv")
        rows = self.curves()
        metric_names = sorted(
            {key for row in rows for key in row} - {"trial_id", "status", "epoch"}
        )
        stream = io.StringIO()
        writer = csv.DictWriter(
            stream, fieldnames=["trial_id", "status", "epoch"] + metric_names
        )
        writer.writeheader()
        writer.writerows(rows)
        _io.atomic_write_text(path, stream.getvalue())
        return path

    def reload(self):
        super().reload()
        if not self._is_worker():
            # Before any worker runs: what writes killed half-way left behind.
            for directory, _, _ in os.walk(self.project_dir):
                _io.remove_temporaries(directory)

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        _io.atomic_write_json(self._get_tuner_fname(), self.get_state())
