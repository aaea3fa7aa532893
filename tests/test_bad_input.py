"""Bad input: one clear error per case, raised before any candidate trains.

Each case names the problem and the fix in its message. After every error
the project directory holds no trial: nothing was trained.
"""


import keras
import keras_tuner as kt
import numpy as np
import pytest
from sklearn.datasets import load_digits

import keras_prune_nas as kpn

X, Y = load_digits(return_X_y=True)
X = (X[:200] / 16.0).astype("float32")
Y = Y[:200]
XV, YV = X[:60], Y[:60]


def build_mlp(hp):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Int("units", 8, 32), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def nas(**kwargs):
    kwargs.setdefault("input_shape", (64,))
    kwargs.setdefault("num_classes", 10)
    return kpn.NASHyperModel(**kwargs)


def tuner(directory, hypermodel=build_mlp, **kwargs):
    kwargs.setdefault("objective", "val_accuracy")
    kwargs.setdefault("max_trials", 12)
    return kpn.PruneSearch(hypermodel, directory=directory, project_name="p", **kwargs)


def search(directory, x=X, y=Y, hypermodel=build_mlp, tuner_kwargs=None, **fit):
    fit.setdefault("validation_data", (XV, YV))
    fit.setdefault("epochs", 2)
    tuner(directory, hypermodel, **(tuner_kwargs or {})).search(x, y, verbose=0, **fit)


def with_nan(x):
    x = x.copy()
    x[3, 5] = np.nan
    return x


def with_inf(x):
    x = x.copy()
    x[0, 0] = np.inf
    return x


def unfinished_project(directory, **kwargs):
    """A project whose search sampled a candidate and stopped (no training)."""
    started = tuner(directory, **kwargs)
    started.oracle.set_epochs(5)
    started.oracle.create_trial(started.tuner_id)
    started.save()


def other_tuner_project(directory):
    kt.RandomSearch(
        build_mlp, objective="val_accuracy", max_trials=1,
        directory=directory, project_name="p",
    ).save()


def prune_search_in_other_tuner_project(directory):
    other_tuner_project(directory)
    tuner(directory)


def resumed_with_other_cull_fraction(directory):
    unfinished_project(directory)
    tuner(directory, cull_fraction=0.3)


def resumed_with_other_epochs(directory):
    unfinished_project(directory)
    search(directory, epochs=3)


CASES = {
    "cull_fraction 0": (
        lambda d: tuner(d, cull_fraction=0.0), ValueError,
        r"`cull_fraction` must be (a number )?strictly between 0 and 1 .*e\.g\. 0\.15",
    ),
    "cull_fraction 1": (
        lambda d: tuner(d, cull_fraction=1.0), ValueError,
        r"`cull_fraction` must be (a number )?strictly between 0 and 1 .*e\.g\. 0\.15",
    ),
    "min_survivors 0": (
        lambda d: tuner(d, min_survivors=0), ValueError,
        r"`min_survivors` must be an integer >= 1",
    ),
    "max_trials 0": (
        lambda d: tuner(d, max_trials=0), ValueError,
        r"`max_trials` must be an integer >= 1",
    ),
    "epochs 0": (
        lambda d: search(d, epochs=0), ValueError,
        r"`epochs` must be an integer >= 1",
    ),
    "epochs_per_round 0": (
        lambda d: tuner(d, epochs_per_round=0), ValueError,
        r"`epochs_per_round` must be an integer >= 1",
    ),
    "patience 0": (
        lambda d: tuner(d, patience=0), ValueError,
        r"`patience` must be an integer >= 1 .* or None",
    ),
    "rank_by unknown": (
        lambda d: tuner(d, rank_by="median"), ValueError,
        r"`rank_by` must be 'best' or 'last' \(rank by the best objective so far",
    ),
    "lease_timeout 0": (
        lambda d: tuner(d, lease_timeout=0), ValueError,
        r"`lease_timeout` must be a finite number > 0 \(seconds a silent worker",
    ),
    "max_live_models negative": (
        lambda d: tuner(d, max_live_models=-1), ValueError,
        r"`max_live_models` must be an integer >= 0",
    ),
    "no hypermodel": (
        lambda d: tuner(d, hypermodel=None), ValueError,
        r"Received `hypermodel=None`. Pass a HyperModel",
    ),
    "objective not logged": (
        lambda d: search(d, tuner_kwargs={"objective": kt.Objective("val_f1", "max")}),
        ValueError,
        r"The objective 'val_f1' is not among the metrics the model logs every "
        r"epoch: \['accuracy', 'loss', 'val_accuracy', 'val_loss'\]",
    ),
    "validation objective without validation data": (
        lambda d: search(d, validation_data=None), ValueError,
        r"'val_accuracy' is not among .* pass validation_data=\(x_val, y_val\) "
        r"or validation_split",
    ),
    "data and NASHyperModel input shape disagree": (
        lambda d: search(d, hypermodel=nas(input_shape=(8, 8, 1))), ValueError,
        r"each sample of x has shape \(64,\), but NASHyperModel was given "
        r"input_shape=\(8, 8, 1\). Pass input_shape=x.shape\[1:\]",
    ),
    "labels outside num_classes": (
        lambda d: search(d, hypermodel=nas(num_classes=5)), ValueError,
        r"has labels from 0 to 9, outside 0..4 \(num_classes=5\). Pass "
        r"num_classes=10",
    ),
    "validation labels outside num_classes": (
        lambda d: search(d, hypermodel=nas(), validation_data=(XV, YV + 5)),
        ValueError, r"validation_data has labels from 5 to 14, outside 0..9",
    ),
    "one-hot labels for NASHyperModel": (
        lambda d: search(d, y=np.eye(10)[Y], hypermodel=nas()), ValueError,
        r"wants one integer class label per sample; y has shape \(200, 10\) "
        r"\(one-hot\?\). Pass y.argmax\(axis=1\)",
    ),
    "empty data": (
        lambda d: search(d, x=X[:0], y=Y[:0]), ValueError,
        r"The training data \(x, y\) is empty: it has no samples",
    ),
    "NaN in data": (
        lambda d: search(d, x=with_nan(X)), ValueError,
        r"holds NaN or infinite feature values \(1 of them\); impute or drop",
    ),
    "infinite value in data": (
        lambda d: search(d, validation_data=(with_inf(XV), YV)), ValueError,
        r"validation_data holds NaN or infinite feature values",
    ),
    "non-numeric data": (
        lambda d: search(d, x=X.astype(str)), ValueError,
        r"has non-numeric features \(dtype <U\d+\); encode them as numbers",
    ),
    "x and y of different lengths": (
        lambda d: search(d, y=Y[:150]), ValueError,
        r"has 200 samples in x but 150 labels in y",
    ),
    "search space with an empty range": (
        lambda d: search(d, hypermodel=nas(search_space=kpn.SearchSpace(units=(64, 16)))),
        ValueError,
        r"`units` must be a range \(low, high\) with 1 <= low <= high; "
        r"\(64, 16\) is empty",
    ),
    "NASHyperModel with one class": (
        lambda d: nas(num_classes=1), ValueError,
        r"`num_classes` must be an integer >= 2",
    ),
    "validation_split on data sorted by class": (
        lambda d: search(
            d, x=X[np.argsort(Y, kind="stable")], y=np.sort(Y),
            validation_data=None, validation_split=0.3,
        ),
        ValueError,
        r"validation_split=0.3 takes the last 60 samples as validation data "
        r"\(Keras does not shuffle first\), and they hold classes the training "
        r"part never has: .*Shuffle x and y before search\(\)",
    ),
    "validation_data with a class the training data lacks": (
        lambda d: search(d, x=X[Y != 9], y=Y[Y != 9]), ValueError,
        r"validation_data holds classes the training data never has: 9\. .*stratify=y",
    ),
    "callback class instead of instance": (
        lambda d: search(d, callbacks=[keras.callbacks.EarlyStopping]), TypeError,
        r"must be a keras.callbacks.Callback instance.*`EarlyStopping\(\)`, "
        r"not `EarlyStopping`",
    ),
    "project directory of another tuner": (
        prune_search_in_other_tuner_project, RuntimeError,
        r"holds the state of another kind of tuner, not of PruneSearch. Use "
        r"another `project_name`",
    ),
    "unfinished project resumed with another cull_fraction": (
        resumed_with_other_cull_fraction, ValueError,
        r"unfinished PruneSearch run with other parameters: "
        r"cull_fraction=0.15 \(now 0.3\)",
    ),
    "unfinished project resumed with other epochs": (
        resumed_with_other_epochs, ValueError,
        r"started with epochs=5 and is not finished; .* Pass epochs=5 to resume",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_one_clear_error_before_training(case, tmp_path):
    make, error, message = CASES[case]
    with pytest.raises(error, match=message):
        make(tmp_path)
    assert list(tmp_path.rglob("checkpoint_*.npz")) == []


@pytest.mark.parametrize(
    "name",
    [
        "max_trials", "max_retries_per_trial", "max_consecutive_failed_trials",
        "cull_fraction", "min_survivors", "epochs_per_round", "patience", "rank_by",
        "lease_timeout", "complexity_penalty", "batch_size_schedule",
        "learning_rate_scaling", "max_live_models",
    ],
)
def test_every_constructor_parameter_is_checked_by_name(name, tmp_path):
    with pytest.raises(ValueError, match=rf"^`{name}` must be .*Received: {name}='many'"):
        tuner(tmp_path, **{name: "many"})
    assert not (tmp_path / "p").exists()


def test_min_survivors_at_least_max_trials_is_legal_random_search(tmp_path):
    run = tuner(tmp_path, max_trials=3, min_survivors=10, patience=None)
    run.search(X, Y, epochs=2, validation_data=(XV, YV), verbose=0)
    statuses = {t.status for t in run.oracle.trials.values()}
    assert statuses == {"COMPLETED"} and run.oracle.cull_history == []
    assert run.oracle.epochs_trained() == 3 * 2


def test_regression_targets_are_not_taken_for_classes():
    from keras_prune_nas import validation

    train, held_out = np.linspace(0, 1, 50), np.linspace(2, 3, 10)
    validation.check_validation_classes(train, held_out)  # floats: no classes
    with pytest.raises(ValueError, match="never has: 3"):
        validation.check_validation_classes(np.array([0, 1, 2]), np.array([2, 3]))
    one_hot = np.eye(4)
    with pytest.raises(ValueError, match="never has: 3"):
        validation.check_validation_classes(one_hot[:3], one_hot[2:])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "imagenet"], "Unknown dataset"),
        (["--dataset", "missing.npz"], "No dataset file"),
        (["--cull-fraction", "1.5"], "cull_fraction"),
        (["--min-survivors", "0"], "min_survivors"),
        (["--epochs", "0"], "epochs"),
        (["--batch-size", "0"], "batch-size"),
        (["--architecture", "conv2d", "--dataset", "wine"], "square"),
        (["--strategy", "nao", "--generation-size", "1"], "generation_size"),
        (["--strategy", "nao", "--cull-fraction", "1.5"], "cull_fraction"),
        (["--grace-epochs", "0"], "grace_epochs"),
        (["--strategy", "nao", "--grace-epochs", "3"], "--grace-epochs applies to"),
    ],
)
def test_the_command_line_refuses_bad_input_before_training(args, message, tmp_path,
                                                            monkeypatch, capsys):
    from keras_prune_nas import cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["search", "--directory", str(tmp_path / "runs"), *args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert not (tmp_path / "runs").exists()
