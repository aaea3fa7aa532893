"""A candidate's checkpoint: its weights and optimizer state in one `.npz`.

Written after every epoch, so its cost adds up: Keras' `.weights.h5` takes
about 30 ms for a three-layer model on this kind of machine (one HDF5 group
per layer), this about 4 ms. The arrays are stored in the order of
`model.weights` and `optimizer.variables`, which a model built from the same
hyperparameters reproduces; their shapes are checked on loading.
"""

import io

import numpy as np
from keras_tuner.src.backend import keras

from keras_prune_nas import _io

SUFFIX = ".npz"


def _variables(model):
    optimizer = getattr(model, "optimizer", None)
    return {
        "model": list(model.weights),
        "optimizer": list(optimizer.variables) if optimizer is not None else [],
    }


def save(model, path):
    """Atomically writes `model`'s weights and optimizer state to `path`."""
    arrays = {}
    for group, variables in _variables(model).items():
        for index, variable in enumerate(variables):
            arrays[f"{group}_{index:05d}"] = keras.ops.convert_to_numpy(variable)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _io.atomic_write_bytes(path, buffer.getvalue())


def load(model, path):
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
