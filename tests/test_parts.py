"""The small parts on their own: plan, candidate record, leases, checks, the
live-model cache and the checkpoint store (no training)."""

import gc
import weakref

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_prune_nas import checks
from keras_prune_nas.callbacks import ContinuingCallbacks
from keras_prune_nas.candidates import Candidate
from keras_prune_nas.checkpoints import CheckpointStore
from keras_prune_nas.leases import LeaseTable
from keras_prune_nas.live_models import LiveModel
from keras_prune_nas.live_models import LiveModelCache
from keras_prune_nas.plan import RoundPlan
from keras_prune_nas.retention import models_to_check


# ----------------------------------------------------------------------
# RoundPlan
# ----------------------------------------------------------------------
def test_plan_says_where_each_round_ends_and_which_round_an_epoch_is_in():
    plan = RoundPlan(epochs_per_round=2, rounds=3, patience=2, epochs=7)
    assert [plan.unit_target(r, finalist=False) for r in range(4)] == [2, 4, 6, 7]
    assert plan.unit_target(1, finalist=True) == 7
    assert [plan.round_of_epoch(e) for e in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    "step, target, finalist, curve, diverged, over",
    [
        (0, 2, False, [0.5], False, False),  # mid-round
        (1, 2, False, [0.5, 0.6], False, True),  # the round's last epoch
        (0, 2, False, [float("nan")], True, True),  # diverged
        (3, 9, True, [0.5, 0.7, 0.6, 0.65], False, True),  # patience 2 spent
        (3, 9, False, [0.5, 0.7, 0.6, 0.65], False, False),  # no early stop mid-cull
        (2, 9, True, [0.5, 0.7, 0.6], False, False),
    ],
)
def test_plan_decides_when_a_unit_is_over(step, target, finalist, curve, diverged, over):
    plan = RoundPlan(epochs_per_round=2, rounds=3, patience=2, epochs=9)
    assert plan.unit_is_over(step, target, finalist, curve, "max", diverged) is over


def test_plan_rejects_bad_numbers():
    with pytest.raises(ValueError, match="`epochs_per_round` must be an integer >= 1"):
        RoundPlan(epochs_per_round=0)
    with pytest.raises(ValueError, match="`patience` must be an integer >= 1 .* or None"):
        RoundPlan(patience=0)


# ----------------------------------------------------------------------
# Candidate
# ----------------------------------------------------------------------
def test_candidate_round_trips_through_a_dict():
    candidate = Candidate(values={"units": 32}, epochs_done=3, diverged=True, failures=1)
    candidate.ending = {"status": "STOPPED", "message": "Culled"}
    assert Candidate.from_dict(candidate.to_dict()) == candidate
    assert Candidate.from_dict(Candidate().to_dict()) == Candidate()


def test_candidate_refuses_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown fields \['unit_start'\].*overwrite=True"):
        Candidate.from_dict({**Candidate().to_dict(), "unit_start": 0})


# ----------------------------------------------------------------------
# LeaseTable
# ----------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_leases_expire_after_the_timeout_of_silence_only():
    clock = Clock()
    leases = LeaseTable(timeout=60, clock=clock)
    leases.touch("a")
    leases.touch("b")
    clock.now += 50
    leases.touch("b")  # a heartbeat
    assert leases.expire(["a", "b"]) == {}
    clock.now += 11
    assert leases.expire(["a", "b"]) == {"a": 61}
    # Forgotten once expired: heard from again, it starts a new lease.
    assert leases.silent_for("a") == 0
    assert LeaseTable(timeout=None, clock=clock).expire(["a"]) == {}


def test_a_worker_never_heard_from_gets_a_full_lease():
    clock = Clock()
    leases = LeaseTable(timeout=5, clock=clock)
    assert leases.expire(["new"]) == {}
    clock.now += 6
    assert leases.expire(["new"]) == {"new": 6}


# ----------------------------------------------------------------------
# Shared checks
# ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True, None])
def test_require_int_names_the_argument_and_what_was_received(value):
    with pytest.raises(ValueError, match=r"^`count` must be an integer >= 1 \(things\)\. Received: count="):
        checks.require_int("count", value, 1, "things")


def test_require_int_accepts_none_only_when_told():
    checks.require_int("patience", None, 1, "epochs", allow_none=True, none_means="never")
    with pytest.raises(ValueError, match=r"or None \(never\)"):
        checks.require_int("patience", 0, 1, "epochs", allow_none=True, none_means="never")


@pytest.mark.parametrize("value", [0, 1, float("nan"), float("inf"), "0.5", True])
def test_require_number_with_open_bounds(value):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        checks.require_number("share", value, "a share", minimum=0, maximum=1, exclusive=True)
    checks.require_number("share", 0.5, "a share", minimum=0, maximum=1, exclusive=True)


def test_require_choice_lists_the_choices():
    with pytest.raises(ValueError, match=r"`rule` must be 'a', 'b' or None \(how\)"):
        checks.require_choice("rule", "c", ("a", "b", None), "how")


# ----------------------------------------------------------------------
# LiveModelCache
# ----------------------------------------------------------------------
class Model:
    """Stands for a Keras model: the cache only holds and drops it."""


def entry():
    return LiveModel(ContinuingCallbacks([]), model=Model())


def test_cache_frees_the_most_recently_used_beyond_its_limit():
    cache = LiveModelCache(max_live_models=2)
    for trial_id in ("a", "b", "c"):
        cache.add((trial_id, 0), entry())
        cache.check_out((trial_id, 0))
    # Rounds visit candidates in order, so the most recent is needed last.
    assert cache.live_count() == 2
    assert cache.get(("b", 0)).model is None
    assert cache.get(("a", 0)).model is not None


def test_cache_ends_every_run_once_and_lets_models_go():
    cache = LiveModelCache(max_live_models=8)
    ended = []

    class Recorder(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            ended.append(self)

    models = {}
    for trial_id in ("a", "b"):
        live = LiveModel(ContinuingCallbacks([Recorder()]), model=Model())
        live.callbacks.on_train_begin()
        models[trial_id] = weakref.ref(live.model)
        cache.add((trial_id, 0), live)
        cache.check_out((trial_id, 0))
    released = cache.release("a")
    assert len(released) == 1 and ("a", 0) not in cache
    del released
    cache.close()
    gc.collect()
    assert len(ended) == 2
    assert cache.live_count() == 0 and cache.trial_ids() == []
    assert [ref() for ref in models.values()] == [None, None]


# ----------------------------------------------------------------------
# CheckpointStore
# ----------------------------------------------------------------------
def small_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_store_commits_settles_and_retains(tmp_path):
    store = CheckpointStore(lambda trial_id: str(tmp_path / f"trial_{trial_id}"), "w0")
    model = small_model(0)
    for epochs in (1, 2, 3):
        pending = store.save_pending("7", 0, model, epochs)
        assert pending.endswith(".pending-w0")
        if epochs < 3:
            store.commit(pending, "7", 0, epochs)
    assert sorted(store.epochs_saved("7", 0)) == [1, 2]
    # A kill left epoch 3 pending: kept if the oracle recorded it ...
    store.settle("7", reported_epochs=3)
    assert sorted(store.epochs_saved("7", 0)) == [1, 2, 3]
    # ... and dropped if it never heard of it.
    store.save_pending("7", 0, model, 4)
    store.settle("7", reported_epochs=3)
    assert sorted(store.epochs_saved("7", 0)) == [1, 2, 3]
    assert not list((tmp_path / "trial_7").glob("*.pending-*"))
    store.retain("7", 0, keep={2})
    assert sorted(store.epochs_saved("7", 0)) == [2]
    assert store.path("7", 0, 2).endswith("checkpoint_0_epoch0002.npz")


def test_store_loads_into_an_unbuilt_model_from_the_build_config(tmp_path):
    store = CheckpointStore(lambda trial_id: str(tmp_path / trial_id), "w0")
    trained = small_model(1)
    store.commit(store.save_pending("t", 0, trained, 1), "t", 0, 1)
    keras.utils.set_random_seed(2)
    fresh = keras.Sequential([keras.layers.Dense(2)])  # no Input: not built
    fresh.compile("adam", "mse")
    store.load("t", fresh, 1)
    assert fresh.built and len(fresh.weights) == len(trained.weights) > 0
    for expected, loaded in zip(trained.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(expected), keras.ops.convert_to_numpy(loaded)
        )


def test_simulation_plays_a_prune_search_to_its_end(tmp_path):
    from keras_prune_nas import simulation
    from keras_prune_nas.oracle import PruneOracle

    hp = kt.HyperParameters()
    hp.Int("quality", 0, 100)
    oracle = PruneOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=12,
                         hyperparameters=hp, cull_fraction=0.3, min_survivors=4,
                         patience=None, seed=1)
    oracle._set_project_dir(str(tmp_path), "simulated")
    oracle._display.verbose = 0
    oracle.set_epochs(6)
    reported = []

    def metrics(trial, epoch):
        reported.append((trial.trial_id, epoch))
        return {"val_accuracy": trial.hyperparameters.get("quality") * (epoch + 1)}

    units = simulation.play(oracle, metrics)
    assert simulation.play_unit(oracle, metrics) is None  # the search has ended
    # 12 -> 9 -> 7 -> 5 -> 4 culled one epoch at a time, then 4 finalists to epoch 6.
    assert len(reported) == 12 + 9 + 7 + 5 + 4 * 2
    assert units == 12 + 9 + 7 + 5 + 4
    assert all(epoch == len([r for r in reported[:i] if r[0] == trial_id])
               for i, (trial_id, epoch) in enumerate(reported))
    best = oracle.get_best_trials(1)[0]
    assert best.hyperparameters.get("quality") == max(
        t.hyperparameters.get("quality") for t in oracle.trials.values()
    )


@pytest.mark.parametrize(
    "trained_id, unit_start, checked_all_at, remote, expected",
    [
        # One process: every held model, every time (a look-up each).
        ("1", 3, 3, False, (["0", "1", "2"], 3)),
        # A worker's first unit of a round: every model, and it remembers.
        ("1", 4, 3, True, (["0", "1", "2"], 4)),
        # The other units of that round: only the one just trained.
        ("2", 4, 4, True, (["2"], 4)),
        # A unit that began at an earlier epoch: a new NAO generation or a
        # raised max_trials starts over at epoch 0 (the models culled by the
        # last round must be released), or a candidate resumed from an older
        # checkpoint: every model. (This row failed before the fix: after
        # the epochs restarted a worker never checked its models again.)
        ("0", 2, 4, True, (["0", "1", "2"], 2)),
        ("1", 0, 9, True, (["0", "1", "2"], 0)),
        # Unknown start (the unit failed before it began): only that one.
        ("1", None, 4, True, (["1"], 4)),
        # No unit (the end of the search): every model.
        (None, None, 4, True, (["0", "1", "2"], 4)),
        # A candidate not held here: nothing to ask.
        ("7", 4, 4, True, ([], 4)),
    ],
)
def test_a_worker_asks_about_every_model_it_holds_once_per_round(
    trained_id, unit_start, checked_all_at, remote, expected
):
    assert models_to_check(["0", "1", "2"], trained_id, unit_start, checked_all_at,
                           remote_oracle=remote) == expected
