"""PruneSearch with real Keras training on a slice of scikit-learn's digits."""

import csv
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

from helpers import build_mlp
import keras_prune_nas as kpn
from keras_prune_nas.checkpoints import CheckpointStore
from keras_prune_nas import culling

TrialStatus = kt.engine.trial.TrialStatus


def test_search_accounts_for_every_candidate(digits, tmp_path):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=12, cull_fraction=0.3,
        min_survivors=4, patience=None, seed=1, directory=tmp_path,
    )
    tuner.search(x, y, epochs=6, validation_data=(xv, yv), verbose=0)

    oracle = tuner.oracle
    assert len(oracle.trials) == 12
    assert [r["alive"] for r in oracle.cull_history] == [12, 9, 7, 5]
    assert culling.cull_schedule(12, 0.3, 4) == [12, 9, 7, 5, 4]
    statuses = [t.status for t in oracle.trials.values()]
    assert statuses.count(TrialStatus.COMPLETED) == 4
    assert statuses.count(TrialStatus.STOPPED) == 8
    expected_epochs = 12 + 9 + 7 + 5 + 4 * 2
    assert oracle.epochs_trained() == expected_epochs

    # Every candidate's whole per-epoch curve is in its trial and in the CSV.
    with open(os.path.join(tuner.project_dir, "curves.csv")) as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == expected_epochs
    for trial_id, trial in oracle.trials.items():
        history = trial.metrics.get_history("val_accuracy")
        assert [obs.step for obs in history] == list(range(len(history)))
        csv_epochs = [int(r["epoch"]) for r in rows if r["trial_id"] == trial_id]
        assert csv_epochs == list(range(len(history)))
        assert {r["status"] for r in rows if r["trial_id"] == trial_id} == {trial.status}
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert len(trial.metrics.get_history(metric)) == len(history)

    best_model = tuner.get_best_models(1)[0]
    best_trial = oracle.get_best_trials(1)[0]
    assert best_trial.status == TrialStatus.COMPLETED
    accuracy = best_model.evaluate(xv, yv, verbose=0)[1]
    assert accuracy == pytest.approx(best_trial.score, abs=1e-6)


def test_grace_epochs_delay_the_first_cull_then_follow_the_schedule(digits, tmp_path):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=12, cull_fraction=0.3,
        min_survivors=4, patience=None, seed=1, directory=tmp_path, grace_epochs=2,
    )
    tuner.search(x, y, epochs=6, validation_data=(xv, yv), verbose=0)

    oracle = tuner.oracle
    sizes = culling.cull_schedule(12, 0.3, 4, grace_rounds=2)
    assert sizes == [12, 12, 7, 5, 4]
    assert [(r["epoch"], r["alive"], len(r["culled"])) for r in oracle.cull_history] == [
        (2, 12, 5), (3, 7, 2), (4, 5, 1)
    ]
    assert oracle.epochs_trained() == culling.planned_epochs(
        12, 6, 0.3, 4, grace_epochs=2)["total"] == 12 * 2 + 7 + 5 + 4 * 2
    for trial in oracle.trials.values():
        assert len(trial.metrics.get_history("val_accuracy")) >= 2


def test_bad_grace_epochs_are_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match="grace_epochs"):
        kpn.PruneSearch(build_mlp, objective="val_accuracy", max_trials=12,
                        directory=tmp_path, grace_epochs=0)


class WeightsAtEnd(keras.callbacks.Callback):
    """Records, when a candidate's run ends, its epochs and final weights."""

    finals = []

    def on_train_begin(self, logs=None):
        self.epochs_seen = 0
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        assert epoch == self.epochs_seen, "epochs must arrive in order, once each"
        self.epochs_seen += 1
        self.weights = [w.copy() for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        WeightsAtEnd.finals.append((self.epochs_seen, self.weights))


@pytest.mark.parametrize("max_live_models", [64, 0], ids=["live", "checkpointed"])
def test_continuing_equals_uninterrupted_training(digits, tmp_path, max_live_models):
    x, y, xv, yv = digits
    WeightsAtEnd.finals = []
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=3, cull_fraction=0.5,
        min_survivors=1, patience=None, seed=3, directory=tmp_path,
        max_live_models=max_live_models,
    )
    tuner.search(
        x, y, epochs=3, validation_data=(xv, yv), shuffle=False,
        callbacks=[WeightsAtEnd()], verbose=0,
    )
    # 3 -> 2 -> 1: trained 1, 2 and 3 epochs, the last in three rounds.
    assert sorted(n for n, _ in WeightsAtEnd.finals) == [1, 2, 3]
    for epochs, weights in WeightsAtEnd.finals:
        trial = next(
            t for t in tuner.oracle.trials.values()
            if len(tuner.oracle.curve(t.trial_id)) == epochs
        )
        reference = build_mlp(trial.hyperparameters)
        reference.fit(x, y, epochs=epochs, shuffle=False, verbose=0, batch_size=32)
        for got, want in zip(weights, reference.get_weights()):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_callbacks_see_one_continuous_run_per_candidate(digits, tmp_path):
    x, y, xv, yv = digits
    WeightsAtEnd.finals = []
    log_dir = tmp_path / "tensorboard"
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=8, min_survivors=3,
        cull_fraction=0.3, directory=tmp_path, seed=2,
    )
    tuner.search(
        x, y, epochs=4, validation_data=(xv, yv), verbose=0,
        callbacks=[WeightsAtEnd(), keras.callbacks.TensorBoard(str(log_dir))],
    )
    runs = sorted(n for n, _ in WeightsAtEnd.finals)
    curves = sorted(len(tuner.oracle.curve(t)) for t in tuner.oracle.trials)
    assert runs == curves  # one run per candidate, every epoch once


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="keras_tuner gives TensorBoard a directory per trial "
                    "on the TensorFlow backend only")
def test_tensorboard_gets_one_log_directory_per_candidate(digits, tmp_path):
    x, y, xv, yv = digits
    log_dir = tmp_path / "tensorboard"
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=6, min_survivors=3,
        cull_fraction=0.3, directory=tmp_path, seed=2,
    )
    tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(str(log_dir))])
    # As in keras_tuner, and one directory for all the rounds of a candidate.
    assert sorted(os.listdir(log_dir)) == sorted(tuner.oracle.trials)


def test_diverging_candidate_is_culled_and_search_goes_on(digits, tmp_path):
    x, y, xv, yv = digits
    built = []

    def build(hp):
        built.append(hp.values.get("init_seed"))
        # The candidate sampled third diverges at once (builds 1 and 2:
        # keras_tuner learning the space, the objective probe of search).
        return build_mlp(hp, explode=len(built) == 5)

    tuner = kpn.PruneSearch(
        build, objective="val_accuracy", max_trials=8, min_survivors=3,
        cull_fraction=0.3, directory=tmp_path, seed=4,
    )
    assert len(built) == 1  # keras_tuner builds once to learn the space
    # 8 -> 6 -> 5 -> 4 -> 3 after epochs 1 to 4, then 3 finalists.
    tuner.search(x, y, epochs=6, validation_data=(xv, yv), verbose=0)
    diverged = tuner.oracle.get_trial("2")
    assert diverged.status == TrialStatus.STOPPED
    assert "Culled after epoch 1" in diverged.message
    assert "n/a" in diverged.message
    assert len(tuner.oracle.trials) == 8
    statuses = [t.status for t in tuner.oracle.trials.values()]
    assert statuses.count(TrialStatus.COMPLETED) == 3


def test_random_search_script_runs_unchanged(digits, tmp_path):
    x, y, xv, yv = digits

    def script(tuner_class, directory, **extra):
        tuner = tuner_class(
            build_mlp, objective="val_accuracy", max_trials=3,
            directory=directory, project_name="swap", seed=5, **extra,
        )
        tuner.search_space_summary()
        tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
        tuner.results_summary()
        best_hp = tuner.get_best_hyperparameters(1)[0]
        best_model = tuner.get_best_models(1)[0]
        return tuner, best_hp, best_model

    tuner, best_hp, best_model = script(kpn.PruneSearch, tmp_path / "prune")
    random_tuner, _, _ = script(kt.RandomSearch, tmp_path / "random")
    assert len(tuner.oracle.trials) == len(random_tuner.oracle.trials) == 3
    # The same seed samples the same candidates as RandomSearch.
    assert [t.hyperparameters.values for t in tuner.oracle.trials.values()] == [
        t.hyperparameters.values for t in random_tuner.oracle.trials.values()
    ]
    assert {t.status for t in tuner.oracle.trials.values()} == {TrialStatus.COMPLETED}
    assert best_model.predict(xv[:2], verbose=0).shape == (2, 10)
    assert tuner.hypermodel.build(best_hp).count_params() == best_model.count_params()

    # Reloading the project gives the same result without training again.
    reloaded = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=3,
        directory=tmp_path / "prune", project_name="swap", seed=5,
    )
    reloaded.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    assert reloaded.oracle.epochs_trained() == tuner.oracle.epochs_trained()
    assert (
        reloaded.oracle.get_best_trials(1)[0].trial_id
        == tuner.oracle.get_best_trials(1)[0].trial_id
    )


def test_bounded_live_models(digits, tmp_path):
    x, y, xv, yv = digits
    seen = []

    class Watching(kpn.PruneSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            seen.append(self.live_models.live_count())

    tuner = Watching(
        build_mlp, objective="val_accuracy", max_trials=8, min_survivors=2,
        cull_fraction=0.3, directory=tmp_path, seed=6, max_live_models=2,
    )
    # 8 -> 6 -> 5 -> 4 -> 3 -> 2 after epochs 1 to 5, then 2 finalists.
    tuner.search(x, y, epochs=7, validation_data=(xv, yv), verbose=0)
    assert max(seen) <= 2
    assert seen[-1] == 0  # everything released at the end
    assert len([t for t in tuner.oracle.trials.values()
                if t.status == TrialStatus.COMPLETED]) == 2


def test_objective_missing_from_logs_names_the_logged_metrics(digits, tmp_path):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_auc", max_trials=4, directory=tmp_path,
    )
    with pytest.raises(ValueError, match=r"'val_auc' is not among.*val_accuracy"):
        tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0)
    assert tuner.oracle.epochs_trained() == 0


@pytest.mark.parametrize("epochs", [0, -2, 1.5, "3"])
def test_bad_epochs_are_rejected_before_training(digits, tmp_path, epochs):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(build_mlp, objective="val_accuracy", directory=tmp_path)
    with pytest.raises(ValueError, match="epochs"):
        tuner.search(x, y, epochs=epochs, validation_data=(xv, yv))
    assert len(tuner.oracle.trials) == 0


def test_bad_max_live_models_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="max_live_models"):
        kpn.PruneSearch(build_mlp, objective="val_accuracy", max_live_models=-1,
                        directory=tmp_path)


def test_validation_split_and_batch_size_follow_fit(digits, tmp_path):
    x, y, _, _ = digits
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=2, directory=tmp_path,
    )
    tuner.search(x, y, epochs=1, validation_split=0.25, batch_size=48, verbose=0)
    trial = tuner.oracle.get_trial("0")
    model = tuner.load_model(trial)
    split_at = int(len(x) * 0.75)
    val_accuracy = model.evaluate(x[split_at:], y[split_at:], verbose=0)[1]
    assert val_accuracy == pytest.approx(trial.score, abs=1e-6)


def test_several_executions_per_candidate_report_averaged_epochs(digits, tmp_path):
    x, y, xv, yv = digits
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=6, cull_fraction=0.3,
        min_survivors=3, patience=None, seed=2, executions_per_trial=2,
        directory=tmp_path,
    )
    tuner.search(x, y, epochs=4, validation_data=(xv, yv), verbose=0)
    plan = culling.planned_epochs(6, 4, 0.3, 3, 1)
    assert tuner.oracle.epochs_trained() == plan["total"]
    for trial in tuner.oracle.trials.values():
        history = trial.metrics.get_history("val_accuracy")
        # Both executions reported every epoch; the oracle averages them.
        assert all(len(obs.value) == 2 for obs in history)
    # Once the search is over, only the best epoch of execution 0 stays.
    for trial in tuner.oracle.trials.values():
        names = sorted(
            n for n in os.listdir(tuner.get_trial_dir(trial.trial_id))
            if n.startswith("checkpoint_")
        )
        assert names == [f"checkpoint_0_epoch{trial.best_step + 1:04d}.npz"]
    assert tuner.get_best_models(1)[0].predict(xv[:2], verbose=0).shape == (2, 10)


class ScriptedValAccuracy(keras.callbacks.Callback):
    """Overwrites each epoch's val_accuracy with the next scripted value.

    The script is a class attribute so every deep copy keras_tuner makes
    reads from the same one.
    """

    script = iter(())

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = next(type(self).script)


def test_several_executions_keep_the_epoch_whose_average_is_best(digits, tmp_path):
    """Execution 0 alone would rank epoch 3 best; the average ranks epoch 2."""
    x, y, xv, yv = digits
    ScriptedValAccuracy.script = iter([0.5, 0.6, 0.9,    # execution 0
                                       0.5, 0.6, 0.1])   # execution 1
    tuner = kpn.PruneSearch(
        build_mlp, objective="val_accuracy", max_trials=1, patience=None,
        seed=0, executions_per_trial=2, directory=tmp_path,
    )
    tuner.search(x, y, epochs=3, validation_data=(xv, yv), verbose=0,
                 callbacks=[ScriptedValAccuracy()])
    trial = tuner.oracle.get_trial("0")
    assert trial.best_step == 1
    assert sorted(
        n for n in os.listdir(tuner.get_trial_dir("0")) if n.startswith("checkpoint_")
    ) == ["checkpoint_0_epoch0002.npz"]
    assert tuner.get_best_models(1)[0].predict(xv[:2], verbose=0).shape == (2, 10)


def test_culled_and_finished_models_are_released(digits, tmp_path):
    """Nothing of ours keeps a model alive once its candidate has ended."""
    import gc
    import weakref

    x, y, xv, yv = digits
    built = []
    inspected = []  # (trial ended?, model alive?) per live model checked

    class Tracked(kpn.PruneSearch):
        def build_candidate(self, hp):
            model = super().build_candidate(hp)
            built.append((self.oracle.ongoing_trials.get(self.tuner_id), weakref.ref(model)))
            return model

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            gc.collect()
            for ongoing, ref in built:
                status = self.oracle.get_trial(ongoing.trial_id).status
                ended = status in (TrialStatus.STOPPED, TrialStatus.COMPLETED)
                inspected.append((ended, ref() is not None))

    tuner = Tracked(
        build_mlp, objective="val_accuracy", max_trials=10, cull_fraction=0.3,
        min_survivors=3, patience=None, seed=8, directory=tmp_path,
    )
    tuner.search(x, y, epochs=5, validation_data=(xv, yv), verbose=0)
    gc.collect()
    assert len(built) >= 10 and all(ongoing is not None for ongoing, _ in built)
    # No model of an ended candidate was alive after any unit, while models
    # of candidates still in the search were (they are kept between rounds).
    assert (True, True) not in inspected
    assert (False, True) in inspected and (True, False) in inspected
    assert [ref for _, ref in built if ref() is not None] == []


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing of the search's clean-up may help."""


def test_kill_between_report_and_checkpoint_keeps_the_reported_weights(digits, tmp_path):
    """The last epoch of a finalist is reported, then the process dies.

    On restart the oracle has that epoch, so nothing trains it again: its
    weights must come from the checkpoint saved before the report.
    """
    x, y, xv, yv = digits
    options = dict(
        objective="val_accuracy", max_trials=8, cull_fraction=0.3,
        min_survivors=3, patience=None, seed=5, directory=tmp_path,
    )

    class DiesAfterFirstFinalReport(CheckpointStore):
        def commit(self, pending, trial_id, execution, epochs):
            if epochs == 4:
                raise _Killed()
            super().commit(pending, trial_id, execution, epochs)

        def settle(self, trial_id, reported_epochs):
            pass  # a killed process settles nothing

    doomed = kpn.PruneSearch(build_mlp, **options)
    doomed.checkpoints = DiesAfterFirstFinalReport(doomed.get_trial_dir, doomed.tuner_id)
    with pytest.raises(_Killed):
        doomed.search(x, y, epochs=4, validation_data=(xv, yv), verbose=0)
    tuner = kpn.PruneSearch(build_mlp, **options)
    tuner.search(x, y, epochs=4, validation_data=(xv, yv), verbose=0)

    plan = culling.planned_epochs(8, 4, 0.3, 3, 1)
    assert tuner.oracle.epochs_trained() == plan["total"]
    finalists = [
        t for t in tuner.oracle.trials.values() if t.status == TrialStatus.COMPLETED
    ]
    # The schedule 8, 6, 5, 4 reaches epochs=4 before 3 are left.
    assert len(finalists) == 4
    for trial in finalists:
        names = sorted(os.listdir(tuner.get_trial_dir(trial.trial_id)))
        checkpoints = [n for n in names if n.startswith("checkpoint_")]
        assert checkpoints == [f"checkpoint_0_epoch{trial.best_step + 1:04d}.npz"]
        model = tuner.load_model(trial)
        accuracy = model.evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"]
        assert accuracy == pytest.approx(trial.score, abs=1e-6)
