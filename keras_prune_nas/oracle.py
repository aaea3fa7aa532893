"""Oracles that train candidates in rounds: `RoundOracle` and `PruneOracle`.

One candidate is one keras_tuner `Trial`. The oracle hands a trial out once
per round (a "unit" of work: train it up to the round's last epoch), hears
about every epoch through `update_trial`, answers each report with whether to
keep training, and holds the barrier: the decision after round r (a cull,
for `PruneOracle`) happens only once every candidate has finished round r.

`RoundOracle` owns those mechanics, which every strategy shares; what a
strategy decides is in a few documented methods (see "Extending" in its
docstring). `PruneOracle` is the cull; `SecretaryOracle`
(`keras_prune_nas.secretary`) is the secretary rule.

The path of one epoch: the worker's `fit` ends an epoch; the tuner saves a
pending checkpoint and calls `update_trial`; the oracle records the metrics
(in the trial file) and answers RUNNING (go on) or IDLE (the unit is over);
the tuner commits the checkpoint. When the unit is over, the worker calls
`end_trial`; once the last candidate of the round has come back, the oracle
calls `round_finished` (cull), saves its state and then the trial files, and
hands out the next round.
"""

import collections
import copy
import math
import time
from datetime import datetime

import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.engine import hyperparameters as hp_module
from keras_tuner.src.engine import metrics_tracking
from keras_tuner.src.engine import oracle as oracle_module

from keras_prune_nas import checks
from keras_prune_nas import culling
from keras_prune_nas import files
from keras_prune_nas.candidates import Candidate
from keras_prune_nas.leases import LeaseTable
from keras_prune_nas.plan import RoundPlan
from keras_prune_nas.unit_costs import UnitCosts
from keras_prune_nas.unit_costs import worth_moving

TrialStatus = trial_module.TrialStatus

PHASE_SELECTION = "selection"
PHASE_FINALISTS = "finalists"
PHASE_FINISHED = "finished"
# The metric the tuner reports a candidate's parameter count under, when the
# oracle ranks with a complexity penalty.
PARAMETER_COUNT_METRIC = "num_parameters"
# The key of this library's part of the oracle's saved state.
STATE_KEY = "round_oracle"


def choose_waiting_candidate(
    waiting, worker_of, tuner_id, live_workers, unit_seconds=None, rebuild_seconds=None
):
    """Which of `waiting` (in population order) `tuner_id` should train.

    Its own candidates first (`worker_of[trial_id] == tuner_id`), then those
    of no worker or of a worker no longer in `live_workers`. Otherwise the
    last waiting candidate of the live worker with the most waiting work
    (in seconds where `unit_seconds` knows every one of them, else in
    candidates; ties: the smallest id), if taking it is `worth_moving`:
    the taker must rebuild it (`rebuild_seconds`). None if nothing waits or
    waiting for the busy worker is faster.
    """
    if not waiting:
        return None
    for trial_id in waiting:
        if worker_of[trial_id] == tuner_id:
            return trial_id
    for trial_id in waiting:
        if worker_of[trial_id] is None or worker_of[trial_id] not in live_workers:
            return trial_id
    unit_seconds = unit_seconds or {}
    rebuild_seconds = rebuild_seconds or {}
    queues = collections.defaultdict(list)
    for trial_id in waiting:
        queues[worker_of[trial_id]].append(trial_id)

    remaining = {}
    for worker, queue in queues.items():
        costs = [unit_seconds.get(trial_id) for trial_id in queue]
        remaining[worker] = None if None in costs else sum(costs)
    if None in remaining.values():
        busiest = min(queues, key=lambda worker: (-len(queues[worker]), worker))
    else:
        busiest = min(queues, key=lambda worker: (-remaining[worker], worker))
    taken = queues[busiest][-1]
    if not worth_moving(
        unit_seconds.get(taken), rebuild_seconds.get(taken), remaining[busiest]
    ):
        return None
    return taken


def format_score(score):
    """A score as the progress lines print it ("n/a" if unusable)."""
    return "n/a" if score is None or not math.isfinite(score) else f"{score:.4f}"


def objective_curve(trial, objective_name):
    """The objective values of `trial`, one per epoch, in epoch order."""
    if not trial.metrics.exists(objective_name):
        return []
    return [
        float(obs.mean())
        for obs in trial.metrics.get_history(objective_name)
    ]


def epochs_reported(trial, objective_name):
    """How many epochs of `trial` the oracle has recorded (its last step + 1)."""
    if not trial.metrics.exists(objective_name):
        return 0
    history = trial.metrics.get_history(objective_name)
    return history[-1].step + 1 if history else 0


def holds_epoch(trial, objective_name, epoch):
    """True if `trial` records the objective of the 0-based `epoch`."""
    if not trial.metrics.exists(objective_name):
        return False
    return any(
        obs.step == epoch for obs in trial.metrics.get_history(objective_name)
    )


def _truncate_metrics(trial, from_step):
    """Drops every observation at `step >= from_step` (a half-done round)."""
    for name, history in list(trial.metrics.metrics.items()):
        kept = [obs for obs in history.get_history() if obs.step < from_step]
        if len(kept) == len(history.get_history()):
            continue
        fresh = metrics_tracking.MetricHistory(history.direction)
        fresh.set_history(kept)
        trial.metrics.metrics[name] = fresh


class RoundDisplay(oracle_module.Display):
    """One line per round instead of one hyperparameter table per trial."""

    def start_clock(self):
        if self.search_start is None:
            self.search_start = datetime.now()

    def elapsed(self):
        start = self.search_start or datetime.now()
        return self.format_duration(datetime.now() - start)

    def show(self, line):
        if self.verbose and self.verbose != 0:
            print(line, flush=True)


def validate_common_parameters(
    max_trials, rank_by, max_retries_per_trial, max_consecutive_failed_trials,
    lease_timeout, complexity_penalty,
):
    """Checks the parameters every round-based oracle takes."""
    checks.require_int(
        "max_trials", max_trials, 1, "the number of candidate architectures sampled"
    )
    checks.require_choice(
        "rank_by", rank_by, culling.RANK_BY_CHOICES,
        "rank by the best objective so far, or by the last epoch's",
    )
    checks.require_int(
        "max_retries_per_trial", max_retries_per_trial, 0,
        "how often a crashed unit of a candidate is retried",
    )
    checks.require_int(
        "max_consecutive_failed_trials", max_consecutive_failed_trials, 0,
        "failures in a row, before any candidate trained, that stop the search",
    )
    checks.require_number(
        "lease_timeout", lease_timeout,
        "seconds a silent worker keeps its candidate",
        minimum=0, exclusive=True, allow_none=True, none_means="for ever",
    )
    culling.validate_complexity_penalty(complexity_penalty)


class RoundOracle(keras_tuner.Oracle):
    """Candidates trained in rounds, with a decision after every round.

    The mechanics every round-based strategy shares: candidates sampled one
    per trial; a unit of work per candidate and round, continued from its
    last checkpoint; every epoch reported; a barrier at the end of each
    round; finalists trained to `epochs` with early stopping; leases for
    distributed workers; failures contained; state saved so that a killed
    search resumes. On its own (no subclass) every candidate is a finalist,
    as in `RandomSearch`.

    Extending: a strategy subclasses this and overrides what it decides.

    * `sample_values()`: the hyperparameter values of the next candidate
      (default: random, as `RandomSearch`). Return None when the space is
      exhausted.
    * `may_sample()`: whether a new candidate may be sampled now (default:
      while fewer than `max_trials` exist). Candidates are sampled before
      any round is decided, so a strategy that proposes from results (a
      generation at a time) says no here until its results are in.
    * `unit_finished(trial)`: a candidate came back from a unit of the
      selection phase, trained; its curve is `curve(trial.trial_id)`. End it
      with `end_candidate`, or move the search on with `start_finalists`.
    * `round_finished(population)`: every candidate of the selection phase
      has finished the round and none is left to sample: decide (cull with
      `end_candidate`, then `next_round()`, `start_finalists(...)` or
      `finish(...)`). Return True if anything changed.
    * `finalists_finished(reason)`: no candidate is left to train (default:
      `finish(reason)`). A strategy that searches in generations starts the
      next one here (`start_selection(...)`; `NAOOracle` does).
    * `get_state()` / `set_state(state)`: call `super()` and keep your own
      state under your own key. `plan_parameters()` names the parameters a
      run must keep until it is finished (checked on reload).

    The round plan (`plan`, a `RoundPlan`) says how many epochs a round
    trains and how many rounds of selection there are at most; the tuner
    asks the same plan (for the batch-size schedule).

    Args:
        objective: A string, `keras_tuner.Objective`, or a list of them, as
            for `keras_tuner.RandomSearch`. It must be a metric the model
            logs every epoch, e.g. "val_accuracy".
        max_trials: Integer, the number of candidates sampled. Defaults to 10.
        seed: Optional integer, the random seed.
        hyperparameters: Optional `HyperParameters` to override or register
            part of the search space in advance.
        allow_new_entries: Boolean, whether the hypermodel may ask for
            entries not in `hyperparameters`. Defaults to True.
        tune_new_entries: Boolean, whether entries the hypermodel asks for
            that are not in `hyperparameters` are tuned. Defaults to True.
        max_retries_per_trial: Integer, how often a crashed unit of a
            candidate is retried (continuing from its last checkpoint)
            before the candidate is marked `FAILED`. Defaults to 0.
        max_consecutive_failed_trials: Integer. The search stops with an
            error when this many candidates in a row fail before any
            candidate has trained. Once one has, failures are contained and
            the search goes on. Defaults to 3.
        plan: A `RoundPlan`. Defaults to one round of one epoch per unit,
            no round of selection, patience 5.
        rank_by: "best" (best objective value so far) or "last" (that of the
            last epoch). Defaults to "best".
        lease_timeout: Seconds, or None. In a distributed search, a worker
            not heard from for this long is taken for dead: its candidate
            goes to the next worker that asks, which continues it from its
            last checkpoint. Workers send a heartbeat every few seconds while
            they train, so this need not exceed an epoch. None waits for
            ever, as keras_tuner does. Defaults to 60.
        complexity_penalty: Float >= 0. Candidates are ranked by objective -
            complexity_penalty * log10(parameters) (plus, for an objective to
            minimize): a model ten times larger must be this much better to
            rank the same. Defaults to 0 (no penalty).
        clock: The function that tells the leases and `unit_costs` the time
            (monotonic seconds). Defaults to `time.monotonic`.
    """

    # How the tuner of this oracle is called, in messages.
    search_name = "RoundSearch"

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        plan=None,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        clock=time.monotonic,
    ):
        validate_common_parameters(
            max_trials, rank_by, max_retries_per_trial,
            max_consecutive_failed_trials, lease_timeout, complexity_penalty,
        )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.plan = plan if plan is not None else RoundPlan()
        self.rank_by = rank_by
        self.lease_timeout = lease_timeout
        self.complexity_penalty = complexity_penalty
        self.leases = LeaseTable(lease_timeout, clock=clock)
        self.unit_costs = UnitCosts(clock=clock)
        self._display = RoundDisplay(oracle=self)
        self.phase = PHASE_SELECTION if self.plan.rounds else PHASE_FINALISTS
        self.round = 0
        self.space_exhausted = False
        # trial_id -> Candidate
        self.candidates = {}
        self.any_trained = False
        self.consecutive_failures = 0
        # One entry per worker taken for dead: tuner_id, trial_id (or None),
        # silent_seconds, expired_at (wall-clock time).
        self.expired_leases = []
        # Trials changed since the last save; see `persist`.
        self._unsaved_trials = set()

    # ------------------------------------------------------------------
    # The extension API
    # ------------------------------------------------------------------
    def sample_values(self):
        """Hyperparameter values of a new candidate, or None if none is left."""
        return self._random_values()

    def may_sample(self):
        """Whether a new candidate may be sampled now."""
        return not self.space_exhausted and len(self.trials) < self.max_trials

    def unit_finished(self, trial):
        """A candidate of the selection phase came back trained (no-op)."""

    def round_finished(self, population):
        """Every candidate finished the round: all become finalists."""
        if self.end_if_nothing_to_train(population):
            return True
        return self.start_finalists(
            f"{len(population)} candidates train on to epoch {self.epochs}."
        )

    def finalists_finished(self, reason="the finalists are trained"):
        """No candidate is left to train: the search is over.

        Returns True (the state changed).
        """
        return self.finish(reason)

    def plan_parameters(self):
        """Parameters a run must keep until it is finished."""
        return ("rank_by", "complexity_penalty")

    # ------------------------------------------------------------------
    # Helpers for the extension API
    # ------------------------------------------------------------------
    @property
    def epochs(self):
        """The most epochs any candidate trains (None until the search says)."""
        return self.plan.epochs

    def set_epochs(self, epochs):
        """Sets the epoch budget of every candidate (from `search(epochs=)`)."""
        checks.validate_epochs(epochs)
        if (
            self.plan.epochs is not None
            and self.plan.epochs != epochs
            and self.trials
            and self.phase != PHASE_FINISHED
        ):
            raise ValueError(
                f"This project's search was started with epochs={self.epochs} "
                f"and is not finished; resuming it with epochs={epochs} would "
                f"change its plan. Pass epochs={self.epochs} to resume it, or "
                "overwrite=True (or another project_name) to start afresh."
            )
        self.plan.epochs = epochs

    def show(self, line):
        """Prints a progress line (unless the search is quiet)."""
        self._display.show(line)

    def elapsed(self):
        """Time since the search started, formatted."""
        return self._display.elapsed()

    def unit_target(self):
        """Epoch count a candidate handed out now should reach."""
        return self.plan.unit_target(self.round, self.phase == PHASE_FINALISTS)

    def population(self):
        """Trial ids of the candidates still in the search, in sampling order."""
        return [
            trial_id
            for trial_id in self.start_order
            if self.trials[trial_id].status
            in (TrialStatus.RUNNING, TrialStatus.IDLE)
        ]

    def curve(self, trial_id):
        """The objective value of every epoch `trial_id` has trained."""
        return objective_curve(self.trials[trial_id], self.objective.name)

    def score(self, trial_id):
        """The score candidates are ranked by (None: ranks last)."""
        if self.candidates[trial_id].diverged:
            return None
        return self.penalized(
            trial_id,
            culling.curve_score(
                self.curve(trial_id), self.objective.direction, self.rank_by
            ),
        )

    def parameter_count(self, trial_id):
        """The parameter count the tuner reported for `trial_id`, or None."""
        metrics = self.trials[trial_id].metrics
        if not metrics.exists(PARAMETER_COUNT_METRIC):
            return None
        return metrics.get_last_value(PARAMETER_COUNT_METRIC)

    def penalized(self, trial_id, score):
        """`score` less the complexity penalty of `trial_id`'s size."""
        if not self.complexity_penalty:
            return score
        return culling.penalized_score(
            score, self.parameter_count(trial_id), self.complexity_penalty,
            self.objective.direction,
        )

    def end_candidate(self, trial_id, status, message):
        """Ends a candidate (STOPPED, COMPLETED or FAILED) with a message."""
        trial = self.trials[trial_id]
        trial.status = status
        trial.message = message
        self.candidates[trial_id].ending = {"status": status, "message": message}
        if trial.metrics.exists(self.objective.name):
            self.score_trial(trial)
        if trial_id not in self.end_order:
            self.end_order.append(trial_id)
        self._unsaved_trials.add(trial_id)

    def end_if_nothing_to_train(self, population):
        """Ends the selection if no candidate is left or none can train on.

        The survivors that cannot train on are completed, then
        `finalists_finished` is called.

        Returns:
            True if the selection ended.
        """
        if not population:
            return self.finalists_finished("every candidate failed")
        if all(self.candidates[trial_id].done for trial_id in population):
            for trial_id in population:
                self._finish_finalist(trial_id)
            return self.finalists_finished("every survivor has trained all its epochs")
        return False

    def next_round(self):
        """Starts the next round of the selection phase."""
        self.round += 1
        return True

    def start_selection(self, message):
        """Starts a new selection phase at round 0 (e.g. a new generation)."""
        self.phase = PHASE_SELECTION
        self.round = 0
        self.show(message)
        return True

    def start_finalists(self, message):
        """Ends the selection phase: the population trains on as finalists."""
        self.phase = PHASE_FINALISTS
        self.show(f"Finalists: {message}")
        return True

    def finish(self, reason):
        """Ends the search."""
        self.phase = PHASE_FINISHED
        self.show(f"Search finished ({reason}) after {self.elapsed()}.")
        return True

    # ------------------------------------------------------------------
    # keras_tuner's Oracle API: handing out work
    # ------------------------------------------------------------------
    def populate_space(self, trial_id):
        values = self.sample_values()
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.plan.epochs is None:
            # Nobody said (the tuner's `search` does): `fit`'s default.
            self.plan.epochs = 1
        self.leases.touch(tuner_id)
        if tuner_id in self.ongoing_trials:
            # The worker asks again (a retry, or its heartbeat).
            return self.ongoing_trials[tuner_id]
        self.tuner_ids.add(tuner_id)
        self._display.start_clock()
        self.expire_leases()

        trial = self._next_unit(tuner_id)
        if self._unsaved_trials:
            # A cull or a finished finalist on the way (the barrier was
            # reached here, not in `end_trial`).
            self.persist()
        if trial is not None:
            return trial
        if self.ongoing_trials or self._waiting_candidates():
            # Other workers are still on this round (or about to take their
            # own candidates): wait at the barrier.
            return trial_module.Trial(self.get_space(), status=TrialStatus.IDLE)
        if self.phase != PHASE_FINISHED:
            raise RuntimeError(
                f"{type(self).__name__} has nothing to hand out and nothing "
                f"running, but the search is not finished (phase={self.phase}, "
                f"round={self.round}). This is a bug: please report it with "
                "the project directory."
            )
        self.tuner_ids.discard(tuner_id)
        return trial_module.Trial(self.get_space(), status=TrialStatus.STOPPED)

    def _next_unit(self, tuner_id):
        """A trial for `tuner_id` to train now, or None."""
        if self.phase == PHASE_FINISHED and self.may_sample():
            # A finished project reloaded with a larger `max_trials`: the
            # new candidates train to the end, as finalists.
            self.phase = PHASE_FINALISTS
            self.show(
                f"{self.search_name}: max_trials raised to {self.max_trials}; "
                f"the {self.max_trials - len(self.trials)} new candidates "
                "train to the end as finalists."
            )
        while self.phase != PHASE_FINISHED:
            waiting = self._next_waiting_candidate(tuner_id)
            if waiting is not None and self._unit_reported_in_full(waiting):
                # Its worker died after reporting the round's last epoch but
                # before ending the unit: nothing is left to train.
                self._record_success(self.trials[waiting])
                self._unsaved_trials.add(waiting)
                continue
            if waiting is not None:
                return self._reissue(waiting, tuner_id)
            if self.may_sample():
                trial = self._sample_candidate(tuner_id)
                if trial is not None:
                    return trial
                continue  # Space exhausted: the barrier may now be reached.
            if not self._advance():
                return None
        return None

    def _next_waiting_candidate(self, tuner_id=None):
        """A candidate for `tuner_id` that has not trained this round.

        With several workers, a candidate stays with the worker that trained
        it last (which may hold it live: no rebuild, no checkpoint to load):
        `tuner_id` gets its own candidates first, then those nobody has or
        whose worker is gone, and only then, where that is faster than
        waiting for it (`unit_costs`), the last waiting candidate of the
        worker with the most work left.
        """
        target = self.unit_target()
        waiting = self._waiting_candidates(target)
        unit_seconds = {}
        for trial_id in waiting:
            per_epoch = self.unit_costs.epoch_seconds(trial_id)
            unit_seconds[trial_id] = per_epoch and per_epoch * (
                target - self.candidates[trial_id].epochs_done
            )
        return choose_waiting_candidate(
            waiting, {trial_id: self.candidates[trial_id].worker for trial_id in waiting},
            tuner_id, self.tuner_ids, unit_seconds,
            {trial_id: self.unit_costs.build_seconds(trial_id) for trial_id in waiting},
        )

    def _waiting_candidates(self, target=None):
        """The candidates that have not trained up to `target` (this round's,
        by default) and nobody holds."""
        target = self.unit_target() if target is None else target
        held = {trial.trial_id for trial in self.ongoing_trials.values()}
        return [
            trial_id for trial_id in self.population()
            if trial_id not in held and not self.candidates[trial_id].done
            and self.candidates[trial_id].epochs_done < target
        ]

    def _unit_reported_in_full(self, trial_id):
        trial = self.trials[trial_id]
        reported = epochs_reported(trial, self.objective.name)
        return reported > self.candidates[trial_id].epochs_done and self._unit_is_over(
            trial_id, reported - 1
        )

    def _reissue(self, trial_id, tuner_id):
        trial = self.trials[trial_id]
        # The epochs a crashed attempt reported stay: the worker continues
        # from its last checkpoint, and its first report says from where.
        candidate = self.candidates[trial_id]
        self.unit_costs.start(
            trial_id, candidate.epochs_done,
            builds=candidate.epochs_done == 0 or candidate.worker != tuner_id,
        )
        candidate.awaiting_first_report = True
        candidate.worker = tuner_id
        trial.status = TrialStatus.RUNNING
        self.ongoing_trials[tuner_id] = trial
        self.persist(trial_id)
        return trial

    def _sample_candidate(self, tuner_id):
        trial_id = f"{{:0{len(str(self.max_trials))}d}}".format(len(self.trials))
        response = self.populate_space(trial_id)
        if response["status"] != TrialStatus.RUNNING:
            self.space_exhausted = True
            self.show(
                f"{self.search_name}: the search space is exhausted after "
                f"{len(self.trials)} distinct candidates (max_trials="
                f"{self.max_trials})."
            )
            return None
        trial = self._new_trial(trial_id, response["values"] or {})
        self._record_values(trial)
        self.trials[trial_id] = trial
        self.start_order.append(trial_id)
        # keras_tuner's display numbers trials from 1; keep it, unprinted.
        self._display.trial_number[trial_id] = len(self.trials)
        self._display.trial_start[trial_id] = datetime.now()
        self.candidates[trial_id] = Candidate(
            values=dict(trial.hyperparameters.values), worker=tuner_id
        )
        self.ongoing_trials[tuner_id] = trial
        self.unit_costs.start(trial_id, 0, builds=True)
        self.persist(trial_id)
        return trial

    def _new_trial(self, trial_id, values, hyperparameters=None):
        hyperparameters = (hyperparameters or self.hyperparameters).copy()
        hyperparameters.values = dict(values)
        return trial_module.Trial(
            hyperparameters=hyperparameters,
            trial_id=trial_id,
            status=TrialStatus.RUNNING,
        )

    # ------------------------------------------------------------------
    # keras_tuner's Oracle API: reports
    # ------------------------------------------------------------------
    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        """Records one epoch and answers whether to keep training.

        Returns:
            A copy of the trial whose `status` is `RUNNING` to go on, or
            `IDLE` to stop after this epoch (the round is over, the finalist
            stopped early, or the candidate diverged).
        """
        trial = self.trials[trial_id]
        owner = self.owner(trial_id)
        if owner is None:
            # A worker whose lease expired (its candidate went elsewhere, or
            # was ended) reports late: ignore it and tell it to stop.
            answer = copy.copy(trial)
            answer.status = TrialStatus.IDLE
            return answer
        self.leases.touch(owner)
        candidate = self.candidates[trial_id]
        if candidate.awaiting_first_report:
            # The first epoch of a unit says where the worker resumed: from
            # its last checkpoint, or from the start if none survived. What
            # was reported from there on is replaced by the new curve.
            candidate.awaiting_first_report = False
            _truncate_metrics(trial, step)
            candidate.epochs_done = min(candidate.epochs_done, step)
        super().update_trial(trial_id, metrics, step=step)

        if not self._metrics_finite(metrics):
            candidate.diverged = True
        answer = copy.copy(trial)
        answer.status = (
            TrialStatus.IDLE if self._unit_is_over(trial_id, step)
            else TrialStatus.RUNNING
        )
        return answer

    def owner(self, trial_id):
        """The worker holding `trial_id` now, or None."""
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        return None

    @keras_tuner.synchronized
    def expire_leases(self):
        """Takes the candidates of workers silent for `lease_timeout` back.

        Returns:
            The tuner ids whose lease expired.
        """
        expired = self.leases.expire(self.tuner_ids)
        for tuner_id, silent in expired.items():
            self.tuner_ids.discard(tuner_id)
            trial = self.ongoing_trials.pop(tuner_id, None)
            if trial is not None:
                self.unit_costs.cancel(trial.trial_id)
            self.expired_leases.append(
                {
                    "tuner_id": tuner_id,
                    "trial_id": trial and trial.trial_id,
                    "silent_seconds": round(silent, 3),
                    "expired_at": time.time(),
                }
            )
            if trial is not None:
                self.show(
                    f"Worker {tuner_id} silent for more than "
                    f"{self.lease_timeout:g} s (lease_timeout): candidate "
                    f"{trial.trial_id} goes to the next worker, from its "
                    "last checkpoint."
                )
        if expired:
            self.save()
        return list(expired)

    def _metrics_finite(self, metrics):
        names = [self.objective.name, "loss"]
        values = [metrics[name] for name in names if name in metrics]
        return all(
            value is not None and math.isfinite(float(value)) for value in values
        )

    def _unit_is_over(self, trial_id, step):
        return self.plan.unit_is_over(
            step,
            self.unit_target(),
            self.phase == PHASE_FINALISTS,
            self.curve(trial_id),
            self.objective.direction,
            self.candidates[trial_id].diverged,
        )

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """A worker finished its unit of `trial`: record it, maybe decide."""
        own = self.trials[trial.trial_id]
        owner = self.owner(own.trial_id)
        if owner is None:
            # Its lease expired: another worker has or will have it.
            return
        self.ongoing_trials.pop(owner)
        self.leases.touch(owner)
        own.hyperparameters = trial.hyperparameters
        self.update_space(own.hyperparameters)
        self._record_values(own)

        if trial.status in (TrialStatus.INVALID, TrialStatus.FAILED):
            self.unit_costs.cancel(own.trial_id)
            self._record_failure(own, trial)
        else:
            self._record_success(own)
            self.unit_costs.end(own.trial_id, self.candidates[own.trial_id].epochs_done)
        self._advance()
        self.persist(own.trial_id)

    def _record_failure(self, own, reported):
        candidate = self.candidates[own.trial_id]
        candidate.failures += 1
        own.message = reported.message
        retry = (
            reported.status == TrialStatus.INVALID
            and candidate.failures <= self.max_retries_per_trial
        )
        if retry:
            # The retry continues from the candidate's last checkpoint; its
            # first report says which epoch that is.
            own.status = TrialStatus.RUNNING
            self.show(
                f"Candidate {own.trial_id} crashed; retrying it from its last "
                f"checkpoint ({candidate.failures} of "
                f"{self.max_retries_per_trial})."
            )
            return
        self.end_candidate(own.trial_id, TrialStatus.FAILED, own.message)
        if not self.any_trained:
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.max_consecutive_failed_trials:
                self.persist(own.trial_id)
                raise RuntimeError(
                    f"The first {self.consecutive_failures} candidates all "
                    "failed, so the search stops: the model-building or "
                    "training code is likely broken for every candidate. "
                    "The last error was:\n" + (own.message or "")
                )

    def _record_success(self, own):
        candidate = self.candidates[own.trial_id]
        self.any_trained = True
        self.consecutive_failures = 0
        candidate.epochs_done = epochs_reported(own, self.objective.name)
        finalist = self.phase == PHASE_FINALISTS
        if (
            finalist
            or candidate.diverged
            or candidate.epochs_done >= self.epochs
            or candidate.epochs_done < self.unit_target()
        ):
            # Nothing more to train: it reached the last epoch, stopped
            # early, was stopped by a callback of the model, or diverged.
            candidate.done = True
        if finalist:
            self._finish_finalist(own.trial_id)
        else:
            own.status = TrialStatus.RUNNING
            self.unit_finished(own)

    def _finish_finalist(self, trial_id):
        candidate = self.candidates[trial_id]
        if candidate.diverged:
            self.end_candidate(
                trial_id,
                TrialStatus.FAILED,
                f"Diverged (non-finite {self.objective.name} or loss) at "
                f"epoch {candidate.epochs_done}.",
            )
            return
        self.end_candidate(trial_id, TrialStatus.COMPLETED, None)
        self.show(
            f"  finalist {trial_id} done after {candidate.epochs_done} "
            f"epochs: best {self.objective.name} "
            f"{format_score(self.trials[trial_id].score)}"
        )

    # ------------------------------------------------------------------
    # The barrier
    # ------------------------------------------------------------------
    def _advance(self):
        """Moves the search on if the current round is over.

        Returns:
            True if the state changed, so there may be new work.
        """
        if self.phase == PHASE_FINISHED:
            return False
        if self.may_sample() or self.ongoing_trials:
            return False
        if self._waiting_candidates():
            return False
        population = self.population()
        if self.phase == PHASE_SELECTION:
            return self.round_finished(population)
        # Finalists that cannot train further (all done) are completed.
        for trial_id in population:
            if self.candidates[trial_id].done:
                self._finish_finalist(trial_id)
        if not self.population():
            return self.finalists_finished()
        return False

    # ------------------------------------------------------------------
    # Results
    # ------------------------------------------------------------------
    def get_best_trials(self, num_trials=1):
        """Completed trials best first, then the others by their score."""

        def order(trials):
            scores = {t.trial_id: self.penalized(t.trial_id, t.score) for t in trials}
            ranking = culling.rank(scores, self.objective.direction)
            by_id = {t.trial_id: t for t in trials}
            return [by_id[trial_id] for trial_id in ranking]

        trials = list(self.trials.values())
        completed = [t for t in trials if t.status == TrialStatus.COMPLETED]
        others = [t for t in trials if t.status != TrialStatus.COMPLETED]
        return (order(completed) + order(others))[:num_trials]

    def epochs_trained(self):
        """Total epochs trained by all candidates so far."""
        return sum(
            epochs_reported(trial, self.objective.name)
            for trial in self.trials.values()
        )

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        state[STATE_KEY] = {
            "kind": type(self).__name__,
            "parameters": {
                name: getattr(self, name) for name in self.plan_parameters()
            },
            "epochs": self.epochs,
            "phase": self.phase,
            "round": self.round,
            "space_exhausted": self.space_exhausted,
            "candidates": {
                trial_id: candidate.to_dict()
                for trial_id, candidate in self.candidates.items()
            },
            "any_trained": self.any_trained,
            "consecutive_failures": self.consecutive_failures,
            "expired_leases": self.expired_leases,
        }
        return state

    def set_state(self, state):
        if STATE_KEY not in state:
            raise RuntimeError(
                "The project directory holds the state of another kind of "
                f"tuner, not of {self.search_name}. Use another `project_name` "
                "or `directory`, or pass `overwrite=True` to start afresh."
            )
        own = state[STATE_KEY]
        if own["kind"] != type(self).__name__:
            raise RuntimeError(
                f"The project directory holds the state of a {own['kind']}, not "
                f"of a {type(self).__name__}. Use another `project_name` or "
                "`directory`, or pass `overwrite=True` to start afresh."
            )
        changed = [
            f"{name}={value!r} (now {getattr(self, name)!r})"
            for name, value in own["parameters"].items()
            if value != getattr(self, name)
        ]
        if changed and own["phase"] != PHASE_FINISHED:
            raise ValueError(
                f"This project directory holds an unfinished {self.search_name} "
                f"run with other parameters: {', '.join(changed)}. Pass the "
                "same values to resume it, or overwrite=True (or another "
                "project_name) to start afresh."
            )
        candidates = {
            trial_id: Candidate.from_dict(data)
            for trial_id, data in own["candidates"].items()
        }
        self._restore_missing_trials(state, candidates)
        super().set_state(state)
        self.plan.epochs = own["epochs"]
        self.phase = own["phase"]
        self.round = own["round"]
        self.space_exhausted = own["space_exhausted"]
        self.candidates = candidates
        self.any_trained = own["any_trained"]
        self.consecutive_failures = own["consecutive_failures"]
        self.expired_leases = own["expired_leases"]

    def _restore_missing_trials(self, state, candidates):
        """Rebuilds trials saved in the state whose file a kill kept unwritten."""
        space = hp_module.HyperParameters.from_config(state["hyperparameters"])
        for trial_id, candidate in candidates.items():
            if trial_id not in self.trials:
                self.trials[trial_id] = self._new_trial(
                    trial_id, candidate.values, space
                )
                self._unsaved_trials.add(trial_id)

    def reload(self):
        super().reload()
        # keras_tuner queues the trials that were running for a retry; here
        # every candidate that has not finished its round is handed out
        # again anyway, from its last checkpoint.
        self._retry_queue = []
        self._catch_up_trial_files()

    def save(self):
        files.atomic_write_json(self._get_oracle_fname(), self.get_state())

    def persist(self, *trial_ids):
        """Saves the oracle's state, then the trial files that changed.

        Always in this order: the state holds everything a trial file
        needs, so a kill in between leaves trial files behind the state, and
        `reload` brings them up to date from it.
        """
        self.save()
        for trial_id in sorted(self._unsaved_trials | set(trial_ids)):
            self._save_trial(self.trials[trial_id])
        self._unsaved_trials.clear()

    def _catch_up_trial_files(self):
        """Re-applies the endings that a kill kept from the trial files."""
        for trial_id, candidate in self.candidates.items():
            ending = candidate.ending
            trial = self.trials[trial_id]
            if ending is not None and (
                trial.status != ending["status"] or trial.message != ending["message"]
            ):
                self.end_candidate(trial_id, ending["status"], ending["message"])
        if self._unsaved_trials:
            self.persist()

    def _save_trial(self, trial):
        path = f"{self._get_trial_dir(trial.trial_id)}/trial.json"
        files.atomic_write_json(path, trial.get_state())


class PruneOracle(RoundOracle):
    """Random candidates, trained in rounds, the worst culled after each round.

    The algorithm:

    1. Sample `max_trials` distinct candidates from the search space, as
       `RandomSearch` does.
    2. Round r trains every survivor for `epochs_per_round` more epochs,
       continuing from its own weights and optimizer state. Every epoch is
       reported.
    3. After each round, rank the survivors by their score (`rank_by`: best
       objective so far, or that of the last epoch; failed and diverged
       candidates rank last) and cull `max(1, floor(cull_fraction * alive))`
       of them, never going below `min_survivors`. Culled trials end
       `STOPPED`, with a message saying at which epoch and rank.
    4. Once `min_survivors` or fewer are left, the finalists train on, each
       to `epochs` with early stopping (`patience`), and end `COMPLETED`.
       The best finalist is the result.

    If the epochs run out first, the survivors at that point are the
    finalists. With `max_trials <= min_survivors` there is nothing to cull:
    every candidate is a finalist, as in `RandomSearch`.

    Args:
        objective, max_trials, seed, hyperparameters, allow_new_entries,
        tune_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, rank_by, lease_timeout,
        complexity_penalty, clock: As for `RoundOracle`.
        cull_fraction: Float in (0, 1), the share of survivors dropped after
            every round. Defaults to 0.15.
        min_survivors: Integer >= 1, culling stops once this many are left.
            Defaults to 10.
        epochs_per_round: Integer >= 1, epochs between two culls. Defaults
            to 1.
        patience: Integer >= 1 or None. Finalists stop after this many epochs
            without improving on their best objective. None trains them to
            the last epoch. Defaults to 5.

    Example:

    ```python
    oracle = kpn.PruneOracle(objective="val_accuracy", max_trials=50)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build_model)
    ```
    `PruneSearch` builds this oracle for you and is what most people want.
    """

    search_name = "PruneSearch"

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        cull_fraction=0.15,
        min_survivors=10,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        clock=time.monotonic,
    ):
        culling.validate_cull_parameters(cull_fraction, min_survivors, epochs_per_round)
        rounds = 0
        if checks.is_integer(max_trials) and max_trials >= 1:
            # (A bad `max_trials` is reported by `RoundOracle`.)
            rounds = culling.culling_rounds(max_trials, cull_fraction, min_survivors)
        plan = RoundPlan(
            epochs_per_round=epochs_per_round, rounds=rounds, patience=patience
        )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            plan=plan,
            rank_by=rank_by,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
            clock=clock,
        )
        self.cull_fraction = cull_fraction
        self.min_survivors = min_survivors
        self.epochs_per_round = epochs_per_round
        self.patience = patience
        # One entry per cull: round, epoch, population before, culled ones.
        self.cull_history = []
        self._notified_no_cull = False

    def plan_parameters(self):
        return super().plan_parameters() + (
            "cull_fraction", "min_survivors", "epochs_per_round",
        )

    def set_epochs(self, epochs):
        super().set_epochs(epochs)
        if self.phase != PHASE_FINISHED and not self._notified_no_cull:
            self._notified_no_cull = True
            if self.max_trials <= self.min_survivors:
                self.show(
                    f"PruneSearch: max_trials={self.max_trials} <= "
                    f"min_survivors={self.min_survivors}, so nothing is "
                    "culled: every candidate trains to the end, as in "
                    "RandomSearch. Raise max_trials (e.g. 50) to cull."
                )

    def round_finished(self, population):
        """Culls the worst, then starts the next round or the finalists."""
        if self.end_if_nothing_to_train(population):
            return True
        if len(population) > self.min_survivors:
            self._cull(population)
        if len(self.population()) > self.min_survivors:
            return self.next_round()
        return self.start_finalists(
            f"{len(self.population())} candidates train on to epoch "
            f"{self.epochs} with early stopping (patience={self.patience})."
        )

    def _cull(self, population):
        epoch = self.unit_target()
        scores = {trial_id: self.score(trial_id) for trial_id in population}
        # Failed candidates have already left; diverged ones rank last.
        culled = culling.select_culled(
            scores, self.cull_fraction, self.min_survivors,
            self.objective.direction,
        )
        record = {
            "round": self.round,
            "epoch": epoch,
            "alive": len(population),
            "culled": [],
        }
        for trial_id, rank in culled:
            score = scores[trial_id]
            self.end_candidate(
                trial_id,
                TrialStatus.STOPPED,
                f"Culled after epoch {epoch} (round {self.round + 1}): ranked "
                f"{rank} of {len(population)} with {self.objective.name} "
                f"{format_score(score)} ({self.rank_by} so far).",
            )
            record["culled"].append(
                {"trial_id": trial_id, "rank": rank, "score": score}
            )
        self.cull_history.append(record)
        best_id = culling.rank(scores, self.objective.direction)[0]
        self.show(
            f"[round {self.round + 1:>3}] epoch {epoch:>3}/{self.epochs}  "
            f"alive {len(population):>4} -> {len(population) - len(culled):<4} "
            f"culled {len(culled):>3}  best {self.objective.name} "
            f"{format_score(scores[best_id])} (trial {best_id})  "
            f"elapsed {self.elapsed()}"
        )

    def get_state(self):
        state = super().get_state()
        state[STATE_KEY]["cull_history"] = self.cull_history
        return state

    def set_state(self, state):
        super().set_state(state)
        self.cull_history = state[STATE_KEY]["cull_history"]
