import keras
import numpy as np
import pytest

from keras_prune_nas import checkpoints


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
    checkpoints.save_model_state(trained, path)

    restored = compiled(5)
    checkpoints.load_model_state(restored, path)
    for a, b in zip(trained.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(trained.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(restored.optimizer.iterations) == 2


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = str(tmp_path / "c.npz")
    checkpoints.save_model_state(compiled(5), path)
    with pytest.raises(ValueError, match="shape .* no longer builds the same model"):
        checkpoints.load_model_state(compiled(6), path)



@pytest.mark.parametrize(
    "observations, executions, direction, expected",
    [
        # One execution: every epoch settled, only the best stays.
        ([(0, [0.5]), (1, [0.7]), (2, [0.6])], 1, "max", {2}),
        ([(0, [0.5]), (1, [0.7]), (2, [0.6])], 1, "min", {1}),
        # Epoch 3 has one report of two: its average can still fall below
        # epoch 2's, so both stay; epoch 1 cannot be best any more.
        ([(0, [0.5, 0.5]), (1, [0.6, 0.6]), (2, [0.9])], 2, "max", {2, 3}),
        # Nothing settled yet: everything stays.
        ([(0, [0.5]), (1, [0.6])], 2, "max", {1, 2}),
        # Ties go to the earliest epoch, as in MetricHistory.get_best_step.
        ([(0, [0.6, 0.6]), (1, [0.6, 0.6])], 2, "max", {1}),
        # A NaN average is never the best.
        ([(0, [float("nan"), 0.2]), (1, [0.1, 0.1])], 2, "max", {2}),
        ([], 2, "max", set()),
    ],
)
def test_epochs_worth_keeping(observations, executions, direction, expected):
    assert checkpoints.epochs_worth_keeping(
        observations, executions, direction
    ) == expected
