"""Checks of `search()`'s inputs, made before any candidate trains.

Each raises one `ValueError` (or `TypeError`) that names the problem and the
fix, so that a search never dies on its first epoch, or worse after an hour.
Inputs that are not arrays (tf.data datasets, generators, dicts of arrays)
are passed on unchecked: Keras checks them when it reads them.
"""

import numpy as np
import keras_tuner
from keras_tuner.src.backend import keras

from keras_prune_nas.datasets import validate_classification_data
from keras_prune_nas import pipeline
from keras_prune_nas.hypermodel import NASHyperModel

# Samples the objective check evaluates the first candidate on.
_PROBE_SAMPLES = 32


def as_array(value):
    """`value` as a NumPy array if it is array-like data, else None."""
    if value is None or isinstance(value, (dict, str, bytes)):
        return None
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        try:
            return np.asarray(value)
        except (TypeError, ValueError):
            return None
    return None


def fit_arrays(fit_args, fit_kwargs):
    """(x, y, validation (x, y) or None) as arrays, or Nones where unknown."""
    x = fit_args[0] if len(fit_args) > 0 else fit_kwargs.get("x")
    y = fit_args[1] if len(fit_args) > 1 else fit_kwargs.get("y")
    validation = fit_kwargs.get("validation_data")
    val_x = val_y = None
    if isinstance(validation, (tuple, list)) and len(validation) in (2, 3):
        val_x, val_y = as_array(validation[0]), as_array(validation[1])
    return as_array(x), as_array(y), (val_x, val_y)


def check_search_inputs(hypermodel, fit_args, fit_kwargs):
    """Checks the data given to `search` against itself and the hypermodel."""
    callbacks = fit_kwargs.get("callbacks") or []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            "`callbacks` must be a list of keras.callbacks.Callback instances. "
            f"Received: {type(callbacks).__name__}."
        )
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(
                "Every entry of `callbacks` must be a keras.callbacks.Callback "
                f"instance; received {callback!r}. (A class must be "
                "instantiated: `EarlyStopping()`, not `EarlyStopping`.)"
            )
    x, y, (val_x, val_y) = fit_arrays(fit_args, fit_kwargs)
    nas = hypermodel if isinstance(hypermodel, NASHyperModel) else None
    for data_x, data_y, where in (
        (x, y, "The training data (x, y)"),
        (val_x, val_y, "validation_data"),
    ):
        if data_x is None or data_y is None:
            continue
        _check_pair(data_x, data_y, where, nas)
    if y is not None and val_y is not None:
        check_validation_classes(y, val_y, classes=nas is not None)
    elif y is not None and fit_kwargs.get("validation_split"):
        train_y, split_y = split_like_keras(y, fit_kwargs["validation_split"])
        check_validation_classes(
            train_y, split_y, classes=nas is not None,
            validation_split=fit_kwargs["validation_split"],
        )


def split_like_keras(y, validation_split):
    """(train, validation) parts of `y` as `fit(validation_split=...)` cuts them."""
    split_at = pipeline.validation_split_index(len(y), validation_split)
    return y[:split_at], y[split_at:]


def class_labels(y, classes=False):
    """The class of every sample of `y` (integers or one-hot rows), or None.

    None when `y` does not look like class labels (e.g. regression targets):
    integer or boolean arrays, one-hot rows, and, with `classes=True` (the
    model is a classifier), integral floats count as labels.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.size and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        return y.argmax(axis=1)
    if y.ndim != 1:
        return None
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return y
    if classes and np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
        return y.astype(int)
    return None


def check_validation_classes(train_y, validation_y, classes=False, validation_split=None):
    """Raises if the validation labels hold a class the training labels lack.

    No candidate can learn a class it never sees, so its validation accuracy
    only measures how much of the validation data is of that class, and the
    cull ranks noise. The usual cause is `validation_split` on data sorted by
    class (scikit-learn's iris and wine are).
    """
    train_labels = class_labels(train_y, classes)
    validation_labels = class_labels(validation_y, classes)
    if train_labels is None or validation_labels is None:
        return
    unseen = sorted(set(np.unique(validation_labels)) - set(np.unique(train_labels)))
    if not unseen:
        return
    listed = ", ".join(str(label) for label in unseen[:10])
    if validation_split is not None:
        raise ValueError(
            f"validation_split={validation_split} takes the last "
            f"{len(validation_y)} samples as validation data (Keras does not "
            f"shuffle first), and they hold classes the training part never "
            f"has: {listed}. The data is probably sorted by class. Shuffle x "
            "and y before search() (sklearn.utils.shuffle(x, y, "
            "random_state=0)), or pass validation_data=(x_val, y_val) from a "
            "stratified split (sklearn's train_test_split(..., stratify=y))."
        )
    raise ValueError(
        f"validation_data holds classes the training data never has: {listed}. "
        "No candidate can learn them, so the cull would rank noise. Split "
        "with stratification (sklearn's train_test_split(..., stratify=y))."
    )


def _check_pair(x, y, where, nas):
    validate_classification_data(x, y, where=where, integer_labels=nas is not None)
    if np.issubdtype(y.dtype, np.number) and not np.all(np.isfinite(y)):
        raise ValueError(
            f"{where} has NaN or infinite labels in y; drop those samples first."
        )
    if nas is None:
        return
    if tuple(x.shape[1:]) != tuple(nas.input_shape):
        raise ValueError(
            f"{where}: each sample of x has shape {tuple(x.shape[1:])}, but "
            f"NASHyperModel was given input_shape={tuple(nas.input_shape)}. "
            "Pass input_shape=x.shape[1:], or reshape x."
        )
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise ValueError(
            f"{where}: NASHyperModel wants one integer class label per sample; "
            f"y has shape {y.shape} (one-hot?). Pass y.argmax(axis=1)."
        )
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= nas.num_classes:
        raise ValueError(
            f"{where} has labels from {low} to {high}, outside 0.."
            f"{nas.num_classes - 1} (num_classes={nas.num_classes}). Pass "
            f"num_classes={high + 1} if there are that many classes, or "
            "encode the labels as 0..num_classes-1 (LabelEncoder)."
        )


def logged_metrics(model, x, y, has_validation):
    """The names `fit` will log every epoch, found by evaluating a few samples."""
    names = model.evaluate(
        x[:_PROBE_SAMPLES], y[:_PROBE_SAMPLES], verbose=0, return_dict=True
    )
    names = sorted(names)
    if has_validation:
        names += [f"val_{name}" for name in names]
    return names


def check_objective_logged(objective, logged, has_validation):
    """Raises if a metric the objective needs is not among `logged`."""
    objectives = getattr(objective, "objectives", None) or [objective]
    for single in objectives:
        if single.name in logged:
            continue
        hint = ""
        if single.name.startswith("val_") and not has_validation:
            hint = (
                " It is a validation metric: pass validation_data=(x_val, "
                "y_val) or validation_split to search()."
            )
        raise ValueError(
            f"The objective {single.name!r} is not among the metrics the model "
            f"logs every epoch: {logged}.{hint} Pass one of those as "
            "`objective`, or compile the model with that metric."
        )


def probe_first_candidate(build, objective, fit_args, fit_kwargs):
    """Builds one model (default hyperparameters) and checks the objective.

    Only for array data; the model is evaluated on a few samples, never
    trained. A model that cannot be built is left for the search to report.
    """
    x, y, (val_x, val_y) = fit_arrays(fit_args, fit_kwargs)
    if x is None or y is None:
        return
    try:
        model = build(keras_tuner.HyperParameters())
    except Exception:
        return
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        return
    has_validation = val_x is not None or bool(fit_kwargs.get("validation_split"))
    try:
        logged = logged_metrics(model, x, y, has_validation)
    except Exception as error:
        raise ValueError(
            "A model of the search space (default hyperparameters) cannot "
            f"evaluate the first samples of x and y: {error}\nCheck that x "
            "matches the model's input shape and y its output (classes, "
            "one-hot or not)."
        ) from error
    check_objective_logged(objective, logged, has_validation)


def check_round_search_arguments(oracle, oracle_class, hypermodel, batch_size_schedule,
                                 learning_rate_scaling, max_live_models,
                                 overrides_run_trial, search_name):
    """Checks what a `RoundSearch` is built with, before anything trains."""
    from keras_prune_nas import checks
    from keras_prune_nas import schedules

    if not isinstance(oracle, oracle_class):
        raise TypeError(
            "`oracle` must be a keras_prune_nas RoundOracle (e.g. "
            f"PruneOracle); received {type(oracle).__name__}."
        )
    schedules.validate_batch_size_schedule(batch_size_schedule, learning_rate_scaling)
    checks.require_int(
        "max_live_models", max_live_models, 0,
        "models kept in memory between rounds; 0 checkpoints every model "
        "between its rounds",
    )
    if hypermodel is None and not overrides_run_trial:
        raise ValueError(
            "Received `hypermodel=None`. Pass a HyperModel or a function "
            "that builds a compiled Keras model from `hp`, or subclass "
            f"{search_name} and override `run_trial()`."
        )
