"""Strategies as small policies of the round engine.

A policy is a constructor and a few decisions (the way Optuna's pruners are a
constructor and a `prune()`): the engine trains, reports and holds the
barrier; the policy says, after every round, who goes on. It reads and acts
only through the engine's public surface (`alive`, `score`, `curve`,
`end_candidate`, `next_round`, `start_finalists`, `finish`, ...) and keeps
its own state, saved under its own `key`.

Adding a strategy means writing a policy:

```python
class KeepTheBestHalf(RoundPolicy):
    key = "keep_the_best_half"

    def selection_rounds(self, max_candidates):
        return 1

    def round_finished(self, engine, population):
        if engine.end_if_nothing_to_train(population):
            return True
        ranking = engine.population.ranking(population)
        for candidate_id in ranking[len(ranking) // 2:]:
            engine.end_candidate(candidate_id, "STOPPED", "In the worse half.")
        return engine.start_finalists("the better half trains on.")
```
"""

from typing import List
from typing import Optional

from keras_prune_nas import checks
from keras_prune_nas import culling
from keras_prune_nas.engine.messages import format_score
from keras_prune_nas.engine.population import STOPPED


class RoundPolicy:
    """The default decisions: every candidate is a finalist (RandomSearch).

    Override what your strategy decides:

    * `selection_rounds(max_candidates)`: rounds of selection planned.
    * `may_sample(engine)`: whether a new candidate may be sampled now
      (default: yes, up to `max_candidates`).
    * `sampling_target(engine)`: how many candidates the population holds
      once this selection's sampling is over (default `max_candidates`;
      for the progress line).
    * `propose(engine)`: values for the next candidate, or None to draw one
      at random.
    * `candidate_added(engine, candidate_id, proposed)`: a candidate joined.
    * `epochs_set(engine)`: the epoch budget is known (a search starts).
    * `unit_finished(engine, candidate_id)`: a candidate of the selection
      phase came back trained.
    * `round_finished(engine, population)`: every candidate finished the
      round: decide. Return True if anything changed.
    * `finalists_finished(engine, reason)`: nothing is left to train.
      Return False (nothing changed) while the policy is `busy`.
    * `busy(engine)`: the policy is computing (e.g. the next generation in a
      thread): workers wait.
    * `parameters()`, `state()`, `restore(state)`.
    """

    key = "everyone_a_finalist"

    def selection_rounds(self, max_candidates: int) -> int:
        return 0

    def may_sample(self, engine) -> bool:
        return True

    def sampling_target(self, engine) -> int:
        return engine.max_candidates

    def propose(self, engine) -> Optional[dict]:
        return None

    def candidate_added(self, engine, candidate_id: str, proposed: bool) -> None:
        pass

    def epochs_set(self, engine) -> None:
        pass

    def unit_finished(self, engine, candidate_id: str) -> None:
        pass

    def round_finished(self, engine, population: List[str]) -> bool:
        if engine.end_if_nothing_to_train(population):
            return True
        return engine.start_finalists(
            f"{len(population)} candidates train on to epoch {engine.epochs}."
        )

    def finalists_finished(self, engine, reason: str) -> bool:
        return engine.finish(reason)

    def busy(self, engine) -> bool:
        return False

    def parameters(self) -> dict:
        return {}

    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        pass


class CullPolicy(RoundPolicy):
    """PruneSearch's rule: after every round cull the worst `cull_fraction`.

    `max(1, floor(cull_fraction * alive))` of the survivors are culled after
    each round, never going below `min_survivors`; then the finalists train
    on with early stopping. With `grace_rounds` > 1 nobody is culled before
    the end of that round, and the first cull catches up with the schedule
    (`culling.cull_schedule`).

    Args:
        cull_fraction: Share of the survivors dropped after every round.
        min_survivors: Culling stops once this many are left.
        grace_rounds: Rounds every candidate trains before the first cull.

    Example:

    ```python
    engine = RoundEngine(CullPolicy(0.15, 10), max_candidates=50, sample=...)
    ```
    """

    key = "cull"

    def __init__(self, cull_fraction: float = 0.15, min_survivors: int = 10,
                 grace_rounds: int = 1):
        culling.validate_cull_parameters(cull_fraction, min_survivors)
        checks.require_int("grace_rounds", grace_rounds, 1,
                           "the rounds every candidate trains before the first cull")
        self.cull_fraction = cull_fraction
        self.min_survivors = min_survivors
        self.grace_rounds = grace_rounds
        # One entry per cull: round, epoch, population before, culled ones.
        self.cull_history: List[dict] = []
        self.notified_no_cull = False

    def selection_rounds(self, max_candidates: int) -> int:
        return culling.culling_rounds(
            max_candidates, self.cull_fraction, self.min_survivors, self.grace_rounds
        )

    def epochs_set(self, engine) -> None:
        if self.notified_no_cull:
            return
        self.notified_no_cull = True
        if engine.max_candidates <= self.min_survivors:
            engine.show(
                f"{engine.name}: max_trials={engine.max_candidates} <= "
                f"min_survivors={self.min_survivors}, so nothing is culled: "
                "every candidate trains to the end, as in RandomSearch. Raise "
                "max_trials (e.g. 50) to cull."
            )

    def round_finished(self, engine, population: List[str]) -> bool:
        if engine.end_if_nothing_to_train(population):
            return True
        if len(population) > self.min_survivors:
            self.cull(engine, population)
        if len(engine.alive()) > self.min_survivors:
            return engine.next_round()
        return engine.start_finalists(
            f"{len(engine.alive())} candidates train on to epoch {engine.epochs} "
            f"with early stopping (patience={engine.plan.patience})."
        )

    def cull(self, engine, population: List[str]) -> None:
        count = culling.cull_count_after_round(
            len(population), engine.round, engine.max_candidates, self.cull_fraction,
            self.min_survivors, self.grace_rounds,
        )
        if count == 0:
            return
        epoch = engine.unit_target()
        scores, culled = self.select_culled(engine, population, count)
        record = {"round": engine.round, "epoch": epoch, "alive": len(population),
                  "culled": []}
        rank_by = engine.population.rank_by
        for cid, rank in culled:
            engine.end_candidate(
                cid, STOPPED,
                f"Culled after epoch {epoch} (round {engine.round + 1}): ranked "
                f"{rank} of {len(population)} with {engine.objective_name} "
                f"{format_score(scores[cid])} ({rank_by} so far).",
            )
            record["culled"].append({"trial_id": cid, "rank": rank, "score": scores[cid]})
        self.cull_history.append(record)
        best_id = culling.rank(scores, engine.direction)[0]
        engine.show(
            f"[round {engine.round + 1:>3}] epoch {epoch:>3}/{engine.epochs}  "
            f"alive {len(population):>4} -> {len(population) - len(culled):<4} "
            f"culled {len(culled):>3}  best {engine.objective_name} "
            f"{format_score(scores[best_id])} (trial {best_id})  "
            f"elapsed {engine.elapsed()}"
        )

    def select_culled(self, engine, population: List[str], count: int):
        """Scores the survivors and chooses the (at most `count`) to cull.

        Override to rank differently or to spare some (the attribution
        study's variants do). Returns `(scores, [(candidate_id, rank), ...])`,
        worst first, rank 1 being the best.
        """
        scores = {cid: engine.score(cid) for cid in population}
        return scores, culling.select_culled(
            scores, self.cull_fraction, self.min_survivors, engine.direction, count
        )

    def parameters(self) -> dict:
        return {"cull_fraction": self.cull_fraction, "min_survivors": self.min_survivors,
                "grace_rounds": self.grace_rounds}

    def state(self) -> dict:
        return {"cull_history": self.cull_history, "notified_no_cull": self.notified_no_cull}

    def restore(self, state: dict) -> None:
        self.cull_history = list(state["cull_history"])
        self.notified_no_cull = state["notified_no_cull"]


class SecretaryPolicy(RoundPolicy):
    """The secretary rule: observe floor(N / e), accept the first to beat them.

    Candidates are probed one at a time (`may_sample` holds the next one
    back until the last is judged); the accepted one trains on as the only
    finalist. If none is accepted before the last candidate, the last is.

    Args:
        max_candidates: N, the candidates the search samples at most.
        probe_epochs: Epochs each candidate trains before it is judged (the
            engine's `epochs_per_round`; named here for resume checks).
    """

    key = "secretary"

    def __init__(self, max_candidates: int, probe_epochs: int = 1):
        self.probe_epochs = probe_epochs
        self.observe = culling.secretary_observe_count(max_candidates)
        # The best probe score among the observed candidates.
        self.benchmark: Optional[float] = None
        self.accepted: Optional[str] = None
        # One entry per judged candidate: trial_id, decision, score.
        self.decisions: List[dict] = []

    def selection_rounds(self, max_candidates: int) -> int:
        return 1  # the probe

    def may_sample(self, engine) -> bool:
        # One candidate at a time: each is judged before the next is drawn.
        return engine.phase == "selection" and not engine.units_in_flight()

    def unit_finished(self, engine, candidate_id: str) -> None:
        index = engine.population.index(candidate_id)
        score = engine.score(candidate_id)
        direction = engine.direction
        probe = engine.plan.epochs_per_round
        if culling.secretary_accepts(
            index, engine.max_candidates, self.observe, score, self.benchmark, direction
        ):
            self.accepted = candidate_id
            self.decisions.append(
                {"trial_id": candidate_id, "decision": "accepted", "score": score}
            )
            engine.start_finalists(
                f"the secretary rule accepted candidate {index + 1} of "
                f"{engine.max_candidates} with {engine.objective_name} "
                f"{format_score(score)} after {probe} epoch(s) (best observed "
                f"{format_score(self.benchmark)}); it trains on to epoch "
                f"{engine.epochs}."
            )
            return
        decision = "observed" if index < self.observe else "rejected"
        if decision == "observed" and culling.is_usable(score):
            if self.benchmark is None or (
                score > self.benchmark if direction == "max" else score < self.benchmark
            ):
                self.benchmark = score
        self.decisions.append({"trial_id": candidate_id, "decision": decision, "score": score})
        measured = (
            f"{engine.objective_name} {format_score(score)} after {probe} epoch(s)"
        )
        if decision == "observed":
            message = (
                f"Observed only (the secretary rule observes the first "
                f"{self.observe} of {engine.max_candidates}): {measured}."
            )
        else:
            message = f"Rejected: {measured} did not beat the best observed."
        engine.end_candidate(candidate_id, STOPPED, message)

    def round_finished(self, engine, population: List[str]) -> bool:
        # Reached only when every candidate was probed and none accepted.
        return engine.finish(
            "no candidate was accepted (the last one failed, or the search "
            "space ran out): the best probed candidate is the result"
        )

    def parameters(self) -> dict:
        return {"probe_epochs": self.probe_epochs, "observe": self.observe}

    def state(self) -> dict:
        return {"benchmark": self.benchmark, "accepted": self.accepted,
                "decisions": self.decisions}

    def restore(self, state: dict) -> None:
        self.benchmark = state["benchmark"]
        self.accepted = state["accepted"]
        self.decisions = list(state["decisions"])
