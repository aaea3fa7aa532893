"""Models kept in memory between a candidate's rounds.

Continuing a live model costs nothing; rebuilding one from its checkpoint
costs a build, a load and a new trace. `LiveModelCache` keeps up to
`max_live_models` models, frees the one that will be needed again last when
it must, and ends every entry in one place (`LiveModel.end`).
"""

import dataclasses
from typing import Any
from typing import Optional


@dataclasses.dataclass
class LiveModel:
    """One execution of a candidate in this process.

    Attributes:
        callbacks: Its `ContinuingCallbacks` (they outlive a freed model:
            the run goes on when the model is reloaded).
        model: The Keras model, or None once freed.
        epoch: Epochs the model has trained.
        base_learning_rate: The compiled learning rate, before any
            batch-size scaling (None if not a constant).
        last_used: When it was last checked out (a counter).
    """

    callbacks: Any
    model: Any = None
    epoch: int = 0
    base_learning_rate: Optional[float] = None
    last_used: int = 0

    def free(self):
        """Frees the model; the callbacks' run goes on."""
        self.callbacks.detach()
        self.model = None

    def end(self):
        """Ends the callbacks' run and frees the model."""
        self.callbacks.finish()
        self.free()


class LiveModelCache:
    """Up to `max_live_models` models in memory, by (trial_id, execution).

    Args:
        max_live_models: Models kept in memory besides the one in training.
    """

    def __init__(self, max_live_models):
        self.max_live_models = max_live_models
        self._entries = {}
        self._uses = 0

    def __contains__(self, key):
        return key in self._entries

    def get(self, key):
        return self._entries.get(key)

    def add(self, key, entry):
        self._entries[key] = entry

    def live_count(self):
        """How many models are in memory."""
        return sum(1 for entry in self._entries.values() if entry.model is not None)

    def trial_ids(self):
        return sorted({trial_id for trial_id, _ in self._entries})

    def check_out(self, key):
        """Marks `key` as in use now and frees others beyond the limit."""
        self._uses += 1
        self._entries[key].last_used = self._uses
        others = [
            other for other, entry in self._entries.items()
            if entry.model is not None and other != key
        ]
        excess = len(others) + 1 - self.max_live_models
        # Rounds hand candidates out in the same order every time, so the
        # model trained most recently is the one needed again last: free it
        # first (freeing the least recent would miss on every model once the
        # population exceeds the limit).
        others.sort(key=lambda other: self._entries[other].last_used, reverse=True)
        for other in others[:max(excess, 0)]:
            self._entries[other].free()

    def drop(self, key):
        """Frees the model of `key` (its checkpoint on disk stays)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.free()

    def discard(self, key):
        """Ends `key`'s run and forgets it (it starts over from scratch)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.end()

    def release(self, trial_id):
        """Ends and forgets every execution of `trial_id`.

        Returns:
            The models that were still in memory, for anything to be saved
            from them before they go.
        """
        models = []
        for key in [key for key in self._entries if key[0] == trial_id]:
            entry = self._entries.pop(key)
            if entry.model is not None:
                models.append(entry.model)
            entry.end()
        return models

    def close(self):
        """Ends and forgets everything (the end of `search`)."""
        for key in list(self._entries):
            self._entries.pop(key).end()
