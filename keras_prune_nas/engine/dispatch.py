"""Handing out work: which candidate a worker trains next.

`Dispatcher` decides what a worker that asks gets: a candidate of this
round that has not trained yet, a new candidate, or nothing (the barrier).

With several workers a candidate stays with the worker that trained it last
(which may hold it live: no rebuild, no checkpoint to load). A worker gets
its own candidates first, then those nobody has or whose worker is gone,
and only then, where that is faster than waiting (`worth_moving`), one of
the busiest worker's. Pure: plain ids and seconds in, an id out.
"""

import collections
from typing import Callable
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional

from keras_prune_nas.engine.messages import FINALISTS
from keras_prune_nas.engine.messages import FINISHED
from keras_prune_nas.engine.messages import Work
from keras_prune_nas.unit_costs import worth_moving


def choose_waiting_candidate(
    waiting: List[str],
    worker_of: Callable[[str], Optional[str]],
    worker: str,
    live_workers: Iterable[str],
    unit_seconds: Optional[Callable[[str], Optional[float]]] = None,
    rebuild_seconds: Optional[Callable[[str], Optional[float]]] = None,
    busy_seconds: Optional[Dict[str, float]] = None,
) -> Optional[str]:
    """Which of `waiting` (in population order) `worker` should train.

    Its own candidates first (`worker_of(id) == worker`), then those of no
    worker or of a worker not in `live_workers`. The costs are functions of
    a candidate id, called only when a candidate may be moved. Otherwise the last waiting
    candidate of the live worker with the most work left (in seconds where
    `unit_seconds` knows every one of its candidates, else in candidates;
    ties: the smallest worker id), if taking it is `worth_moving`: the
    taker must rebuild it (`rebuild_seconds`), while the busy worker first
    finishes the unit it is running (`busy_seconds`: seconds left of it).
    None if nothing waits or waiting for the busy worker is faster.
    """
    if not waiting:
        return None
    live_workers = set(live_workers)
    owners = {candidate_id: worker_of(candidate_id) for candidate_id in waiting}
    for candidate_id in waiting:
        if owners[candidate_id] == worker:
            return candidate_id
    for candidate_id in waiting:
        if owners[candidate_id] is None or owners[candidate_id] not in live_workers:
            return candidate_id
    unit_seconds = unit_seconds or (lambda candidate_id: None)
    rebuild_seconds = rebuild_seconds or (lambda candidate_id: None)
    busy_seconds = busy_seconds or {}
    queues = collections.defaultdict(list)
    for candidate_id in waiting:
        queues[owners[candidate_id]].append(candidate_id)

    remaining = {}
    for owner, queue in queues.items():
        costs = [unit_seconds(candidate_id) for candidate_id in queue]
        remaining[owner] = (
            None if None in costs else sum(costs) + busy_seconds.get(owner, 0.0)
        )
    if None in remaining.values():
        busiest = min(queues, key=lambda owner: (-len(queues[owner]), owner))
    else:
        busiest = min(queues, key=lambda owner: (-remaining[owner], owner))
    taken = queues[busiest][-1]
    if not worth_moving(
        unit_seconds(taken), rebuild_seconds(taken), remaining[busiest]
    ):
        return None
    return taken


class Dispatcher:
    """Hands out the units of a `RoundEngine`'s rounds.

    A worker gets a waiting candidate of this round (`choose_waiting_candidate`:
    its own first), else a new one while the policy lets the population grow;
    when neither is left the engine's barrier may fall (`advance`) and the
    next round's units follow. Reads and changes the engine through its
    public attributes.

    Args:
        engine: The `RoundEngine` whose work this hands out.
    """

    def __init__(self, engine):
        self.engine = engine

    def may_sample(self) -> bool:
        """Whether a new candidate may be sampled now."""
        engine = self.engine
        return (
            not engine.space_exhausted
            and len(engine.population) < engine.max_candidates
            and engine.policy.may_sample(engine)
        )

    def waiting(self, target: Optional[int] = None) -> List[str]:
        """Candidates that have not trained up to `target` (this round's, by
        default) and no worker holds."""
        engine = self.engine
        target = engine.unit_target() if target is None else target
        held = set(engine.holders.values())
        return [
            cid for cid, record in engine.population.records.items()
            if record.ending is None and not record.done
            and record.epochs_done < target and cid not in held
        ]

    def has_waiting(self) -> bool:
        """Whether any candidate is still to train this round (`waiting`)."""
        engine = self.engine
        target = engine.unit_target()
        held = set(engine.holders.values())
        # Units are handed out in population order: the waiting ones are last.
        return any(
            record.ending is None and not record.done
            and record.epochs_done < target and cid not in held
            for cid, record in reversed(engine.population.records.items())
        )

    def next_unit(self, worker: str) -> Optional[Work]:
        """The unit `worker` trains next, or None (it waits, or all is done)."""
        engine = self.engine
        if engine.phase == FINISHED and self.may_sample():
            # A finished search resumed with a larger budget: the new
            # candidates train to the end, as finalists.
            engine.phase = FINALISTS
            engine.show(
                f"{engine.name}: max_trials raised to {engine.max_candidates}; the "
                f"{engine.max_candidates - len(engine.population)} new candidates "
                "train to the end as finalists."
            )
        while engine.phase != FINISHED:
            waiting = self.next_waiting(worker)
            if waiting is not None and self.unit_reported_in_full(waiting):
                # Its worker died after reporting the round's last epoch but
                # before ending the unit: nothing is left to train.
                engine.complete_unit(waiting)
                engine.population.mark_changed(waiting)
                continue
            if waiting is not None:
                return self.reissue(waiting, worker)
            if self.may_sample():
                work = self.sample_new(worker)
                if work is not None:
                    return work
                continue  # The space is exhausted: the barrier may be reached.
            if not engine.advance():
                return None
        return None

    def next_waiting(self, worker: str) -> Optional[str]:
        """Which waiting candidate of this round `worker` takes (see
        `choose_waiting_candidate`), with the costs the engine measured."""
        engine = self.engine
        target = engine.unit_target()
        records = engine.population.records
        costs = engine.unit_costs

        def unit_seconds(cid):
            per_epoch = costs.epoch_seconds(cid)
            return per_epoch and per_epoch * (target - records[cid].epochs_done)

        # The unit a busy worker runs now comes before its waiting ones.
        busy_seconds = {
            busy: (costs.epoch_seconds(cid) or 0.0)
            * max(0, target - len(records[cid].curve))
            for busy, cid in engine.holders.items()
        }
        return choose_waiting_candidate(
            self.waiting(target), lambda cid: records[cid].worker, worker,
            engine.workers, unit_seconds, costs.build_seconds, busy_seconds,
        )

    def unit_reported_in_full(self, candidate_id: str) -> bool:
        """Whether the candidate's unit was reported to its end but never
        ended (its worker died in between)."""
        engine = self.engine
        reported = engine.population.epochs_reported(candidate_id)
        return reported > engine.population[candidate_id].epochs_done and (
            engine.unit_is_over(candidate_id, reported - 1)
        )

    def reissue(self, candidate_id: str, worker: str) -> Work:
        """Hands a candidate of the population to `worker` for this round."""
        engine = self.engine
        record = engine.population[candidate_id]
        engine.unit_costs.start(
            candidate_id, record.epochs_done,
            builds=record.epochs_done == 0 or record.worker != worker,
        )
        record.awaiting_first_report = True
        record.worker = worker
        engine.holders[worker] = candidate_id
        engine.population.mark_changed(candidate_id)
        return Work(candidate_id, dict(record.values), engine.unit_target())

    def sample_new(self, worker: str) -> Optional[Work]:
        """A new candidate for `worker`: the policy's proposal, else a random
        draw; None once the space is exhausted."""
        engine = self.engine
        width = len(str(engine.max_candidates))
        candidate_id = f"{len(engine.population):0{width}d}"
        values = engine.policy.propose(engine)
        proposed = values is not None
        if values is None:
            if engine.sample is None:
                raise RuntimeError(
                    f"{engine.name}: no `sample` function to draw candidates with."
                )
            values = engine.sample(candidate_id)
        if values is None:
            engine.space_exhausted = True
            engine.show(
                f"{engine.name}: the search space is exhausted after "
                f"{len(engine.population)} distinct candidates (max_trials="
                f"{engine.max_candidates})."
            )
            return None
        engine.population.add(candidate_id, values, worker)
        engine.policy.candidate_added(engine, candidate_id, proposed)
        engine.holders[worker] = candidate_id
        engine.unit_costs.start(candidate_id, 0, builds=True)
        return Work(candidate_id, dict(values), engine.unit_target(), new=True)
