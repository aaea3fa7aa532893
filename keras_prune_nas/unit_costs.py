"""What a unit of work costs: the oracle's clock on each candidate.

With several workers, a candidate lives with the worker that trained it
last. When a worker runs out of its own candidates before the round is
over, it may take one from the worker with the most left, but the taker
has to rebuild that model from its checkpoint first (build, compile, trace,
load the weights). That pays only if the taker, rebuild included, is done
before the other worker would have trained it. The oracle measures both
costs from the units it hands out: how long an epoch of each candidate
takes, and how much longer a unit takes when the model has to be built.
"""

import statistics
import time


class UnitCosts:
    """Seconds per epoch and seconds per build, per candidate, as measured.

    A unit is timed from the moment the oracle hands it out to the moment
    its worker ends it, so it includes the requests around the epochs. A
    unit in which the model was built (the candidate's first, or one on a
    worker that did not hold it) gives the build's cost once the epoch cost
    is known from a unit without one.

    Args:
        clock: A function returning seconds (monotonic); injectable so that
            tests need not sleep.

    Example:

    ```python
    costs = UnitCosts()
    costs.start("3", epochs_done=0, builds=True)
    ...  # the worker trains candidate 3 for one epoch
    costs.end("3", epochs_done=1)
    costs.epoch_seconds("3")  # this first unit's time, until a later one
    ```
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._started = {}
        self._epoch_seconds = {}
        self._build_units = {}
        self._build_seconds = {}
        self._typical_build = None

    def start(self, trial_id, epochs_done, builds):
        """A unit of `trial_id` from `epochs_done` is handed out now."""
        self._started[trial_id] = (self.clock(), epochs_done, builds)

    def cancel(self, trial_id):
        """The unit was not finished (failed, or its worker is gone)."""
        self._started.pop(trial_id, None)

    def end(self, trial_id, epochs_done):
        """The unit of `trial_id` ended with `epochs_done` epochs trained."""
        started = self._started.pop(trial_id, None)
        if started is None:
            return
        began, epochs_before, builds = started
        epochs = epochs_done - epochs_before
        if epochs <= 0:
            return
        seconds = max(0.0, self.clock() - began)
        if builds:
            self._build_units[trial_id] = (seconds, epochs)
        else:
            self._epoch_seconds[trial_id] = seconds / epochs
        if trial_id in self._build_units and trial_id in self._epoch_seconds:
            unit_seconds, unit_epochs = self._build_units[trial_id]
            self._build_seconds[trial_id] = max(
                0.0, unit_seconds - unit_epochs * self._epoch_seconds[trial_id]
            )
            self._typical_build = statistics.median(self._build_seconds.values())

    def epoch_seconds(self, trial_id):
        """Seconds per epoch of `trial_id`, or None before any unit ended.

        From its last unit without a build; until there is one, from its
        last unit with one, less the typical build.
        """
        if trial_id in self._epoch_seconds:
            return self._epoch_seconds[trial_id]
        if trial_id in self._build_units:
            seconds, epochs = self._build_units[trial_id]
            build = self.typical_build_seconds() or 0.0
            # Never below a tenth of the unit: the build may be atypical.
            return max(seconds - build, 0.1 * seconds) / epochs
        return None

    def build_seconds(self, trial_id):
        """Seconds a build adds to a unit of `trial_id`: its own as measured,
        else the typical one; None if no build was measured yet."""
        if trial_id in self._build_seconds:
            return self._build_seconds[trial_id]
        return self.typical_build_seconds()

    def typical_build_seconds(self):
        """The median build of the candidates measured so far, or None."""
        return self._typical_build


def worth_moving(moved_seconds, rebuild_seconds, remaining_seconds):
    """Whether an idle worker should take a candidate from a busy one.

    Args:
        moved_seconds: The epochs of this round the candidate still needs,
            in seconds.
        rebuild_seconds: What rebuilding it from its checkpoint costs.
        remaining_seconds: The busy worker's waiting work, this candidate
            included.

    The taker is done after `rebuild_seconds + moved_seconds`; the busy
    worker would have been done after `remaining_seconds`. Unknown costs
    (None) count as worth it: idle work is not left waiting without
    evidence that waiting is faster.
    """
    if None in (moved_seconds, rebuild_seconds, remaining_seconds):
        return True
    return rebuild_seconds + moved_seconds < remaining_seconds
