import numpy as np
import pytest

from keras_prune_nas import datasets


@pytest.mark.parametrize(
    "name, classes, features", [("digits", 10, 64), ("wine", 3, 13),
                                ("breast_cancer", 2, 30), ("iris", 3, 4)],
)
def test_builtin_datasets_split_stratified_and_standardized(name, classes, features):
    splits = datasets.load(name, seed=0)
    assert splits.num_classes == classes
    assert splits.input_shape == (features,)
    total = len(splits.x_train) + len(splits.x_val) + len(splits.x_test)
    assert abs(len(splits.x_test) / total - 0.2) < 0.01
    assert abs(len(splits.x_val) / total - 0.2) < 0.01
    assert set(np.unique(splits.y_val)) == set(range(classes))
    np.testing.assert_allclose(splits.x_train.mean(axis=0), 0.0, atol=1e-5)
    assert splits.x_train.dtype == np.float32


def test_npz_dataset(tmp_path):
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(100, 5)), y=np.array(["a", "b"] * 50))
    splits = datasets.load(str(path))
    assert splits.name == "data.npz"
    assert splits.num_classes == 2


def test_npz_without_arrays_is_explained(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, features=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must hold arrays 'x' and 'y'"):
        datasets.load(str(path))


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "empty"),
        (np.zeros((4, 3)), np.zeros(3, dtype=int), "4 samples in x but 3 labels"),
        (np.array([[1.0, np.nan]] * 4), np.arange(4), "NaN or infinite"),
        (np.array([["a", "b"]] * 4), np.arange(4), "non-numeric"),
        (np.zeros((4, 2)), np.array([0.5, 1.0, 0.0, 1.0]), "integer class labels"),
    ],
)
def test_bad_data_is_rejected_with_the_reason(x, y, message):
    with pytest.raises(ValueError, match=message):
        datasets.validate_classification_data(x, y)
