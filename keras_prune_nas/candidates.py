"""What the round engine knows of each candidate: a plain record.

The engine decides from these records alone (no keras_tuner `Trial`): the
objective curve, the size, where the candidate stands and how it ended. The
keras_tuner adapter mirrors them onto its Trials; the record is saved with
the engine's state, and its `ending` lets the adapter bring trial files that
a kill left behind the state up to date on reload.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass
class Candidate:
    """The oracle's record of one candidate.

    Attributes:
        values: Its hyperparameter values (also in its trial file, which a
            kill may have kept from being written).
        epochs_done: Epochs trained as of its last finished unit of work.
        done: It cannot or need not train any further (reached the last
            epoch, stopped early, diverged, or a callback stopped it).
        diverged: It reported a non-finite loss or objective.
        failures: Units of work that crashed.
        awaiting_first_report: No epoch of the current unit reported yet.
            The first report says from which epoch the worker resumed.
        ending: None while it is in the search; then a dict with the
            `status` and `message` it ended with.
        worker: The worker that trained it last (and may hold it live), or
            None before its first unit.
        curve: The objective value of every epoch reported, in epoch order
            (a mean over executions where a trial has several).
        parameters: The model's parameter count, where it was reported.
    """

    values: dict = dataclasses.field(default_factory=dict)
    epochs_done: int = 0
    done: bool = False
    diverged: bool = False
    failures: int = 0
    awaiting_first_report: bool = True
    ending: Optional[dict] = None
    worker: Optional[str] = None
    curve: list = dataclasses.field(default_factory=list)
    parameters: Optional[float] = None

    def to_dict(self):
        # Shallow copies: the values and the ending are flat, and the state
        # is saved after every report (dataclasses.asdict's deep copy was
        # most of the oracle's own time in a long search).
        data = dict(vars(self))
        data["values"] = dict(self.values)
        data["ending"] = None if self.ending is None else dict(self.ending)
        data["curve"] = list(self.curve)
        return data

    @classmethod
    def from_dict(cls, data):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"A candidate record holds unknown fields {sorted(unknown)}: "
                "the project directory was written by another version of "
                "keras_prune_nas. Pass overwrite=True to start afresh."
            )
        return cls(**data)
