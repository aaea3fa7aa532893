"""PruneOracle: a keras_tuner Oracle that culls the worst candidates every round.

One candidate is one keras_tuner `Trial`. The oracle hands a trial out once
per round (a "unit" of work: train it up to the round's last epoch), hears
about every epoch through `update_trial`, answers each report with whether to
keep training, and holds the barrier: the cull after round r happens only once
every survivor has finished round r.
"""

import copy
import math
import time
from datetime import datetime

import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.engine import metrics_tracking
from keras_tuner.src.engine import oracle as oracle_module

from keras_prune_nas import _io
from keras_prune_nas import culling

TrialStatus = trial_module.TrialStatus

PHASE_CULLING = "culling"
PHASE_FINALISTS = "finalists"
PHASE_FINISHED = "finished"
# The metric the tuner reports a candidate's parameter count under, when the
# oracle ranks with a complexity penalty.
PARAMETERS_METRIC = "num_parameters"


class PruneDisplay(oracle_module.Display):
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


def _objective_curve(trial, objective_name):
    """The objective values of `trial`, one per epoch, in epoch order."""
    if not trial.metrics.exists(objective_name):
        return []
    return [
        float(obs.mean())
        for obs in trial.metrics.get_history(objective_name)
    ]


def last_step(trial, objective_name):
    if not trial.metrics.exists(objective_name):
        return -1
    history = trial.metrics.get_history(objective_name)
    return history[-1].step if history else -1


def _truncate_metrics(trial, from_step):
    """Drops every observation at `step >= from_step` (a half-done round)."""
    for name, history in list(trial.metrics.metrics.items()):
        kept = [obs for obs in history.get_history() if obs.step < from_step]
        if len(kept) == len(history.get_history()):
            continue
        fresh = metrics_tracking.MetricHistory(history.direction)
        fresh.set_history(kept)
        trial.metrics.metrics[name] = fresh


class PruneOracle(keras_tuner.Oracle):
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
        objective: A string, `keras_tuner.Objective`, or a list of them, as
            for `keras_tuner.RandomSearch`. It must be a metric the model
            logs every epoch, e.g. "val_accuracy".
        max_trials: Integer, the number of candidates sampled (the
            population). Defaults to 10.
        seed: Optional integer, the random seed.
        hyperparameters: Optional `HyperParameters` to override or register
            part of the search space in advance.
        tune_new_entries: Boolean, whether entries the hypermodel asks for
            that are not in `hyperparameters` are tuned. Defaults to True.
        allow_new_entries: Boolean, whether the hypermodel may ask for
            entries not in `hyperparameters`. Defaults to True.
        max_retries_per_trial: Integer, how often a crashed round of a
            candidate is retried (from scratch) before the candidate is
            marked `FAILED`. Defaults to 0.
        max_consecutive_failed_trials: Integer. The search stops with an
            error when this many candidates in a row fail before any
            candidate has trained. Once one has, failures are contained and
            the search goes on. Defaults to 3.
        cull_fraction: Float in (0, 1), the share of survivors dropped after
            every round. Defaults to 0.15.
        min_survivors: Integer >= 1, culling stops once this many are left.
            Defaults to 10.
        epochs_per_round: Integer >= 1, epochs between two culls. Defaults
            to 1.
        patience: Integer >= 1 or None. Finalists stop after this many epochs
            without improving on their best objective. None trains them to
            the last epoch. Defaults to 5.
        rank_by: "best" (best objective value so far) or "last" (that of the
            last epoch). Defaults to "best".
        lease_timeout: Seconds, or None. In a distributed search, a worker
            that has not been heard from for this long (no epoch reported,
            no request) is taken for dead: its candidate goes to the next
            worker that asks, which continues it from its last checkpoint.
            Must be longer than the longest epoch plus a model's build
            time. None waits for ever, as keras_tuner does. Defaults to 600.
        complexity_penalty: Float >= 0. Survivors and finalists are ranked
            by objective - complexity_penalty * log10(parameters) (plus, for
            an objective to minimize): a model ten times larger must be
            this much better to rank the same. The tuner reports each
            candidate's parameter count as the metric `num_parameters`.
            Defaults to 0 (no penalty).

    Example:

    ```python
    oracle = kpn.PruneOracle(objective="val_accuracy", max_trials=50)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build_model)
    ```
    `PruneSearch` builds this oracle for you and is what most people want.
    """

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
        lease_timeout=600,
        complexity_penalty=0.0,
    ):
        culling.validate_complexity_penalty(complexity_penalty)
        validate_oracle_parameters(
            max_trials=max_trials,
            cull_fraction=cull_fraction,
            min_survivors=min_survivors,
            epochs_per_round=epochs_per_round,
            patience=patience,
            rank_by=rank_by,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            lease_timeout=lease_timeout,
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
        self.cull_fraction = cull_fraction
        self.min_survivors = min_survivors
        self.epochs_per_round = epochs_per_round
        self.patience = patience
        self.rank_by = rank_by
        self.lease_timeout = lease_timeout
        self.complexity_penalty = complexity_penalty
        self._display = PruneDisplay(oracle=self)
        # tuner_id -> time.monotonic() of its last request; not saved: after
        # a restart every worker's clock starts again.
        self._last_seen = {}

        # Set by the tuner from `search(epochs=...)`.
        self.epochs = None
        self.phase = (
            PHASE_FINALISTS if max_trials <= min_survivors else PHASE_CULLING
        )
        self.round = 0
        self.space_exhausted = False
        # trial_id -> {"epochs_done", "unit_start", "done", "diverged",
        #              "failures"}; see `_new_candidate_state`.
        self.candidates = {}
        # One entry per cull: round, epoch, population before, culled ones.
        self.cull_history = []
        self.any_trained = False
        self.consecutive_failures = 0
        # One entry per worker taken for dead: tuner_id, trial_id (or None).
        self.expired_leases = []
        self._notified_no_cull = False
        # Trials changed since the last save; see `_persist`.
        self._unsaved_trials = set()

    # ------------------------------------------------------------------
    # Plan
    # ------------------------------------------------------------------
    def set_epochs(self, epochs):
        """Sets the epoch budget of every candidate (from `search(epochs=)`)."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(
                "`epochs` must be an integer >= 1 (the most epochs any "
                f"candidate trains). Received: epochs={epochs!r}."
            )
        if (
            self.epochs is not None
            and self.epochs != epochs
            and self.trials
            and self.phase != PHASE_FINISHED
        ):
            raise ValueError(
                f"This project's search was started with epochs={self.epochs} "
                f"and is not finished; resuming it with epochs={epochs} would "
                f"change its plan. Pass epochs={self.epochs} to resume it, or "
                "overwrite=True (or another project_name) to start afresh."
            )
        self.epochs = epochs
        if self.phase != PHASE_FINISHED and not self._notified_no_cull:
            self._notified_no_cull = True
            if self.max_trials <= self.min_survivors:
                self._display.show(
                    f"PruneSearch: max_trials={self.max_trials} <= "
                    f"min_survivors={self.min_survivors}, so nothing is "
                    "culled: every candidate trains to the end, as in "
                    "RandomSearch. Raise max_trials (e.g. 50) to prune."
                )

    def unit_target(self):
        """Epoch count a candidate handed out now should reach."""
        if self.phase == PHASE_FINALISTS:
            return self.epochs
        return culling.round_end_epoch(
            self.round, self.epochs_per_round, self.epochs
        )

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
        return _objective_curve(self.trials[trial_id], self.objective.name)

    def score(self, trial_id):
        """The score the cull ranks `trial_id` by (None: ranks last)."""
        state = self.candidates[trial_id]
        if state["diverged"]:
            return None
        return self._penalized(
            trial_id,
            culling.curve_score(
                self.curve(trial_id), self.objective.direction, self.rank_by
            ),
        )

    def parameters(self, trial_id):
        """The parameter count the tuner reported for `trial_id`, or None."""
        metrics = self.trials[trial_id].metrics
        if not metrics.exists(PARAMETERS_METRIC):
            return None
        return metrics.get_last_value(PARAMETERS_METRIC)

    def _penalized(self, trial_id, score):
        if not self.complexity_penalty:
            return score
        return culling.penalized_score(
            score, self.parameters(trial_id), self.complexity_penalty,
            self.objective.direction,
        )

    # ------------------------------------------------------------------
    # Oracle API
    # ------------------------------------------------------------------
    def populate_space(self, trial_id):
        values = self._random_values()
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.epochs is None:
            # Nobody said (PruneSearch.search does): `fit`'s default.
            self.epochs = 1
        self._last_seen[tuner_id] = time.monotonic()
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        self.tuner_ids.add(tuner_id)
        self._display.start_clock()
        self.expire_leases()

        trial = self._next_unit(tuner_id)
        if self._unsaved_trials:
            # A cull or a finished finalist on the way (the barrier was
            # reached here, not in `end_trial`).
            self._persist()
        if trial is not None:
            return trial
        if self.ongoing_trials:
            # Other workers are still on this round: wait at the barrier.
            return trial_module.Trial(self.get_space(), status=TrialStatus.IDLE)
        if self.phase != PHASE_FINISHED:
            raise RuntimeError(
                "PruneOracle has nothing to hand out and nothing running, "
                f"but the search is not finished (phase={self.phase}, "
                f"round={self.round}). This is a bug: please report it with "
                "the project directory."
            )
        self.tuner_ids.discard(tuner_id)
        return trial_module.Trial(self.get_space(), status=TrialStatus.STOPPED)

    def _next_unit(self, tuner_id):
        """A trial for `tuner_id` to train now, or None."""
        if self.phase == PHASE_FINISHED and self._can_sample():
            # A finished project reloaded with a larger `max_trials`: the
            # new candidates train to the end, as finalists.
            self.phase = PHASE_FINALISTS
            self._display.show(
                f"PruneSearch: max_trials raised to {self.max_trials}; the "
                f"{self.max_trials - len(self.trials)} new candidates train "
                "to the end as finalists."
            )
        while self.phase != PHASE_FINISHED:
            pending = self._pending_candidate()
            if pending is not None and self._unit_reported_in_full(pending):
                # Its worker died after reporting the round's last epoch but
                # before ending the unit: nothing is left to train.
                self._record_success(self.trials[pending])
                self._unsaved_trials.add(pending)
                continue
            if pending is not None:
                return self._reissue(pending, tuner_id)
            if self._can_sample():
                trial = self._sample_candidate(tuner_id)
                if trial is not None:
                    return trial
                continue  # Space exhausted: the barrier may now be reached.
            if not self._advance():
                return None
        return None

    def _can_sample(self):
        return not self.space_exhausted and len(self.trials) < self.max_trials

    def _pending_candidate(self):
        target = self.unit_target()
        running = {trial.trial_id for trial in self.ongoing_trials.values()}
        for trial_id in self.population():
            state = self.candidates[trial_id]
            if trial_id in running or state["done"]:
                continue
            if state["epochs_done"] < target:
                return trial_id
        return None

    def _unit_reported_in_full(self, trial_id):
        step = last_step(self.trials[trial_id], self.objective.name)
        state = self.candidates[trial_id]
        return step >= state["epochs_done"] and self._should_pause(trial_id, step)

    def _reissue(self, trial_id, tuner_id):
        trial = self.trials[trial_id]
        state = self.candidates[trial_id]
        # The epochs a crashed attempt reported stay: the worker continues
        # from its last checkpoint, and its first report says from where.
        state["unit_start"] = state["epochs_done"]
        state["fresh"] = True
        trial.status = TrialStatus.RUNNING
        self.ongoing_trials[tuner_id] = trial
        self._save_trial(trial)
        self.save()
        return trial

    def _sample_candidate(self, tuner_id):
        trial_id = f"{{:0{len(str(self.max_trials))}d}}".format(len(self.trials))
        response = self.populate_space(trial_id)
        if response["status"] != TrialStatus.RUNNING:
            self.space_exhausted = True
            self._display.show(
                f"PruneSearch: the search space is exhausted after "
                f"{len(self.trials)} distinct candidates (max_trials="
                f"{self.max_trials})."
            )
            return None
        hyperparameters = self.hyperparameters.copy()
        hyperparameters.values = response["values"] or {}
        trial = trial_module.Trial(
            hyperparameters=hyperparameters,
            trial_id=trial_id,
            status=TrialStatus.RUNNING,
        )
        self._record_values(trial)
        self.trials[trial_id] = trial
        self.start_order.append(trial_id)
        # keras_tuner's display numbers trials from 1; keep it, unprinted.
        self._display.trial_number[trial_id] = len(self.trials)
        self._display.trial_start[trial_id] = datetime.now()
        self.candidates[trial_id] = _new_candidate_state()
        self.ongoing_trials[tuner_id] = trial
        self._save_trial(trial)
        self.save()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        """Records one epoch and answers whether to keep training.

        Returns:
            A copy of the trial whose `status` is `RUNNING` to go on, or
            `IDLE` to stop after this epoch (the round is over, the finalist
            stopped early, or the candidate diverged).
        """
        trial = self.trials[trial_id]
        owner = self._owner(trial_id)
        if owner is None:
            # A worker whose lease expired (its candidate went elsewhere, or
            # was ended) reports late: ignore it and tell it to stop.
            answer = copy.copy(trial)
            answer.status = TrialStatus.IDLE
            return answer
        self._last_seen[owner] = time.monotonic()
        state = self.candidates[trial_id]
        if state.get("fresh", True):
            # The first epoch of a unit says where the worker resumed: from
            # its last checkpoint, or from scratch if none survived. What was
            # reported from there on is replaced by the new curve.
            state["fresh"] = False
            _truncate_metrics(trial, step)
            state["unit_start"] = step
            state["epochs_done"] = min(state["epochs_done"], step)
        super().update_trial(trial_id, metrics, step=step)

        if not self._metrics_finite(metrics):
            state["diverged"] = True
        answer = copy.copy(trial)
        answer.status = (
            TrialStatus.IDLE if self._should_pause(trial_id, step)
            else TrialStatus.RUNNING
        )
        return answer

    def _owner(self, trial_id):
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
        if self.lease_timeout is None:
            return []
        now = time.monotonic()
        expired = []
        for tuner_id in sorted(self.tuner_ids):
            seen = self._last_seen.setdefault(tuner_id, now)
            if now - seen <= self.lease_timeout:
                continue
            expired.append(tuner_id)
            self.tuner_ids.discard(tuner_id)
            self._last_seen.pop(tuner_id)
            trial = self.ongoing_trials.pop(tuner_id, None)
            self.expired_leases.append(
                {"tuner_id": tuner_id, "trial_id": trial and trial.trial_id}
            )
            if trial is not None:
                self._display.show(
                    f"Worker {tuner_id} silent for more than "
                    f"{self.lease_timeout:g} s (lease_timeout): candidate "
                    f"{trial.trial_id} goes to the next worker, from its "
                    "last checkpoint."
                )
        if expired:
            self.save()
        return expired

    def _metrics_finite(self, metrics):
        names = [self.objective.name, "loss"]
        values = [metrics[name] for name in names if name in metrics]
        return all(
            value is not None and math.isfinite(float(value)) for value in values
        )

    def _should_pause(self, trial_id, step):
        state = self.candidates[trial_id]
        if state["diverged"] or step + 1 >= self.unit_target():
            return True
        return self.phase == PHASE_FINALISTS and culling.should_stop_early(
            self.curve(trial_id), self.objective.direction, self.patience
        )

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """A worker finished its unit of `trial`: record it, maybe cull."""
        own = self.trials[trial.trial_id]
        owner = self._owner(own.trial_id)
        if owner is None:
            # Its lease expired: another worker has or will have it.
            return
        self.ongoing_trials.pop(owner)
        self._last_seen[owner] = time.monotonic()
        own.hyperparameters = trial.hyperparameters
        self.update_space(own.hyperparameters)
        self._record_values(own)

        if trial.status in (TrialStatus.INVALID, TrialStatus.FAILED):
            self._record_failure(own, trial)
        else:
            self._record_success(own)
        self._advance()
        self._persist(own)

    def _record_failure(self, own, reported):
        state = self.candidates[own.trial_id]
        state["failures"] += 1
        own.message = reported.message
        retry = (
            reported.status == TrialStatus.INVALID
            and state["failures"] <= self.max_retries_per_trial
        )
        if retry:
            # The retry continues from the candidate's last checkpoint; its
            # first report says which epoch that is.
            own.status = TrialStatus.RUNNING
            self._display.show(
                f"Candidate {own.trial_id} crashed; retrying it from its last "
                f"checkpoint ({state['failures']} of "
                f"{self.max_retries_per_trial})."
            )
            return
        self._end_candidate(own, TrialStatus.FAILED, own.message)
        if not self.any_trained:
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.max_consecutive_failed_trials:
                self._persist(own)
                raise RuntimeError(
                    f"The first {self.consecutive_failures} candidates all "
                    "failed, so the search stops: the model-building or "
                    "training code is likely broken for every candidate. "
                    "The last error was:\n" + (own.message or "")
                )

    def _record_success(self, own):
        state = self.candidates[own.trial_id]
        self.any_trained = True
        self.consecutive_failures = 0
        state["epochs_done"] = last_step(own, self.objective.name) + 1
        state["unit_start"] = state["epochs_done"]
        if (
            state["diverged"]
            or state["epochs_done"] >= self.epochs
            or state["epochs_done"] < self.unit_target()
            or self.phase == PHASE_FINALISTS
        ):
            # Nothing more to train: it reached the last epoch, stopped
            # early, was stopped by a callback of the model, or diverged.
            state["done"] = True
        if self.phase == PHASE_FINALISTS:
            self._finish_finalist(own)
        else:
            own.status = TrialStatus.RUNNING

    def _finish_finalist(self, trial):
        state = self.candidates[trial.trial_id]
        if state["diverged"]:
            self._end_candidate(
                trial,
                TrialStatus.FAILED,
                f"Diverged (non-finite {self.objective.name} or loss) at "
                f"epoch {state['epochs_done']}.",
            )
            return
        self._end_candidate(trial, TrialStatus.COMPLETED, None)
        self._display.show(
            f"  finalist {trial.trial_id} done after {state['epochs_done']} "
            f"epochs: best {self.objective.name} {_format(trial.score)}"
        )

    def _end_candidate(self, trial, status, message):
        trial.status = status
        trial.message = message
        if trial.metrics.exists(self.objective.name):
            self.score_trial(trial)
        if trial.trial_id not in self.end_order:
            self.end_order.append(trial.trial_id)
        self._unsaved_trials.add(trial.trial_id)

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
        if self._can_sample() or self.ongoing_trials:
            return False
        if self._pending_candidate() is not None:
            return False

        population = self.population()
        trainable = [t for t in population if not self.candidates[t]["done"]]
        if self.phase == PHASE_FINALISTS:
            # Finalists that cannot train further (all done) are completed.
            for trial_id in population:
                if self.candidates[trial_id]["done"]:
                    self._finish_finalist(self.trials[trial_id])
            if not self.population():
                return self._finish("the finalists are trained")
            return False
        if not population:
            return self._finish("every candidate failed")
        if not trainable:
            for trial_id in population:
                self._finish_finalist(self.trials[trial_id])
            return self._finish(
                "every survivor has trained all its epochs"
            )
        if len(population) > self.min_survivors:
            self._cull(population)
        if len(self.population()) > self.min_survivors:
            self.round += 1
            return True
        self.phase = PHASE_FINALISTS
        self._display.show(
            f"Finalists: {len(self.population())} candidates train on to "
            f"epoch {self.epochs} with early stopping "
            f"(patience={self.patience})."
        )
        return True

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
            self._end_candidate(
                self.trials[trial_id],
                TrialStatus.STOPPED,
                self._cull_message(self.round, epoch, rank, len(population), score),
            )
            record["culled"].append(
                {"trial_id": trial_id, "rank": rank, "score": score}
            )
        self.cull_history.append(record)
        best_id = culling.rank(scores, self.objective.direction)[0]
        self._display.show(
            f"[round {self.round + 1:>3}] epoch {epoch:>3}/{self.epochs}  "
            f"alive {len(population):>4} -> {len(population) - len(culled):<4} "
            f"culled {len(culled):>3}  best {self.objective.name} "
            f"{_format(scores[best_id])} (trial {best_id})  "
            f"elapsed {self._display.elapsed()}"
        )

    def _cull_message(self, round_index, epoch, rank, alive, score):
        return (
            f"Culled after epoch {epoch} (round {round_index + 1}): ranked "
            f"{rank} of {alive} with {self.objective.name} {_format(score)} "
            f"({self.rank_by} so far)."
        )

    def _finish(self, reason):
        self.phase = PHASE_FINISHED
        self._display.show(
            f"Search finished ({reason}) after {self._display.elapsed()}."
        )
        return True

    # ------------------------------------------------------------------
    # Results
    # ------------------------------------------------------------------
    def get_best_trials(self, num_trials=1):
        """Completed trials best first, then the others by their score."""

        def order(trials):
            scores = {t.trial_id: self._penalized(t.trial_id, t.score) for t in trials}
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
            last_step(trial, self.objective.name) + 1
            for trial in self.trials.values()
        )

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        state.update(
            {
                "prune": {
                    "cull_fraction": self.cull_fraction,
                    "min_survivors": self.min_survivors,
                    "epochs_per_round": self.epochs_per_round,
                    "patience": self.patience,
                    "rank_by": self.rank_by,
                    "complexity_penalty": self.complexity_penalty,
                    "kind": type(self).__name__,
                    "epochs": self.epochs,
                    "phase": self.phase,
                    "round": self.round,
                    "space_exhausted": self.space_exhausted,
                    "candidates": self.candidates,
                    "cull_history": self.cull_history,
                    "any_trained": self.any_trained,
                    "consecutive_failures": self.consecutive_failures,
                    "expired_leases": self.expired_leases,
                }
            }
        )
        return state

    def set_state(self, state):
        if "prune" not in state:
            raise RuntimeError(
                "The project directory holds the state of another kind of "
                "tuner, not of PruneSearch. Use another `project_name` or "
                "`directory`, or pass `overwrite=True` to start afresh."
            )
        prune = state["prune"]
        kind = prune.get("kind", "PruneOracle")
        if kind != type(self).__name__:
            raise RuntimeError(
                f"The project directory holds the state of a {kind}, not of "
                f"a {type(self).__name__}. Use another `project_name` or "
                "`directory`, or pass `overwrite=True` to start afresh."
            )
        changed = [
            f"{name}={prune[name]!r} (now {getattr(self, name)!r})"
            for name in self._plan_parameters()
            if prune.get(name, getattr(self, name)) != getattr(self, name)
        ]
        if changed and prune["phase"] != PHASE_FINISHED:
            raise ValueError(
                "This project directory holds an unfinished PruneSearch run "
                f"with other culling parameters: {', '.join(changed)}. Pass "
                "the same values to resume it, or overwrite=True (or another "
                "project_name) to start afresh."
            )
        super().set_state(state)
        self.epochs = prune["epochs"]
        self.phase = prune["phase"]
        self.round = prune["round"]
        self.space_exhausted = prune["space_exhausted"]
        self.candidates = prune["candidates"]
        self.cull_history = prune["cull_history"]
        self.any_trained = prune["any_trained"]
        self.consecutive_failures = prune["consecutive_failures"]
        self.expired_leases = prune.get("expired_leases", [])

    def _plan_parameters(self):
        """Parameters a run must keep until it is finished."""
        return (
            "cull_fraction", "min_survivors", "epochs_per_round", "rank_by",
            "complexity_penalty",
        )

    def reload(self):
        super().reload()
        # keras_tuner queues the trials that were running for a retry; here
        # every candidate that has not finished its round is handed out
        # again anyway, from its last finished round.
        self._retry_queue = []
        self._catch_up_trial_files()

    def save(self):
        _io.atomic_write_json(self._get_oracle_fname(), self.get_state())

    def _persist(self, *trials):
        """Saves the oracle, then the trials that changed.

        In this order: a kill in between leaves trial files behind the
        oracle's state, and `reload` brings them up to date from it.
        """
        self.save()
        for trial_id in sorted(self._unsaved_trials | {t.trial_id for t in trials}):
            self._save_trial(self.trials[trial_id])
        self._unsaved_trials.clear()

    def _catch_up_trial_files(self):
        """Re-applies the culls and finishes that a kill kept from trial files."""
        for trial_id in [t for t in self.trials if t not in self.candidates]:
            # Sampled, but killed before the oracle saved it: it will be
            # sampled again (the random state is the saved one).
            del self.trials[trial_id]
        for record in self.cull_history:
            for entry in record["culled"]:
                trial = self.trials[entry["trial_id"]]
                if trial.status != TrialStatus.STOPPED:
                    self._end_candidate(
                        trial, TrialStatus.STOPPED,
                        self._cull_message(
                            record["round"], record["epoch"], entry["rank"],
                            record["alive"], entry["score"],
                        ),
                    )
        if self.phase != PHASE_CULLING:
            for trial_id in self.population():
                if self.candidates[trial_id]["done"]:
                    self._finish_finalist(self.trials[trial_id])
        if self._unsaved_trials:
            self._persist()

    def _save_trial(self, trial):
        path = f"{self._get_trial_dir(trial.trial_id)}/trial.json"
        _io.atomic_write_json(path, trial.get_state())


def _new_candidate_state():
    return {
        "epochs_done": 0,  # epochs trained as of its last finished round
        "unit_start": 0,  # epoch the current unit of work started from
        "done": False,  # it cannot or need not train any further
        "diverged": False,  # a non-finite loss or objective was reported
        "failures": 0,
        "fresh": True,  # no epoch of the current unit reported yet
    }


def _format(score):
    return "n/a" if score is None or not math.isfinite(score) else f"{score:.4f}"


def validate_oracle_parameters(
    max_trials,
    cull_fraction,
    min_survivors,
    epochs_per_round,
    patience,
    rank_by,
    max_retries_per_trial=0,
    max_consecutive_failed_trials=3,
    lease_timeout=None,
):
    """Checks every culling parameter; raises `ValueError` naming the fix."""
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(
            "`max_trials` must be an integer >= 1 (the number of candidate "
            f"architectures sampled). Received: max_trials={max_trials!r}."
        )
    culling.validate_cull_parameters(cull_fraction, min_survivors, epochs_per_round)
    if patience is not None and (
        isinstance(patience, bool) or not isinstance(patience, int) or patience < 1
    ):
        raise ValueError(
            "`patience` must be an integer >= 1 (epochs without improvement "
            "before a finalist stops) or None (no early stopping). "
            f"Received: patience={patience!r}."
        )
    if rank_by not in culling.RANK_BY_CHOICES:
        raise ValueError(
            "`rank_by` must be 'best' (best objective so far) or 'last' (the "
            f"last epoch's objective). Received: rank_by={rank_by!r}."
        )
    for name, value in (
        ("max_retries_per_trial", max_retries_per_trial),
        ("max_consecutive_failed_trials", max_consecutive_failed_trials),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"`{name}` must be an integer >= 0. Received: {name}={value!r}."
            )
    if lease_timeout is not None and (
        isinstance(lease_timeout, bool)
        or not isinstance(lease_timeout, (int, float))
        or not lease_timeout > 0
        or not math.isfinite(lease_timeout)
    ):
        raise ValueError(
            "`lease_timeout` must be a number of seconds > 0 (how long a "
            "silent worker keeps its candidate) or None (for ever). "
            f"Received: lease_timeout={lease_timeout!r}."
        )

