"""Which waiting candidate a worker trains next: worker affinity and costs.

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
