"""The live progress line of a search, while a round or the finalists train.

On a terminal or in a notebook the line updates in place (drawn by `rich`,
which Keras itself depends on); in a log (output redirected to a file or a
pipe) a plain line is printed every `log_interval` seconds while something
trains, so a slow search never looks like a hung one and a log does not
fill with carriage returns.

    round 3/12: 12/37 candidates, 89 epochs trained, 0:41 elapsed, about 1:10 left
"""

import importlib.util
import sys
import threading
import time
import weakref
from typing import Callable
from typing import Optional

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress as RichProgress
from rich.progress import ProgressColumn
from rich.progress import TextColumn
from rich.text import Text

from keras_prune_nas.engine.messages import FINISHED
from keras_prune_nas.engine.progress import Progress

LOG_INTERVAL_SECONDS = 5.0


def format_duration(seconds: float) -> str:
    """`m:ss` below an hour, `h:mm:ss` from one.

    >>> format_duration(41.2), format_duration(3725)
    ('0:41', '1:02:05')
    """
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def progress_text(progress: Progress, elapsed_seconds: float,
                  seconds_since_snapshot: float = 0.0) -> str:
    """What the line says after the stage's name.

    The estimate of the rest, made when the snapshot was taken, counts down
    by the seconds since.

    >>> snapshot = Progress("selection", 2, 12, due=37, done=12, epochs_trained=89,
    ...                     remaining_seconds=75.0)
    >>> progress_text(snapshot, 41.0, seconds_since_snapshot=5.0)
    '12/37 candidates, 89 epochs trained, 0:41 elapsed, about 1:10 left'
    """
    parts = [
        f"{progress.done}/{progress.due} candidates",
        f"{progress.epochs_trained} epoch{'' if progress.epochs_trained == 1 else 's'} trained",
        f"{format_duration(elapsed_seconds)} elapsed",
    ]
    if progress.done < progress.due:
        if progress.remaining_seconds is None:
            parts.append("estimating the rest")
        else:
            left = progress.remaining_seconds - seconds_since_snapshot
            parts.append(f"about {format_duration(left)} left")
    return ", ".join(parts)


def progress_line(progress: Progress, elapsed_seconds: float,
                  seconds_since_snapshot: float = 0.0) -> str:
    """The whole line: `round 3/12: 12/37 candidates, ...`."""
    return f"{progress.stage}: " + progress_text(progress, elapsed_seconds,
                                                 seconds_since_snapshot)


class LiveProgress:
    """Draws `Progress` snapshots: in place, or as log lines.

    Args:
        elapsed: Returns the search's elapsed seconds.
        stream: Where to write (default: standard output).
        interactive: Update in place (True) or print log lines (False);
            None asks `rich` whether `stream` is a terminal, or a notebook
            with ipywidgets.
        log_interval: Seconds between two log lines.
        clock: Seconds (monotonic), injectable for tests.

    Example:

    ```python
    live = LiveProgress(elapsed=lambda: time.monotonic() - started)
    live.update(engine.progress())   # after every event
    live.print_line("[round 1] ...") # a line above the live one
    live.close()
    ```
    """

    def __init__(self, elapsed: Callable[[], float], stream=None,
                 interactive: Optional[bool] = None,
                 log_interval: float = LOG_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.elapsed = elapsed
        self.stream = stream if stream is not None else sys.stdout
        self.console = Console(file=self.stream, highlight=False)
        self.interactive = (
            self.console.is_terminal or (
                # rich draws live output in a notebook through ipywidgets;
                # without it, log lines.
                self.console.is_jupyter and importlib.util.find_spec("ipywidgets") is not None
            )
            if interactive is None else interactive
        )
        self.log_interval = log_interval
        self.clock = clock
        self.latest: Optional[Progress] = None
        self.latest_at = 0.0
        self.last_line_at: Optional[float] = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.ticker: Optional[threading.Thread] = None
        self.bar = None
        self.task = None
        self.task_stage: Optional[str] = None

    def update(self, progress: Progress) -> None:
        """A new snapshot (the engine sends one after every event)."""
        if progress.phase == FINISHED:
            self.close()
            return
        with self.lock:
            self.latest = progress
            self.latest_at = self.clock()
        if self.interactive:
            self._draw_in_place(progress)
            return
        if self.ticker is None:
            # The ticker holds only a weak reference: a display dropped
            # without `close` (a search abandoned half-way) ends it too.
            self.ticker = threading.Thread(
                target=_tick, args=(weakref.ref(self), self.stopped, self.log_interval),
                daemon=True, name="keras-prune-nas-progress",
            )
            self.ticker.start()
        self.log_if_due()

    def print_line(self, line: str) -> None:
        """Prints `line` above the live line (or between log lines)."""
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
            return
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Stops drawing; what was drawn stays."""
        self.stopped.set()
        if self.ticker is not None and self.ticker is not threading.current_thread():
            self.ticker.join(timeout=1.0)
        self.ticker = None
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    # ------------------------------------------------------------------
    def log_if_due(self) -> None:
        """Prints the line if `log_interval` has passed since the last one."""
        with self.lock:
            progress = self.latest
            now = self.clock()
            if progress is None or (
                self.last_line_at is not None and now - self.last_line_at < self.log_interval
            ):
                return
            self.last_line_at = now
            line = progress_line(progress, self.elapsed(), now - self.latest_at)
            # One write per line: the ticker and the search print both.
            self.stream.write(line + "\n")
            self.stream.flush()

    def _draw_in_place(self, progress: Progress) -> None:
        if self.bar is None:
            self.bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(bar_width=24),
                _LineColumn(self), console=self.console, transient=True,
                refresh_per_second=4,
            )
            self.bar.start()
        if self.task_stage != progress.stage:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(progress.stage, total=progress.due)
            self.task_stage = progress.stage
        self.bar.update(self.task, total=progress.due, completed=progress.done)


def _tick(live_ref, stopped: threading.Event, interval: float) -> None:
    """A log line every `interval` seconds while the display lives."""
    while not stopped.wait(interval):
        live = live_ref()
        if live is None:
            return
        try:
            live.log_if_due()
        except (ValueError, OSError):  # its stream was closed under it
            return
        del live


class _LineColumn(ProgressColumn):
    """The text of the line, its clock and estimate running between events."""

    def __init__(self, live: LiveProgress):
        super().__init__()
        self.live = live

    def render(self, task) -> Text:
        live = self.live
        with live.lock:
            progress, taken_at = live.latest, live.latest_at
        if progress is None:
            return Text("")
        return Text(progress_text(progress, live.elapsed(), live.clock() - taken_at))
