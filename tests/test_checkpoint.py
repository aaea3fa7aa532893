import keras
import numpy as np
import pytest

from keras_prune_nas import _checkpoint


def compiled(units):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(units), keras.layers.BatchNormalization(),
         keras.layers.Dense(3, activation="softmax")]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def test_round_trip_restores_weights_and_optimizer_state(tmp_path):
    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    y = np.arange(32) % 3
    trained = compiled(5)
    trained.fit(x, y, epochs=2, verbose=0)
    path = str(tmp_path / "c.npz")
    _checkpoint.save(trained, path)

    restored = compiled(5)
    _checkpoint.load(restored, path)
    for a, b in zip(trained.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(trained.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(restored.optimizer.iterations) == 2


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = str(tmp_path / "c.npz")
    _checkpoint.save(compiled(5), path)
    with pytest.raises(ValueError, match="shape .* no longer builds the same model"):
        _checkpoint.load(compiled(6), path)
