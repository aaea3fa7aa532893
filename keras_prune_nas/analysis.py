"""How well do early epochs predict the final ranking, and what do rules cost?

Everything here works on recorded learning curves, without training: an
array of candidates x epochs of the objective (a RandomSearch's curves, the
LCBench tables in the repository's shared data), or a finished search's
`curves.csv`. PruneSearch's and SecretarySearch's rules are replayed by the
search's own engine (`keras_prune_nas.engine`, with their policies), so a
replay makes the decisions a search would have made on the same curves, by
construction. Successive halving, the reference, is replayed here.

```python
from keras_prune_nas import analysis

curves = analysis.load_curves("runs/digits/curves.csv")
print(analysis.rank_correlation(curves).spearman)
print(analysis.replay(curves, cull_fraction=0.15, min_survivors=10))
```
"""

import csv
import dataclasses
import math

import numpy as np

from keras_prune_nas import checks
from keras_prune_nas import culling

RULES = ("prune", "secretary", "successive_halving")


@dataclasses.dataclass
class RankCorrelation:
    """Correlation of the ranking after each epoch with the final ranking."""

    epochs: np.ndarray  # 1, 2, ..., E: epochs trained
    spearman: np.ndarray
    kendall: np.ndarray
    candidates: int


@dataclasses.dataclass
class ReplayResult:
    """What a rule would have picked on recorded curves, and what it cost.

    Attributes:
        rule: "prune", "secretary" or "successive_halving".
        chosen: Row index of the candidate the rule returns.
        value: The chosen candidate's score over the epochs the rule trained
            it (best objective so far).
        best_value: The best score any candidate reaches with all epochs.
        regret: `best_value - value` for "max" (the reverse for "min"):
            0 means the rule found the best candidate.
        epochs: Epochs the rule trained, all candidates together.
        full_epochs: Epochs of training every candidate to the end.
        trained: Epochs trained per candidate.
    """

    rule: str
    chosen: int
    value: float
    best_value: float
    regret: float
    epochs: int
    full_epochs: int
    trained: np.ndarray

    @property
    def share(self):
        """Epochs trained as a share of training every candidate fully."""
        return self.epochs / self.full_epochs


def load_curves(path, objective="val_accuracy"):
    """Reads a search's `curves.csv` into a masked array of candidates x epochs.

    Epochs a candidate never trained (it was culled or stopped early) are
    masked; a NaN that was recorded stays a NaN (the candidate diverged).

    Args:
        path: A `curves.csv` written by `PruneSearch.write_curves`.
        objective: The column to read.
    """
    by_trial = {}
    with open(path, newline="") as stream:
        reader = csv.DictReader(stream)
        if objective not in (reader.fieldnames or []):
            columns = [c for c in reader.fieldnames or [] if c not in ("trial_id", "status", "epoch")]
            raise ValueError(
                f"{path} has no column {objective!r}; its metrics are "
                f"{columns}. Pass one of them as `objective`."
            )
        for row in reader:
            value = row[objective]
            by_trial.setdefault(row["trial_id"], {})[int(row["epoch"])] = (
                float(value) if value != "" else math.nan
            )
    if not by_trial:
        raise ValueError(f"{path} holds no epochs.")
    length = max(max(epochs) for epochs in by_trial.values()) + 1
    values = np.full((len(by_trial), length), np.nan)
    mask = np.ones((len(by_trial), length), dtype=bool)
    for row, epochs in enumerate(by_trial.values()):
        for epoch, value in epochs.items():
            values[row, epoch] = value
            mask[row, epoch] = False
    return np.ma.MaskedArray(values, mask=mask)


def load_lcbench(path, metric="val_accuracy"):
    """The learning curves of one LCBench table, trained epochs only.

    LCBench logs an evaluation of the untrained model before the first
    epoch, and its tables (and the surrogate) keep it as column 0; its ranks
    carry no signal about the final ones. This drops it: column k - 1 of the
    result is the state after k epochs, like epoch k - 1 of a Keras run.
    Accuracies stored in percent become fractions, like Keras' accuracy.

    Args:
        path: An `lcbench_<task>.npz` table (see `shared/data/lcbench`).
        metric: The array to read, e.g. "val_accuracy" (percent) or
            "val_balanced_accuracy" (a fraction).

    Returns:
        A float array of candidates x trained epochs.
    """
    with np.load(path) as stored:
        if metric not in stored.files:
            raise ValueError(
                f"{path} has no array {metric!r}; it holds {sorted(stored.files)}."
            )
        curves = stored[metric].astype(float)
    if curves.ndim != 2 or curves.shape[1] < 2:
        raise ValueError(
            f"{path}: {metric!r} must be candidates x epochs with the untrained "
            f"column first; got shape {curves.shape}."
        )
    if metric == "val_accuracy":
        curves = curves / 100.0
    return curves[:, 1:]


def _as_curves(curves, name="curves"):
    array = np.ma.asarray(curves, dtype=float)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"`{name}` must be a 2-D array of candidates x epochs; got shape "
            f"{np.shape(curves)}."
        )
    return array


def _require_complete(curves, needed, rule):
    """Raises if a rule needs an epoch that was never recorded."""
    missing = np.ma.getmaskarray(curves)
    for row in range(curves.shape[0]):
        if needed[row] and missing[row, : needed[row]].any():
            epoch = int(np.argmax(missing[row, : needed[row]])) + 1
            raise ValueError(
                f"The {rule} replay needs epoch {epoch} of candidate {row}, "
                "which was never recorded (the candidate was culled or "
                "stopped). Replay needs complete curves: those of a "
                "RandomSearch, or a search with patience=None and no cull."
            )


def _curve(curves, row, epochs):
    return [float(v) for v in np.ma.getdata(curves[row, :epochs])]


def _score(curves, row, epochs, direction, rank_by="best"):
    return culling.curve_score(_curve(curves, row, epochs), direction, rank_by)


@dataclasses.dataclass
class PairedDifference:
    """Differences paired by seed (method minus baseline on the same seed).

    Attributes:
        count: Number of pairs.
        mean: Mean difference.
        low, high: 95% t-interval of the mean (equal to `mean` when every
            pair differs by the same amount; NaN with fewer than 2 pairs).
        wilcoxon_p: Two-sided Wilcoxon signed-rank p-value (1.0 when every
            difference is 0; NaN with fewer than 2 pairs or when every pair
            differs by the same non-zero amount, which the test cannot rank).
    """

    count: int
    mean: float
    low: float
    high: float
    wilcoxon_p: float

    def format(self, scale=100.0, digits=2):
        """`+m [+l, +h], p=...` with the differences times `scale` (points)."""
        if not self.count:
            return "no pairs"
        text = f"{scale * self.mean:+.{digits}f}"
        if math.isnan(self.low):
            return text
        return (f"{text} [{scale * self.low:+.{digits}f}, {scale * self.high:+.{digits}f}], "
                f"p={self.wilcoxon_p:.2f}")


def paired_difference(differences, confidence=0.95):
    """Mean of paired differences, its t-interval and a Wilcoxon p-value (scipy).

    Example:

    >>> result = paired_difference([0.01, 0.02, -0.005, 0.015])
    >>> round(result.mean, 4), result.count
    (0.01, 4)
    """
    from scipy import stats

    d = np.asarray(list(differences), dtype=float)
    if d.size == 0:
        return PairedDifference(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(d.mean())
    if d.size < 2:
        return PairedDifference(1, mean, math.nan, math.nan, math.nan)
    if not np.any(d - d[0]):
        return PairedDifference(int(d.size), mean, mean, mean,
                                1.0 if not np.any(d) else math.nan)
    low, high = stats.t.interval(confidence, d.size - 1, loc=mean, scale=stats.sem(d))
    p = float(stats.wilcoxon(d).pvalue) if np.any(d) else 1.0
    return PairedDifference(int(d.size), mean, float(low), float(high), p)


def rank_correlation(curves, direction="max", rank_by="best"):
    """Spearman and Kendall correlation of each epoch's ranking with the last.

    The ranking after epoch t orders candidates by their score over epochs
    1..t (as the cull does); the final ranking is that after the last epoch.
    Candidates without a usable score are left out of that epoch's figure.

    Args:
        curves: Array of candidates x epochs (complete curves).
        direction: "max" or "min".
        rank_by: "best" (best value so far) or "last" (that epoch's value).

    Returns:
        A `RankCorrelation`.
    """
    from scipy import stats

    curves = _as_curves(curves)
    _validate_direction(direction, rank_by)
    count, length = curves.shape
    _require_complete(curves, [length] * count, "rank-correlation")
    final = [_score(curves, row, length, direction) for row in range(count)]
    spearman, kendall = [], []
    for epochs in range(1, length + 1):
        early = [_score(curves, row, epochs, direction, rank_by) for row in range(count)]
        usable = [
            row for row in range(count)
            if culling.is_usable(early[row]) and culling.is_usable(final[row])
        ]
        if len(usable) < 3:
            spearman.append(np.nan)
            kendall.append(np.nan)
            continue
        a = [early[row] for row in usable]
        b = [final[row] for row in usable]
        spearman.append(stats.spearmanr(a, b).statistic)
        kendall.append(stats.kendalltau(a, b).statistic)
    return RankCorrelation(
        epochs=np.arange(1, length + 1),
        spearman=np.asarray(spearman, dtype=float),
        kendall=np.asarray(kendall, dtype=float),
        candidates=count,
    )


def plot_rank_correlation(result, ax=None, title=None):
    """Plots a `RankCorrelation` (matplotlib); returns the Axes."""
    ax = axes_or_new(ax)
    ax.plot(result.epochs, result.spearman, marker="o", label="Spearman")
    ax.plot(result.epochs, result.kendall, marker="s", label="Kendall")
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("correlation with the final ranking")
    ax.set_ylim(min(0.0, np.nanmin(result.spearman)) - 0.05, 1.05)
    ax.axhline(1.0, color="grey", linewidth=0.5)
    ax.set_title(title or f"Early ranking against final ranking ({result.candidates} candidates)")
    ax.legend()
    return ax


ENDED_EARLY = ("STOPPED", "FAILED", "INVALID")


def plot_learning_curves(rows, objective="val_accuracy", ax=None, title=None, best=None):
    """Plots a search's curves: finalists in colour, culled candidates in grey.

    A grey curve ends with an x at the epoch after which it was culled (or
    stopped, or failed); a candidate still training (a running search) is
    drawn dashed, in colour.

    Args:
        rows: `PruneSearch.curves()` (dicts with `trial_id`, `status`,
            `epoch` and the metrics).
        objective: The metric to plot.
        ax: A matplotlib Axes; a new figure if None.
        title: The title; a default one if None.
        best: The trial id of the search's pick, drawn in black and labelled.

    Returns:
        The Axes.
    """
    ax = axes_or_new(ax)
    by_trial = {}
    for row in rows:
        if row.get(objective) is None:
            continue
        by_trial.setdefault((row["trial_id"], row["status"]), []).append(
            (row["epoch"] + 1, row[objective])
        )
    for (trial_id, status), points in by_trial.items():
        xs, ys = zip(*sorted(points))
        if trial_id == best:
            ax.plot(xs, ys, color="black", linewidth=2.4, zorder=4,
                    label=f"the pick (trial {trial_id})")
        elif status in ENDED_EARLY:
            ax.plot(xs, ys, color="0.75", linewidth=0.8, zorder=1)
            ax.scatter([xs[-1]], [ys[-1]], marker="x", color="0.45", s=14, zorder=3)
        else:
            ax.plot(xs, ys, linewidth=1.6, zorder=2,
                    linestyle="-" if status == "COMPLETED" else "--")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(objective)
    ax.set_title(title or "Culled candidates in grey (x: culled), finalists in colour")
    if best is not None and any(trial_id == best for trial_id, _ in by_trial):
        ax.legend(loc="lower right", fontsize=8)
    return ax


def axes_or_new(ax):
    """`ax`, or the axes of a new matplotlib figure if `ax` is None."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "Plots need matplotlib: pip install 'keras-prune-nas[analysis]'."
        ) from None
    return plt.subplots(figsize=(6, 4))[1]


def _validate_direction(direction, rank_by="best"):
    if direction not in culling.DIRECTIONS:
        raise ValueError(
            f"`direction` must be 'max' or 'min'. Received: direction={direction!r}."
        )
    if rank_by not in culling.RANK_BY_CHOICES:
        raise ValueError(
            f"`rank_by` must be one of {culling.RANK_BY_CHOICES}. "
            f"Received: rank_by={rank_by!r}."
        )


def _result(rule, curves, trained, candidates, direction, penalties=None):
    """The pick among `candidates` after `trained` epochs each, and its regret."""
    count, length = curves.shape
    _require_complete(curves, trained, rule)
    penalties = penalties or [0.0] * count
    scores = {row: _score(curves, row, trained[row], direction) for row in candidates}
    ranked = {
        row: None if score is None else score + penalties[row]
        for row, score in scores.items()
    }
    chosen = culling.rank(ranked, direction)[0]
    full = {row: _score(curves, row, length, direction) for row in range(count)}
    best_value = full[culling.rank(full, direction)[0]]
    value = scores[chosen]
    regret = math.nan
    if culling.is_usable(value) and culling.is_usable(best_value):
        regret = best_value - value if direction == "max" else value - best_value
    return ReplayResult(
        rule=rule,
        chosen=int(chosen),
        value=math.nan if value is None else value,
        best_value=math.nan if best_value is None else best_value,
        regret=regret,
        epochs=int(np.sum(trained)),
        full_epochs=count * length,
        trained=np.asarray(trained, dtype=int),
    )


def replay(curves, rule="prune", direction="max", cull_fraction=0.15,
           min_survivors=10, epochs_per_round=1, patience=5, rank_by="best",
           probe_epochs=1, eta=3, parameters=None, complexity_penalty=0.0,
           grace_epochs=1):
    """Replays a search rule on recorded curves.

    Args:
        curves: Array of candidates x epochs of the objective, in sampling
            order, or a masked array from `load_curves`. Every candidate has
            the same epoch budget: the number of columns.
        rule: "prune" (PruneSearch's per-round cull, through the engine a
            search runs), "secretary" (`SecretarySearch`'s optimal-stopping
            rule) or "successive_halving" (the reference: keep the best
            1/eta at budgets growing by eta).
        direction: "max" or "min".
        cull_fraction, min_survivors, epochs_per_round, patience, rank_by,
            grace_epochs: As for `PruneSearch` ("prune"; `patience` also for
            the secretary's accepted candidate).
        probe_epochs: Epochs each candidate trains before the secretary rule
            judges it.
        eta: The reduction factor of successive halving.
        parameters: Optional parameter count per candidate, for
            `complexity_penalty` ("prune" only).
        complexity_penalty: Ranks survivors by objective - penalty *
            log10(parameters) (direction-aware), as `PruneSearch` does.

    Returns:
        A `ReplayResult`.

    Example:

    >>> import numpy as np
    >>> curves = np.array([[0.5, 0.6, 0.7], [0.4, 0.8, 0.9], [0.1, 0.2, 0.3]])
    >>> replay(curves, cull_fraction=0.34, min_survivors=2, patience=None).chosen
    1
    """
    curves = _as_curves(curves)
    _validate_direction(direction, rank_by)
    if rule == "prune":
        culling.validate_cull_parameters(
            cull_fraction, min_survivors, epochs_per_round, grace_epochs
        )
        _check_parameters(curves.shape[0], parameters, complexity_penalty)
        return _replay_prune(
            curves, direction, cull_fraction, min_survivors, epochs_per_round,
            patience, rank_by, parameters if complexity_penalty else None,
            complexity_penalty, culling.grace_rounds(grace_epochs, epochs_per_round),
        )
    if rule == "secretary":
        checks.require_int("probe_epochs", probe_epochs, 1,
                             "epochs each candidate trains before it is judged")
        return _replay_secretary(curves, direction, probe_epochs, patience)
    if rule == "successive_halving":
        checks.require_int("eta", eta, 2, "the reduction factor")
        return _replay_successive_halving(curves, direction, eta)
    raise ValueError(f"`rule` must be one of {RULES}. Received: rule={rule!r}.")


def _check_parameters(count, parameters, complexity_penalty):
    culling.validate_complexity_penalty(complexity_penalty)
    if complexity_penalty and (parameters is None or len(parameters) != count):
        raise ValueError(
            "`complexity_penalty` needs `parameters`: one parameter count per "
            f"candidate ({count})."
        )


def replay_policy(curves, policy, direction="max", epochs_per_round=1, patience=5,
                  rank_by="best"):
    """Replays any engine policy (a strategy of your own) on recorded curves.

    Args:
        curves: As for `replay`.
        policy: A `keras_prune_nas.engine.RoundPolicy`, fresh (it keeps the
            replay's state).
        direction, epochs_per_round, patience, rank_by: As for `replay`.

    Returns:
        A `ReplayResult` (its `rule` is the policy's `key`).

    Example:

    >>> from keras_prune_nas.engine import CullPolicy
    >>> curves = np.array([[0.5, 0.6, 0.7], [0.1, 0.8, 0.9], [0.4, 0.5, 0.6]])
    >>> replay_policy(curves, CullPolicy(0.34, 2), patience=None).chosen
    0
    """
    curves = _as_curves(curves)
    _validate_direction(direction, rank_by)
    checks.require_int("epochs_per_round", epochs_per_round, 1,
                       "the epochs every candidate trains between two decisions")
    return _replay_engine(curves, direction, policy, policy.key, epochs_per_round,
                          patience, rank_by)


def _replay_engine(curves, direction, policy, rule, epochs_per_round, patience,
                   rank_by, parameters=None, complexity_penalty=0.0):
    """Runs the search's own engine on recorded curves (one worker)."""
    from keras_prune_nas.engine import RoundEngine
    from keras_prune_nas.engine import play

    count, length = curves.shape
    missing = np.ma.getmaskarray(curves)
    engine = RoundEngine(
        policy, max_candidates=count, direction=direction, rank_by=rank_by,
        complexity_penalty=complexity_penalty, patience=patience,
        epochs_per_round=epochs_per_round,
        sample=lambda candidate_id: {"row": int(candidate_id)}, name=rule,
    )
    engine.set_epochs(length)

    def objective(work, epoch):
        row = work.values["row"]
        if missing[row, epoch]:
            raise ValueError(
                f"The {rule} replay needs epoch {epoch + 1} of candidate {row}, "
                "which was never recorded (the candidate was culled or "
                "stopped). Replay needs complete curves: those of a "
                "RandomSearch, or a search with patience=None and no cull."
            )
        return float(np.ma.getdata(curves)[row, epoch])

    size = None if parameters is None else (lambda work: int(parameters[work.values["row"]]))
    play.play(engine, objective, parameters=size)
    trained = [0] * count
    for cid in engine.population.ids():
        trained[engine.population[cid].values["row"]] = engine.population.epochs_reported(cid)
    chosen = int(engine.population[engine.population.results()[0]].values["row"])
    return _result(rule, curves, trained, [chosen], direction)


def _replay_prune(curves, direction, cull_fraction, min_survivors,
                  epochs_per_round, patience, rank_by, parameters, complexity_penalty,
                  grace_rounds=1):
    from keras_prune_nas.engine import CullPolicy

    return _replay_engine(
        curves, direction, CullPolicy(cull_fraction, min_survivors, grace_rounds), "prune",
        epochs_per_round, patience, rank_by, parameters, complexity_penalty,
    )


def _replay_secretary(curves, direction, probe_epochs, patience):
    from keras_prune_nas.engine import SecretaryPolicy

    return _replay_engine(
        curves, direction, SecretaryPolicy(curves.shape[0], probe_epochs), "secretary",
        probe_epochs, patience, "best",
    )


def successive_halving_rungs(count, length, eta=3):
    """Rungs of successive halving: [(candidates, epochs each reaches), ...].

    The first rung trains every candidate for `length / eta**s` epochs
    (at least 1), where `s` is the number of halvings that `count` and
    `length` both allow; each later rung keeps the best `1/eta` and
    multiplies the epochs by `eta`, up to `length`.

    >>> successive_halving_rungs(27, 27)
    [(27, 1), (9, 3), (3, 9), (1, 27)]
    """
    halvings = 0
    while eta ** (halvings + 1) <= count and eta ** (halvings + 1) <= length:
        halvings += 1
    rungs = []
    alive = count
    for index in range(halvings + 1):
        epochs = max(1, int(round(length / eta ** (halvings - index))))
        rungs.append((alive, min(epochs, length)))
        alive = max(1, alive // eta)
    return rungs


def _replay_successive_halving(curves, direction, eta):
    count, length = curves.shape
    trained = [0] * count
    alive = list(range(count))
    for index, (size, epochs) in enumerate(successive_halving_rungs(count, length, eta)):
        if index:
            scores = {row: _score(curves, row, trained[row], direction) for row in alive}
            alive = culling.rank(scores, direction)[:size]
        for row in alive:
            trained[row] = epochs
        _require_complete(curves, trained, "successive_halving")
    return _result("successive_halving", curves, trained, alive, direction)
