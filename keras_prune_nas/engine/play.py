"""Playing a worker's part for the engine, with curves instead of training.

A worker asks for work, trains epoch by epoch, reports every epoch and ends
the unit. `play_unit` does the same with a function that gives a candidate's
objective at any epoch (a recorded learning curve, a surrogate model, a
table), so a search rule can be replayed on thousands of populations in
seconds, through the very engine a real search runs.

```python
from keras_prune_nas.engine import CullPolicy, RoundEngine, play

engine = RoundEngine(CullPolicy(), max_candidates=len(curves),
                     sample=lambda candidate_id: {"row": int(candidate_id)})
engine.set_epochs(curves.shape[1])
play.play(engine, lambda work, epoch: curves[work.values["row"], epoch])
best = engine.population.results()[0]
```
"""

import math
import time
from typing import Callable
from typing import Optional

from keras_prune_nas.engine.engine import RoundEngine
from keras_prune_nas.engine.messages import Stop
from keras_prune_nas.engine.messages import Wait
from keras_prune_nas.engine.messages import Work

Objective = Callable[[Work, int], float]


def play_unit(engine: RoundEngine, objective: Objective, worker: str = "worker",
              parameters: Optional[Callable[[Work], float]] = None) -> Optional[Work]:
    """Asks `engine` for a unit of work and plays it.

    The unit starts after the epochs the candidate already holds and ends
    when the engine says so (the round is over, the finalist stopped early)
    or at the last epoch.

    Args:
        engine: A `RoundEngine` whose epochs are set.
        objective: `objective(work, epoch) -> value` after `epoch + 1` epochs.
        worker: The worker's id.
        parameters: Optional `parameters(work) -> count` (for a complexity
            penalty).

    Returns:
        The work played, or None when the search has ended.

    Raises:
        RuntimeError: if the engine has no unit for this worker while others
            hold the rest of the round (a single player would wait for ever).
    """
    work = engine.ask(worker)
    while isinstance(work, Wait) and not engine.units_in_flight():
        # Nobody trains: the policy is busy (e.g. proposing in a thread).
        time.sleep(0.01)
        work = engine.ask(worker)
    if isinstance(work, Stop):
        return None
    if not isinstance(work, Work):
        raise RuntimeError(
            f"The engine has no unit for {worker!r} ({work}): other workers hold "
            "the rest of the round."
        )
    size = None if parameters is None else parameters(work)
    epoch = engine.population.epochs_reported(work.candidate_id)
    while epoch < engine.epochs:
        value = float(objective(work, epoch))
        answer = engine.report_epoch(
            work.candidate_id, epoch, value, finite=math.isfinite(value), parameters=size
        )
        epoch += 1
        if not answer.keep_training:
            break
    engine.end_unit(work.candidate_id)
    return work


def play(engine: RoundEngine, objective: Objective, worker: str = "worker",
         max_units: Optional[int] = None,
         parameters: Optional[Callable[[Work], float]] = None) -> int:
    """Plays units until the search ends, or `max_units` of them.

    Returns:
        How many units were played.
    """
    units = 0
    while max_units is None or units < max_units:
        if play_unit(engine, objective, worker, parameters) is None:
            break
        units += 1
    return units
