"""The round plan: which epochs a candidate trains in which round.

A search trains its candidates in rounds: round r ends at epoch
``min((r + 1) * epochs_per_round, epochs)``; after `rounds` rounds of
selection (culls for `PruneOracle`, one probe for `SecretaryOracle`) the
finalists train on to `epochs` with early stopping. The oracle and the tuner
both ask the same plan, so the tuner keeps no copy of the oracle's numbers.
Pure: plain numbers in, plain numbers out.
"""

import dataclasses
from typing import Optional

from keras_prune_nas import checks
from keras_prune_nas import culling


@dataclasses.dataclass
class RoundPlan:
    """Epochs per round, rounds of selection, and the finalists' patience.

    Attributes:
        epochs_per_round: Epochs every candidate trains between two
            decisions.
        rounds: Rounds of selection before the finalists (the most a search
            can run; a search whose population shrinks faster reaches its
            finalists sooner).
        patience: Epochs without improvement before a finalist stops, or
            None to train the finalists to the last epoch.
        epochs: The most epochs any candidate trains (`search(epochs=...)`);
            None until the search sets it.
    """

    epochs_per_round: int = 1
    rounds: int = 0
    patience: Optional[int] = 5
    epochs: Optional[int] = None

    def __post_init__(self):
        checks.require_int(
            "epochs_per_round", self.epochs_per_round, 1,
            "the epochs every candidate trains between two decisions",
        )
        checks.require_int("rounds", self.rounds, 0, "rounds of selection")
        checks.require_int(
            "patience", self.patience, 1,
            "epochs without improvement before a finalist stops",
            allow_none=True, none_means="no early stopping",
        )
        if self.epochs is not None:
            checks.validate_epochs(self.epochs)

    def round_end(self, round_index):
        """Epoch count a candidate reaches at the end of round `round_index`."""
        return culling.round_end_epoch(
            round_index, self.epochs_per_round, self.epochs
        )

    def unit_target(self, round_index, finalist):
        """Epoch count a unit of work handed out now trains up to."""
        return self.epochs if finalist else self.round_end(round_index)

    def round_of_epoch(self, epoch):
        """The round an epoch (0-based) trains in; `rounds` for the finalists."""
        return min(epoch // self.epochs_per_round, self.rounds)

    def unit_is_over(self, step, target, finalist, curve, direction, diverged):
        """Whether a candidate stops training after reporting epoch `step`.

        Args:
            step: The 0-based epoch just reported.
            target: The unit's target epoch count (`unit_target`).
            finalist: Whether the candidate is a finalist (early stopping).
            curve: Its objective values per epoch, `step` included.
            direction: "min" or "max".
            diverged: Whether it reported a non-finite loss or objective.
        """
        if diverged or step + 1 >= target:
            return True
        return finalist and culling.should_stop_early(
            curve, direction, self.patience
        )
