"""The failure policy: retry a crashed unit, contain a failed candidate, and
stop a search whose first candidates all fail.

keras_tuner ends a search after a few consecutive FAILED trials. Here a
failing candidate is contained once any candidate has trained (a population
holds a few that diverge or run out of memory); before that, failures in a
row mean the model-building or training code is broken for every candidate.
"""

from typing import Optional

from keras_prune_nas.candidates import Candidate


class SearchAborted(RuntimeError):
    """The first candidates all failed: the search stops."""


class FailurePolicy:
    """Decides what a crashed or failed unit means for its candidate.

    Args:
        max_retries: How often a crashed unit (retryable) is retried, from
            the candidate's last checkpoint, before the candidate fails.
        max_consecutive_failures: Failures in a row, before any candidate
            trained, that stop the search.

    Example:

    ```python
    policy = FailurePolicy(max_retries=1, max_consecutive_failures=3)
    policy.unit_failed(record, retryable=True)   # "retry"
    policy.unit_failed(record, retryable=True)   # "fail"
    ```
    """

    def __init__(self, max_retries: int = 0, max_consecutive_failures: int = 3):
        self.max_retries = max_retries
        self.max_consecutive_failures = max_consecutive_failures
        self.any_trained = False
        self.consecutive_failures = 0

    def unit_succeeded(self) -> None:
        self.any_trained = True
        self.consecutive_failures = 0

    def unit_failed(self, record: Candidate, retryable: bool) -> str:
        """"retry" (train the unit again) or "fail" (end the candidate)."""
        record.failures += 1
        if retryable and record.failures <= self.max_retries:
            return "retry"
        if not self.any_trained:
            self.consecutive_failures += 1
        return "fail"

    def abort_message(self, last_error: Optional[str]) -> Optional[str]:
        """Why the search must stop now, or None."""
        if self.any_trained or self.consecutive_failures < self.max_consecutive_failures:
            return None
        return (
            f"The first {self.consecutive_failures} candidates all failed, so the "
            "search stops: the model-building or training code is likely broken "
            "for every candidate. The last error was:\n" + (last_error or "")
        )

    def state(self) -> dict:
        return {
            "any_trained": self.any_trained,
            "consecutive_failures": self.consecutive_failures,
        }

    def restore(self, state: dict) -> None:
        self.any_trained = state["any_trained"]
        self.consecutive_failures = state["consecutive_failures"]
