"""NAO as a policy of the round engine: generations, each culled.

Generation 0 is random. When a generation's finalists are trained, the
policy asks its `propose` function (an NAO model trained on everything
evaluated so far, see `keras_prune_nas.nao.oracle.propose_architectures`)
for the next generation; a share of each generation can stay random. Each
generation is evaluated by the per-epoch cull (`CullPolicy`). Pure: the NAO
model is reached only through `propose`.
"""

from typing import Callable
from typing import List
from typing import Optional
from typing import Tuple

import threading
import time

import numpy as np

from keras_prune_nas import culling
from keras_prune_nas.engine import COMPLETED
from keras_prune_nas.engine import FAILED
from keras_prune_nas.engine import STOPPED
from keras_prune_nas.engine import CullPolicy

TARGET_MODES = ("rank", "score")

# propose(values, targets, count) -> [(values, origin), ...]: new
# architectures and where each came from ("decoded", "neighbour", ...).
Propose = Callable[[List[dict], np.ndarray, int], List[Tuple[dict, str]]]


def generation_sizes(max_trials: int, generation_size: int) -> List[int]:
    """Candidates per generation: `max_trials` in as few generations of at
    most `generation_size` as will hold them, as even as possible, the first
    the largest."""
    generations = -(-max_trials // generation_size)
    base, extra = divmod(max_trials, generations)
    return [base + (1 if index < extra else 0) for index in range(generations)]


def rank_targets(keys) -> np.ndarray:
    """Targets in [0, 1] from sortable keys: the best 1, the worst 0.

    Ties share the mean of their ranks (scipy's "average" ranking).
    """
    from scipy import stats

    if len(keys) == 1:
        return np.ones(1)
    order = {key: index for index, key in enumerate(sorted(set(keys)))}
    ranks = stats.rankdata([order[key] for key in keys], method="average")
    return (ranks - 1) / (len(keys) - 1)


def verdict_key(status: str, epochs: int, score: Optional[float], direction: str) -> tuple:
    """A sortable key (larger is better) of what the culls knew of a candidate.

    Finalists (COMPLETED) come above every culled candidate, ordered by
    their final score, however early they stopped; culled ones (STOPPED) by
    the epoch of their cull, then by their score at it; failed or diverged
    ones last.

    >>> finalists = [verdict_key("COMPLETED", 3, 0.876, "max"),
    ...              verdict_key("COMPLETED", 12, 0.745, "max")]
    >>> finalists[0] > finalists[1]
    True
    """
    if not culling.is_usable(score) or status == FAILED:
        return (0, 0, 0.0)
    sign = 1.0 if direction == "max" else -1.0
    if status == COMPLETED:
        return (2, 0, sign * score)
    return (1, epochs, sign * score)


def score_targets(scores, maximize: bool = True) -> np.ndarray:
    """Targets in [0, 1] min-max normalised from scores; None ranks 0."""
    signed = np.array(
        [np.nan if score is None else (score if maximize else -score) for score in scores],
        dtype=float,
    )
    finite = np.isfinite(signed)
    if not finite.any():
        return np.zeros(len(signed))
    low, high = signed[finite].min(), signed[finite].max()
    targets = np.zeros(len(signed))
    targets[finite] = (signed[finite] - low) / (high - low) if high > low else 1.0
    return targets


class NAOPolicy(CullPolicy):
    """Generations proposed by NAO, each evaluated by the per-epoch cull.

    Args:
        max_candidates: Candidates over all generations.
        cull_fraction, min_survivors: As for `CullPolicy`.
        generation_size: The most candidates one generation holds.
        random_share: The share of each later generation sampled at random.
        targets: "rank" or "score": what the predictor learns (`evaluated`).
        propose: `propose(values, targets, count) -> [(values, origin),
            ...]`: new architectures from the evaluated ones and their
            targets, each with where it came from (a short word the
            generation history counts, e.g. "decoded" or "neighbour").
        options: Further parameters a run must keep (checked on resume).
        background: Compute each generation's proposals in a thread. The NAO
            model trains for seconds to minutes; meanwhile the engine answers
            its workers (WAIT, heartbeats) instead of holding them, and an
            oracle's lock, until it is done (`busy`).
    """

    key = "nao"

    def __init__(self, max_candidates: int, cull_fraction: float = 0.15,
                 min_survivors: int = 4, generation_size: int = 10,
                 random_share: float = 0.0, targets: str = "rank",
                 propose: Optional[Propose] = None, options: Optional[dict] = None,
                 background: bool = False):
        super().__init__(cull_fraction, min_survivors)
        self.background = background
        # A generation's proposals being computed: (thread, result holder).
        self.pending = None
        self.notified_no_cull = True  # the per-generation message is ours
        self.generation_size = generation_size
        self.random_share = random_share
        self.targets = targets
        self.propose_values = propose
        self.options = dict(options or {})
        self.max_candidates = max_candidates
        self.sizes = generation_sizes(max_candidates, generation_size)
        self.generations = len(self.sizes)
        self.generation = 0
        # Values proposed for the current generation, not yet sampled.
        self.queued: List[dict] = []
        # trial_id -> generation, and "nao" (proposed) or "random"
        self.generation_of: dict = {}
        self.origin_of: dict = {}
        # One entry per generation: proposed (and by origin), random, NAO
        # seconds.
        self.generation_history: List[dict] = []

    def selection_rounds(self, max_candidates: int) -> int:
        return culling.culling_rounds(
            self.sizes[self.generation], self.cull_fraction, self.min_survivors
        )

    def may_sample(self, engine) -> bool:
        return len(engine.population) < self.sampling_target(engine)

    def sampling_target(self, engine) -> int:
        return sum(self.sizes[: self.generation + 1])

    def propose(self, engine) -> Optional[dict]:
        while self.queued:
            values = self.queued.pop(0)
            if not engine.population.has_values(values):
                return values
        return None

    def candidate_added(self, engine, candidate_id: str, proposed: bool) -> None:
        self.generation_of.setdefault(candidate_id, self.generation)
        self.origin_of.setdefault(candidate_id, "nao" if proposed else "random")

    def busy(self, engine) -> bool:
        """Whether the next generation's proposals are still being computed."""
        return self.pending is not None and self.pending[0].is_alive()

    def finalists_finished(self, engine, reason: str) -> bool:
        if self.generation + 1 >= self.generations or engine.space_exhausted:
            return engine.finish(reason)
        size = self.sizes[self.generation + 1]
        if self.pending is None:
            self.pending = self.start_proposals(engine, size)
        if self.busy(engine):
            return False
        _, result = self.pending
        self.pending = None
        if "error" in result:
            raise result["error"]
        return self.start_generation(engine, size, result["proposed"], result["seconds"])

    def start_proposals(self, engine, size: int):
        """Computes the next generation's proposals (in a thread if
        `background`) from what is evaluated now."""
        wanted = size - int(round(self.random_share * size))
        ids, targets = self.evaluated(engine)
        values = [engine.population[cid].values for cid in ids]
        result: dict = {}

        def work():
            started = time.perf_counter()
            try:
                result["proposed"] = (
                    [] if wanted <= 0 or len(ids) < 2 or self.propose_values is None
                    else self.propose_values(values, targets, wanted)
                )
            except Exception as error:  # raised when the engine applies it
                result["error"] = error
            result["seconds"] = time.perf_counter() - started

        thread = threading.Thread(target=work, name="nao-proposals", daemon=True)
        if self.background:
            thread.start()
        else:
            work()
        return thread, result

    def start_generation(self, engine, size: int, proposed: List[Tuple[dict, str]],
                         seconds: float) -> bool:
        self.generation += 1
        self.queued = [values for values, _ in proposed]
        origins: dict = {}
        for _, origin in proposed:
            origins[origin] = origins.get(origin, 0) + 1
        self.generation_history.append(
            {"generation": self.generation, "proposed": len(proposed),
             "origins": origins, "random": size - len(proposed),
             "nao_seconds": round(seconds, 2)}
        )
        message = (
            f"NAO generation {self.generation + 1} of {self.generations}: "
            f"{len(proposed)} proposed, {size - len(proposed)} random ({seconds:.1f} s)."
        )
        rounds = self.selection_rounds(engine.max_candidates)
        if rounds:
            return engine.start_selection(message, rounds=rounds)
        engine.plan.rounds = 0
        engine.show(message)
        return engine.start_finalists(f"{size} candidates train to epoch {engine.epochs}.")

    def evaluated(self, engine) -> Tuple[List[str], np.ndarray]:
        """(candidate ids, targets in [0, 1]) of every candidate that has ended.

        With rank targets, what the culls knew (`verdict_key`): a candidate
        culled later ranks above one culled earlier, those culled at the
        same epoch (in any generation) by their score there, and every
        finalist above every culled one, by its final score (early stopping
        ends a finalist's training, it is no verdict). Failed candidates
        rank last. With score targets, the best scores min-max normalised.
        """
        population = engine.population
        ids, keys, scores = [], [], []
        for cid in population.ids():
            status = population.status(cid)
            if status not in (STOPPED, COMPLETED, FAILED):
                continue
            score = engine.score(cid) if status != FAILED else None
            ids.append(cid)
            keys.append(verdict_key(status, population.epochs_reported(cid), score,
                                    engine.direction))
            scores.append(score if culling.is_usable(score) else None)
        if not ids:
            return ids, np.zeros(0)
        if self.targets == "score":
            return ids, score_targets(scores, engine.direction == "max")
        return ids, rank_targets(keys)

    def candidate_table(self, engine) -> List[dict]:
        """One dict per candidate, in sampling order: `trial_id`,
        `generation`, `origin` ("nao" or "random"), `status` (None while in
        the search), `epochs` trained and `score`."""
        population = engine.population
        return [
            {
                "trial_id": cid,
                "generation": self.generation_of.get(cid),
                "origin": self.origin_of.get(cid),
                "status": population.status(cid),
                "epochs": population.epochs_reported(cid),
                "score": engine.score(cid),
            }
            for cid in population.ids()
        ]

    def parameters(self) -> dict:
        return {
            **super().parameters(),
            "generation_size": self.generation_size,
            "random_share": self.random_share,
            "targets": self.targets,
            **self.options,
        }

    def state(self) -> dict:
        return {
            **super().state(),
            "max_candidates": self.max_candidates,
            "generation": self.generation,
            "queued": self.queued,
            "generation_of": self.generation_of,
            "origin_of": self.origin_of,
            "generation_history": self.generation_history,
        }

    def restore(self, state: dict) -> None:
        saved = state.get("max_candidates", self.max_candidates)
        if saved != self.max_candidates:
            # Its generations are cut from max_trials: another value would
            # re-cut those already run (finished or not).
            raise ValueError(
                f"This project directory holds an NAOSearch run with max_trials={saved} "
                f"(generations of {generation_sizes(saved, self.generation_size)}); "
                f"max_trials={self.max_candidates} would cut its generations anew. "
                f"Pass max_trials={saved} to resume or reload it, or overwrite=True "
                "(or another project_name) to start a new search."
            )
        super().restore(state)
        self.generation = state["generation"]
        self.queued = list(state["queued"])
        self.generation_of = dict(state["generation_of"])
        self.origin_of = dict(state["origin_of"])
        self.generation_history = list(state["generation_history"])
