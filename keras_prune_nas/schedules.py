"""A batch size per round, and the learning rate that goes with it.

Early rounds only have to rank candidates, so they can afford large batches
(fast epochs); the finalists train with small ones. When the batch size
changes, the learning rate is scaled with it by a named rule, relative to
the batch size passed to `search` (Keras' default 32 if none):

* "linear": lr * batch / base (Goyal et al., 2017);
* "sqrt": lr * sqrt(batch / base) (Krizhevsky, 2014; Hoffer et al., 2017);
* None: the learning rate is left alone.

Pure functions of plain numbers, like `keras_prune_nas.culling`.
"""

import math

from keras_prune_nas import checks

LEARNING_RATE_SCALINGS = ("linear", "sqrt", None)


def validate_batch_size_schedule(schedule, learning_rate_scaling="linear"):
    """Checks a schedule (a non-empty sequence of integers >= 1) and a rule."""
    if schedule is not None:
        checks.require_int_list(
            "batch_size_schedule",
            list(schedule) if isinstance(schedule, tuple) else schedule, 1,
            "batch sizes, one per round, the last one also for later rounds "
            "and the finalists, e.g. geometric_batch_sizes(256, 32, rounds)",
        )
    checks.require_choice(
        "learning_rate_scaling", learning_rate_scaling, LEARNING_RATE_SCALINGS,
        "how the learning rate follows the batch size",
    )


def geometric_batch_sizes(start, stop, rounds):
    """`rounds` batch sizes from `start` to `stop`, evenly on a log scale.

    >>> geometric_batch_sizes(256, 32, 4)
    [256, 128, 64, 32]
    """
    if rounds < 1:
        raise ValueError(f"`rounds` must be >= 1; got {rounds}.")
    if rounds == 1:
        return [stop]
    ratio = (stop / start) ** (1.0 / (rounds - 1))
    return [max(1, int(round(start * ratio**index))) for index in range(rounds)]


def round_of_epoch(epoch, epochs_per_round, culling_rounds):
    """The round an epoch (0-based) belongs to; `culling_rounds` for finalists."""
    return min(epoch // epochs_per_round, culling_rounds)


def batch_size_for_round(schedule, round_index, culling_rounds):
    """The schedule's batch size in round `round_index`.

    Round i takes `schedule[i]`, rounds past its end take the last entry, and
    the finalists (round `culling_rounds`) always take the last entry.
    """
    if round_index >= culling_rounds:
        return schedule[-1]
    return schedule[min(round_index, len(schedule) - 1)]


def scaled_learning_rate(learning_rate, batch_size, base_batch_size, rule):
    """The learning rate for `batch_size`, from that for `base_batch_size`.

    >>> scaled_learning_rate(0.001, 256, 32, "linear")
    0.008
    >>> round(scaled_learning_rate(0.001, 128, 32, "sqrt"), 6)
    0.002
    """
    if rule is None:
        return learning_rate
    ratio = batch_size / base_batch_size
    return learning_rate * (ratio if rule == "linear" else math.sqrt(ratio))
