"""One epoch's report: a checkpoint, a report to the oracle, a commit.

The path of an epoch on the worker's side: the metrics of the Keras logs
(the objective included), a pending checkpoint, `update_trial` (a request to
the chief on a worker), then the checkpoint committed if the oracle kept the
report, or discarded if the candidate is no longer this worker's.
"""

import numpy as np
from keras_tuner import errors
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.engine import tuner_utils

from keras_prune_nas.oracle import PARAMETER_COUNT_METRIC
from keras_prune_nas.oracle import holds_epoch

TrialStatus = trial_module.TrialStatus


def epoch_metrics(logs, objective):
    """The logs of one epoch as the oracle wants them, objective included."""
    metrics = {}
    for name, value in dict(logs or {}).items():
        try:
            metrics[name] = float(np.asarray(value))
        except (TypeError, ValueError):
            continue
    if objective.name not in metrics:
        if not objective.has_value(metrics):
            raise errors.FatalValueError(
                f"The objective {objective.name!r} is not among the "
                f"metrics the model logs every epoch: {sorted(metrics)}. "
                "Pass one of those as `objective`, or compile the model "
                "with that metric (and pass validation data for a "
                "'val_' metric)."
            )
        metrics[objective.name] = float(objective.get_value(metrics))
    return metrics


class EpochReports:
    """Checkpoints every epoch, reports it to the oracle, commits it.

    Args:
        oracle: The oracle (on a worker, keras_tuner's client of the chief's).
        checkpoints: The worker's `CheckpointStore`.
        retention: The worker's `CheckpointRetention`.
        lease: The worker's `WorkerLease`.
        count_parameters: Whether to report each model's parameter count
            (for a complexity penalty).
    """

    def __init__(self, oracle, checkpoints, retention, lease, count_parameters):
        self.oracle = oracle
        self.checkpoints = checkpoints
        self.retention = retention
        self.lease = lease
        self.count_parameters = count_parameters

    def report(self, unit, model, epoch, logs):
        """Reports the 0-based `epoch` of `unit`.

        Returns:
            True if training must stop after this epoch (the unit is over,
            or the candidate is no longer this worker's).
        """
        trial_id = unit.trial.trial_id
        if self.lease.lost():
            # The chief has given this candidate to another worker by now.
            unit.abandoned = "its lease expired"
            return True
        metrics = epoch_metrics(logs, self.oracle.objective)
        if self.count_parameters:
            metrics[PARAMETER_COUNT_METRIC] = float(model.count_params())
        if unit.schedule is not None:
            metrics["batch_size"], metrics["learning_rate"] = unit.schedule
        pending = self.checkpoints.save_pending(trial_id, unit.execution, model, epoch + 1)
        answer = self.oracle.update_trial(trial_id, metrics, step=epoch)
        self.lease.touch()
        unit.any_reported = True
        if not holds_epoch(answer, self.oracle.objective.name, epoch):
            # The oracle ignored the report: the candidate is not ours now.
            self.checkpoints.discard(pending)
            unit.abandoned = "the chief took it back"
            return True
        unit.last_epoch = epoch
        self.checkpoints.commit(pending, trial_id, unit.execution, epoch + 1)
        self.retention.after_epoch(answer, unit.execution, epoch + 1)
        return unit.execution == 0 and answer.status != TrialStatus.RUNNING


def report_whole_result(oracle, trial, results, epochs):
    """Reports what `run_trial` returned as the outcome of the whole training,
    where no epoch reached the oracle (e.g. `run_trial` or `HyperModel.fit`
    was overridden to return a number)."""
    tuner_utils.validate_trial_results(results, oracle.objective, "Tuner.run_trial()")
    oracle.update_trial(
        trial.trial_id,
        tuner_utils.convert_to_metrics_dict(results, oracle.objective),
        step=(epochs or 1) - 1,
    )
