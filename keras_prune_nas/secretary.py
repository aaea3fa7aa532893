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

from keras_prune_nas import culling
from keras_prune_nas.oracle import PHASE_CULLING
from keras_prune_nas.oracle import PHASE_FINALISTS
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.oracle import TrialStatus
from keras_prune_nas.oracle import _format
from keras_prune_nas.tuner import PruneSearch


def _validate_probe_epochs(probe_epochs):
    culling._require_int(
        "probe_epochs", probe_epochs, 1,
        "epochs each candidate trains before the rule judges it",
    )


class SecretaryOracle(PruneOracle):
    """Probes candidates one by one; accepts the first that beats the observed.

    Built on `PruneOracle`: the same trials, per-epoch reports, checkpoints,
    crash resume and distributed mode. Candidates are handed out one at a
    time (the rule judges each before the next is sampled), so in a
    distributed search only one worker trains until a candidate is accepted.

    Args:
        objective, max_trials, seed, hyperparameters, allow_new_entries,
        tune_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, lease_timeout, complexity_penalty:
            As for `PruneOracle`.
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
        lease_timeout=600,
        complexity_penalty=0.0,
    ):
        _validate_probe_epochs(probe_epochs)
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            # One "round" is one candidate's probe; one survivor is accepted.
            cull_fraction=0.5,
            min_survivors=1,
            epochs_per_round=probe_epochs,
            patience=patience,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
        )
        self.probe_epochs = probe_epochs
        self.observe = culling.secretary_observe_count(max_trials)
        # The best probe score among the observed candidates.
        self.benchmark = None
        self.accepted = None
        # One entry per judged candidate: trial_id, decision, score.
        self.decisions = []
        self._notified_no_cull = True  # PruneOracle's message is about culls

    def unit_target(self):
        if self.phase == PHASE_FINALISTS:
            return self.epochs
        return min(self.probe_epochs, self.epochs)

    def _can_sample(self):
        # One candidate at a time: each is judged before the next is drawn.
        return (
            self.phase == PHASE_CULLING
            and not self.ongoing_trials
            and super()._can_sample()
        )

    def _record_success(self, own):
        probing = self.phase == PHASE_CULLING
        super()._record_success(own)
        if probing:
            self._judge(own)

    def _judge(self, trial):
        index = self.start_order.index(trial.trial_id)
        score = self.score(trial.trial_id)
        direction = self.objective.direction
        if culling.secretary_accepts(
            index, self.max_trials, self.observe, score, self.benchmark, direction
        ):
            self.accepted = trial.trial_id
            self.decisions.append(
                {"trial_id": trial.trial_id, "decision": "accepted", "score": score}
            )
            self.phase = PHASE_FINALISTS
            self._display.show(
                f"Secretary rule: candidate {index + 1} of {self.max_trials} "
                f"accepted with {self.objective.name} {_format(score)} after "
                f"{self.probe_epochs} epoch(s) (best observed "
                f"{_format(self.benchmark)}); it trains on to epoch {self.epochs}."
            )
            return
        decision = "observed" if index < self.observe else "rejected"
        if decision == "observed" and culling.is_usable(score):
            if self.benchmark is None or (
                score > self.benchmark if direction == "max" else score < self.benchmark
            ):
                self.benchmark = score
        self.decisions.append(
            {"trial_id": trial.trial_id, "decision": decision, "score": score}
        )
        self._end_candidate(
            trial, TrialStatus.STOPPED, self._decision_message(decision, score)
        )

    def _decision_message(self, decision, score):
        probe = (
            f"{self.objective.name} {_format(score)} after "
            f"{self.probe_epochs} epoch(s)"
        )
        if decision == "observed":
            return (
                f"Observed only (the secretary rule observes the first "
                f"{self.observe} of {self.max_trials}): {probe}."
            )
        return f"Rejected: {probe} did not beat the best observed."

    def _advance(self):
        if (
            self.phase == PHASE_CULLING
            and not self.population()
            and not self.ongoing_trials
            and not self._can_sample()
        ):
            return self._finish(
                "no candidate was accepted (the last one failed, or the "
                "search space ran out): the best probed candidate is the result"
            )
        return super()._advance()

    def _plan_parameters(self):
        return ("probe_epochs", "complexity_penalty")

    def get_state(self):
        state = super().get_state()
        state["prune"].update(
            probe_epochs=self.probe_epochs,
            benchmark=self.benchmark,
            accepted=self.accepted,
            decisions=self.decisions,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        prune = state["prune"]
        self.benchmark = prune["benchmark"]
        self.accepted = prune["accepted"]
        self.decisions = prune["decisions"]

    def _catch_up_trial_files(self):
        # Decisions saved with the oracle but not yet in the trial files.
        for entry in self.decisions:
            trial = self.trials.get(entry["trial_id"])
            if entry["decision"] != "accepted" and trial is not None and (
                trial.status != TrialStatus.STOPPED
            ):
                self._end_candidate(
                    trial, TrialStatus.STOPPED,
                    self._decision_message(entry["decision"], entry["score"]),
                )
        super()._catch_up_trial_files()


class SecretarySearch(PruneSearch):
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
        max_live_models, cache_inputs, progress, **kwargs: As for
            `PruneSearch`.
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
        lease_timeout=600,
        complexity_penalty=0.0,
        max_live_models=256,
        cache_inputs=True,
        progress=None,
        **kwargs,
    ):
        _validate_probe_epochs(probe_epochs)
        self.probe_epochs = probe_epochs
        super().__init__(
            hypermodel=hypermodel,
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            patience=patience,
            lease_timeout=lease_timeout,
            complexity_penalty=complexity_penalty,
            max_live_models=max_live_models,
            cache_inputs=cache_inputs,
            progress=progress,
            **kwargs,
        )

    def _create_oracle(self, **options):
        for unused in ("cull_fraction", "min_survivors", "epochs_per_round", "rank_by"):
            options.pop(unused)
        return SecretaryOracle(probe_epochs=self.probe_epochs, **options)
