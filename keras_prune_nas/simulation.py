"""Playing a worker's part for a `RoundOracle`, with curves instead of training.

A tuner asks its oracle for a unit of work, trains it epoch by epoch,
reports every epoch with `update_trial` and ends the unit with `end_trial`.
`play_unit` does the same with a function that gives a candidate's metrics
at any epoch (a recorded learning curve, a surrogate model, a table),
through the keras_tuner adapter a real search runs: its trials, its files,
its state. To measure a rule on thousands of populations, drive the engine
itself (`keras_prune_nas.engine.play`: the same decisions, hundreds of times
faster, see `benchmarks/engine_vs_adapter.py`); this module is for checking
the adapter.

```python
from keras_prune_nas import simulation

def metrics(trial, epoch):  # epoch 0 is the first trained epoch
    return {"val_accuracy": curves[trial.hyperparameters["id"]][epoch]}

oracle.set_epochs(20)
simulation.play(oracle, metrics)
best = oracle.get_best_trials(1)[0]
```
"""

import time

from keras_tuner.engine.trial import TrialStatus


def play_unit(oracle, metrics, tuner_id="worker"):
    """Asks `oracle` for a unit of work and plays it.

    The unit starts after the epochs the candidate already holds and ends
    when the oracle says so (the round is over, the finalist stopped early)
    or at the oracle's last epoch.

    Args:
        oracle: A `RoundOracle` whose epochs are set (`set_epochs`).
        metrics: `metrics(trial, epoch) -> dict` of the metrics to report
            for `trial` after `epoch + 1` epochs of training.
        tuner_id: The worker's id.

    Returns:
        The trial played, or None when the search has ended.

    Raises:
        RuntimeError: if the oracle has no unit for this worker while others
            hold the rest of the round (a single player would wait for ever).
    """
    trial = oracle.create_trial(tuner_id)
    while trial.status == TrialStatus.IDLE and not oracle.ongoing_trials:
        # Nobody trains: the strategy is busy (NAO proposing in a thread).
        time.sleep(0.01)
        trial = oracle.create_trial(tuner_id)
    if trial.status == TrialStatus.STOPPED:
        return None
    if trial.status != TrialStatus.RUNNING:
        raise RuntimeError(
            f"The oracle has no unit for {tuner_id!r} (status {trial.status}): "
            "other workers hold the rest of the round."
        )
    epoch = len(oracle.curve(trial.trial_id))
    while epoch < oracle.epochs:
        answer = oracle.update_trial(trial.trial_id, metrics(trial, epoch), step=epoch)
        epoch += 1
        if answer.status != TrialStatus.RUNNING:
            break
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    return trial


def play(oracle, metrics, tuner_id="worker", max_units=None):
    """Plays units until the search ends, or `max_units` of them.

    Returns:
        How many units were played.
    """
    units = 0
    while max_units is None or units < max_units:
        if play_unit(oracle, metrics, tuner_id) is None:
            break
        units += 1
    return units
