"""What the engine answers: plain values, and how its lines are printed.

Pure: no framework, no state of the engine's.
"""

import dataclasses
import math
import time
from typing import Callable
from typing import Mapping
from typing import Optional
from typing import Union

# The phases of a search.
SELECTION = "selection"
FINALISTS = "finalists"
FINISHED = "finished"


@dataclasses.dataclass(frozen=True)
class Work:
    """A unit of work: train `candidate_id` up to `target` epochs.

    `new` is True for a candidate just sampled (build it), `again` for the
    unit the worker already holds (it asked again: a retry or a heartbeat).
    """

    candidate_id: str
    values: dict
    target: int
    new: bool = False
    again: bool = False


@dataclasses.dataclass(frozen=True)
class Wait:
    """Nothing to train now: others finish the round (the barrier)."""


@dataclasses.dataclass(frozen=True)
class Stop:
    """The search is over for this worker."""


WAIT = Wait()
STOP = Stop()
Answer = Union[Work, Wait, Stop]


@dataclasses.dataclass(frozen=True)
class EpochAnswer:
    """The engine's answer to one epoch's report.

    Attributes:
        accepted: False if the reporting worker does not hold the candidate
            (its lease expired): the report was ignored, stop training.
        keep_training: Whether the unit goes on after this epoch.
        resumed_from: On a unit's first report, the epoch it resumed from:
            what was reported from there on before is replaced. Else None.
    """

    accepted: bool
    keep_training: bool
    resumed_from: Optional[int] = None


def metrics_finite(metrics: Mapping[str, Optional[float]], names) -> bool:
    """Whether every one of `names` present in `metrics` is a finite number."""
    values = [metrics[name] for name in names if name in metrics]
    return all(value is not None and math.isfinite(float(value)) for value in values)


class TextDisplay:
    """Progress lines on standard output (or none when not `verbose`)."""

    def __init__(self, verbose: bool = False, clock: Callable[[], float] = time.monotonic):
        self.verbose = verbose
        self.clock = clock
        self.started: Optional[float] = None

    def start_clock(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def show(self, line: str) -> None:
        if self.verbose:
            print(line, flush=True)

    def elapsed(self) -> str:
        seconds = 0.0 if self.started is None else self.clock() - self.started
        return f"{seconds:.1f}s"



def format_score(score: Optional[float]) -> str:
    """A score as the progress lines print it ("n/a" if unusable)."""
    return "n/a" if score is None or not math.isfinite(score) else f"{score:.4f}"
