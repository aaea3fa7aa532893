"""Datasets that need no download, split into train / validation / test."""

import dataclasses
import os

import numpy as np

BUILTIN = ("digits", "wine", "breast_cancer", "iris", "mnist1d")


@dataclasses.dataclass
class Splits:
    """A classification dataset split three ways, features standardized."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self):
        return self.x_train.shape[1:]

    def reshaped(self, shape):
        """The same splits with every sample reshaped to `shape`."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape((-1,) + tuple(shape)),
            x_val=self.x_val.reshape((-1,) + tuple(shape)),
            x_test=self.x_test.reshape((-1,) + tuple(shape)),
        )


def load_arrays(name):
    """Features and integer labels of a built-in dataset or of a `.npz` file.

    Args:
        name: "digits", "wine", "breast_cancer", "iris" (shipped inside
            scikit-learn), "mnist1d" (MNIST-1D, generated locally by the
            `mnist1d` package: 5000 sequences of 40 steps), or the path of a `.npz` file holding arrays `x`
            (samples first) and `y` (integer labels).
    """
    if name == "mnist1d":
        return _mnist1d()
    if name in BUILTIN:
        from sklearn import datasets

        loader = getattr(datasets, f"load_{name}")
        x, y = loader(return_X_y=True)
        return x.astype("float32"), y.astype("int64")
    if name.endswith(".npz"):
        if not os.path.exists(name):
            raise FileNotFoundError(f"No dataset file at {name!r}.")
        with np.load(name) as stored:
            missing = [key for key in ("x", "y") if key not in stored.files]
            if missing:
                raise ValueError(
                    f"{name} must hold arrays 'x' and 'y'; it lacks {missing} "
                    f"(it has {stored.files})."
                )
            return np.asarray(stored["x"]), np.asarray(stored["y"])
    raise ValueError(
        f"Unknown dataset {name!r}: use one of {list(BUILTIN)} or the path of "
        "a .npz file with arrays 'x' and 'y'."
    )


def _mnist1d():
    try:
        from mnist1d import data
    except ImportError:
        raise ValueError(
            "The dataset 'mnist1d' needs the mnist1d package: "
            "pip install 'keras-prune-nas[analysis]' (or pip install mnist1d)."
        ) from None
    # Generated, not downloaded: `make_dataset` builds it from templates
    # with the published default arguments (seed included), in about 2 s.
    generated = data.make_dataset(data.get_dataset_args())
    x = np.concatenate([generated["x"], generated["x_test"]]).astype("float32")
    y = np.concatenate([generated["y"], generated["y_test"]]).astype("int64")
    return x, y


def validate_classification_data(x, y, where="the data", integer_labels=True):
    """Raises a `ValueError` naming the problem for data no model can fit.

    With `integer_labels=False` any labels are accepted (they get encoded).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.shape[0] == 0:
        raise ValueError(f"{where} is empty: it has no samples.")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{where} has {x.shape[0]} samples in x but {y.shape[0]} labels in y."
        )
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(
            f"{where} has non-numeric features (dtype {x.dtype}); encode them "
            "as numbers first."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"{where} holds NaN or infinite feature values "
            f"({int(np.size(x) - np.isfinite(x).sum())} of them); impute or "
            "drop them first."
        )
    if integer_labels and not np.issubdtype(y.dtype, np.integer) and not (
        np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0)
    ):
        raise ValueError(
            f"{where} needs integer class labels 0..num_classes-1; got "
            f"labels of dtype {y.dtype}. Encode them, e.g. with "
            "sklearn.preprocessing.LabelEncoder."
        )


def split(x, y, name="data", seed=0, val_fraction=0.2, test_fraction=0.2):
    """Stratified train / validation / test split, standardized on train."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder

    validate_classification_data(
        x, y, where=f"Dataset {name!r}", integer_labels=False
    )
    y = LabelEncoder().fit_transform(np.asarray(y).ravel()).astype("int64")
    num_classes = int(y.max()) + 1
    if num_classes < 2:
        raise ValueError(f"Dataset {name!r} has a single class; nothing to classify.")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest,
        test_size=val_fraction / (1.0 - test_fraction),
        random_state=seed,
        stratify=y_rest,
    )
    shape = x_train.shape[1:]
    flat = x_train.reshape(len(x_train), -1).astype("float64")
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std == 0] = 1.0

    def standardize(a):
        flat_a = a.reshape(len(a), -1).astype("float64")
        return ((flat_a - mean) / std).astype("float32").reshape((-1,) + shape)

    return Splits(
        name=name,
        x_train=standardize(x_train), y_train=y_train,
        x_val=standardize(x_val), y_val=y_val,
        x_test=standardize(x_test), y_test=y_test,
        num_classes=num_classes,
    )


def load(name, seed=0):
    """`load_arrays` then `split`: ready-to-train splits of a dataset."""
    x, y = load_arrays(name)
    label = os.path.basename(name) if name.endswith(".npz") else name
    return split(x, y, name=label, seed=seed)
