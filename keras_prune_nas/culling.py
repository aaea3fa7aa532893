"""The pure rules of the per-epoch cull.

Everything here is a function of plain numbers: no Keras, no keras_tuner, no
state. The oracle, the replay tools and the comparisons all call these, so the
rule a search applies is the rule a replay of its curves applies.

The rule (see the README):

* after each round, rank the survivors by their score and cull
  ``max(1, floor(cull_fraction * alive))`` of them, never going below
  ``min_survivors``;
* candidates without a usable score (failed, diverged to NaN/inf) rank last;
* once ``min_survivors`` or fewer are left, culling stops and the finalists
  train on with early stopping;
* with a grace period (``grace_rounds`` > 1) nobody is culled before the end
  of round ``grace_rounds``; that first cull brings the population down to
  the size the schedule without grace has at that round, so the rounds
  after it cost what they cost without grace.
"""

import math

from keras_prune_nas import checks

RANK_BY_CHOICES = ("best", "last")
DIRECTIONS = ("min", "max")

# `0.15 * 20` is 2.9999999999999996 in binary floating point; without the
# tolerance the floor would cull one candidate too few.
_FLOOR_TOLERANCE = 1e-9


def validate_cull_parameters(cull_fraction, min_survivors, epochs_per_round=1,
                             grace_epochs=1):
    """Checks the culling parameters, raising `ValueError` naming the fix."""
    checks.require_number(
        "cull_fraction", cull_fraction,
        "the share of survivors dropped after every round, e.g. 0.15",
        minimum=0, maximum=1, exclusive=True,
    )
    checks.require_int("min_survivors", min_survivors, 1,
                       "the number of finalists kept when culling stops")
    checks.require_int("epochs_per_round", epochs_per_round, 1,
                       "the epochs every survivor trains between two culls")
    checks.require_int("grace_epochs", grace_epochs, 1,
                       "the epochs every candidate trains before the first cull")


def grace_rounds(grace_epochs, epochs_per_round=1):
    """Rounds every candidate trains before the first cull.

    The first cull comes at the end of the first round that reaches
    `grace_epochs`.

    >>> grace_rounds(1), grace_rounds(3), grace_rounds(3, epochs_per_round=2)
    (1, 3, 2)
    """
    return -(-grace_epochs // epochs_per_round)


def cull_count(alive, cull_fraction, min_survivors):
    """How many of `alive` candidates one cull removes.

    Args:
        alive: Number of candidates still in the population.
        cull_fraction: Share of them to drop, in (0, 1).
        min_survivors: Culling never leaves fewer than this.

    Returns:
        ``min(max(1, floor(cull_fraction * alive)), alive - min_survivors)``,
        and 0 once ``alive <= min_survivors``.
    """
    if alive <= min_survivors:
        return 0
    count = max(1, math.floor(cull_fraction * alive + _FLOOR_TOLERANCE))
    return min(count, alive - min_survivors)


def cull_schedule(population, cull_fraction=0.15, min_survivors=10, grace_rounds=1):
    """Population sizes round by round, from `population` to the finalists.

    Entry r is the population that trains round r; the last entry, the
    finalists. With `grace_rounds` > 1 the first `grace_rounds` rounds keep
    everyone, then the schedule without grace resumes where it would be.

    Example:

    >>> cull_schedule(50)
    [50, 43, 37, 32, 28, 24, 21, 18, 16, 14, 12, 11, 10]
    >>> cull_schedule(50, grace_rounds=3)
    [50, 50, 50, 32, 28, 24, 21, 18, 16, 14, 12, 11, 10]
    """
    sizes = [population]
    while True:
        removed = cull_count(sizes[-1], cull_fraction, min_survivors)
        if removed == 0:
            break
        sizes.append(sizes[-1] - removed)
    if grace_rounds <= 1 or len(sizes) == 1:
        return sizes
    return [population] * grace_rounds + sizes[min(grace_rounds, len(sizes) - 1):]


def culling_rounds(population, cull_fraction=0.15, min_survivors=10, grace_rounds=1):
    """Number of rounds before the finalists are left."""
    return len(cull_schedule(population, cull_fraction, min_survivors, grace_rounds)) - 1


def cull_count_after_round(alive, round_index, population, cull_fraction=0.15,
                           min_survivors=10, grace_rounds=1):
    """How many of `alive` candidates the cull after round `round_index` removes.

    Args:
        alive: Candidates that trained round `round_index` (0-based).
        round_index: The round just finished.
        population: The candidates the search started with (the schedule's
            first entry).
        cull_fraction, min_survivors, grace_rounds: As for `cull_schedule`.

    Returns:
        0 during the grace period; at the first cull after it, enough to
        reach the schedule's size (at least the usual count); afterwards
        `cull_count(alive, ...)`.
    """
    if round_index < grace_rounds - 1:
        return 0
    count = cull_count(alive, cull_fraction, min_survivors)
    if grace_rounds > 1 and round_index == grace_rounds - 1 and count:
        sizes = cull_schedule(population, cull_fraction, min_survivors, grace_rounds)
        target = sizes[round_index + 1] if round_index + 1 < len(sizes) else min_survivors
        count = max(count, min(alive - target, alive - min_survivors))
    return count


def is_usable(value):
    """True for a finite number (a score a candidate can be ranked by)."""
    return value is not None and math.isfinite(value)


def curve_score(curve, direction, rank_by="best"):
    """The score of one learning curve, or None if it cannot be ranked.

    Args:
        curve: Objective values per epoch, in epoch order.
        direction: "max" or "min".
        rank_by: "best" for the best value so far, "last" for the value of
            the last epoch.

    Returns:
        A float, or None when the curve is empty or its last value is NaN or
        infinite (the candidate diverged: whatever it scored before, its
        weights are now useless, so it ranks last).
    """
    if not curve or not is_usable(curve[-1]):
        return None
    if rank_by == "last":
        return float(curve[-1])
    usable = [v for v in curve if is_usable(v)]
    return float(max(usable) if direction == "max" else min(usable))


def rank(scores, direction):
    """Candidates ordered best first; unusable scores (None/NaN) come last.

    Ties keep the order of `scores` (the sampling order), so ranking is
    deterministic.

    Args:
        scores: Mapping of candidate id to score (float, or None).
        direction: "max" or "min".

    Returns:
        List of candidate ids, best first.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"`direction` must be 'min' or 'max', got {direction!r}.")
    order = {key: i for i, key in enumerate(scores)}
    sign = -1.0 if direction == "max" else 1.0

    def key(candidate):
        score = scores[candidate]
        if not is_usable(score):
            return (1, 0.0, order[candidate])
        return (0, sign * score, order[candidate])

    return sorted(scores, key=key)


def best_first(scores, completed, direction):
    """A search's result order: the `completed` candidates best first, then
    the others best first (unusable scores last in each).

    Args:
        scores: Mapping of candidate id to score (float, or None).
        completed: The ids of the candidates that finished their training.
        direction: "max" or "min".
    """
    return (
        rank({key: score for key, score in scores.items() if key in completed}, direction)
        + rank({key: score for key, score in scores.items() if key not in completed},
               direction)
    )


def select_culled(scores, cull_fraction, min_survivors, direction, count=None):
    """The candidates one cull removes, worst first.

    Args:
        scores: Mapping of candidate id to score for every survivor.
        cull_fraction: Share of the survivors to drop, in (0, 1).
        min_survivors: Never leave fewer survivors than this.
        direction: "max" or "min".
        count: How many to remove, if not `cull_count(len(scores), ...)`
            (e.g. from `cull_count_after_round`).

    Returns:
        List of `(candidate_id, rank)` pairs, worst first, where rank 1 is the
        best of the population that was ranked.
    """
    ranking = rank(scores, direction)
    if count is None:
        count = cull_count(len(ranking), cull_fraction, min_survivors)
    if count == 0:
        return []
    worst_first = list(reversed(ranking))[:count]
    position = {candidate: i + 1 for i, candidate in enumerate(ranking)}
    return [(candidate, position[candidate]) for candidate in worst_first]


def epochs_since_best(curve, direction):
    """Epochs trained since the best value of `curve` (0: last is the best)."""
    best_index = None
    best_value = None
    for index, value in enumerate(curve):
        if not is_usable(value):
            continue
        if best_value is None or (
            value > best_value if direction == "max" else value < best_value
        ):
            best_index, best_value = index, value
    if best_index is None:
        return len(curve)
    return len(curve) - 1 - best_index


def should_stop_early(curve, direction, patience):
    """Early stopping for finalists, as `keras.callbacks.EarlyStopping` does.

    Stops once `patience` epochs in a row brought no improvement on the best
    value so far. `patience=None` never stops early.
    """
    if patience is None:
        return False
    return epochs_since_best(curve, direction) >= patience


def round_end_epoch(round_index, epochs_per_round, epochs):
    """Epoch count a survivor reaches at the end of round `round_index`."""
    return min((round_index + 1) * epochs_per_round, epochs)


def planned_epochs(population, epochs, cull_fraction=0.15, min_survivors=10,
                   epochs_per_round=1, grace_epochs=1):
    """Upper bound on the epochs a search trains (finalists run to the end).

    Returns a dict with the culling-phase epochs, the finalists' maximum,
    their total, and what RandomSearch would train (`population * epochs`).
    """
    sizes = cull_schedule(population, cull_fraction, min_survivors,
                          grace_rounds(grace_epochs, epochs_per_round))
    culling_epochs = 0
    trained = 0
    for round_index, alive in enumerate(sizes[:-1]):
        end = round_end_epoch(round_index, epochs_per_round, epochs)
        culling_epochs += alive * (end - trained)
        trained = end
        if trained >= epochs:
            # Epochs ran out before the finalists were reached.
            return {
                "culling": culling_epochs,
                "finalists": 0,
                "total": culling_epochs,
                "random_search": population * epochs,
            }
    finalist_epochs = sizes[-1] * (epochs - trained)
    return {
        "culling": culling_epochs,
        "finalists": finalist_epochs,
        "total": culling_epochs + finalist_epochs,
        "random_search": population * epochs,
    }


def validate_complexity_penalty(complexity_penalty):
    """Checks `complexity_penalty`: a finite number >= 0."""
    checks.require_number(
        "complexity_penalty", complexity_penalty,
        "the objective given up per tenfold increase in parameters, e.g. "
        "0.01; 0 turns it off",
        minimum=0,
    )


def penalized_score(score, parameters, complexity_penalty, direction):
    """`score` with a penalty for model size, in the objective's direction.

    ``score - penalty * log10(parameters)`` for "max" and
    ``score + penalty * log10(parameters)`` for "min": a model ten times
    larger must be `complexity_penalty` better to rank the same. An unusable
    score stays None; a model without parameters is not penalized.

    >>> round(penalized_score(0.9, 1000, 0.01, "max"), 6)
    0.87
    """
    if not is_usable(score):
        return None
    if not complexity_penalty or not parameters or parameters < 1:
        return float(score)
    penalty = complexity_penalty * math.log10(parameters)
    return float(score - penalty if direction == "max" else score + penalty)


def secretary_observe_count(candidates):
    """How many candidates the secretary rule only observes: floor(n / e)."""
    return int(math.floor(candidates / math.e))


def secretary_accepts(index, candidates, observe, score, benchmark, direction):
    """The secretary rule's decision on the candidate at position `index`.

    Args:
        index: 0-based position of the candidate in sampling order.
        candidates: How many candidates the search samples at most.
        observe: How many are only observed (`secretary_observe_count`).
        score: The candidate's score after its probe (None: unusable).
        benchmark: The best score among the observed ones (None if none).
        direction: "max" or "min".

    Returns:
        True to accept it: it comes after the observed ones and beats all of
        them (strictly), or it is the last candidate, which the rule must
        take when none before it was accepted.
    """
    if index < observe:
        return False
    if index >= candidates - 1:
        return True
    if not is_usable(score):
        return False
    if benchmark is None:
        return True
    return score > benchmark if direction == "max" else score < benchmark


__all__ = [
    "best_first",
    "cull_count",
    "cull_schedule",
    "culling_rounds",
    "curve_score",
    "epochs_since_best",
    "is_usable",
    "penalized_score",
    "planned_epochs",
    "rank",
    "secretary_accepts",
    "secretary_observe_count",
    "round_end_epoch",
    "select_culled",
    "should_stop_early",
    "validate_complexity_penalty",
    "validate_cull_parameters",
]

