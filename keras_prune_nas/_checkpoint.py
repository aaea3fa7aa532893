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
