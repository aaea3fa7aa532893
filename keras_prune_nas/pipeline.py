"""One tf.data pipeline for a whole search instead of one per `fit` call.

Keras turns NumPy inputs into a fresh tf.data pipeline on every `fit` call
(for the training data and again for the validation data). A search that
trains every candidate one epoch at a time calls `fit` hundreds of times, and
on small data that rebuild costs more than the epoch itself. Building the
datasets once, with the same batching, shuffling and validation split as
`Model.fit`, and handing the same objects to every call removes that cost.
"""

import inspect
import math

import numpy as np

_FIT_SIGNATURE = None
# The arguments of `Model.fit` that say what data it trains on and how it is
# batched: those the cached pipeline replaces.
DATA_ARGUMENTS = (
    "x", "y", "batch_size", "shuffle", "sample_weight",
    "validation_split", "validation_data", "validation_batch_size",
)


def _fit_signature():
    global _FIT_SIGNATURE
    if _FIT_SIGNATURE is None:
        import keras

        _FIT_SIGNATURE = inspect.signature(keras.Model.fit)
    return _FIT_SIGNATURE


def _is_array_tree(value):
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(_is_array_tree(v) for v in value)
    if isinstance(value, dict) and value:
        return all(_is_array_tree(v) for v in value.values())
    return False


def _map_arrays(value, function):
    if isinstance(value, np.ndarray):
        return function(value)
    if isinstance(value, dict):
        return {k: _map_arrays(v, function) for k, v in value.items()}
    return type(value)(_map_arrays(v, function) for v in value)


def _first_array(value):
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, dict):
        return _first_array(next(iter(value.values())))
    return _first_array(value[0])


def _to_floatx(array):
    import keras

    if np.issubdtype(array.dtype, np.floating):
        return array.astype(keras.config.floatx(), copy=False)
    return array


def _element(x, y, sample_weight):
    x = _map_arrays(x, _to_floatx)
    if y is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _dataset(x, y, sample_weight, batch_size, shuffle):
    import tensorflow as tf

    count = len(_first_array(x))
    dataset = tf.data.Dataset.from_tensor_slices(_element(x, y, sample_weight))
    if shuffle is True:
        dataset = dataset.shuffle(count, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if shuffle == "batch":
        dataset = dataset.shuffle(
            math.ceil(count / batch_size), reshuffle_each_iteration=True
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def validation_split_index(count, validation_split):
    """Where `fit(validation_split=...)` cuts `count` samples: the last part
    is the validation data, taken before any shuffling."""
    return int(math.floor(count * (1.0 - validation_split)))


def fit_keywords(fit_args, fit_kwargs):
    """`fit`'s arguments all as keywords: `((), kwargs)`, or unchanged if they do not bind."""
    try:
        bound = _fit_signature().bind(None, *fit_args, **fit_kwargs)
    except TypeError:
        return fit_args, fit_kwargs
    arguments = dict(bound.arguments)
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return (), arguments


def cache_fit_inputs(fit_args, fit_kwargs):
    """Replaces NumPy training and validation data by reusable tf.data datasets.

    Args:
        fit_args: Positional arguments meant for `Model.fit`.
        fit_kwargs: Keyword arguments meant for `Model.fit`.

    Returns:
        `(args, kwargs)` to pass to `Model.fit` instead, or None when the
        inputs are not plain NumPy arrays (generators, datasets, step
        counts...), in which case the caller passes the originals unchanged.
    """
    try:
        bound = _fit_signature().bind(None, *fit_args, **fit_kwargs)
    except TypeError:
        return None
    arguments = dict(bound.arguments)
    arguments.pop("self")
    arguments.pop("kwargs", None)
    x = arguments.get("x")
    y = arguments.get("y")
    sample_weight = arguments.get("sample_weight")
    if not _is_array_tree(x):
        return None
    if y is not None and not _is_array_tree(y):
        return None
    if sample_weight is not None and not _is_array_tree(sample_weight):
        return None
    if (
        arguments.get("steps_per_epoch")
        or arguments.get("validation_steps")
        or arguments.get("class_weight")
    ):
        return None
    validation_data = arguments.get("validation_data")
    validation_split = arguments.get("validation_split") or 0.0
    if validation_data is not None and not (
        isinstance(validation_data, (tuple, list))
        and 2 <= len(validation_data) <= 3
        and all(v is None or _is_array_tree(v) for v in validation_data)
    ):
        return None

    if validation_split and validation_data is None:
        # Exactly as `Model.fit`: the last samples, before any shuffling.
        split_at = validation_split_index(len(_first_array(x)), validation_split)

        def head(array):
            return array[:split_at]

        def tail(array):
            return array[split_at:]

        validation_data = tuple(
            None if part is None else _map_arrays(part, tail)
            for part in (x, y, sample_weight)
        )
        x = _map_arrays(x, head)
        y = None if y is None else _map_arrays(y, head)
        if sample_weight is not None:
            sample_weight = _map_arrays(sample_weight, head)

    batch_size = arguments.get("batch_size") or 32
    shuffle = arguments.get("shuffle", True)
    kwargs = {
        key: value for key, value in arguments.items() if key not in DATA_ARGUMENTS
    }
    kwargs["x"] = _dataset(x, y, sample_weight, batch_size, shuffle)
    # The dataset shuffles itself; `fit` would only warn about `shuffle`.
    kwargs["shuffle"] = False
    if validation_data is not None:
        xv, yv, *rest = validation_data
        validation_batch_size = arguments.get("validation_batch_size") or batch_size
        kwargs["validation_data"] = _dataset(
            xv, yv, rest[0] if rest else None, validation_batch_size, False
        )
    return (), kwargs


def maybe_cache_fit_inputs(fit_args, fit_kwargs, enabled=True):
    """`cache_fit_inputs` where it applies (enabled, TensorFlow backend, NumPy
    inputs), else the inputs unchanged."""
    from keras_tuner.src.backend import keras

    if not enabled or keras.backend.backend() != "tensorflow":
        return fit_args, fit_kwargs
    cached = cache_fit_inputs(fit_args, fit_kwargs)
    return cached if cached is not None else (fit_args, fit_kwargs)
