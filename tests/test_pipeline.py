"""The once-per-search input pipeline batches, shuffles and splits as `fit` does."""

import numpy as np
import pytest

from keras_prune_nas import pipeline


def batches(dataset):
    return [tuple(np.asarray(part) for part in batch) for batch in dataset]


def test_unshuffled_batches_match_fit_and_the_last_is_partial():
    x = np.arange(10, dtype="float64").reshape(10, 1)
    y = np.arange(10)
    args, kwargs = pipeline.cache_fit_inputs((x, y), {"batch_size": 4, "shuffle": False})
    assert args == ()
    got = batches(kwargs["x"])
    assert [len(b[0]) for b in got] == [4, 4, 2]
    assert got[0][0].dtype == np.float32  # float64 becomes floatx, as in fit
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    assert kwargs["shuffle"] is False
    assert "batch_size" not in kwargs


def test_shuffle_reshuffles_every_epoch():
    x = np.arange(200, dtype="float32").reshape(200, 1)
    _, kwargs = pipeline.cache_fit_inputs((x, x[:, 0]), {"batch_size": 200})
    first, second = (batches(kwargs["x"])[0][1] for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(200))
    assert list(first) != list(second)


def test_validation_split_takes_the_last_samples_before_shuffling():
    x = np.arange(20, dtype="float32").reshape(20, 1)
    y = np.arange(20)
    _, kwargs = pipeline.cache_fit_inputs(
        (x, y), {"validation_split": 0.25, "batch_size": 8, "shuffle": False}
    )
    validation = np.concatenate([b[1] for b in batches(kwargs["validation_data"])])
    training = np.concatenate([b[1] for b in batches(kwargs["x"])])
    np.testing.assert_array_equal(validation, np.arange(15, 20))
    np.testing.assert_array_equal(training, np.arange(15))


def test_sample_weight_and_validation_data_are_carried():
    x = np.ones((6, 2), dtype="float32")
    y = np.zeros(6)
    weights = np.arange(6, dtype="float32")
    _, kwargs = pipeline.cache_fit_inputs(
        (x, y),
        {"sample_weight": weights, "shuffle": False,
         "validation_data": (x[:3], y[:3]), "validation_batch_size": 2},
    )
    (batch,) = batches(kwargs["x"])
    np.testing.assert_array_equal(batch[2], weights)
    assert [len(b[0]) for b in batches(kwargs["validation_data"])] == [2, 1]


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (([1, 2, 3], None), {}),  # a plain list is not an array
        ((np.ones((4, 1)), np.ones(4)), {"steps_per_epoch": 2}),
        ((np.ones((4, 1)), np.ones(4)), {"class_weight": {0: 1.0}}),
        ((np.ones((4, 1)), np.ones(4)), {"not_a_fit_argument": 1}),
        ((np.ones((4, 1)), np.ones(4)), {"validation_data": iter([])}),
    ],
)
def test_anything_else_is_left_to_fit(args, kwargs):
    assert pipeline.cache_fit_inputs(args, kwargs) is None
