import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_prune_nas as kpn


def sampled_models(hypermodel, count, seed=0):
    """Builds `count` random candidates the way the oracle samples them."""
    oracle = kpn.PruneOracle(objective="val_accuracy", max_trials=count, seed=seed)
    hp = oracle.get_space()
    hypermodel.build(hp)
    oracle.update_space(hp)
    for _ in range(count):
        values = oracle._random_values()
        hp = oracle.hyperparameters.copy()
        hp.values = values
        model = hypermodel.build(hp)
        oracle.update_space(hp)
        yield hp, model


@pytest.mark.parametrize(
    "input_shape, architecture, family",
    [
        ((64,), "auto", "dense"),
        ((40, 1), "auto", "conv1d"),
        ((8, 8, 1), "auto", "conv2d"),
        ((64,), "conv2d", "conv2d"),  # a flat square input read as an image
        ((64,), "conv1d", "conv1d"),
        ((8, 8, 1), "dense", "dense"),
    ],
)
def test_every_sample_builds_and_runs(input_shape, architecture, family):
    hypermodel = kpn.NASHyperModel(input_shape, num_classes=10, architecture=architecture)
    x = np.random.default_rng(0).normal(size=(4,) + input_shape).astype("float32")
    for _, model in sampled_models(hypermodel, 15):
        assert model.name == f"nas_{family}"
        assert model.predict(x, verbose=0).shape == (4, 10)
        assert model.optimizer is not None


def test_searching_over_several_families_uses_conditional_scopes():
    hypermodel = kpn.NASHyperModel((64,), 10, architecture=["dense", "conv1d", "conv2d"])
    families = set()
    for hp, model in sampled_models(hypermodel, 30, seed=1):
        families.add(model.name)
        assert hp.get("architecture") == model.name[len("nas_"):]
    assert families == {"nas_dense", "nas_conv1d", "nas_conv2d"}


def test_binary_head_uses_one_sigmoid_unit():
    hypermodel = kpn.NASHyperModel((30,), num_classes=2)
    model = hypermodel.build(kt.HyperParameters())
    assert model.output_shape == (None, 1)
    assert model.loss == "binary_crossentropy"


def test_search_space_overrides_are_respected():
    space = kpn.SearchSpace(
        dense_layers=(2, 2), units=(8, 8), activations=("tanh",),
        optimizers=("sgd",), learning_rate=(0.01, 0.01), batch_norm=(False,),
        dropout=(0.0, 0.0),
    )
    hypermodel = kpn.NASHyperModel((64,), 10, search_space=space)
    for hp, model in sampled_models(hypermodel, 3):
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        assert [layer.units for layer in dense] == [8, 8, 10]
        assert isinstance(model.optimizer, keras.optimizers.SGD)
        assert hp.get("activation") == "tanh"


@pytest.mark.parametrize("momentum", [None, 0.99])
def test_batch_normalization_uses_the_spaces_momentum(momentum):
    space = kpn.SearchSpace(batch_norm=(True,), **({} if momentum is None else
                                                    {"batch_norm_momentum": momentum}))
    for input_shape in ((64,), (40, 1)):
        hypermodel = kpn.NASHyperModel(input_shape, 10, search_space=space)
        for hp, model in sampled_models(hypermodel, 2):
            layers = [layer for layer in model.layers
                      if isinstance(layer, keras.layers.BatchNormalization)]
            assert layers and hp.get("batch_norm") is True
            assert {layer.momentum for layer in layers} == {momentum or 0.9}


def test_max_params_rejects_oversized_candidates():
    space = kpn.SearchSpace(units=(512, 512), dense_layers=(3, 3))
    hypermodel = kpn.NASHyperModel((64,), 10, search_space=space, max_params=1000)
    with pytest.raises(kt.errors.FailedTrialError, match="max_params=1000"):
        hypermodel.build(kt.HyperParameters())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": (64, 8)}, "empty"),
        ({"units": (0, 8)}, "empty or out of bounds"),
        ({"dense_layers": (1,)}, "pair of integers"),
        ({"dropout": (0.0, 1.5)}, "dropout"),
        ({"learning_rate": (0.1, 0.01)}, "learning_rate"),
        ({"activations": ()}, "non-empty"),
        ({"activations": ("relu", "nope")}, "unknown choices"),
        ({"optimizers": ("adam", "lbfgs")}, "unknown choices"),
        ({"kernel_sizes": (0,)}, "kernel_sizes"),
        ({"poolings": ("max", "median")}, "unknown choices"),
        ({"batch_norm_momentum": 1.0}, "batch_norm_momentum"),
        ({"batch_norm_momentum": 0}, "batch_norm_momentum"),
    ],
)
def test_search_space_rejects_empty_or_bad_ranges(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kpn.SearchSpace(**kwargs)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (((64,), 1), {}, "num_classes"),
        (((), 10), {}, "input_shape"),
        (((8, 8, 1, 1), 10), {}, "input_shape"),
        (((10,), 10), {"architecture": "conv2d"}, "square"),
        (((8, 8, 3), 10), {"architecture": "conv1d"}, "conv1d"),
        (((64,), 10), {"architecture": "transformer"}, "Unknown architecture"),
        (((64,), 10), {"max_params": 0}, "max_params"),
        (((64,), 10), {"search_space": {"units": (1, 2)}}, "SearchSpace"),
    ],
)
def test_hypermodel_rejects_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kpn.NASHyperModel(*args, **kwargs)
