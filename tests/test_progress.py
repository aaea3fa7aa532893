"""The live progress line: what it says, when a log gets a line, and that a
search draws it without a terminal."""

import gc
import io
import threading

import keras

import keras_prune_nas as kpn
from keras_prune_nas.engine.progress import Progress
from keras_prune_nas.progress import LiveProgress
from keras_prune_nas.progress import format_duration
from keras_prune_nas.progress import progress_line
from tests.helpers import build_mlp


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def snapshot(done, due=10, phase="selection", round_index=0, epochs=None, remaining=30.0):
    return Progress(phase, round_index, 4, due, done, done if epochs is None else epochs,
                    remaining)


def test_the_line_names_the_stage_counts_and_an_estimate_that_counts_down():
    line = progress_line(snapshot(3, epochs=7, remaining=90.0), 65.0, seconds_since_snapshot=30)
    assert line == "round 1/4: 3/10 candidates, 7 epochs trained, 1:05 elapsed, about 1:00 left"
    assert progress_line(snapshot(0, remaining=None), 0).endswith("estimating the rest")
    finalists = progress_line(snapshot(10, phase="finalists", epochs=1), 3725)
    assert finalists == "finalists: 10/10 candidates, 1 epoch trained, 1:02:05 elapsed"
    assert format_duration(-3) == "0:00"


def test_a_log_gets_a_line_at_most_every_interval_and_none_after_close():
    stream, clock = io.StringIO(), Clock()
    live = LiveProgress(elapsed=lambda: clock.now - 100.0, stream=stream, interactive=False,
                        log_interval=5.0, clock=clock)
    for done in range(10):
        live.update(snapshot(done))
        clock.now += 2.0  # an event every 2 s: a line every third event
    ticker = live.ticker
    live.close()
    assert not ticker.is_alive() and live.ticker is None
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[1].split(",")[0].strip() for line in lines] == [
        "0/10 candidates", "3/10 candidates", "6/10 candidates", "9/10 candidates"]
    live.update(snapshot(10, phase="finished"))
    live.print_line("[round   1] culled 2")
    assert stream.getvalue().splitlines()[-1] == "[round   1] culled 2"


def test_the_ticker_ends_with_a_display_dropped_without_close():
    stream = io.StringIO()
    live = LiveProgress(elapsed=lambda: 0.0, stream=stream, interactive=False,
                        log_interval=0.05)
    live.update(snapshot(1))
    ticker = live.ticker
    del live
    gc.collect()
    ticker.join(timeout=5)
    assert not ticker.is_alive()


def test_in_place_the_bar_follows_each_stage_and_close_removes_it():
    stream = io.StringIO()
    live = LiveProgress(elapsed=lambda: 1.0, stream=stream, interactive=True)
    live.update(snapshot(2))
    live.update(snapshot(4))
    task = live.bar.tasks[0]
    assert (task.description, task.completed, task.total) == ("round 1/4", 4, 10)
    live.update(snapshot(1, due=8, round_index=1))
    assert [(t.description, t.completed, t.total) for t in live.bar.tasks] == [
        ("round 2/4", 1, 8)]
    live.print_line("[round   1] epoch 1 [not markup]")
    live.close()
    assert live.bar is None
    assert "[round   1] epoch 1 [not markup]" in stream.getvalue()


def progress_threads():
    return {t for t in threading.enumerate() if t.name == "keras-prune-nas-progress"}


def test_a_search_prints_the_progress_line_while_it_trains(digits, tmp_path, capsys):
    x, y, xv, yv = digits
    before = progress_threads()
    keras.utils.set_random_seed(3)
    tuner = kpn.PruneSearch(build_mlp, objective="val_accuracy", max_trials=6,
                            cull_fraction=0.3, min_survivors=3, seed=3,
                            directory=tmp_path, progress=True)
    tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0)
    out = capsys.readouterr().out.splitlines()
    live = [line for line in out if line.startswith(("round ", "finalists:"))]
    # Standard output is not a terminal here: log lines, the first at once.
    assert live[0].startswith("round 1/3: 0/6 candidates, 1 epoch trained, ")
    stages = [line.split(":")[0] for line in live]
    assert stages == sorted(stages, key=["round 1/3", "round 2/3", "round 3/3",
                                         "finalists"].index)
    assert progress_threads() <= before  # the search closed its own


def test_a_quiet_search_prints_no_progress(digits, tmp_path, capsys):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(build_mlp, objective="val_accuracy", max_trials=4,
                            min_survivors=2, seed=3, directory=tmp_path, progress=False)
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    assert capsys.readouterr().out == ""
