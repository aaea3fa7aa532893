"""Tuners that train candidates in rounds: `RoundSearch` and `PruneSearch`.

`RoundSearch` is the worker's side of a `RoundOracle`: it trains one unit of
work at a time (one candidate, up to the round's last epoch), continuing the
candidate's live model or its newest checkpoint, and reports every epoch.
The parts it is made of each own one job:

* `keras_prune_nas.checkout.ModelCheckout`: a candidate's model at the
  right epoch (live, from its checkpoint, or new);
* `keras_prune_nas.live_models.LiveModelCache`: models kept between rounds;
* `keras_prune_nas.checkpoints.CheckpointStore`: every epoch's checkpoint;
* `keras_prune_nas.retention.CheckpointRetention`: which checkpoints and
  models a candidate still needs;
* `keras_prune_nas.reporting.EpochReports`: one epoch's report to the oracle;
* `keras_prune_nas.batch_schedule.ScheduledBatches`: the batch-size schedule
  and its inputs per batch size;
* `keras_prune_nas.callbacks.ContinuingCallbacks`: the user's callbacks;
* `keras_prune_nas.pipeline`: the input pipeline, built once per search;
* `keras_prune_nas.curves_csv`: `curves.csv`;
* `keras_prune_nas.distributed`: the chief's loop, the worker's heartbeat
  and its own view of its lease.

`PruneSearch` is a `RoundSearch` with a `PruneOracle`, the drop-in
replacement for `keras_tuner.RandomSearch`.
"""

import dataclasses
import os
import time
from typing import Any
from typing import Optional

import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.backend import keras
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner as tuner_module
from keras_tuner.src.engine import tuner_utils

from keras_prune_nas import checkpoints as checkpoint_files
from keras_prune_nas import curves_csv
from keras_prune_nas import checks
from keras_prune_nas import distributed
from keras_prune_nas import local_workers
from keras_prune_nas import files
from keras_prune_nas import pipeline
from keras_prune_nas import report
from keras_prune_nas import validation
from keras_prune_nas.batch_schedule import ScheduledBatches
from keras_prune_nas.checkout import ModelCheckout
from keras_prune_nas.checkout import build_checked_model
from keras_prune_nas.checkout import load_best_model
from keras_prune_nas.live_models import LiveModelCache
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.oracle import RoundOracle
from keras_prune_nas.oracle import epochs_reported
from keras_prune_nas.retention import CheckpointRetention
from keras_prune_nas.reporting import EpochReports
from keras_prune_nas.reporting import report_whole_result

TrialStatus = trial_module.TrialStatus


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
        validation.check_round_search_arguments(
            oracle, RoundOracle, hypermodel, batch_size_schedule, learning_rate_scaling,
            max_live_models, overrides_run_trial=type(self).run_trial is not RoundSearch.run_trial,
            search_name=type(self).__name__,
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
        self.scheduled_batches = None
        if self.batch_size_schedule is not None:
            self.scheduled_batches = ScheduledBatches(
                self.batch_size_schedule, learning_rate_scaling, self.plan,
                self._maybe_cache_inputs,
            )
        self._unit = None
        self._display_verbosity = 1
        # Candidates this process rebuilt from a checkpoint to go on training
        # (not held live: evicted, or last trained by another worker).
        self.checkpoint_resumes = 0
        if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
            # The chief owns the project directory: a worker that wiped it
            # would delete what the others are writing.
            kwargs["overwrite"] = False
        super().__init__(oracle, hypermodel, **kwargs)
        store = checkpoint_files.CheckpointStore(self.get_trial_dir, self.tuner_id)
        self.retention = CheckpointRetention(
            store, self.live_models, self.oracle.objective,
            self.executions_per_trial, self.oracle.get_trial,
            remote_oracle=self._is_worker(),
        )
        self.lease = distributed.WorkerLease(
            self.tuner_id, oracle.lease_timeout, remote=self._is_worker()
        )
        self.epoch_reports = EpochReports(
            self.oracle, store, self.retention, self.lease,
            count_parameters=bool(oracle.complexity_penalty),
        )
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

    @property
    def checkpoints(self):
        """The `CheckpointStore` every part of this tuner writes to."""
        return self.retention.checkpoints

    @checkpoints.setter
    def checkpoints(self, store):
        self.retention.checkpoints = store
        self.epoch_reports.checkpoints = store

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
        self._display_verbosity = (
            fit_kwargs.get("verbose", getattr(self.round_oracle, "verbose", "auto"))
            if self.progress is None else int(bool(self.progress))
        )
        self.round_oracle.open_progress(self._display_verbosity)
        self.round_oracle.set_epochs(epochs)
        if dist_utils.is_chief_oracle():
            # The chief only holds the oracle (and the round barrier) and
            # answers the workers until the search is over.
            self.save()
            local_workers.start_active()
            distributed.serve_oracle(self.oracle, local_workers.active())
            self._write_outputs()
            return
        if self.hypermodel is not None and not trains_its_own_way(self):
            validation.probe_first_candidate(
                self._build_hypermodel, self.oracle.objective, fit_args, fit_kwargs
            )
        if self.batch_size_schedule is None:
            fit_args, fit_kwargs = self._maybe_cache_inputs(fit_args, fit_kwargs)
        else:
            fit_args, fit_kwargs = self.scheduled_batches.start(fit_args, fit_kwargs)
        try:
            self._search_loop(fit_args, fit_kwargs)
        finally:
            self.round_oracle.close_progress()
            self._close_live_models()
            if not self._is_worker():
                self._write_outputs()

    def _write_outputs(self):
        """What the chief (or a single process) leaves: trimmed files, curves."""
        self.retention.trim_every_ended(self.oracle.trials.values())
        self.write_curves()

    def _search_loop(self, fit_args, fit_kwargs):
        """`BaseTuner.search`'s loop, without spinning while others train."""
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            self.lease.touch()
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                # Other workers are finishing the round: wait at the barrier.
                time.sleep(distributed.IDLE_POLL_SECONDS)
                continue
            self.on_trial_begin(trial)
            with distributed.heartbeat_while_training(self.oracle, self.lease):
                self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
            if local_workers.retire_if_over_budget():
                break
        self.on_search_end()

    def on_search_begin(self):
        super().on_search_begin()
        # keras_tuner has just set the display from `verbose`; `progress`
        # may say otherwise.
        self.round_oracle.verbose = self._display_verbosity

    def _maybe_cache_inputs(self, fit_args, fit_kwargs):
        enabled = self.cache_inputs and not trains_its_own_way(self)
        return pipeline.maybe_cache_fit_inputs(fit_args, fit_kwargs, enabled)

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        self._unit = None
        results = self.run_trial(trial, *fit_args, **fit_kwargs)
        unit = self._unit
        if unit is not None and (unit.any_reported or unit.abandoned):
            return
        # No epoch reached the oracle (e.g. `run_trial` or `HyperModel.fit`
        # was overridden to return a number).
        report_whole_result(self.oracle, trial, results, self.plan.epochs)

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
        if self.scheduled_batches is not None:
            args, kwargs = self.scheduled_batches.follow(unit, live, kwargs)
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

    # ------------------------------------------------------------------
    # One epoch's report
    # ------------------------------------------------------------------
    def report_epoch(self, unit, model, epoch, logs):
        """Checkpoints one epoch, reports it to the oracle, commits it
        (`EpochReports`). Called by `EpochReporter` at the end of every epoch.

        Returns:
            True if training must stop after this epoch.
        """
        self.on_epoch_end(unit.trial, model, epoch, logs=logs)
        return self.epoch_reports.report(unit, model, epoch, logs)

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
        self.retention.release_ended(
            trial.trial_id, unit.reported if unit is not None else None
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
        return build_checked_model(self._build_hypermodel, hp, self.max_model_size)

    def _check_out(self, trial, execution, reported, original_callbacks):
        """The candidate's model at its newest epoch the oracle has heard of
        (`ModelCheckout`)."""

        def new_callbacks(trial, execution):
            # keras_tuner's own copying and TensorBoard set-up, per run.
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            return callbacks

        checkout = ModelCheckout(
            self.live_models, self.checkpoints, self.build_candidate, new_callbacks,
            self.get_trial_dir,
        )
        live, rebuilt = checkout.check_out(trial, execution, reported)
        self.checkpoint_resumes += int(rebuilt)
        return live

    def _close_live_models(self):
        """At the end of `search` (or its interruption): frees every model
        (unfinished candidates keep their checkpoints, to resume from)."""
        self.retention.release_ended()
        self.live_models.close()

    def load_model(self, trial):
        """A fresh model of `trial` with the weights of its best epoch."""
        return load_best_model(
            self.checkpoints, self.build_candidate, trial, self.oracle.objective.name
        )

    # ------------------------------------------------------------------
    # Outputs
    # ------------------------------------------------------------------
    def curves(self):
        """Every candidate's per-epoch metrics: one row dict per candidate and
        epoch (`trial_id`, `status`, 0-based `epoch`, every logged metric)."""
        return curves_csv.curve_rows(self.oracle)

    def plot_curves(self, ax=None):
        """Every candidate's curve (culled in grey, x where culled; finalists in
        colour; the pick in black) on `ax` or a new figure; needs matplotlib.
        `tuner.plot_curves().figure.savefig("curves.png")` saves it."""
        return report.plot_project(report.project_of(self.round_oracle, self.project_dir),
                                   ax=ax)

    def write_curves(self, path=None):
        """Writes `curves()` to a CSV file (default: `<project>/curves.csv`)."""
        return curves_csv.write_rows(
            self.curves(), path or os.path.join(self.project_dir, "curves.csv")
        )

    def reload(self):
        super().reload()
        if not self._is_worker():
            # Before any worker runs: what writes killed half-way left behind.
            files.remove_temporaries(self.project_dir, recursive=True)

    def save(self):
        if not self._is_worker():
            # The oracle's one write path: its state, then the trial files.
            self.oracle.persist()
        files.atomic_write_json(self._get_tuner_fname(), self.get_state())


def trains_its_own_way(tuner):
    """True if a subclass of `RoundSearch` or its hypermodel trains its own way
    (then the search neither probes the first candidate nor caches inputs)."""
    custom_fit = (
        tuner.hypermodel is not None
        and type(tuner.hypermodel).fit is not keras_tuner.HyperModel.fit
    )
    return (
        custom_fit
        or type(tuner).run_trial is not RoundSearch.run_trial
        or type(tuner)._build_and_fit_model is not RoundSearch._build_and_fit_model
    )


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
        grace_epochs: Integer, epochs every candidate trains before the
            first cull; that cull catches up with the schedule, so only the
            grace rounds cost more. Raise it (e.g. 3) where good candidates
            start late (sit at chance for an epoch or two). Defaults to 1.
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
        grace_epochs=1,
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
            grace_epochs=grace_epochs,
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
