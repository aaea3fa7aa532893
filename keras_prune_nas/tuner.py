"""Tuners that train candidates in rounds: `RoundSearch` and `PruneSearch`.

`RoundSearch` is the worker's side of a `RoundOracle`: it trains one unit of
work at a time (one candidate, up to the round's last epoch), continuing the
candidate's live model or its newest checkpoint, and reports every epoch.
The parts it is made of each own one job:

* `keras_prune_nas.live_models.LiveModelCache`: models kept between rounds;
* `keras_prune_nas.checkpoints.CheckpointStore`: every epoch's checkpoint;
* `keras_prune_nas.callbacks.ContinuingCallbacks`: the user's callbacks;
* `keras_prune_nas.pipeline`: the input pipeline, built once per search;
* `keras_prune_nas.distributed`: the chief's loop and the worker's heartbeat.

`PruneSearch` is a `RoundSearch` with a `PruneOracle`, the drop-in
replacement for `keras_tuner.RandomSearch`.
"""

import csv
import dataclasses
import io
import os
import time
from typing import Any
from typing import Optional

import numpy as np
import keras_tuner
from keras_tuner import errors
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.backend import keras
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner as tuner_module
from keras_tuner.src.engine import tuner_utils

from keras_prune_nas import checkpoints as checkpoint_files
from keras_prune_nas import checks
from keras_prune_nas import distributed
from keras_prune_nas import local_workers
from keras_prune_nas import files
from keras_prune_nas import pipeline
from keras_prune_nas import schedules
from keras_prune_nas import validation
from keras_prune_nas.callbacks import ContinuingCallbacks
from keras_prune_nas.leases import LeaseTable
from keras_prune_nas.live_models import LiveModel
from keras_prune_nas.live_models import LiveModelCache
from keras_prune_nas.oracle import PARAMETER_COUNT_METRIC
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.oracle import RoundOracle
from keras_prune_nas.oracle import epochs_reported
from keras_prune_nas.oracle import holds_epoch

TrialStatus = trial_module.TrialStatus
ENDED = (TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED)


def _constant_learning_rate(model):
    """The optimizer's learning rate if it is a constant, else None."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    # A schedule is serialized as a dict, a constant as a number.
    rate = optimizer.get_config().get("learning_rate")
    return float(rate) if checks.is_number(rate) else None


def _best_epochs(trial, objective_name):
    """Epoch count at the candidate's best epoch (whose weights it keeps)."""
    if not trial.metrics.exists(objective_name):
        return None
    step = trial.metrics.get_best_step(objective_name)
    return None if step is None else step + 1


def models_to_check(held, trained_id, unit_start, checked_all_at, remote_oracle):
    """Which held candidates to ask the oracle about after a unit.

    Args:
        held: The trial ids of the models this process holds.
        trained_id: The candidate whose unit just ended (None: check all).
        unit_start: The epoch that unit began at (None if unknown).
        checked_all_at: The `unit_start` of the last check of every model.
        remote_oracle: Whether each question is a request to the chief.

    Returns:
        `(trial_ids, checked_all_at)`: every held model, unless the oracle is
        remote and no new round began since the last full check; then only
        `trained_id` (the oracle ends a candidate only at a round's barrier
        or at the end of its own unit). A round's units start at its first
        epoch, so a unit starting at another epoch than the last full
        check's (later, or earlier: a new generation or a raised
        `max_trials` starts over at epoch 0) begins a new round.
    """
    if not remote_oracle or trained_id is None:
        return list(held), checked_all_at
    if unit_start is not None and unit_start != checked_all_at:
        return list(held), unit_start
    return [trial_id for trial_id in held if trial_id == trained_id], checked_all_at


@dataclasses.dataclass
class Unit:
    """One execution of one candidate in the current round.

    Attributes:
        trial: The candidate's trial, as the oracle handed it out.
        execution: Which of `executions_per_trial`.
        reported: Epochs the oracle had heard of when the unit began; the
            execution resumes from its newest checkpoint at or before this.
        epochs: The `epochs` argument of this unit's `fit` call.
        callbacks: The user's callbacks passed to `search`.
        schedule: (batch size, learning rate) if a batch-size schedule sets
            them, else None.
        last_epoch: The last 0-based epoch the oracle accepted, or None.
        any_reported: Whether any epoch reached the oracle.
        abandoned: Why the worker gave the candidate up, or None.
    """

    trial: Any
    execution: int
    reported: int
    epochs: int
    callbacks: list
    schedule: Optional[tuple] = None
    last_epoch: Optional[int] = None
    any_reported: bool = False
    abandoned: Optional[str] = None


class EpochReporter(keras.callbacks.Callback):
    """Reports every epoch to the tuner, and stops `fit` when told to."""

    def __init__(self, tuner, unit, forward_batch_hooks):
        super().__init__()
        self.tuner = tuner
        self.unit = unit
        if forward_batch_hooks:
            self.on_batch_begin = self._forward_batch_begin
            self.on_batch_end = self._forward_batch_end

    def _forward_batch_begin(self, batch, logs=None):
        self.tuner.on_batch_begin(self.unit.trial, self.model, batch, logs)

    def _forward_batch_end(self, batch, logs=None):
        self.tuner.on_batch_end(self.unit.trial, self.model, batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.tuner.on_epoch_begin(self.unit.trial, self.model, epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.tuner.report_epoch(self.unit, self.model, epoch, logs):
            self.model.stop_training = True


class RoundSearch(tuner_module.Tuner):
    """Trains the candidates of a `RoundOracle` round by round.

    Every unit of work continues the candidate from its live model (kept in
    memory between rounds) or its newest checkpoint, reports every epoch to
    the oracle, checkpoints it (weights and optimizer state), and stops when
    the oracle says the unit is over. The user's callbacks see one
    continuous run per candidate. `PruneSearch` and `SecretarySearch` are
    this with their oracles; a new strategy passes its own `RoundOracle`.

    Args:
        oracle: A `RoundOracle`.
        hypermodel: A `HyperModel` or a function taking `hp` and returning a
            compiled Keras model.
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
            rounds. Every epoch is checkpointed to the project directory;
            past this many, models are freed and reloaded from their
            checkpoint when their turn comes; 0 keeps only the model in
            training. TensorFlow keeps memory (about 15 MiB on digits) for
            every model built, for the life of the process, and a reload
            builds the model again: lower this only when the weights
            themselves are large. Defaults to 256.
        cache_inputs: Boolean. With the TensorFlow backend and NumPy inputs,
            build the tf.data pipeline once for the whole search instead of
            once per `fit` call (same batching, shuffling and validation
            split as `Model.fit`). Only used when the hypermodel does not
            override `HyperModel.fit`. Defaults to True.
        progress: None, True or False. The search prints one line per round.
            None shows it unless `search(verbose=0)`, as keras_tuner does
            with its trial display; True or False shows or hides it whatever
            `verbose`.
        **kwargs: Arguments for `keras_tuner.Tuner`: `directory`,
            `project_name`, `overwrite`, `executions_per_trial`,
            `max_model_size`, `optimizer`, `loss`, `metrics`, ...

    Example:

    ```python
    oracle = kpn.PruneOracle(objective="val_accuracy", max_trials=30)
    tuner = kpn.RoundSearch(oracle, build_model, directory="runs")
    tuner.search(x, y, epochs=10, validation_data=(x_val, y_val))
    ```
    """

    def __init__(
        self,
        oracle,
        hypermodel=None,
        batch_size_schedule=None,
        learning_rate_scaling="linear",
        max_live_models=256,
        cache_inputs=True,
        progress=None,
        **kwargs,
    ):
        if not isinstance(oracle, RoundOracle):
            raise TypeError(
                "`oracle` must be a keras_prune_nas RoundOracle (e.g. "
                f"PruneOracle); received {type(oracle).__name__}."
            )
        schedules.validate_batch_size_schedule(
            batch_size_schedule, learning_rate_scaling
        )
        checks.require_int(
            "max_live_models", max_live_models, 0,
            "models kept in memory between rounds; 0 checkpoints every model "
            "between its rounds",
        )
        if hypermodel is None and type(self).run_trial is RoundSearch.run_trial:
            raise ValueError(
                "Received `hypermodel=None`. Pass a HyperModel or a function "
                "that builds a compiled Keras model from `hp`, or subclass "
                f"{type(self).__name__} and override `run_trial()`."
            )
        # On a worker `self.oracle` becomes keras_tuner's client of the
        # chief's oracle; the plan and settings are read from this one.
        self.round_oracle = oracle
        self.plan = oracle.plan
        self.cache_inputs = cache_inputs
        self.progress = progress
        self.batch_size_schedule = (
            None if batch_size_schedule is None else list(batch_size_schedule)
        )
        self.learning_rate_scaling = learning_rate_scaling
        self.live_models = LiveModelCache(max_live_models)
        self._base_batch_size = None
        # batch size -> (fit args, fit kwargs) with that batch size
        self._inputs_by_batch_size = {}
        self._unit = None
        self._display_verbosity = 1
        # Candidates this process rebuilt from a checkpoint to go on training
        # (not held live: evicted, or last trained by another worker).
        self.checkpoint_resumes = 0
        # A worker's live models are checked for culls once per round: the
        # first epoch of the unit at the last full check.
        self._checked_all_at_epoch = -1
        if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
            # The chief owns the project directory: a worker that wiped it
            # would delete what the others are writing.
            kwargs["overwrite"] = False
        super().__init__(oracle, hypermodel, **kwargs)
        self.checkpoints = checkpoint_files.CheckpointStore(
            self.get_trial_dir, self.tuner_id
        )
        # This worker's view of its own lease (the chief keeps the real one).
        self._own_lease = LeaseTable(oracle.lease_timeout)
        self._own_lease.touch(self.tuner_id)
        self._forwards_batch_hooks = (
            type(self).on_batch_begin is not tuner_module.Tuner.on_batch_begin
            or type(self).on_batch_end is not tuner_module.Tuner.on_batch_end
        )

    def get_state(self):
        state = super().get_state()
        state["checkpoint_resumes"] = self.checkpoint_resumes
        return state

    def set_state(self, state):
        super().set_state(state)
        self.checkpoint_resumes = state.get("checkpoint_resumes", 0)

    @property
    def max_live_models(self):
        return self.live_models.max_live_models

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
        checks.validate_epochs(epochs)
        fit_kwargs["epochs"] = epochs
        # keras_tuner's own check (and message) first, then ours.
        self._deepcopy_callbacks(fit_kwargs.get("callbacks") or [])
        validation.check_search_inputs(self.hypermodel, fit_args, fit_kwargs)
        if self.progress is None:
            self._display_verbosity = fit_kwargs.get(
                "verbose", getattr(self.round_oracle, "verbose", "auto")
            )
        else:
            self._display_verbosity = 1 if self.progress else 0
        self.round_oracle.verbose = self._display_verbosity
        self.round_oracle.set_epochs(epochs)
        if dist_utils.is_chief_oracle():
            # The chief only holds the oracle (and the round barrier) and
            # answers the workers until the search is over.
            self.save()
            local_workers.start_active()
            distributed.serve_oracle(
                self.oracle, abandoned=local_workers.active_workers_gone
            )
            self._retain_checkpoints_of_ended()
            self.write_curves()
            return
        if self.hypermodel is not None and not self._customized_training():
            validation.probe_first_candidate(
                self._build_hypermodel, self.oracle.objective, fit_args, fit_kwargs
            )
        if self.batch_size_schedule is None:
            fit_args, fit_kwargs = self._maybe_cache_inputs(fit_args, fit_kwargs)
        else:
            fit_args, fit_kwargs = pipeline.fit_keywords(fit_args, fit_kwargs)
            self._base_batch_size = fit_kwargs.get("batch_size") or 32
            self._inputs_by_batch_size = {}
        try:
            self._search_loop(fit_args, fit_kwargs)
        finally:
            self._close_live_models()
            if not self._is_worker():
                self._retain_checkpoints_of_ended()
                self.write_curves()

    def _search_loop(self, fit_args, fit_kwargs):
        """`BaseTuner.search`'s loop, without spinning while others train."""
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            self._own_lease.touch(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                # Other workers are finishing the round: wait at the barrier.
                time.sleep(distributed.IDLE_POLL_SECONDS)
                continue
            self.on_trial_begin(trial)
            if self._is_worker() and self.round_oracle.lease_timeout is not None:
                with distributed.Heartbeat(
                    self.oracle, self.tuner_id,
                    distributed.heartbeat_interval(self.round_oracle.lease_timeout),
                    on_contact=lambda: self._own_lease.touch(self.tuner_id),
                ):
                    self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            else:
                self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()

    def on_search_begin(self):
        super().on_search_begin()
        # keras_tuner has just set the display from `verbose`; `progress`
        # may say otherwise.
        self.round_oracle.verbose = self._display_verbosity

    def _customized_training(self):
        """True if a subclass or the hypermodel trains its own way."""
        custom_fit = (
            self.hypermodel is not None
            and type(self.hypermodel).fit is not keras_tuner.HyperModel.fit
        )
        return (
            custom_fit
            or type(self).run_trial is not RoundSearch.run_trial
            or type(self)._build_and_fit_model
            is not RoundSearch._build_and_fit_model
        )

    def _maybe_cache_inputs(self, fit_args, fit_kwargs):
        if (
            not self.cache_inputs
            or self._customized_training()
            or keras.backend.backend() != "tensorflow"
        ):
            return fit_args, fit_kwargs
        cached = pipeline.cache_fit_inputs(fit_args, fit_kwargs)
        return cached if cached is not None else (fit_args, fit_kwargs)

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        self._unit = None
        results = self.run_trial(trial, *fit_args, **fit_kwargs)
        unit = self._unit
        if unit is not None and (unit.any_reported or unit.abandoned):
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
            step=(self.plan.epochs or 1) - 1,
        )

    def run_trial(self, trial, *args, **kwargs):
        """Trains one candidate for one round, continuing where it stopped.

        The oracle's answer to each epoch's report decides when the round
        ends. Returns the list of `History` objects, one per execution.
        """
        epochs = kwargs.pop("epochs", 1)
        callbacks = kwargs.pop("callbacks", None) or []
        reported = epochs_reported(trial, self.oracle.objective.name)
        histories = []
        any_reported = False
        for execution in range(self.executions_per_trial):
            self._unit = Unit(trial, execution, reported, epochs, callbacks)
            self._unit.any_reported = any_reported
            histories.append(self._build_and_fit_model(trial, *args, **kwargs))
            any_reported = self._unit.any_reported
            if self._unit.abandoned:
                break
            if execution == 0:
                # Later executions train exactly as far as the first one did.
                epochs = self.live_models.get((trial.trial_id, 0)).epoch
        return histories

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """Continues one execution of the candidate for this round.

        The hook `keras_tuner.Tuner` offers subclasses (AutoKeras overrides
        it to adapt preprocessing); here it continues the live model instead
        of building a new one.
        """
        unit = self._unit
        key = (trial.trial_id, unit.execution)
        live = self._check_out(trial, unit.execution, unit.reported, unit.callbacks)
        if self.batch_size_schedule is not None:
            args, kwargs = self._follow_batch_size_schedule(unit, live, kwargs)
        reporter = EpochReporter(self, unit, self._forwards_batch_hooks)
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
            self.live_models.drop(key)
            raise
        if unit.abandoned:
            self.live_models.drop(key)
        elif unit.last_epoch is None:
            # `fit` was overridden and trained nothing through Keras.
            tuner_utils.validate_trial_results(
                result, self.oracle.objective, "HyperModel.fit()"
            )
        else:
            live.epoch = unit.last_epoch + 1
        return result

    def _follow_batch_size_schedule(self, unit, live, kwargs):
        """Sets the round's batch size and scales the learning rate with it."""
        round_index = self.plan.round_of_epoch(live.epoch)
        batch_size = schedules.batch_size_for_round(
            self.batch_size_schedule, round_index, self.plan.rounds
        )
        optimizer = live.model.optimizer
        if self.learning_rate_scaling is not None:
            if live.base_learning_rate is None:
                raise errors.FatalValueError(
                    "batch_size_schedule scales the learning rate, which "
                    "needs a constant learning rate, but the model's "
                    "optimizer has "
                    f"{optimizer.get_config().get('learning_rate')!r}. Compile "
                    "with a number as learning rate, or pass "
                    "learning_rate_scaling=None."
                )
            optimizer.learning_rate = schedules.scaled_learning_rate(
                live.base_learning_rate, batch_size, self._base_batch_size,
                self.learning_rate_scaling,
            )
        unit.schedule = (
            float(batch_size), float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        )
        if batch_size not in self._inputs_by_batch_size:
            data = {
                name: value for name, value in kwargs.items()
                if name in pipeline.DATA_ARGUMENTS
            }
            data["batch_size"] = batch_size
            self._inputs_by_batch_size[batch_size] = self._maybe_cache_inputs((), data)
        args, data = self._inputs_by_batch_size[batch_size]
        rest = {
            name: value for name, value in kwargs.items()
            if name not in pipeline.DATA_ARGUMENTS
        }
        return args, {**rest, **data}

    # ------------------------------------------------------------------
    # One epoch's report
    # ------------------------------------------------------------------
    def report_epoch(self, unit, model, epoch, logs):
        """Checkpoints one epoch, reports it to the oracle, commits it.

        Called by `EpochReporter` at the end of every epoch.

        Returns:
            True if training must stop after this epoch (the unit is over,
            or the candidate is no longer this worker's).
        """
        trial_id = unit.trial.trial_id
        self.on_epoch_end(unit.trial, model, epoch, logs=logs)
        if self._lease_lost():
            # The chief has given this candidate to another worker by now.
            unit.abandoned = "its lease expired"
            return True
        metrics = self._epoch_metrics(logs)
        if self.round_oracle.complexity_penalty:
            metrics[PARAMETER_COUNT_METRIC] = float(model.count_params())
        if unit.schedule is not None:
            metrics["batch_size"], metrics["learning_rate"] = unit.schedule
        pending = self.checkpoints.save_pending(
            trial_id, unit.execution, model, epoch + 1
        )
        answer = self.oracle.update_trial(trial_id, metrics, step=epoch)
        self._own_lease.touch(self.tuner_id)
        unit.any_reported = True
        if not holds_epoch(answer, self.oracle.objective.name, epoch):
            # The oracle ignored the report: the candidate is not ours now.
            self.checkpoints.discard(pending)
            unit.abandoned = "the chief took it back"
            return True
        unit.last_epoch = epoch
        self.checkpoints.commit(pending, trial_id, unit.execution, epoch + 1)
        self._retain_checkpoints(answer, unit.execution, epoch + 1)
        return unit.execution == 0 and answer.status != TrialStatus.RUNNING

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
        unit = self._unit
        if unit is not None and unit.abandoned:
            # Not ours any more: ending it would overrule its new worker.
            print(
                f"{type(self).__name__} worker {self.tuner_id}: gave candidate "
                f"{trial.trial_id} up ({unit.abandoned}).",
                flush=True,
            )
            self._unit = None
            return
        super().on_trial_end(trial)
        self._release_ended(trial.trial_id, unit.reported if unit is not None else None)

    def _lease_lost(self):
        """True if this worker has been silent so long the chief gave up."""
        timeout = self.round_oracle.lease_timeout
        return (
            self._is_worker()
            and timeout is not None
            and self._own_lease.silent_for(self.tuner_id) > timeout
        )

    # ------------------------------------------------------------------
    # Live models and checkpoints
    # ------------------------------------------------------------------
    def build_candidate(self, hp):
        """A new model of the candidate with hyperparameters `hp`.

        As `keras_tuner.Tuner` builds it (the size check included), but
        without `clear_session()`, which would cost a garbage collection per
        candidate, and with the optimizer built up front.
        """
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

    def _check_out(self, trial, execution, reported, original_callbacks):
        """The candidate's model at its newest epoch the oracle has heard of.

        That is the live model if it is there, else the newest checkpoint
        at or before epoch `reported`, else a fresh model at epoch 0.
        """
        trial_id = trial.trial_id
        key = (trial_id, execution)
        self.checkpoints.settle(trial_id, reported)
        saved = self.checkpoints.epochs_saved(trial_id, execution)
        for epochs in [n for n in saved if n > reported]:
            # Of a report the oracle never saved.
            self.checkpoints.discard(saved.pop(epochs))
        live = self.live_models.get(key)
        in_memory = (
            live is not None and live.model is not None and live.epoch <= reported
        )
        resume = max(list(saved) + ([live.epoch] if in_memory else []), default=0)
        if live is not None and not (in_memory and live.epoch == resume):
            if resume == 0:
                # Starts over: the callbacks see a new run.
                self.live_models.discard(key)
                live = None
            else:
                self.live_models.drop(key)
        if live is None:
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            live = LiveModel(ContinuingCallbacks(callbacks))
            self.live_models.add(key, live)
        if live.model is None:
            live.model = self.build_candidate(trial.hyperparameters)
            live.base_learning_rate = _constant_learning_rate(live.model)
            live.epoch = resume
            if resume:
                files.remove_temporaries(self.get_trial_dir(trial_id))
                self.checkpoints.load(trial_id, live.model, resume, execution)
                self.checkpoint_resumes += 1
        self.live_models.check_out(key)
        return live

    def _retain_checkpoints(self, answer, execution, newest):
        """Removes the checkpoints a candidate can no longer need.

        Execution 0 keeps every epoch that may still turn out best (the one
        `load_model` loads) and its newest, to resume from. With several
        executions the best epoch is the best average, which can move until
        the last execution has reported that epoch. Any other execution only
        needs to resume, and keeps its newest and its best.
        """
        name = self.oracle.objective.name
        trial_id = answer.trial_id
        if answer.metrics.exists(name):
            keep = checkpoint_files.epochs_worth_keeping(
                [(obs.step, obs.value) for obs in answer.metrics.get_history(name)],
                self.executions_per_trial,
                self.oracle.objective.direction,
            )
            saved = self.checkpoints.epochs_saved(trial_id, 0)
            keep.add(max(saved, default=0))  # where execution 0 resumes
            self.checkpoints.retain(trial_id, 0, keep)
        if execution != 0:
            self.checkpoints.retain(
                trial_id, execution, {newest, _best_epochs(answer, name)}
            )

    def _retain_best_checkpoint(self, trial):
        """An ended candidate keeps only its best epoch's checkpoint."""
        self.checkpoints.settle(
            trial.trial_id, epochs_reported(trial, self.oracle.objective.name)
        )
        best = _best_epochs(trial, self.oracle.objective.name)
        for execution in range(self.executions_per_trial):
            self.checkpoints.retain(
                trial.trial_id, execution, {best} if execution == 0 else set()
            )

    def _release_ended(self, trained_id=None, unit_start=None):
        """Ends the callbacks of ended candidates, frees them, trims files.

        After a unit of `trained_id` that began at epoch `unit_start`. A
        worker asks the chief, one request per model, which with a few dozen
        models held cost more than the epoch itself: it checks them all once
        per round (`models_to_check`).
        """
        trial_ids, self._checked_all_at_epoch = models_to_check(
            self.live_models.trial_ids(), trained_id, unit_start,
            self._checked_all_at_epoch, remote_oracle=self._is_worker(),
        )
        for trial_id in trial_ids:
            trial = self.oracle.get_trial(trial_id)
            if trial.status in ENDED:
                for model in self.live_models.release(trial_id):
                    self.checkpoints.save_build_config(trial_id, model)
                self._retain_best_checkpoint(trial)

    def _retain_checkpoints_of_ended(self):
        """Trims every ended candidate's files, not only those held here.

        A process killed after its candidate ended leaves its files behind;
        so does a worker that died.
        """
        for trial in self.oracle.trials.values():
            if trial.status in ENDED:
                self._retain_best_checkpoint(trial)

    def _close_live_models(self):
        """At the end of `search` (or its interruption): frees every model.

        Unfinished candidates keep their checkpoints, to resume from.
        """
        self._release_ended()
        self.live_models.close()

    def load_model(self, trial):
        """A fresh model of `trial` with the weights of its best epoch."""
        epochs = _best_epochs(trial, self.oracle.objective.name)
        path = epochs and self.checkpoints.path(trial.trial_id, 0, epochs)
        if not path or not os.path.exists(path):
            raise FileNotFoundError(
                f"Trial {trial.trial_id} has no checkpoint of its best epoch "
                f"({path or 'it reported no epoch'}): it failed before "
                "finishing an epoch, or its files were removed."
            )
        model = self.build_candidate(trial.hyperparameters)
        self.checkpoints.load(trial.trial_id, model, epochs)
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
        files.atomic_write_text(path, stream.getvalue())
        return path

    def reload(self):
        super().reload()
        if not self._is_worker():
            # Before any worker runs: what writes killed half-way left behind.
            for directory, _, _ in os.walk(self.project_dir):
                files.remove_temporaries(directory)

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        files.atomic_write_json(self._get_tuner_fname(), self.get_state())


class PruneSearch(RoundSearch):
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
            continues on another worker from its last checkpoint. Workers
            send a heartbeat every few seconds while they train, so this
            need not exceed an epoch. Defaults to 60.
        complexity_penalty: Float >= 0: rank by objective minus this times
            log10 of the candidate's parameter count (direction-aware), in
            the culls and in the final pick. Defaults to 0 (no penalty).
        batch_size_schedule, learning_rate_scaling, max_live_models,
        cache_inputs, progress: As for `RoundSearch`.
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
        lease_timeout=60,
        complexity_penalty=0.0,
        batch_size_schedule=None,
        learning_rate_scaling="linear",
        max_live_models=256,
        cache_inputs=True,
        progress=None,
        **kwargs,
    ):
        oracle = PruneOracle(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            cull_fraction=cull_fraction,
            min_survivors=min_survivors,
            epochs_per_round=epochs_per_round,
            patience=patience,
            rank_by=rank_by,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
        )
        self.seed = seed
        super().__init__(
            oracle,
            hypermodel,
            batch_size_schedule=batch_size_schedule,
            learning_rate_scaling=learning_rate_scaling,
            max_live_models=max_live_models,
            cache_inputs=cache_inputs,
            progress=progress,
            **kwargs,
        )
