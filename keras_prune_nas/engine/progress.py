"""How far the current round (or the finalists' phase) has got.

The engine hands a `Progress` to its display after every reported epoch and
every ended unit, when the display asks for them (`wants_progress`); the
tuner's display draws it as a live line. Pure: plain values only.
"""

import dataclasses
import statistics
from typing import Optional
from typing import Set
from typing import Tuple

from keras_prune_nas.engine.messages import FINISHED
from keras_prune_nas.engine.messages import SELECTION


@dataclasses.dataclass(frozen=True)
class Progress:
    """One snapshot of a search's progress.

    Attributes:
        phase: "selection", "finalists" or "finished".
        round: The round (0-based) of the selection phase.
        rounds: The selection rounds planned.
        due: Candidates this round (or the finalists' phase) trains,
            those still to be sampled included.
        done: Of them, those that finished it (trained to the round's
            epoch, stopped early, failed, or were rejected).
        epochs_trained: Epochs the whole search has trained so far.
        remaining_seconds: An estimate of the round's (or phase's) remaining
            time from the measured cost of each candidate's epochs and
            builds, shared among the workers; None before anything was
            measured.
    """

    phase: str
    round: int
    rounds: int
    due: int
    done: int
    epochs_trained: int
    remaining_seconds: Optional[float]

    @property
    def stage(self) -> str:
        """"round 3/12", "finalists" or "finished"."""
        if self.phase == SELECTION:
            return f"round {self.round + 1}/{self.rounds}"
        return self.phase


class StageTracker:
    """Which candidates ended during the current round or phase.

    Candidates that end mid-round (a failure, a rejection, a finalist
    completing) count as done in that round; the stage is (phase, round),
    and a new stage starts empty.
    """

    def __init__(self):
        self.stage: Optional[Tuple[str, int]] = None
        self.ended: Set[str] = set()

    def observe(self, engine) -> None:
        stage = (engine.phase, engine.round)
        if stage != self.stage:
            self.stage = stage
            self.ended = set()

    def candidate_ended(self, engine, candidate_id: str) -> None:
        self.observe(engine)
        self.ended.add(candidate_id)


def progress_of(engine, tracker: StageTracker) -> Progress:
    """The engine's progress through its current round or phase."""
    tracker.observe(engine)
    population = engine.population
    epochs_trained = sum(population.epochs_reported(cid) for cid in population.ids())
    if engine.phase == FINISHED:
        return Progress(FINISHED, engine.round, engine.plan.rounds, len(tracker.ended),
                        len(tracker.ended), epochs_trained, 0.0)
    target = engine.unit_target()
    to_sample = 0
    if engine.phase == SELECTION and not engine.space_exhausted:
        to_sample = max(0, min(engine.max_candidates, engine.policy.sampling_target(engine))
                        - len(population))
    alive = population.alive()
    unfinished = [cid for cid in alive
                  if not population[cid].done and population[cid].epochs_done < target]
    done = len(tracker.ended) + len(alive) - len(unfinished)
    due = len(tracker.ended) + len(alive) + to_sample
    return Progress(
        engine.phase, engine.round, engine.plan.rounds, due, done, epochs_trained,
        remaining_seconds(engine, unfinished, to_sample, target),
    )


def remaining_seconds(engine, unfinished, to_sample: int, target: int) -> Optional[float]:
    """Seconds the unfinished candidates and those still to sample need to
    reach `target`, from their measured epoch and build costs (the median
    candidate's for those without a measure), over the workers."""
    costs = engine.unit_costs
    known = [s for s in (costs.epoch_seconds(cid) for cid in engine.population.ids())
             if s is not None]
    if not known:
        return None
    typical_epoch = statistics.median(known)
    build = costs.typical_build_seconds() or 0.0
    total = to_sample * (target * typical_epoch + build)
    for cid in unfinished:
        record = engine.population[cid]
        epoch_seconds = costs.epoch_seconds(cid)
        total += (target - record.epochs_done) * (
            typical_epoch if epoch_seconds is None else epoch_seconds
        )
        if record.epochs_done == 0:
            total += build  # sampled, not built yet
    return total / max(1, len(engine.workers))
