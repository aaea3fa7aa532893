"""Checkpoints: every epoch's weights and optimizer state, and their files.

A checkpoint is one `.npz` of a model's weights and optimizer variables
(about 4 ms to write for a three-layer model; written after every epoch, so
its cost adds up). The arrays are stored in the order of `model.weights` and
`optimizer.variables`, which a model built from the same hyperparameters
reproduces; their shapes are checked on loading.

`CheckpointStore` owns the files: one name pattern, the pending-then-commit
protocol that keeps a reported epoch's weights safe from a kill, which files
are kept, and the model's build config. A tuner holds one store as
`tuner.checkpoints`; tests replace it to inject faults.
"""

import io
import json
import os
import re

import numpy as np
from keras_tuner.src.backend import keras

from keras_prune_nas import files

SUFFIX = ".npz"


def _variables(model):
    optimizer = getattr(model, "optimizer", None)
    return {
        "model": list(model.weights),
        "optimizer": list(optimizer.variables) if optimizer is not None else [],
    }


def save_model_state(model, path):
    """Atomically writes `model`'s weights and optimizer state to `path`."""
    arrays = {}
    for group, variables in _variables(model).items():
        for index, variable in enumerate(variables):
            arrays[f"{group}_{index:05d}"] = keras.ops.convert_to_numpy(variable)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    files.atomic_write_bytes(path, buffer.getvalue())


def load_model_state(model, path):
    """Fills `model` (built, optimizer built) from a checkpoint of `save`."""
    with np.load(path) as stored:
        for group, variables in _variables(model).items():
            names = sorted(name for name in stored.files if name.startswith(group + "_"))
            if len(names) != len(variables):
                raise ValueError(
                    f"The checkpoint {path} holds {len(names)} {group} "
                    f"variables, but the model built from the trial's "
                    f"hyperparameters has {len(variables)}: the hypermodel "
                    "no longer builds the same model. Start the search "
                    "afresh (overwrite=True)."
                )
            for name, variable in zip(names, variables):
                value = stored[name]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(
                        f"The checkpoint {path} holds {group} variable "
                        f"{variable.path!r} with shape {value.shape}, but the "
                        f"model built now has {tuple(variable.shape)}: the "
                        "hypermodel no longer builds the same model. Start "
                        "the search afresh (overwrite=True)."
                    )
                variable.assign(value)


def epochs_worth_keeping(observations, executions, direction):
    """Epoch counts whose first-execution checkpoint may still be the best.

    keras_tuner averages the executions of a candidate at each step, and
    the best epoch is the best average. While an epoch has fewer than
    `executions` reports its average can still move, so it may end up best
    (or not); among the epochs every execution has reported, only the best
    can. Pure, so it is tested on its own.

    Args:
        observations: `(step, values)` pairs, `values` one per execution
            reported so far (a `MetricHistory`'s observations).
        executions: `executions_per_trial`.
        direction: "min" or "max".

    Returns:
        A set of epoch counts (step + 1).
    """
    keep = set()
    settled = []
    for step, values in observations:
        if len(values) < executions:
            keep.add(step + 1)
        else:
            mean = float(np.mean(values))
            if not np.isnan(mean):
                settled.append((mean, step))
    if settled:
        pick = min if direction == "min" else max
        # Ties go to the earliest step, as in MetricHistory.get_best_step.
        best_value = pick(value for value, _ in settled)
        keep.add(min(step for value, step in settled if value == best_value) + 1)
    return keep


# Marks a checkpoint saved for an epoch not yet accepted by the oracle; the
# saving worker's id follows, so that two workers never write the same file.
PENDING_MARK = ".pending-"
_FINAL_NAME = re.compile(rf"^checkpoint_(\d+)_epoch(\d+){re.escape(SUFFIX)}$")
_PENDING_NAME = re.compile(
    rf"^(checkpoint_(\d+)_epoch(\d+){re.escape(SUFFIX)}){re.escape(PENDING_MARK)}"
)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class CheckpointStore:
    """The checkpoint files of every candidate, in their trial directories.

    A candidate trained by several executions has one series per execution.
    A file is named `checkpoint_<execution>_epoch<epochs>.npz`, `<epochs>`
    being the epochs trained (4 digits). Before an epoch is reported its
    checkpoint is saved under a pending name (`save_pending`); once the
    oracle accepts the report it is made final (`commit`). A kill between the
    two leaves a pending file that `settle` makes final if the oracle has
    the epoch, and removes if not.

    Args:
        trial_directory: A function from a trial id to its directory.
        worker_id: The id of the process writing (its `tuner_id`).
    """

    def __init__(self, trial_directory, worker_id):
        self.trial_directory = trial_directory
        self.worker_id = worker_id

    def path(self, trial_id, execution, epochs):
        """The final path of a checkpoint after `epochs` epochs."""
        return os.path.join(
            self.trial_directory(trial_id),
            f"checkpoint_{execution}_epoch{epochs:04d}{SUFFIX}",
        )

    def epochs_saved(self, trial_id, execution):
        """{epochs trained: path} of one execution's final checkpoints."""
        directory = self.trial_directory(trial_id)
        if not os.path.isdir(directory):
            return {}
        found = {}
        for name in os.listdir(directory):
            match = _FINAL_NAME.match(name)
            if match and int(match.group(1)) == execution:
                found[int(match.group(2))] = os.path.join(directory, name)
        return found

    def save_pending(self, trial_id, execution, model, epochs):
        """Saves the epoch about to be reported; returns its pending path.

        Saved before the report, so a kill between the report and the save
        cannot leave a reported epoch without weights; pending until the
        oracle accepts the report, so a worker that lost its candidate never
        overwrites the new owner's checkpoint.
        """
        self.save_build_config(trial_id, model)
        pending = (
            f"{self.path(trial_id, execution, epochs)}{PENDING_MARK}{self.worker_id}"
        )
        save_model_state(model, pending)
        return pending

    def commit(self, pending, trial_id, execution, epochs):
        """Makes a pending checkpoint final (the oracle accepted its epoch)."""
        try:
            os.replace(pending, self.path(trial_id, execution, epochs))
        except FileNotFoundError:
            pass  # another process settled it already

    def discard(self, path):
        """Removes one checkpoint file (pending or final), if it is there."""
        _remove(path)

    def settle(self, trial_id, reported_epochs):
        """Finalizes what a kill left pending: kept if the oracle has its epoch.

        A pending checkpoint of an epoch the oracle recorded was reported
        just before the kill; any other was never reported and is removed.
        """
        directory = self.trial_directory(trial_id)
        if not os.path.isdir(directory):
            return
        for name in os.listdir(directory):
            match = _PENDING_NAME.match(name)
            if not match:
                continue
            path = os.path.join(directory, name)
            final = os.path.join(directory, match.group(1))
            if int(match.group(3)) <= reported_epochs and not os.path.exists(final):
                try:
                    os.replace(path, final)
                except FileNotFoundError:
                    pass
            else:
                _remove(path)

    def retain(self, trial_id, execution, keep):
        """Removes one execution's final checkpoints except those in `keep`."""
        for epochs, path in self.epochs_saved(trial_id, execution).items():
            if epochs not in keep:
                _remove(path)

    def load(self, trial_id, model, epochs, execution=0):
        """Fills `model` from a checkpoint, building it first if needed."""
        if not model.built:
            model.build_from_config(self.load_build_config(trial_id))
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # The optimizer's variables must exist to be filled; otherwise
            # Adam would start over.
            optimizer.build(model.trainable_variables)
        load_model_state(model, self.path(trial_id, execution, epochs))

    def build_config_path(self, trial_id):
        return os.path.join(self.trial_directory(trial_id), "build_config.json")

    def save_build_config(self, trial_id, model):
        """Saves how to build the model's variables (once per candidate)."""
        path = self.build_config_path(trial_id)
        if model.built and not os.path.exists(path):
            files.atomic_write_json(path, model.get_build_config())

    def load_build_config(self, trial_id):
        with open(self.build_config_path(trial_id)) as stream:
            return json.load(stream)
