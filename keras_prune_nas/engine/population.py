"""The population: every candidate's record, in sampling order, and its score.

Pure: the records are `keras_prune_nas.candidates.Candidate`s, the scores come
from `keras_prune_nas.culling`. The engine asks the population who is alive,
who still has epochs to train this round, and how each one ranks.
"""

import json
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional

from keras_prune_nas import culling
from keras_prune_nas.candidates import Candidate

COMPLETED = "COMPLETED"
STOPPED = "STOPPED"
FAILED = "FAILED"
ENDINGS = (COMPLETED, STOPPED, FAILED)


def values_key(values: dict) -> str:
    """A canonical text of hyperparameter values, to tell repeats apart."""
    return json.dumps(values, sort_keys=True, default=str)


class Population:
    """Candidate records in sampling order, their endings and their scores.

    Args:
        direction: "max" or "min", the objective's direction.
        rank_by: "best" (best objective so far) or "last" (the last epoch's).
        complexity_penalty: Objective given up per tenfold increase in
            parameters (0: none); see `culling.penalized_score`.

    Example:

    ```python
    population = Population("max")
    population.add("0", {"units": 32}, worker="w0")
    population.record_epoch("0", 0, 0.81)
    population.score("0")  # 0.81
    ```
    """

    def __init__(self, direction: str, rank_by: str = "best",
                 complexity_penalty: float = 0.0):
        self.direction = direction
        self.rank_by = rank_by
        self.complexity_penalty = complexity_penalty
        self.records: Dict[str, Candidate] = {}
        self.end_order: List[str] = []
        self._changed: set = set()

    # ------------------------------------------------------------------
    # Records
    # ------------------------------------------------------------------
    def add(self, candidate_id: str, values: dict, worker: Optional[str]) -> Candidate:
        """A new candidate, last in sampling order."""
        record = Candidate(values=dict(values), worker=worker)
        self.records[candidate_id] = record
        self._changed.add(candidate_id)
        return record

    def __getitem__(self, candidate_id: str) -> Candidate:
        return self.records[candidate_id]

    def __contains__(self, candidate_id: str) -> bool:
        return candidate_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def ids(self) -> List[str]:
        """Every candidate id, in sampling order."""
        return list(self.records)

    def alive(self) -> List[str]:
        """The candidates still in the search, in sampling order."""
        return [cid for cid, record in self.records.items() if record.ending is None]

    def has_values(self, values: dict) -> bool:
        """Whether a candidate with these hyperparameter values exists."""
        key = values_key(values)
        return any(values_key(r.values) == key for r in self.records.values())

    def index(self, candidate_id: str) -> int:
        """0-based position of the candidate in sampling order."""
        return list(self.records).index(candidate_id)

    # ------------------------------------------------------------------
    # Curves
    # ------------------------------------------------------------------
    def record_epoch(self, candidate_id: str, epoch: int, value: float,
                     parameters: Optional[float] = None) -> None:
        """Sets the objective of the 0-based `epoch` (gaps before it are NaN)."""
        record = self.records[candidate_id]
        if epoch < len(record.curve):
            # Another execution of the same epoch: the value is their mean.
            record.curve[epoch] = float(value)
        else:
            record.curve.extend([float("nan")] * (epoch - len(record.curve)))
            record.curve.append(float(value))
        if parameters is not None:
            record.parameters = float(parameters)

    def recover_curve(self, candidate_id: str, curve: List[float],
                      parameters: Optional[float] = None) -> None:
        """Takes back epochs reported after the last save (a kill mid-unit)."""
        record = self.records[candidate_id]
        record.curve = [float(v) for v in curve]
        if any(not culling.is_usable(value) for value in record.curve[record.epochs_done:]):
            record.diverged = True
        if parameters is not None:
            record.parameters = float(parameters)
        self._changed.add(candidate_id)

    def curve(self, candidate_id: str) -> List[float]:
        return list(self.records[candidate_id].curve)

    def epochs_reported(self, candidate_id: str) -> int:
        return len(self.records[candidate_id].curve)

    def epochs_trained(self) -> int:
        """Epochs reported by all candidates together."""
        return sum(len(record.curve) for record in self.records.values())

    # ------------------------------------------------------------------
    # Scores
    # ------------------------------------------------------------------
    def score(self, candidate_id: str) -> Optional[float]:
        """What candidates are ranked by (`rank_by`, penalized); None ranks last."""
        record = self.records[candidate_id]
        if record.diverged:
            return None
        return self.penalized(
            candidate_id, culling.curve_score(record.curve, self.direction, self.rank_by)
        )

    def best_score(self, candidate_id: str) -> Optional[float]:
        """Its best objective value so far, penalized (a finished search's pick)."""
        return self.penalized(
            candidate_id,
            culling.curve_score(self.records[candidate_id].curve, self.direction, "best"),
        )

    def penalized(self, candidate_id: str, score: Optional[float]) -> Optional[float]:
        """`score` less the complexity penalty of the candidate's size."""
        if not self.complexity_penalty:
            return score
        return culling.penalized_score(
            score, self.records[candidate_id].parameters, self.complexity_penalty,
            self.direction,
        )

    def ranking(self, candidate_ids: Iterable[str]) -> List[str]:
        """`candidate_ids` best first by `score` (ties: sampling order)."""
        return culling.rank(
            {cid: self.score(cid) for cid in candidate_ids}, self.direction
        )

    def results(self) -> List[str]:
        """Every candidate best first: the completed ones by their best score,
        then the others."""
        completed = {c for c, r in self.records.items() if _status(r) == COMPLETED}
        scores = {c: self.best_score(c) for c in self.records}
        return culling.best_first(scores, completed, self.direction)

    # ------------------------------------------------------------------
    # Endings
    # ------------------------------------------------------------------
    def end(self, candidate_id: str, status: str, message: Optional[str]) -> None:
        """Ends a candidate: COMPLETED, STOPPED or FAILED, with a message."""
        if status not in ENDINGS:
            raise ValueError(f"A candidate ends as one of {ENDINGS}, not {status!r}.")
        self.records[candidate_id].ending = {"status": status, "message": message}
        if candidate_id not in self.end_order:
            self.end_order.append(candidate_id)
        self._changed.add(candidate_id)

    def status(self, candidate_id: str) -> Optional[str]:
        """How it ended, or None while it is in the search."""
        return _status(self.records[candidate_id])

    def mark_changed(self, candidate_id: str) -> None:
        self._changed.add(candidate_id)

    def has_changes(self) -> bool:
        return bool(self._changed)

    def take_changed(self) -> List[str]:
        """The candidates changed since the last call, in id order."""
        changed = sorted(self._changed)
        self._changed.clear()
        return changed

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "candidates": {cid: r.to_dict() for cid, r in self.records.items()},
            "end_order": list(self.end_order),
        }

    def restore(self, state: dict) -> None:
        self.records = {
            cid: Candidate.from_dict(data) for cid, data in state["candidates"].items()
        }
        self.end_order = list(state["end_order"])
        self._changed.clear()


def _status(record: Candidate) -> Optional[str]:
    return None if record.ending is None else record.ending["status"]
