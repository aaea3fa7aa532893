"""What a worker keeps of each candidate: checkpoints and live models.

Every epoch is checkpointed; most checkpoints are soon useless. A candidate
in the search keeps the epochs that may still turn out best (the one
`load_model` loads) and its newest (to resume from); an ended one keeps only
its best. An ended candidate's live model is released, and its callbacks
see the end of their run. A worker asks the chief about each model it
holds, one request each, so it asks about all of them once per round only
(`models_to_check`).
"""

from keras_tuner.engine import trial as trial_module

from keras_prune_nas import checkpoints as checkpoint_files
from keras_prune_nas.oracle import epochs_reported

TrialStatus = trial_module.TrialStatus
ENDED = (TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED)


def best_epochs(trial, objective_name):
    """Epoch count at the candidate's best epoch (whose weights it keeps)."""
    if not trial.metrics.exists(objective_name):
        return None
    step = trial.metrics.get_best_step(objective_name)
    return None if step is None else step + 1


def models_to_check(held, trained_id, unit_start, checked_all_at, remote_oracle):
    """Which held candidates to ask the oracle about after a unit.

    Args:
        held: The trial ids of the models this process holds.
        trained_id: The candidate whose unit just ended (None: check all).
        unit_start: The epoch that unit began at (None if unknown).
        checked_all_at: The `unit_start` of the last check of every model.
        remote_oracle: Whether each question is a request to the chief.

    Returns:
        `(trial_ids, checked_all_at)`: every held model, unless the oracle is
        remote and no new round began since the last full check; then only
        `trained_id` (the oracle ends a candidate only at a round's barrier
        or at the end of its own unit). A round's units start at its first
        epoch, so a unit starting at another epoch than the last full
        check's (later, or earlier: a new generation or a raised
        `max_trials` starts over at epoch 0) begins a new round.
    """
    if not remote_oracle or trained_id is None:
        return list(held), checked_all_at
    if unit_start is not None and unit_start != checked_all_at:
        return list(held), unit_start
    return [trial_id for trial_id in held if trial_id == trained_id], checked_all_at


class CheckpointRetention:
    """Trims each candidate's checkpoints and releases ended candidates.

    Args:
        checkpoints: The worker's `CheckpointStore`.
        live_models: The worker's `LiveModelCache`.
        objective: The search's `keras_tuner.Objective`.
        executions_per_trial: Executions of every candidate.
        get_trial: `get_trial(trial_id)`: the trial as the oracle has it.
        remote_oracle: Whether the oracle is the chief's (a request each).
    """

    def __init__(self, checkpoints, live_models, objective, executions_per_trial,
                 get_trial, remote_oracle):
        self.checkpoints = checkpoints
        self.live_models = live_models
        self.objective = objective
        self.executions_per_trial = executions_per_trial
        self.get_trial = get_trial
        self.remote_oracle = remote_oracle
        # The first epoch of the unit at the last check of every held model.
        self.checked_all_at_epoch = -1

    def after_epoch(self, answer, execution, newest):
        """Removes the checkpoints a candidate can no longer need.

        Execution 0 keeps every epoch that may still turn out best and its
        newest, to resume from. With several executions the best epoch is the
        best average, which can move until the last execution has reported
        that epoch. Any other execution only needs to resume, and keeps its
        newest and its best.
        """
        name = self.objective.name
        trial_id = answer.trial_id
        if answer.metrics.exists(name):
            keep = checkpoint_files.epochs_worth_keeping(
                [(obs.step, obs.value) for obs in answer.metrics.get_history(name)],
                self.executions_per_trial,
                self.objective.direction,
            )
            saved = self.checkpoints.epochs_saved(trial_id, 0)
            keep.add(max(saved, default=0))  # where execution 0 resumes
            self.checkpoints.retain(trial_id, 0, keep)
        if execution != 0:
            self.checkpoints.retain(
                trial_id, execution, {newest, best_epochs(answer, name)}
            )

    def keep_best_only(self, trial):
        """An ended candidate keeps only its best epoch's checkpoint."""
        self.checkpoints.settle(trial.trial_id, epochs_reported(trial, self.objective.name))
        best = best_epochs(trial, self.objective.name)
        for execution in range(self.executions_per_trial):
            self.checkpoints.retain(
                trial.trial_id, execution, {best} if execution == 0 else set()
            )

    def release_ended(self, trained_id=None, unit_start=None):
        """Ends the callbacks of ended candidates, frees them, trims files.

        After a unit of `trained_id` that began at epoch `unit_start`
        (None: check every held model).
        """
        trial_ids, self.checked_all_at_epoch = models_to_check(
            self.live_models.trial_ids(), trained_id, unit_start,
            self.checked_all_at_epoch, remote_oracle=self.remote_oracle,
        )
        for trial_id in trial_ids:
            trial = self.get_trial(trial_id)
            if trial.status in ENDED:
                for model in self.live_models.release(trial_id):
                    self.checkpoints.save_build_config(trial_id, model)
                self.keep_best_only(trial)

    def trim_every_ended(self, trials):
        """Trims every ended candidate's files, not only those held here: a
        process killed after its candidate ended leaves its files behind,
        and so does a worker that died."""
        for trial in trials:
            if trial.status in ENDED:
                self.keep_best_only(trial)
