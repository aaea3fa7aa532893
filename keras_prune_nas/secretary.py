"""The secretary rule (optimal stopping) as a keras_tuner Oracle and Tuner.

Candidates are probed one at a time for `probe_epochs`; the first
floor(N / e) are only observed; the first later candidate that beats all of
them is accepted and trained to `epochs` with early stopping, and the search
ends. Probed candidates that are not accepted end `STOPPED` and are not
trained further. If no candidate is accepted before the last one, the last
one is (the rule must hire someone).

The rule maximizes the chance of picking the best of N candidates seen in a
random order when each must be accepted or rejected at once; here it is the
cheapest stopping rule to set against PruneSearch's cull.
"""

import time

from keras_prune_nas import checks
from keras_prune_nas.engine import SecretaryPolicy
from keras_prune_nas.oracle import RoundOracle
from keras_prune_nas.plan import RoundPlan
from keras_prune_nas.tuner import RoundSearch


def _validate_probe_epochs(probe_epochs):
    checks.require_int(
        "probe_epochs", probe_epochs, 1,
        "epochs each candidate trains before the rule judges it",
    )


class SecretaryOracle(RoundOracle):
    """Probes candidates one by one; accepts the first that beats the observed.

    A `RoundOracle` with a `SecretaryPolicy`: the same trials, per-epoch
    reports, checkpoints, crash resume and distributed mode. Its one round of selection is the
    probe; candidates are handed out one at a time (the rule judges each
    before the next is sampled), so in a distributed search only one worker
    trains until a candidate is accepted.

    Args:
        objective, max_trials, seed, hyperparameters, allow_new_entries,
        tune_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, lease_timeout, complexity_penalty,
        clock: As for `RoundOracle`.
        probe_epochs: Integer >= 1, epochs each candidate trains before it is
            judged by its best objective over those epochs. Defaults to 1.
        patience: Early-stopping patience of the accepted candidate (None:
            train it to the last epoch). Defaults to 5.

    Example:

    ```python
    oracle = kpn.SecretaryOracle(objective="val_accuracy", max_trials=30)
    ```
    `SecretarySearch` builds this oracle for you.
    """

    search_name = "SecretarySearch"

    def __init__(
        self,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        probe_epochs=1,
        patience=5,
        lease_timeout=60,
        complexity_penalty=0.0,
        clock=time.monotonic,
    ):
        _validate_probe_epochs(probe_epochs)
        checks.require_int(
            "max_trials", max_trials, 1, "the number of candidate architectures sampled"
        )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            # One round of selection: the probe.
            plan=RoundPlan(epochs_per_round=probe_epochs, rounds=1, patience=patience),
            rank_by="best",
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
            clock=clock,
            policy=SecretaryPolicy(max_trials, probe_epochs),
        )
        self.probe_epochs = probe_epochs
        self.patience = patience

    @property
    def observe(self):
        """How many candidates are only observed: floor(max_trials / e)."""
        return self.policy.observe

    @property
    def benchmark(self):
        """The best probe score among the observed candidates."""
        return self.policy.benchmark

    @property
    def accepted(self):
        """The trial id of the accepted candidate, or None."""
        return self.policy.accepted

    @property
    def decisions(self):
        """One entry per judged candidate: trial_id, decision, score."""
        return self.policy.decisions


class SecretarySearch(RoundSearch):
    """Optimal stopping: probe candidates one by one, keep the first good one.

    Samples candidates as `RandomSearch` does, trains each for
    `probe_epochs`, only observes the first floor(max_trials / e), and
    accepts the first later candidate that beats all of those; that one
    trains to `epochs` with early stopping and is the result. Everything
    else works as in `PruneSearch` (callbacks, checkpoints, resume,
    distributed mode, `get_best_models`).

    Args:
        hypermodel, objective, max_trials, seed, hyperparameters,
        tune_new_entries, allow_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, lease_timeout, complexity_penalty,
        batch_size_schedule, learning_rate_scaling, max_live_models,
        cache_inputs, progress, **kwargs: As for `PruneSearch`. A batch-size
            schedule's first entry is the probe's, its last the accepted
            candidate's.
        probe_epochs: Integer >= 1, epochs each candidate trains before it
            is judged. Defaults to 1.
        patience: Early-stopping patience of the accepted candidate.
            Defaults to 5.

    Example:

    ```python
    tuner = kpn.SecretarySearch(
        build_model, objective="val_accuracy", max_trials=30, probe_epochs=2
    )
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val))
    best_model = tuner.get_best_models(1)[0]
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=10,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        probe_epochs=1,
        patience=5,
        lease_timeout=60,
        complexity_penalty=0.0,
        batch_size_schedule=None,
        learning_rate_scaling="linear",
        max_live_models=256,
        cache_inputs=True,
        progress=None,
        **kwargs,
    ):
        oracle = SecretaryOracle(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            probe_epochs=probe_epochs,
            patience=patience,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
        )
        self.seed = seed
        self.probe_epochs = probe_epochs
        super().__init__(
            oracle,
            hypermodel,
            batch_size_schedule=batch_size_schedule,
            learning_rate_scaling=learning_rate_scaling,
            max_live_models=max_live_models,
            cache_inputs=cache_inputs,
            progress=progress,
            **kwargs,
        )
