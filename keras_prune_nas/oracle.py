"""keras_tuner's face of the round engine: `RoundOracle` and `PruneOracle`.

One candidate is one keras_tuner `Trial`. Every decision is the engine's
(`keras_prune_nas.engine`): this module only translates. `create_trial` is a
worker asking for work (`RoundEngine.ask`); `update_trial` an epoch's report
(`report_epoch`, answered RUNNING to go on or IDLE when the unit is over);
`end_trial` the end of a unit (`end_unit`, where the barrier may fall and
the policy decide); `get_state`/`set_state` the engine's one plain state.
keras_tuner's private names are used here and nowhere else, each where it
says why.

The path of one epoch: the worker's `fit` ends an epoch; the tuner saves a
pending checkpoint and calls `update_trial` (through gRPC on a worker); the
adapter records the metrics in the trial (keras_tuner writes its file) and
reports the objective to the engine, which answers whether to keep
training; the tuner commits the checkpoint. When the unit is over the
worker calls `end_trial`; once the last candidate of the round is back, the
engine asks its policy (the cull), and the adapter saves the engine's state,
then the trial files that changed, and hands out the next round.
"""

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
from keras_prune_nas.engine import FINISHED
from keras_prune_nas.engine import CullPolicy
from keras_prune_nas.engine import RoundEngine
from keras_prune_nas.engine import RoundPolicy
from keras_prune_nas.engine import Wait
from keras_prune_nas.engine import Work
from keras_prune_nas.engine import metrics_finite
from keras_prune_nas.plan import RoundPlan
from keras_prune_nas.progress import LiveProgress

TrialStatus = trial_module.TrialStatus

PHASE_FINISHED = FINISHED
# The metric the tuner reports a candidate's parameter count under, when the
# oracle ranks with a complexity penalty.
PARAMETER_COUNT_METRIC = "num_parameters"
# The key of this library's part of the oracle's saved state.
STATE_KEY = "round_oracle"


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


def start_sampling_at(oracle, position):
    """Moves a keras_tuner oracle's sampler to `position` of its stream (the
    seed of its next value drawn; it advances by one per value)."""
    oracle._seed_state = int(position)


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
    """One line per round instead of one hyperparameter table per trial, and
    a live progress line while a round trains (`keras_prune_nas.progress`)."""

    wants_progress = True

    def __init__(self, oracle, verbose=1):
        super().__init__(oracle=oracle, verbose=verbose)
        self.live = None
        # Opened by a tuner's search (`RoundOracle.open_progress`), which
        # always closes it.
        self.progress_open = False

    def start_clock(self):
        if self.search_start is None:
            self.search_start = datetime.now()

    def elapsed(self):
        start = self.search_start or datetime.now()
        return self.format_duration(datetime.now() - start)

    def elapsed_seconds(self):
        start = self.search_start or datetime.now()
        return (datetime.now() - start).total_seconds()

    def show(self, line):
        if not self.verbose:
            return
        if self.live is not None:
            self.live.print_line(line)
        else:
            print(line, flush=True)

    def progress(self, snapshot):
        if not self.verbose or not self.progress_open:
            return
        if self.live is None:
            if snapshot.phase == FINISHED:
                return
            self.live = LiveProgress(elapsed=self.elapsed_seconds)
        self.live.update(snapshot)
        if snapshot.phase == FINISHED:
            self.live = None

    def close_progress(self):
        """Stops the live line (the search ended, or was interrupted)."""
        self.progress_open = False
        if self.live is not None:
            self.live.close()
            self.live = None


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
    """Candidates trained in rounds, with a policy's decision after each round.

    The keras_tuner face of the round engine (`keras_prune_nas.engine`): it
    turns `create_trial`, `update_trial`, `end_trial` and
    `get_state`/`set_state` into engine events and keras_tuner `Trial`s, so
    the gRPC chief and workers, project directories and reloading work as
    for any keras_tuner Oracle. Every decision (dispatch, the barrier, the
    failure policy, the finalists' early stopping, the policy's cull) is the
    engine's. On its own (no policy) every candidate is a finalist, as in
    `RandomSearch`.

    A new strategy is a policy (`keras_prune_nas.engine.RoundPolicy`), not
    a subclass of this: `RoundOracle(objective=..., policy=MyPolicy())`.

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
        plan: A `RoundPlan`. Defaults to one made of the policy's rounds of
            selection, one epoch per round and patience 5.
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
        policy: A `RoundPolicy`: what the search decides after each round.
            Defaults to every candidate a finalist.

    Example:

    ```python
    oracle = kpn.RoundOracle(objective="val_accuracy", max_trials=5)
    tuner = kpn.RoundSearch(oracle, build_model, directory="runs")
    ```
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
        policy=None,
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
        self.rank_by = rank_by
        self.lease_timeout = lease_timeout
        self.complexity_penalty = complexity_penalty
        self.policy = policy if policy is not None else RoundPolicy()
        # keras_tuner's Display is what its chief and `Tuner` talk to.
        self._display = RoundDisplay(oracle=self)
        self.engine = RoundEngine(
            self.policy,
            max_candidates=max_trials,
            direction=self.objective.direction,
            rank_by=rank_by,
            complexity_penalty=complexity_penalty,
            max_retries=max_retries_per_trial,
            max_consecutive_failures=max_consecutive_failed_trials,
            lease_timeout=lease_timeout,
            clock=clock,
            sample=self._sample_values,
            display=self._display,
            plan=plan,
            name=self.search_name,
            objective_name=self.objective.name,
        )
        self.mirror = TrialMirror(self)

    # ------------------------------------------------------------------
    # The engine's state, as keras_tuner users and tools read it
    # ------------------------------------------------------------------
    @property
    def plan(self):
        return self.engine.plan

    @property
    def phase(self):
        return self.engine.phase

    @property
    def round(self):
        return self.engine.round

    @property
    def candidates(self):
        """trial_id -> the engine's `Candidate` record."""
        return self.engine.population.records

    @property
    def leases(self):
        return self.engine.leases

    @property
    def unit_costs(self):
        return self.engine.unit_costs

    @property
    def expired_leases(self):
        return self.engine.expired_leases

    @property
    def epochs(self):
        """The most epochs any candidate trains (None until the search says)."""
        return self.engine.epochs

    def set_epochs(self, epochs):
        """Sets the epoch budget of every candidate (from `search(epochs=)`)."""
        self.engine.set_epochs(epochs)

    def show(self, line):
        """Prints a progress line (unless the search is quiet)."""
        self._display.show(line)

    def open_progress(self, verbose):
        """A tuner's search starts: lines per `verbose`, and the live
        progress line until `close_progress` (an oracle driven by hand has
        no live line, so nothing of it outlives its driver)."""
        self.verbose = verbose
        self._display.progress_open = True

    def close_progress(self):
        """Stops the live progress line (the search ended or was interrupted)."""
        self._display.close_progress()

    @keras_tuner.synchronized
    def worker_left(self, tuner_id):
        """A worker is gone for good (see `RoundEngine.worker_left`)."""
        self.engine.worker_left(tuner_id)

    def elapsed(self):
        return self._display.elapsed()

    def unit_target(self):
        return self.engine.unit_target()

    def population(self):
        """Trial ids of the candidates still in the search, in sampling order."""
        return self.engine.alive()

    def curve(self, trial_id):
        """The objective value of every epoch `trial_id` has trained."""
        return self.engine.curve(trial_id)

    def score(self, trial_id):
        """The score candidates are ranked by (None: ranks last)."""
        return self.engine.score(trial_id)

    def parameter_count(self, trial_id):
        """The parameter count the tuner reported for `trial_id`, or None."""
        return self.candidates[trial_id].parameters

    def epochs_trained(self):
        """Total epochs trained by all candidates so far."""
        return self.engine.population.epochs_trained()

    def get_best_trials(self, num_trials=1):
        """Completed trials best first, then the others by their score (less
        the complexity penalty), as keras_tuner's trials hold them."""
        population = self.engine.population
        scores = {
            trial_id: population.penalized(trial_id, trial.score)
            if trial_id in population else trial.score
            for trial_id, trial in self.trials.items()
        }
        completed = {
            trial_id for trial_id, trial in self.trials.items()
            if trial.status == TrialStatus.COMPLETED
        }
        ranking = culling.best_first(scores, completed, self.objective.direction)
        return [self.trials[trial_id] for trial_id in ranking[:num_trials]]

    # ------------------------------------------------------------------
    # keras_tuner's Oracle API: handing out work
    # ------------------------------------------------------------------
    def populate_space(self, trial_id):
        values = self._random_values()
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _sample_values(self, trial_id):
        response = self.populate_space(trial_id)
        if response["status"] != TrialStatus.RUNNING:
            return None
        return response["values"] or {}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.engine.epochs is None:
            # keras_tuner's protocol has no epoch budget: its own tests (and
            # code written against it) create trials and call `run_trial`
            # without `search`, whose `epochs` sets one. `fit` trains one
            # epoch by default; so does a candidate here, and it says so.
            self.set_epochs(1)
            self.show(
                f"{self.search_name}: no epoch budget was set (`search(epochs=...)` "
                "sets one); each candidate trains 1 epoch, as `fit` does."
            )
        expired = len(self.engine.expired_leases)
        answer = self.engine.ask(tuner_id)
        self.tuner_ids = set(self.engine.workers)
        if isinstance(answer, Work):
            if answer.again:
                return self.ongoing_trials[tuner_id]
            if answer.new:
                self.mirror.add_trial(answer)
            trial = self.trials[answer.candidate_id]
            trial.status = TrialStatus.RUNNING
            self._sync_ongoing()
            self.persist(answer.candidate_id)
            return trial
        self._sync_ongoing()
        if self.engine.population.has_changes() or len(self.engine.expired_leases) > expired:
            self.persist()
        status = TrialStatus.IDLE if isinstance(answer, Wait) else TrialStatus.STOPPED
        return trial_module.Trial(self.get_space(), status=status)

    def _sync_ongoing(self):
        """keras_tuner's `ongoing_trials`, as the engine's holders say."""
        self.ongoing_trials = {
            worker: self.trials[trial_id]
            for worker, trial_id in self.engine.holders.items()
        }

    # ------------------------------------------------------------------
    # keras_tuner's Oracle API: reports
    # ------------------------------------------------------------------
    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        """Records one epoch and answers whether to keep training.

        Returns:
            A copy of the trial whose `status` is `RUNNING` to go on, or
            `IDLE` to stop after this epoch (the round is over, the finalist
            stopped early, the candidate diverged, or the worker's lease
            expired and the report was ignored).
        """
        trial = self.trials[trial_id]
        if self.engine.holder(trial_id) is None:
            answer = copy.copy(trial)
            answer.status = TrialStatus.IDLE
            return answer
        if self.candidates[trial_id].awaiting_first_report:
            # The unit's first report says where the worker resumed; what
            # the trial holds from there on is replaced (the engine does the
            # same to its curve).
            _truncate_metrics(trial, step)
        super().update_trial(trial_id, metrics, step=step)
        reply = self.engine.report_epoch(
            trial_id, step, _step_value(trial, self.objective.name, step),
            finite=metrics_finite(metrics, (self.objective.name, "loss")),
            parameters=metrics.get(PARAMETER_COUNT_METRIC),
        )
        answer = copy.copy(trial)
        answer.status = TrialStatus.RUNNING if reply.keep_training else TrialStatus.IDLE
        return answer

    def owner(self, trial_id):
        """The worker holding `trial_id` now, or None."""
        return self.engine.holder(trial_id)

    @keras_tuner.synchronized
    def expire_leases(self):
        """Takes the candidates of workers silent for `lease_timeout` back.

        Returns:
            The tuner ids whose lease expired.
        """
        expired = self.engine.expire_leases()
        if expired:
            self.tuner_ids = set(self.engine.workers)
            self._sync_ongoing()
            self.persist()
        return expired

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """A worker finished its unit of `trial`: record it, maybe decide."""
        own = self.trials[trial.trial_id]
        if self.engine.holder(own.trial_id) is None:
            # Its lease expired: another worker has or will have it.
            return
        own.hyperparameters = trial.hyperparameters
        self.update_space(own.hyperparameters)
        self._record_values(own)
        failed = trial.status in (TrialStatus.INVALID, TrialStatus.FAILED)
        if failed:
            own.message = trial.message
        try:
            self.engine.end_unit(
                own.trial_id, failed=failed,
                retryable=trial.status == TrialStatus.INVALID, message=trial.message,
            )
        finally:
            self._sync_ongoing()
            self.persist(own.trial_id)

    # ------------------------------------------------------------------
    # State: the engine's, then the trial files, always in that order
    # ------------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        state[STATE_KEY] = {"kind": type(self).__name__, "engine": self.engine.state()}
        return state

    def set_state(self, state):
        if STATE_KEY not in state:
            raise RuntimeError(
                "The project directory holds the state of another kind of "
                f"tuner, not of {self.search_name}. Use another `project_name` "
                "or `directory`, or pass `overwrite=True` to start afresh."
            )
        own = state[STATE_KEY]
        if own.get("kind") != type(self).__name__ or "engine" not in own:
            raise RuntimeError(
                f"The project directory holds the state of a {own.get('kind')}, "
                f"not of a {type(self).__name__} of this version. Use another "
                "`project_name` or `directory`, or pass `overwrite=True` to "
                "start afresh."
            )
        self.engine.restore(own["engine"])
        self.mirror.restore_missing_trials(state)
        super().set_state(state)
        self.tuner_ids = set()
        self.ongoing_trials = {}

    def reload(self):
        super().reload()
        # keras_tuner queues the trials that were running for a retry; here
        # every candidate that has not finished its round is handed out
        # again anyway, from its last checkpoint.
        self._retry_queue = []
        self.mirror.catch_up()

    def save(self):
        files.atomic_write_json(self._get_oracle_fname(), self.get_state())

    def persist(self, *trial_ids):
        """Saves the engine's state, then the trial files that changed."""
        self.mirror.persist(*trial_ids)

    def _save_trial(self, trial):
        path = f"{self._get_trial_dir(trial.trial_id)}/trial.json"
        files.atomic_write_json(path, trial.get_state())


class TrialMirror:
    """Keeps keras_tuner's Trials and their files level with the engine.

    The engine's records are the truth; a Trial is how keras_tuner, its
    chief and its tools see a candidate. The writes go in one order: the
    engine's state (with the oracle's), then the trial files that changed,
    so a kill in between leaves trial files behind the state, and
    `catch_up` (on reload) brings them level.

    Args:
        oracle: The `RoundOracle` whose trials these are.
    """

    def __init__(self, oracle):
        self.oracle = oracle

    def add_trial(self, work):
        """The Trial of a candidate the engine just sampled."""
        oracle = self.oracle
        trial = self.new_trial(work.candidate_id, work.values)
        # keras_tuner's record of the values tried, so that its
        # `_random_values` draws no candidate twice.
        oracle._record_values(trial)
        oracle.trials[work.candidate_id] = trial
        oracle.start_order.append(work.candidate_id)
        # keras_tuner's display numbers trials from 1; keep it, unprinted.
        oracle._display.trial_number[work.candidate_id] = len(oracle.trials)
        oracle._display.trial_start[work.candidate_id] = datetime.now()

    def new_trial(self, trial_id, values, hyperparameters=None):
        hyperparameters = (hyperparameters or self.oracle.hyperparameters).copy()
        hyperparameters.values = dict(values)
        return trial_module.Trial(
            hyperparameters=hyperparameters, trial_id=trial_id,
            status=TrialStatus.RUNNING,
        )

    def persist(self, *trial_ids):
        """Mirrors the engine onto the trials, saves the state, then the trial
        files that changed."""
        oracle = self.oracle
        changed = sorted(set(oracle.engine.population.take_changed()) | set(trial_ids))
        for trial_id in changed:
            self.mirror(trial_id)
        oracle.save()
        for trial_id in changed:
            # keras_tuner's hook that writes one trial file (RoundOracle
            # overrides it to write atomically).
            oracle._save_trial(oracle.trials[trial_id])

    def mirror(self, trial_id):
        """The trial as the engine's record says: its status, message, score."""
        oracle = self.oracle
        ending = oracle.candidates[trial_id].ending
        trial = oracle.trials[trial_id]
        if ending is None:
            trial.status = TrialStatus.RUNNING
            return
        trial.status = ending["status"]
        trial.message = ending["message"]
        if trial.metrics.exists(oracle.objective.name):
            oracle.score_trial(trial)
        if trial_id not in oracle.end_order:
            oracle.end_order.append(trial_id)

    def restore_missing_trials(self, state):
        """Rebuilds trials saved in the state whose file a kill kept unwritten."""
        oracle = self.oracle
        space = hp_module.HyperParameters.from_config(state["hyperparameters"])
        for trial_id, record in oracle.candidates.items():
            if trial_id not in oracle.trials:
                oracle.trials[trial_id] = self.new_trial(trial_id, record.values, space)
                oracle.engine.population.mark_changed(trial_id)

    def catch_up(self):
        """Brings the engine and the trial files level after a kill.

        Trial files hold every epoch reported (keras_tuner writes one per
        report), the engine's state those up to its last save: the epochs a
        unit in flight reported go back to the engine. Endings the state
        holds and a trial file missed are written to it.
        """
        oracle = self.oracle
        population = oracle.engine.population
        for trial_id, record in oracle.candidates.items():
            trial = oracle.trials[trial_id]
            curve = objective_curve(trial, oracle.objective.name)
            if len(curve) > len(record.curve):
                population.recover_curve(
                    trial_id, curve, _last_metric(trial, PARAMETER_COUNT_METRIC)
                )
            if record.ending is not None and (
                trial.status != record.ending["status"]
                or trial.message != record.ending["message"]
            ):
                population.mark_changed(trial_id)
        if population.has_changes():
            self.persist()


def _step_value(trial, objective_name, step):
    """The objective of `step` as the trial holds it (the mean over executions)."""
    for obs in trial.metrics.get_history(objective_name):
        if obs.step == step:
            return float(obs.mean())
    return math.nan


def _last_metric(trial, name):
    if not trial.metrics.exists(name):
        return None
    return trial.metrics.get_last_value(name)



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
        grace_epochs: Integer >= 1, epochs every candidate trains before the
            first cull. That cull brings the population down to where the
            schedule without grace would be, so later rounds cost the same.
            Defaults to 1 (the first cull after the first epoch).

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
        policy=None,
        grace_epochs=1,
    ):
        culling.validate_cull_parameters(
            cull_fraction, min_survivors, epochs_per_round, grace_epochs
        )
        policy = policy if policy is not None else CullPolicy(
            cull_fraction, min_survivors, culling.grace_rounds(grace_epochs, epochs_per_round)
        )
        rounds = 0
        if checks.is_integer(max_trials) and max_trials >= 1:
            # (A bad `max_trials` is reported by `RoundOracle`.)
            rounds = policy.selection_rounds(max_trials)
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            plan=RoundPlan(epochs_per_round=epochs_per_round, rounds=rounds, patience=patience),
            rank_by=rank_by,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
            clock=clock,
            policy=policy,
        )
        self.cull_fraction = cull_fraction
        self.min_survivors = min_survivors
        self.epochs_per_round = epochs_per_round
        self.patience = patience
        self.grace_epochs = grace_epochs

    @property
    def cull_history(self):
        """One entry per cull: round, epoch, population before, culled ones."""
        return self.policy.cull_history
