"""NASHyperModel: dense and convolutional classifiers from a search space."""

import contextlib
import dataclasses
import math

import keras_tuner
from keras_tuner.src.backend import keras

from keras_prune_nas import checks

FAMILIES = ("dense", "conv1d", "conv2d")
ACTIVATIONS = ("relu", "elu", "gelu", "swish", "tanh", "selu", "sigmoid")
POOLINGS = ("max", "average", "none")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "nadam")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The ranges NASHyperModel samples architectures from.

    Integer and float ranges are `(low, high)`, both inclusive; choices are
    tuples. Override any of them, e.g. `SearchSpace(units=(32, 128))`. A range
    with `low == high` or a one-element choice fixes that hyperparameter.

    Attributes:
        dense_layers: Hidden layers of a dense network.
        units: Width of each dense hidden layer (log-uniform).
        conv_blocks: Convolution blocks of a conv network.
        filters: Filters of each convolution (log-uniform).
        kernel_sizes: Kernel sizes to choose from.
        poolings: Pooling after each block: "max", "average" or "none".
            Skipped where the feature map is already 1 wide.
        head_layers: Dense layers after the convolutions.
        activations: Activation functions to choose from.
        dropout: Dropout rate after each hidden layer or block.
        batch_norm: Whether to use batch normalization: (False, True) tunes
            it, (True,) or (False,) fixes it.
        batch_norm_momentum: The momentum of batch normalization's moving
            mean and variance, what a model is evaluated with. 0.9
            (PyTorch's default) rather than Keras' 0.99: after n training
            steps momentum**n of the initial statistics is left in them, so
            with 0.99 and a small dataset a batch-normalized model scores
            near chance on validation for its first epochs however well it
            trains, and a per-epoch cull discards it (the README's "Where
            the points go").
        optimizers: Optimizers to choose from.
        learning_rate: Learning rate (log-uniform).
    """

    dense_layers: tuple = (1, 3)
    units: tuple = (16, 512)
    conv_blocks: tuple = (1, 3)
    filters: tuple = (8, 128)
    kernel_sizes: tuple = (3, 5)
    poolings: tuple = ("max", "average", "none")
    head_layers: tuple = (0, 2)
    activations: tuple = ("relu", "elu", "gelu", "swish", "tanh")
    dropout: tuple = (0.0, 0.5)
    batch_norm: tuple = (False, True)
    batch_norm_momentum: float = 0.9
    optimizers: tuple = ("adam", "rmsprop", "sgd", "adamw")
    learning_rate: tuple = (1e-4, 1e-1)

    def __post_init__(self):
        for name, minimum in (
            ("dense_layers", 1), ("units", 1), ("conv_blocks", 1),
            ("filters", 1), ("head_layers", 0),
        ):
            _check_range(name, getattr(self, name), minimum)
        _check_range("dropout", self.dropout, 0.0, 0.99, integers=False)
        _check_range("learning_rate", self.learning_rate, 1e-12, 100.0, integers=False)
        if self.learning_rate[0] <= 0:
            raise ValueError("`learning_rate` must be positive.")
        _check_choices("kernel_sizes", self.kernel_sizes, None)
        checks.require_int_list(
            "kernel_sizes", list(self.kernel_sizes), 1, "convolution kernel sizes, e.g. (3, 5)"
        )
        _check_choices("poolings", self.poolings, POOLINGS)
        _check_choices("activations", self.activations, ACTIVATIONS)
        _check_choices("optimizers", self.optimizers, OPTIMIZERS)
        _check_choices("batch_norm", self.batch_norm, (False, True))
        checks.require_number(
            "batch_norm_momentum", self.batch_norm_momentum,
            "the momentum of batch normalization's moving statistics, e.g. 0.9",
            minimum=0, maximum=1, exclusive=True,
        )


def _check_range(name, value, minimum, maximum=None, integers=True):
    """Checks a (low, high) pair within [minimum, maximum]."""
    is_valid = checks.is_integer if integers else checks.is_number
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(is_valid(v) for v in value)
    ):
        raise ValueError(
            f"`{name}` must be a (low, high) pair of "
            f"{'integers' if integers else 'numbers'}, e.g. "
            f"{SearchSpace.__dataclass_fields__[name].default}. "
            f"Received: {name}={value!r}."
        )
    low, high = value
    upper = "" if maximum is None else f" <= {maximum}"
    if low < minimum or low > high or (maximum is not None and high > maximum):
        raise ValueError(
            f"`{name}` must be a range (low, high) with {minimum} <= low <= "
            f"high{upper}; {value!r} is empty or out of bounds."
        )


def _check_choices(name, value, allowed):
    if not isinstance(value, (tuple, list)) or len(value) == 0:
        raise ValueError(
            f"`{name}` must be a non-empty tuple of choices. "
            f"Received: {name}={value!r}."
        )
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ValueError(
                f"`{name}` has unknown choices {unknown}; pick from {list(allowed)}."
            )


def _int(hp, name, bounds, log=False):
    low, high = bounds
    if low == high:
        return hp.Fixed(name, low)
    return hp.Int(name, low, high, sampling="log" if log else "linear")


def _float(hp, name, bounds, log=False):
    low, high = bounds
    if low == high:
        return hp.Fixed(name, float(low))
    return hp.Float(name, low, high, sampling="log" if log else "linear")


def _choice(hp, name, values):
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    return hp.Choice(name, list(values))


class NASHyperModel(keras_tuner.HyperModel):
    """Builds dense and convolutional classifiers from a `SearchSpace`.

    The family is picked from the input shape: a vector `(features,)` gets a
    dense network, a sequence `(steps, channels)` a 1-D conv network, an
    image `(height, width, channels)` a 2-D conv network. Force it with
    `architecture`, or pass several families to search over them too. A
    flat vector can be searched with "conv1d" (read as one channel) and, if
    its length is a square, with "conv2d" (read as a square image).

    Args:
        input_shape: Shape of one sample, without the batch dimension.
        num_classes: Number of classes, >= 2. Two classes get one sigmoid
            output and binary cross-entropy; more get softmax and sparse
            categorical cross-entropy. Labels are integers from 0.
        search_space: A `SearchSpace`; the default one if None.
        architecture: "auto", one of "dense", "conv1d", "conv2d", or a list
            of them to search over.
        max_params: Optional integer; candidates with more parameters fail
            (as `keras_tuner.errors.FailedTrialError`) before training.
        name: Optional name of the hypermodel.

    Example:

    ```python
    hypermodel = kpn.NASHyperModel(input_shape=(8, 8, 1), num_classes=10)
    tuner = kpn.PruneSearch(hypermodel, objective="val_accuracy", max_trials=50)
    ```
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        search_space=None,
        architecture="auto",
        max_params=None,
        name=None,
    ):
        super().__init__(name=name)
        self.input_shape = _validate_input_shape(input_shape)
        checks.require_int(
            "num_classes", num_classes, 2, "the number of distinct labels"
        )
        self.num_classes = num_classes
        if search_space is None:
            search_space = SearchSpace()
        if not isinstance(search_space, SearchSpace):
            raise ValueError(
                "`search_space` must be a keras_prune_nas.SearchSpace. "
                f"Received: {type(search_space).__name__}."
            )
        self.search_space = search_space
        self.families = self._resolve_families(architecture)
        checks.require_int(
            "max_params", max_params, 1,
            "the largest parameter count a sampled model may have",
            allow_none=True, none_means="no limit",
        )
        self.max_params = max_params

    def _resolve_families(self, architecture):
        rank = len(self.input_shape)
        if architecture == "auto":
            return [FAMILIES[rank - 1]]
        families = [architecture] if isinstance(architecture, str) else list(architecture)
        if not families:
            raise ValueError("`architecture` must name at least one family.")
        for family in families:
            if family not in FAMILIES:
                raise ValueError(
                    f"Unknown architecture {family!r}: use 'auto' or one or "
                    f"more of {list(FAMILIES)}."
                )
            if family == "conv1d" and rank == 3:
                raise ValueError(
                    "architecture='conv1d' needs a (steps, channels) or "
                    f"(features,) input; the input shape is {self.input_shape}."
                )
            if family == "conv2d" and rank == 1 and not _is_square(self.input_shape[0]):
                raise ValueError(
                    "architecture='conv2d' needs an image input (height, "
                    "width, channels), or a flat input whose length is a "
                    f"square; the input shape is {self.input_shape}."
                )
        return list(dict.fromkeys(families))

    @property
    def loss(self):
        if self.num_classes == 2:
            return "binary_crossentropy"
        return "sparse_categorical_crossentropy"

    def build(self, hp):
        space = self.search_space
        if len(self.families) > 1:
            family = hp.Choice("architecture", self.families)
        else:
            family = self.families[0]
        activation = _choice(hp, "activation", space.activations)
        dropout = _float(hp, "dropout", space.dropout)
        if len(set(space.batch_norm)) == 2:
            batch_norm = hp.Boolean("batch_norm")
        else:
            batch_norm = hp.Fixed("batch_norm", bool(space.batch_norm[0]))
        # What the layers get: the moving statistics' momentum, or None.
        batch_norm = space.batch_norm_momentum if batch_norm else None

        inputs = keras.Input(shape=self.input_shape)
        with self._scope(hp, family):
            if family == "dense":
                features = self._dense_body(hp, inputs, activation, dropout, batch_norm)
            else:
                features = self._conv_body(
                    hp, inputs, family, activation, dropout, batch_norm
                )
        if self.num_classes == 2:
            outputs = keras.layers.Dense(1, activation="sigmoid")(features)
        else:
            outputs = keras.layers.Dense(self.num_classes, activation="softmax")(features)
        model = keras.Model(inputs, outputs, name=f"nas_{family}")

        if self.max_params is not None and model.count_params() > self.max_params:
            raise keras_tuner.errors.FailedTrialError(
                f"This candidate has {model.count_params()} parameters, more "
                f"than max_params={self.max_params}; it is skipped."
            )
        model.compile(
            optimizer=self._optimizer(hp),
            loss=self.loss,
            metrics=["accuracy"],
        )
        return model

    def _scope(self, hp, family):
        if len(self.families) > 1:
            return hp.conditional_scope("architecture", [family])
        return contextlib.nullcontext()

    def _dense_body(self, hp, inputs, activation, dropout, batch_norm):
        x = inputs
        if len(self.input_shape) > 1:
            x = keras.layers.Flatten()(x)
        for i in range(_int(hp, "dense_layers", self.search_space.dense_layers)):
            units = _int(hp, f"units_{i}", self.search_space.units, log=True)
            x = _hidden(keras.layers.Dense(units), x, activation, dropout, batch_norm)
        return x

    def _conv_body(self, hp, inputs, family, activation, dropout, batch_norm):
        space = self.search_space
        x = inputs
        if family == "conv1d" and len(self.input_shape) == 1:
            x = keras.layers.Reshape((self.input_shape[0], 1))(x)
        if family == "conv2d" and len(self.input_shape) == 1:
            side = math.isqrt(self.input_shape[0])
            x = keras.layers.Reshape((side, side, 1))(x)
        if family == "conv2d" and len(self.input_shape) == 2:
            x = keras.layers.Reshape(self.input_shape + (1,))(x)
        conv = keras.layers.Conv1D if family == "conv1d" else keras.layers.Conv2D
        kernel_size = _choice(hp, "kernel_size", space.kernel_sizes)
        pooling = _choice(hp, "pooling", space.poolings)
        for i in range(_int(hp, "conv_blocks", space.conv_blocks)):
            filters = _int(hp, f"filters_{i}", space.filters, log=True)
            x = _hidden(
                conv(filters, kernel_size, padding="same"),
                x, activation, 0.0, batch_norm,
            )
            x = _pool(x, family, pooling)
        x = keras.layers.Flatten()(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
        for i in range(_int(hp, "head_layers", space.head_layers)):
            units = _int(hp, f"head_units_{i}", space.units, log=True)
            x = _hidden(keras.layers.Dense(units), x, activation, dropout, batch_norm)
        return x

    def _optimizer(self, hp):
        name = _choice(hp, "optimizer", self.search_space.optimizers)
        learning_rate = _float(
            hp, "learning_rate", self.search_space.learning_rate, log=True
        )
        if name == "sgd":
            return keras.optimizers.SGD(learning_rate, momentum=0.9)
        return keras.optimizers.get(
            {"class_name": name, "config": {"learning_rate": learning_rate}}
        )


def _hidden(layer, x, activation, dropout, batch_norm):
    """`layer`, batch normalization with momentum `batch_norm` (None: none),
    the activation and dropout."""
    x = layer(x)
    if batch_norm is not None:
        x = keras.layers.BatchNormalization(momentum=batch_norm)(x)
    x = keras.layers.Activation(activation)(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return x


def _pool(x, family, pooling):
    spatial = x.shape[1:-1]
    if pooling == "none" or any(size is not None and size < 2 for size in spatial):
        return x
    if family == "conv1d":
        layer = keras.layers.MaxPooling1D if pooling == "max" else keras.layers.AveragePooling1D
    else:
        layer = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
    return layer(pool_size=2, padding="same")(x)


def _is_square(n):
    return math.isqrt(n) ** 2 == n


def _validate_input_shape(input_shape):
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            "`input_shape` must be the shape of one sample, e.g. (64,) or "
            f"(8, 8, 1). Received: input_shape={input_shape!r}."
        ) from None
    if not 1 <= len(shape) <= 3 or any(d < 1 for d in shape):
        raise ValueError(
            "`input_shape` must have 1 to 3 positive dimensions: (features,), "
            "(steps, channels) or (height, width, channels), without the "
            f"batch dimension. Received: input_shape={input_shape!r}."
        )
    return shape
