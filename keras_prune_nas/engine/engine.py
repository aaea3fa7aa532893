"""The round engine: every decision of a round-based search, in pure Python.

A search trains its candidates in rounds. Workers ask for work, report every
epoch, end each unit (one candidate, up to the round's last epoch) and may go
silent; the engine answers with plain values (`Work`, `WAIT`, `STOP`, whether
to keep training). Once every candidate has finished round r it asks its
policy to decide (cull, accept, propose the next generation). It imports no
keras, keras_tuner or backend: the keras_tuner adapter
(`keras_prune_nas.oracle`), the replays (`keras_prune_nas.analysis`) and the
simulations (`keras_prune_nas.engine.play`) all run this same code.

```python
from keras_prune_nas.engine import CullPolicy, RoundEngine, Work

engine = RoundEngine(CullPolicy(), max_candidates=50, direction="max",
                     sample=lambda candidate_id: {"row": int(candidate_id)})
engine.set_epochs(20)
work = engine.ask("worker")            # Work(candidate_id="00", new=True, ...)
engine.report_epoch(work.candidate_id, 0, 0.61)
engine.end_unit(work.candidate_id)
```
"""

import time
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Set

from keras_prune_nas import checks
from keras_prune_nas import culling
from keras_prune_nas.engine import state as state_module
from keras_prune_nas.engine.dispatch import Dispatcher
from keras_prune_nas.engine.failures import FailurePolicy
from keras_prune_nas.engine.failures import SearchAborted
from keras_prune_nas.engine.population import COMPLETED
from keras_prune_nas.engine.population import FAILED
from keras_prune_nas.engine.messages import FINALISTS
from keras_prune_nas.engine.messages import FINISHED
from keras_prune_nas.engine.messages import SELECTION
from keras_prune_nas.engine.messages import STOP
from keras_prune_nas.engine.messages import WAIT
from keras_prune_nas.engine.messages import Answer
from keras_prune_nas.engine.messages import EpochAnswer
from keras_prune_nas.engine.messages import TextDisplay
from keras_prune_nas.engine.messages import Work
from keras_prune_nas.engine.messages import format_score
from keras_prune_nas.engine.population import Population
from keras_prune_nas.engine.progress import Progress
from keras_prune_nas.engine.progress import StageTracker
from keras_prune_nas.engine.progress import progress_of
from keras_prune_nas.leases import LeaseTable
from keras_prune_nas.plan import RoundPlan
from keras_prune_nas.unit_costs import UnitCosts


class RoundEngine:
    """Candidates trained in rounds, a policy's decision after every round.

    The mechanics every round-based strategy shares: candidates sampled one
    at a time; a unit of work per candidate and round, continued where it
    stopped; every epoch reported; a barrier at the end of each round;
    finalists trained to `epochs` with early stopping; leases for workers
    that go silent; failures contained (`FailurePolicy`). What a strategy
    decides is its policy's (`keras_prune_nas.engine.policies`).

    Args:
        policy: A `RoundPolicy` (e.g. `CullPolicy()`).
        max_candidates: How many candidates are sampled at most.
        direction: "max" or "min", the objective's direction.
        rank_by: "best" or "last": what a candidate is ranked by.
        complexity_penalty: See `culling.penalized_score`.
        patience: The finalists' early-stopping patience (None: none).
        epochs_per_round: Epochs every candidate trains between decisions.
        max_retries: How often a crashed unit is retried.
        max_consecutive_failures: Failures in a row, before any candidate
            trained, that stop the search.
        lease_timeout: Seconds of silence after which a worker is taken for
            dead, or None to wait for ever.
        clock: Monotonic seconds, for leases and unit costs.
        sample: `sample(candidate_id) -> values or None` (None: the space is
            exhausted). Called when a new candidate is due and the policy
            proposes none.
        display: Where progress lines go (`TextDisplay` by default).
        plan: A `RoundPlan` to use as it is, instead of one made of
            `epochs_per_round`, `patience` and the policy's rounds.
        name: How the search is called in messages.
        objective_name: How the objective is called in messages.
    """

    def __init__(
        self,
        policy,
        max_candidates: int,
        direction: str = "max",
        rank_by: str = "best",
        complexity_penalty: float = 0.0,
        patience: Optional[int] = 5,
        epochs_per_round: int = 1,
        max_retries: int = 0,
        max_consecutive_failures: int = 3,
        lease_timeout: Optional[float] = 60,
        clock: Callable[[], float] = time.monotonic,
        sample: Optional[Callable[[str], Optional[dict]]] = None,
        display=None,
        plan: Optional[RoundPlan] = None,
        name: str = "RoundSearch",
        objective_name: str = "objective",
    ):
        self.policy = policy
        self.max_candidates = max_candidates
        self.direction = direction
        self.name = name
        self.objective_name = objective_name
        self.population = Population(direction, rank_by, complexity_penalty)
        self.plan = plan if plan is not None else RoundPlan(
            epochs_per_round=epochs_per_round,
            rounds=policy.selection_rounds(max_candidates),
            patience=patience,
        )
        self.failures = FailurePolicy(max_retries, max_consecutive_failures)
        self.leases = LeaseTable(lease_timeout, clock=clock)
        self.unit_costs = UnitCosts(clock=clock)
        self.sample = sample
        self.display = display if display is not None else TextDisplay()
        self.phase = SELECTION if self.plan.rounds else FINALISTS
        self.round = 0
        self.space_exhausted = False
        self.workers: Set[str] = set()
        # worker -> the candidate whose unit it trains now
        self.holders: Dict[str, str] = {}
        # One entry per worker taken for dead: worker, candidate_id (or
        # None), silent_seconds, expired_at (wall-clock time).
        self.expired_leases: List[dict] = []
        self.dispatcher = Dispatcher(self)
        self.stages = StageTracker()

    # ------------------------------------------------------------------
    # For policies: what they read
    # ------------------------------------------------------------------
    @property
    def epochs(self) -> Optional[int]:
        """The most epochs any candidate trains (None until set)."""
        return self.plan.epochs

    def unit_target(self) -> int:
        """Epoch count a unit handed out now trains up to."""
        return self.plan.unit_target(self.round, self.phase == FINALISTS)

    def alive(self) -> List[str]:
        return self.population.alive()

    def score(self, candidate_id: str) -> Optional[float]:
        return self.population.score(candidate_id)

    def curve(self, candidate_id: str) -> List[float]:
        return self.population.curve(candidate_id)

    def units_in_flight(self) -> int:
        return len(self.holders)

    def holder(self, candidate_id: str) -> Optional[str]:
        """The worker training `candidate_id` now, or None."""
        for worker, held in self.holders.items():
            if held == candidate_id:
                return worker
        return None

    def show(self, line: str) -> None:
        self.display.show(line)

    def elapsed(self) -> str:
        return self.display.elapsed()

    # ------------------------------------------------------------------
    # For policies: what they decide with
    # ------------------------------------------------------------------
    def end_candidate(self, candidate_id: str, status: str, message: Optional[str]) -> None:
        """Ends a candidate (STOPPED, COMPLETED or FAILED) with a message."""
        self.population.end(candidate_id, status, message)
        self.stages.candidate_ended(self, candidate_id)

    def progress(self) -> Progress:
        """How far the current round (or the finalists' phase) has got."""
        return progress_of(self, self.stages)

    def _show_progress(self) -> None:
        if getattr(self.display, "wants_progress", False):
            self.display.progress(self.progress())

    def end_if_nothing_to_train(self, population: List[str]) -> bool:
        """Ends the selection if no candidate is left or none can train on.

        The survivors that cannot train on are completed, then the policy's
        `finalists_finished` is called (a busy policy is asked again at the
        next barrier). Returns True if the selection ended.
        """
        if not population:
            self.policy.finalists_finished(self, "every candidate failed")
            return True
        if all(self.population[cid].done for cid in population):
            for cid in population:
                self.finish_finalist(cid)
            self.phase = FINALISTS
            self.policy.finalists_finished(
                self, "every survivor has trained all its epochs"
            )
            return True
        return False

    def next_round(self) -> bool:
        self.round += 1
        return True

    def start_selection(self, message: str, rounds: Optional[int] = None) -> bool:
        """Starts a new selection phase at round 0 (e.g. a new generation)."""
        if rounds is not None:
            self.plan.rounds = rounds
        self.phase = SELECTION
        self.round = 0
        self.show(message)
        return True

    def start_finalists(self, message: str) -> bool:
        """Ends the selection phase: the population trains on as finalists."""
        self.phase = FINALISTS
        self.show(f"Finalists: {message}")
        return True

    def finish(self, reason: str) -> bool:
        self.phase = FINISHED
        self.show(f"Search finished ({reason}) after {self.elapsed()}.")
        return True

    def finish_finalist(self, candidate_id: str) -> None:
        record = self.population[candidate_id]
        if record.diverged:
            self.end_candidate(
                candidate_id, FAILED,
                f"Diverged (non-finite {self.objective_name} or loss) at epoch "
                f"{record.epochs_done}.",
            )
            return
        self.end_candidate(candidate_id, COMPLETED, None)
        best = culling.curve_score(record.curve, self.direction, "best")
        self.show(
            f"  finalist {candidate_id} done after {record.epochs_done} epochs: "
            f"best {self.objective_name} {format_score(best)}"
        )

    # ------------------------------------------------------------------
    # Events
    # ------------------------------------------------------------------
    def set_epochs(self, epochs: int) -> None:
        """Sets every candidate's epoch budget (`search(epochs=...)`)."""
        checks.validate_epochs(epochs)
        state_module.check_epochs_unchanged(self, epochs)
        self.plan.epochs = epochs
        if self.phase != FINISHED:
            self.policy.epochs_set(self)

    def ask(self, worker: str) -> Answer:
        """`worker` asks for work: a `Work`, `WAIT` (the barrier) or `STOP`."""
        if self.plan.epochs is None:
            raise RuntimeError(
                f"{self.name}: the epoch budget is not set. Call "
                "`set_epochs(epochs)` (the tuner's `search(epochs=...)` does) "
                "before asking for work."
            )
        self.leases.touch(worker)
        if worker in self.holders:
            candidate_id = self.holders[worker]
            return Work(candidate_id, dict(self.population[candidate_id].values),
                        self.unit_target(), again=True)
        self.workers.add(worker)
        self.display.start_clock()
        self.expire_leases()
        work = self.dispatcher.next_unit(worker)
        if work is not None:
            return work
        if self.holders or self.dispatcher.has_waiting() or self.policy.busy(self):
            return WAIT
        if self.phase != FINISHED:
            raise RuntimeError(
                f"{self.name} has nothing to hand out and nothing running, but "
                f"the search is not finished (phase={self.phase}, "
                f"round={self.round}). This is a bug: please report it with "
                "the project directory."
            )
        self.workers.discard(worker)
        return STOP

    def report_epoch(self, candidate_id: str, epoch: int, value: float,
                     finite: bool = True, parameters: Optional[float] = None) -> EpochAnswer:
        """A worker reports the objective `value` of the 0-based `epoch`.

        `finite` is False when the objective or the loss was NaN or infinite
        (the candidate diverged); `parameters` is the model's size, for the
        complexity penalty.
        """
        worker = self.holder(candidate_id)
        if worker is None:
            return EpochAnswer(accepted=False, keep_training=False)
        self.leases.touch(worker)
        record = self.population[candidate_id]
        resumed_from = None
        if record.awaiting_first_report:
            # The first epoch of a unit says where the worker resumed: from
            # its last checkpoint, or from the start if none survived.
            record.awaiting_first_report = False
            resumed_from = epoch
            record.epochs_done = min(record.epochs_done, epoch)
            del record.curve[epoch:]
        self.population.record_epoch(candidate_id, epoch, value, parameters)
        if not finite:
            record.diverged = True
        self._show_progress()
        return EpochAnswer(True, not self.unit_is_over(candidate_id, epoch), resumed_from)

    def end_unit(self, candidate_id: str, failed: bool = False, retryable: bool = False,
                 message: Optional[str] = None) -> bool:
        """The worker of `candidate_id` ended its unit; maybe decide.

        Args:
            failed: The unit crashed or the candidate cannot be built.
            retryable: A crash worth retrying (`max_retries`).
            message: The error, for a failed unit.

        Returns:
            False if the worker no longer held it (ignored).

        Raises:
            SearchAborted: the first candidates all failed.
        """
        worker = self.holder(candidate_id)
        if worker is None:
            return False
        del self.holders[worker]
        self.leases.touch(worker)
        self.population.mark_changed(candidate_id)
        if failed:
            self.unit_costs.cancel(candidate_id)
            self._unit_failed(candidate_id, retryable, message)
        else:
            self.complete_unit(candidate_id)
            self.unit_costs.end(candidate_id, self.population[candidate_id].epochs_done)
        self._show_progress()  # the unit's end, in its own round
        if self.advance():
            self._show_progress()
        return True

    def worker_left(self, worker: str) -> None:
        """`worker` is gone for good (a local worker replaced): it is no
        longer waited for, and its unit, if it held one, goes to another."""
        self.workers.discard(worker)
        self.leases.forget(worker)
        candidate_id = self.holders.pop(worker, None)
        if candidate_id is not None:
            self.unit_costs.cancel(candidate_id)

    def expire_leases(self) -> List[str]:
        """Takes back the candidates of workers silent for the lease timeout."""
        expired = self.leases.expire(self.workers)
        for worker, silent in expired.items():
            self.workers.discard(worker)
            candidate_id = self.holders.pop(worker, None)
            if candidate_id is not None:
                self.unit_costs.cancel(candidate_id)
                self.show(
                    f"Worker {worker} silent for more than "
                    f"{self.leases.timeout:g} s (lease_timeout): candidate "
                    f"{candidate_id} goes to the next worker, from its last "
                    "checkpoint."
                )
            self.expired_leases.append({
                "tuner_id": worker, "trial_id": candidate_id,
                "silent_seconds": round(silent, 3), "expired_at": time.time(),
            })
        return list(expired)

    # ------------------------------------------------------------------
    # Units ending, and the barrier
    # ------------------------------------------------------------------
    def unit_is_over(self, candidate_id: str, epoch: int) -> bool:
        record = self.population[candidate_id]
        return self.plan.unit_is_over(
            epoch, self.unit_target(), self.phase == FINALISTS, record.curve,
            self.direction, record.diverged,
        )

    def _unit_failed(self, candidate_id: str, retryable: bool, message: Optional[str]) -> None:
        record = self.population[candidate_id]
        if self.failures.unit_failed(record, retryable) == "retry":
            # The retry continues from the candidate's last checkpoint; its
            # first report says which epoch that is.
            self.show(
                f"Candidate {candidate_id} crashed; retrying it from its last "
                f"checkpoint ({record.failures} of {self.failures.max_retries})."
            )
            return
        self.end_candidate(candidate_id, FAILED, message)
        abort = self.failures.abort_message(message)
        if abort is not None:
            raise SearchAborted(abort)

    def complete_unit(self, candidate_id: str) -> None:
        record = self.population[candidate_id]
        self.failures.unit_succeeded()
        record.epochs_done = self.population.epochs_reported(candidate_id)
        finalist = self.phase == FINALISTS
        if (
            finalist or record.diverged or record.epochs_done >= self.epochs
            or record.epochs_done < self.unit_target()
        ):
            # Nothing more to train: it reached the last epoch, stopped
            # early, was stopped by a callback of the model, or diverged.
            record.done = True
        if finalist:
            self.finish_finalist(candidate_id)
        else:
            self.policy.unit_finished(self, candidate_id)

    def advance(self) -> bool:
        """Moves the search on if the current round is over.

        Returns True if the state changed, so there may be new work.
        """
        if self.phase == FINISHED:
            return False
        if self.dispatcher.may_sample() or self.holders or self.dispatcher.has_waiting():
            return False
        population = self.population.alive()
        if self.phase == SELECTION:
            return self.policy.round_finished(self, population)
        for cid in population:
            if self.population[cid].done:
                self.finish_finalist(cid)
        if not self.population.alive():
            return self.policy.finalists_finished(self, "the finalists are trained")
        return False

    # ------------------------------------------------------------------
    # State: one plain dict (`keras_prune_nas.engine.state`)
    # ------------------------------------------------------------------
    def parameters(self) -> dict:
        """Parameters a run must keep until it is finished."""
        return state_module.parameters(self)

    def state(self) -> dict:
        return state_module.engine_state(self)

    def restore(self, state: dict) -> None:
        """Restores `state()`; refuses an unfinished run with other parameters."""
        state_module.restore_engine(self, state)
