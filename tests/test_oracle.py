"""PruneOracle driven directly, by a worker loop that plays back synthetic curves.

No Keras training here: each candidate's quality is its `quality`
hyperparameter, so which candidates survive is known in advance.
"""

import copy
import math

import keras_tuner as kt
import pytest
from keras_tuner.engine import trial as trial_module

from helpers import culling_start
from helpers import make_oracle
from helpers import rising_curve
from helpers import run_search
from helpers import run_unit
from helpers import statuses
from keras_prune_nas import PruneOracle
from keras_prune_nas import culling
from keras_prune_nas.oracle import PHASE_FINISHED

TrialStatus = trial_module.TrialStatus


def test_default_rule_culls_exactly_the_schedule(tmp_path):
    oracle = make_oracle(tmp_path, patience=None)
    run_search(oracle)
    assert len(oracle.trials) == 50
    sizes = [record["alive"] for record in oracle.cull_history]
    assert sizes == [50, 43, 37, 32, 28, 24, 21, 18, 16, 14, 12, 11]
    assert [record["epoch"] for record in oracle.cull_history] == list(range(1, 13))
    assert statuses(oracle) == {TrialStatus.STOPPED: 40, TrialStatus.COMPLETED: 10}
    assert oracle.phase == PHASE_FINISHED
    # Without early stopping, the epochs are exactly the plan's.
    assert oracle.epochs_trained() == culling.planned_epochs(50, 20)["total"]


def test_the_best_candidates_are_the_finalists(tmp_path):
    oracle = make_oracle(tmp_path, patience=None)
    run_search(oracle)
    by_quality = sorted(
        oracle.trials.values(),
        key=lambda t: t.hyperparameters.get("quality"),
        reverse=True,
    )
    assert {t.status for t in by_quality[:10]} == {TrialStatus.COMPLETED}
    best = oracle.get_best_trials(1)[0]
    assert best is by_quality[0]
    assert best.score == pytest.approx(rising_curve(best, 19))


def test_every_curve_holds_every_epoch_trained(tmp_path):
    oracle = make_oracle(tmp_path, patience=None)
    run_search(oracle)
    culled_at = {
        entry["trial_id"]: record["epoch"]
        for record in oracle.cull_history
        for entry in record["culled"]
    }
    for trial_id, trial in oracle.trials.items():
        expected = culled_at.get(trial_id, 20)
        assert len(oracle.curve(trial_id)) == expected
        steps = [obs.step for obs in trial.metrics.get_history("val_accuracy")]
        assert steps == list(range(expected))


def test_culled_trials_say_when_and_at_what_rank(tmp_path):
    oracle = make_oracle(tmp_path, patience=None)
    run_search(oracle)
    first = oracle.cull_history[0]
    for entry in first["culled"]:
        trial = oracle.get_trial(entry["trial_id"])
        assert trial.status == TrialStatus.STOPPED
        assert trial.message.startswith("Culled after epoch 1 (round 1): ranked ")
        assert f"ranked {entry['rank']} of 50" in trial.message
    assert sorted(entry["rank"] for entry in first["culled"]) == list(range(44, 51))


def test_barrier_holds_until_every_survivor_finished_the_round(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=12, min_survivors=5, patience=None)
    held = oracle.create_trial("a")  # tuner a holds trial 00 (round 1)
    for _ in range(11):
        assert run_unit(oracle, tuner_id="b") is not None
    # Tuner b cannot start round 2 while a is still on round 1.
    waiting = oracle.create_trial("b")
    assert waiting.status == TrialStatus.IDLE
    assert oracle.cull_history == []
    oracle.update_trial(held.trial_id, {"val_accuracy": 0.5}, step=0)
    held.status = TrialStatus.COMPLETED
    oracle.end_trial(held)
    assert len(oracle.cull_history) == 1
    assert oracle.create_trial("b").status == TrialStatus.RUNNING


def test_update_trial_answers_pause_at_the_end_of_the_round(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=20, epochs_per_round=3, patience=None)
    trial = oracle.create_trial("t")
    answers = [
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.1}, step=s).status
        for s in range(3)
    ]
    assert answers == [TrialStatus.RUNNING, TrialStatus.RUNNING, TrialStatus.IDLE]
    # The answer is a copy: the oracle's own trial is still running.
    assert oracle.get_trial(trial.trial_id).status == TrialStatus.RUNNING


def test_state_round_trip_mid_round_resumes_identically(tmp_path):
    reference = make_oracle(tmp_path / "reference", patience=3, epochs_per_round=2)
    run_search(reference)

    oracle = make_oracle(tmp_path / "resumed", patience=3, epochs_per_round=2)
    for _ in range(70):  # into round 2
        run_unit(oracle)
    in_flight = oracle.create_trial("tuner0")
    start = culling_start(oracle, in_flight)
    value = rising_curve(in_flight, start)
    # The first of the unit's two epochs is reported, then the process dies.
    oracle.update_trial(
        in_flight.trial_id, {"val_accuracy": value, "loss": 1 - value}, step=start
    )

    restored = make_oracle(tmp_path / "resumed", patience=3, epochs_per_round=2)
    restored.reload()
    assert restored.round == oracle.round == 1
    assert restored.ongoing_trials == {}  # re-issued, not left running
    assert restored.cull_history == oracle.cull_history
    # The reported epoch survived the crash: the worker resumes after it.
    assert len(restored.curve(in_flight.trial_id)) == start + 1
    run_search(restored)

    assert restored.cull_history == reference.cull_history
    assert statuses(restored) == statuses(reference)
    assert restored.epochs_trained() == reference.epochs_trained()


def test_unit_resumed_from_an_older_checkpoint_replaces_the_newer_epochs(tmp_path):
    oracle = make_oracle(tmp_path, patience=3, epochs_per_round=2)
    for _ in range(60):
        run_unit(oracle)
    trial = oracle.create_trial("tuner0")
    start = culling_start(oracle, trial)
    assert start >= 2
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.0, "loss": 1.0}, step=start)

    restored = make_oracle(tmp_path, patience=3, epochs_per_round=2)
    restored.reload()
    again = restored.create_trial("tuner1")
    assert again.trial_id == trial.trial_id
    # No checkpoint survived past epoch 1: the worker resumes from there.
    restored.update_trial(trial.trial_id, {"val_accuracy": 0.5, "loss": 0.5}, step=1)
    curve = restored.curve(trial.trial_id)
    assert len(curve) == 2 and curve[1] == 0.5
    assert restored.candidates[trial.trial_id].epochs_done == 1


def test_unit_reported_in_full_before_a_crash_is_not_trained_again(tmp_path):
    oracle = make_oracle(tmp_path, patience=3)
    for _ in range(55):
        run_unit(oracle)
    trial = oracle.create_trial("tuner0")
    start = culling_start(oracle, trial)
    value = rising_curve(trial, start)
    answer = oracle.update_trial(
        trial.trial_id, {"val_accuracy": value, "loss": 1 - value}, step=start
    )
    assert answer.status == TrialStatus.IDLE  # the round's only epoch

    restored = make_oracle(tmp_path, patience=3)
    restored.reload()
    following = restored.create_trial("tuner0")
    assert following.trial_id != trial.trial_id
    assert restored.candidates[trial.trial_id].epochs_done == start + 1


def test_lease_expiry_hands_a_silent_workers_candidate_to_another(tmp_path):
    now = [0.0]
    oracle = make_oracle(tmp_path, max_trials=12, lease_timeout=0.05, epochs_per_round=2,
                         clock=lambda: now[0])
    taken = copy.copy(oracle.create_trial("dead"))
    oracle.update_trial(taken.trial_id, {"val_accuracy": 0.1, "loss": 0.9}, step=0)
    # A worker asking again before its lease expires gets its own unit back.
    assert oracle.create_trial("dead").trial_id == taken.trial_id
    now[0] = 0.1
    assert oracle.expire_leases() == ["dead"]
    assert "dead" not in oracle.tuner_ids and oracle.ongoing_trials == {}

    # A late report and end of the silent worker are ignored; it is told to stop.
    late = oracle.update_trial(taken.trial_id, {"val_accuracy": 0.9, "loss": 0.1}, step=1)
    assert late.status == TrialStatus.IDLE
    taken.status = TrialStatus.COMPLETED
    oracle.end_trial(taken)
    assert oracle.curve(taken.trial_id) == [0.1]
    assert oracle.candidates[taken.trial_id].epochs_done == 0

    # The next worker to ask continues it after the reported epoch.
    again = oracle.create_trial("alive")
    assert again.trial_id == taken.trial_id
    assert culling_start(oracle, again) == 1


def test_get_state_set_state_carries_everything(tmp_path):
    oracle = make_oracle(tmp_path, patience=4, rank_by="last", epochs_per_round=2)
    for _ in range(60):
        run_unit(oracle)
    state = oracle.get_state()
    copy = make_oracle(tmp_path, patience=4, rank_by="last", epochs_per_round=2)
    copy.trials = oracle.trials
    copy.set_state(state)
    copied = copy.get_state()
    # `tried_so_far` is a set, listed in arbitrary order.
    assert sorted(copied.pop("tried_so_far")) == sorted(state.pop("tried_so_far"))
    assert copied == state
    engine = copied["round_oracle"]["engine"]
    assert engine["round"] == 1  # mid-way through round 2
    assert len(engine["policy"]["cull"]["cull_history"]) == 1


def test_set_state_refuses_another_tuners_state(tmp_path):
    oracle = make_oracle(tmp_path)
    random_oracle = kt.oracles.RandomSearchOracle(objective="val_accuracy")
    with pytest.raises(RuntimeError, match="another kind of tuner"):
        oracle.set_state(random_oracle.get_state())


def test_diverging_candidate_is_culled_and_the_search_goes_on(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=20, patience=None)
    poisoned = {"00", "05"}

    def curve(trial, epoch):
        if trial.trial_id in poisoned and epoch >= 1:
            return math.nan
        return rising_curve(trial, epoch)

    run_search(oracle, curve=curve)
    for trial_id in poisoned:
        trial = oracle.get_trial(trial_id)
        assert trial.status == TrialStatus.STOPPED
        # It stopped training as soon as it diverged, after epoch 2.
        assert len(oracle.curve(trial_id)) == 2
    assert oracle.cull_history[1]["culled"][:2] == [
        {"trial_id": trial_id, "rank": rank, "score": None}
        for trial_id, rank in (("05", 17), ("00", 16))
    ]
    assert statuses(oracle)[TrialStatus.COMPLETED] == 10


def test_failed_candidates_are_contained_once_any_candidate_trained(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=20, patience=None)
    run_search(oracle, fail=lambda trial: int(trial.trial_id) % 3 == 1)
    counts = statuses(oracle)
    assert counts[TrialStatus.FAILED] == 7
    assert counts[TrialStatus.COMPLETED] == 10
    assert len(oracle.trials) == 20


def test_consecutive_failures_before_any_success_stop_the_search(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=20, max_consecutive_failed_trials=3)
    with pytest.raises(RuntimeError, match="first 3 candidates all failed"):
        run_search(oracle, fail=lambda trial: True)


def test_crashed_unit_is_retried_from_its_last_reported_epoch(tmp_path):
    kwargs = dict(max_trials=12, max_retries_per_trial=1, patience=None, epochs_per_round=3)
    reference = make_oracle(tmp_path / "reference", **kwargs)
    run_search(reference)

    oracle = make_oracle(tmp_path / "crashed", **kwargs)
    crashed = oracle.create_trial("t")
    for step in (0, 1):  # two of the round's three epochs, then a crash
        oracle.update_trial(
            crashed.trial_id, {"val_accuracy": rising_curve(crashed, step)}, step=step
        )
    crashed.status = TrialStatus.INVALID
    crashed.message = "crashed"
    oracle.end_trial(crashed)
    assert oracle.candidates[crashed.trial_id].failures == 1

    # The retry is handed out first, and its worker continues after the two
    # reported epochs (run_unit resumes at the length of the curve).
    retry = oracle.create_trial("t")
    assert retry.trial_id == crashed.trial_id
    assert culling_start(oracle, retry) == 2
    # Worker "t" asks again and gets its unit back, then plays on.
    run_search(oracle, tuner_id="t")

    # The crash cost nothing: the search is the one without it.
    assert oracle.cull_history == reference.cull_history
    assert statuses(oracle) == statuses(reference)
    assert oracle.epochs_trained() == reference.epochs_trained()


def test_no_cull_when_max_trials_not_above_min_survivors(tmp_path, capsys):
    oracle = make_oracle(tmp_path, max_trials=3, epochs=4, patience=None)
    assert "nothing is culled" in capsys.readouterr().out
    run_search(oracle)
    assert oracle.cull_history == []
    assert statuses(oracle) == {TrialStatus.COMPLETED: 3}
    assert oracle.epochs_trained() == 12


def test_finalists_stop_early(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=12, epochs=30, patience=2)

    def plateau(trial, epoch):
        return rising_curve(trial, min(epoch, 3))

    run_search(oracle, curve=plateau)
    completed = [
        trial for trial in oracle.trials.values()
        if trial.status == TrialStatus.COMPLETED
    ]
    assert len(completed) == 10
    # Epochs 0..3 improve (the best at step 3), 4 and 5 do not.
    assert [len(oracle.curve(trial.trial_id)) for trial in completed] == [6] * 10


def test_epochs_running_out_completes_the_survivors(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=50, epochs=3, patience=None)
    run_search(oracle)
    assert [r["alive"] for r in oracle.cull_history] == [50, 43]
    assert statuses(oracle) == {TrialStatus.STOPPED: 13, TrialStatus.COMPLETED: 37}


@pytest.mark.parametrize("rank_by, culled", [("last", "00"), ("best", "10")])
def test_rank_by_picks_best_so_far_or_last_epoch(tmp_path, rank_by, culled):
    oracle = make_oracle(
        tmp_path, max_trials=11, epochs=4, epochs_per_round=2, patience=None,
        rank_by=rank_by,
    )

    def curve(trial, epoch):
        # Trial 00 peaks at epoch 0, then collapses; the others sit at 0.5.
        if trial.trial_id == "00":
            return 0.99 if epoch == 0 else 0.01
        return 0.5

    run_search(oracle, curve=curve)
    # One cull of one candidate, after epoch 2: the worst by `rank_by`
    # (ties keep sampling order, so the last sampled goes first).
    assert oracle.cull_history[0]["epoch"] == 2
    assert [c["trial_id"] for c in oracle.cull_history[0]["culled"]] == [culled]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_trials": 0}, "max_trials"),
        ({"max_trials": None}, "max_trials"),
        ({"cull_fraction": 1.5}, "cull_fraction"),
        ({"min_survivors": 0}, "min_survivors"),
        ({"epochs_per_round": 0}, "epochs_per_round"),
        ({"patience": 0}, "patience"),
        ({"rank_by": "median"}, "rank_by"),
        ({"max_retries_per_trial": -1}, "max_retries_per_trial"),
    ],
)
def test_bad_parameters_are_rejected_up_front(kwargs, message):
    arguments = {"objective": "val_accuracy", "max_trials": 10}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PruneOracle(**arguments)


def test_set_epochs_rejects_bad_values(tmp_path):
    oracle = make_oracle(tmp_path)
    for bad in (0, -1, 2.5, "3", True):
        with pytest.raises(ValueError, match="epochs"):
            oracle.set_epochs(bad)


def test_without_an_epoch_budget_one_epoch_is_assumed_as_in_fit_and_said(tmp_path, capsys):
    # keras_tuner's own tests create trials and call `run_trial` without
    # `search`: the adapter must hand them out. The engine itself refuses
    # (tests/test_engine.py); the adapter assumes `fit`'s default and says so.
    oracle = PruneOracle(objective="val_accuracy", max_trials=5)
    oracle._set_project_dir(str(tmp_path), "project")
    trial = oracle.create_trial("tuner0")
    assert oracle.epochs == 1
    assert "no epoch budget was set" in capsys.readouterr().out
    answer = oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5}, step=0)
    assert answer.status == TrialStatus.IDLE


def test_a_finished_project_grows_with_max_trials(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=3, epochs=2, patience=None)
    run_search(oracle)
    grown = make_oracle(tmp_path, max_trials=5, epochs=2, patience=None)
    grown.reload()
    run_search(grown)
    assert len(grown.trials) == 5
    assert statuses(grown) == {TrialStatus.COMPLETED: 5}
    assert grown._display.trial_number == {f"{i}": i + 1 for i in range(5)}


def test_reload_catches_trial_files_up_with_a_cull_a_kill_interrupted(tmp_path):
    oracle = make_oracle(tmp_path)
    for _ in range(50):  # round 1 done: the cull is in oracle.json
        run_unit(oracle)
    culled = [entry["trial_id"] for entry in oracle.cull_history[0]["culled"]]
    # The kill came after oracle.json was saved, before the culled trial
    # files were: on disk they still say RUNNING.
    for trial_id in culled:
        stale = copy.deepcopy(oracle.trials[trial_id])
        stale.status = TrialStatus.RUNNING
        stale.message = None
        oracle._save_trial(stale)

    restored = make_oracle(tmp_path)
    restored.reload()
    for trial_id in culled:
        assert restored.trials[trial_id].status == TrialStatus.STOPPED
        assert restored.trials[trial_id].message == oracle.trials[trial_id].message
    assert len(restored.population()) == 43


def test_reload_rebuilds_the_trial_file_of_a_candidate_the_oracle_saved(tmp_path):
    oracle = make_oracle(tmp_path)
    for _ in range(3):
        run_unit(oracle)
    sampled = oracle.create_trial("tuner0")
    # The oracle's state is written first, then the trial file: the kill came
    # in between, so the trial file is missing.
    trial_file = tmp_path / "project" / f"trial_{sampled.trial_id}" / "trial.json"
    trial_file.unlink()

    restored = make_oracle(tmp_path)
    restored.reload()
    assert trial_file.exists()
    again = restored.create_trial("tuner1")
    assert again.trial_id == sampled.trial_id
    assert again.hyperparameters.values == sampled.hyperparameters.values
    assert len(restored.trials) == 4


def test_every_write_saves_the_state_before_the_trial_files(tmp_path, monkeypatch):
    oracle = make_oracle(tmp_path, max_trials=12, epochs=4)
    writes = []
    reporting = []
    save_state, save_trial, update_trial = oracle.save, oracle._save_trial, oracle.update_trial

    def record_state():
        writes.append("state")
        save_state()

    def record_trial(trial):
        # keras_tuner's update_trial writes each report's metrics on its own.
        writes.append("report" if reporting else "trial")
        save_trial(trial)

    def record_report(*args, **kwargs):
        reporting.append(True)
        try:
            return update_trial(*args, **kwargs)
        finally:
            reporting.pop()

    monkeypatch.setattr(oracle, "save", record_state)
    monkeypatch.setattr(oracle, "_save_trial", record_trial)
    monkeypatch.setattr(oracle, "update_trial", record_report)
    crashed = []

    def crash_once(trial):
        if trial.trial_id == "05" and not crashed:
            crashed.append(trial.trial_id)
            return True
        return False

    run_search(oracle, fail=crash_once)  # samples, culls, a failure, finalists
    assert crashed and oracle.phase == PHASE_FINISHED
    writes = [write for write in writes if write != "report"]
    assert writes.count("trial") >= 12
    for index, write in enumerate(writes):
        if write == "trial" and writes[index - 1] != "trial":
            assert writes[index - 1] == "state", writes[max(0, index - 3):index + 1]


@pytest.mark.parametrize(
    "penalty, finalists, best",
    [(0.0, [0, 1], 0), (0.1, [1, 2], 1)],
    ids=["no-penalty", "penalty"],
)
def test_complexity_penalty_changes_the_cull_and_the_pick(tmp_path, penalty, finalists, best):
    oracle = make_oracle(
        tmp_path, max_trials=4, epochs=2, cull_fraction=0.5, min_survivors=2,
        patience=None, complexity_penalty=penalty,
    )
    values = [0.9, 0.85, 0.5, 0.4]
    sizes = [1_000_000, 100, 10, 10]

    def index(trial):
        return oracle.start_order.index(trial.trial_id)

    run_search(
        oracle, curve=lambda trial, epoch: values[index(trial)],
        parameters=lambda trial: sizes[index(trial)],
    )
    # With the penalty: 0.9 - 0.6 = 0.3, 0.85 - 0.2 = 0.65, 0.5 - 0.1 = 0.4,
    # 0.4 - 0.1 = 0.3: the million-parameter model is culled.
    completed = sorted(
        index(t) for t in oracle.trials.values() if t.status == TrialStatus.COMPLETED
    )
    assert completed == finalists
    assert index(oracle.get_best_trials(1)[0]) == best
    assert oracle.parameter_count(oracle.start_order[0]) == 1_000_000


@pytest.mark.parametrize("build_seconds, expect_move", [(10.0, False), (0.5, True)])
def test_the_oracle_weighs_a_rebuild_against_waiting(tmp_path, build_seconds, expect_move):
    now = [0.0]
    oracle = make_oracle(tmp_path, max_trials=8, epochs=6, cull_fraction=0.15,
                         min_survivors=2, patience=None, clock=lambda: now[0])
    holder = {}

    def play(tuner_id):
        """One unit: a 1-second epoch, plus the build where the model is new here."""
        def timed_curve(trial, epoch):
            if holder.get(trial.trial_id) != tuner_id:
                now[0] += build_seconds
                holder[trial.trial_id] = tuner_id
            now[0] += 1.0
            return rising_curve(trial, epoch)

        return run_unit(oracle, tuner_id=tuner_id, curve=timed_curve)

    # Round 1: a builds six candidates, b two.
    for tuner_id in "aaaaaabb":
        play(tuner_id)
    assert oracle.round == 1
    mine = {w: [t for t in oracle.population() if oracle.candidates[t].worker == w]
            for w in "ab"}
    assert len(mine["a"]) >= 5 and 1 <= len(mine["b"]) <= 2
    # Round 2: b trains its own, then has nothing of its own left.
    for _ in mine["b"]:
        assert play("b").trial_id in mine["b"]
    answer = oracle.create_trial("b")
    if expect_move:
        # a's epochs (1 s each) outweigh a rebuild of 0.5 s: b takes a's last.
        assert answer.trial_id == mine["a"][-1]
        assert oracle.unit_costs.build_seconds(answer.trial_id) == pytest.approx(0.5)
    else:
        # A 10-second rebuild costs more than a's whole round: b waits.
        assert answer.status == TrialStatus.IDLE
        assert not oracle.ongoing_trials


def test_two_workers_keep_their_candidates_from_round_to_round(tmp_path):
    now = [0.0]
    oracle = make_oracle(tmp_path, max_trials=16, epochs=6, cull_fraction=0.2,
                         min_survivors=4, patience=None, clock=lambda: now[0])

    def one_second_epochs(trial, epoch):
        now[0] += 1.0
        return rising_curve(trial, epoch)

    moves = own_available = units = waits = 0
    turn = 0
    while True:
        tuner_id = ("a", "b")[turn % 2]
        turn += 1
        assert turn < 10_000, "the oracle never stopped"
        target = oracle.unit_target()
        mine = [
            t for t in oracle.population()
            if oracle.candidates[t].worker == tuner_id and not oracle.candidates[t].done
            and oracle.candidates[t].epochs_done < target
        ]
        previous = {t: c.worker for t, c in oracle.candidates.items()}
        trial = run_unit(oracle, tuner_id=tuner_id, curve=one_second_epochs, allow_idle=True)
        if trial is None:
            break
        if trial.status == TrialStatus.IDLE:
            # Only the other worker's last candidate waits: as fast to wait.
            waits += 1
            continue
        units += 1
        if mine:
            own_available += 1
            assert trial.trial_id in mine  # its own candidate whenever it has one
        if previous.get(trial.trial_id) not in (None, tuner_id):
            moves += 1
        assert oracle.candidates[trial.trial_id].worker == tuner_id
    assert oracle.phase == PHASE_FINISHED
    assert own_available > 0
    # Only the imbalance a cull leaves moves a candidate (handing out the
    # population in order, as before, moved 24 of these 64 units).
    assert moves < units / 8


def test_a_new_strategy_is_a_policy_the_keras_tuner_adapter_runs(tmp_path):
    from example_policies import KeepTheBestHalf

    from keras_prune_nas import RoundOracle

    hp = kt.HyperParameters()
    hp.Int("quality", 0, 1_000_000)
    oracle = RoundOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=10,
                         hyperparameters=hp, seed=7, policy=KeepTheBestHalf())
    oracle._set_project_dir(str(tmp_path), "project")
    oracle.set_epochs(4)
    run_search(oracle)
    by_quality = sorted(oracle.trials.values(), key=lambda t: -t.hyperparameters["quality"])
    assert [t.status for t in by_quality] == [TrialStatus.COMPLETED] * 5 + [TrialStatus.STOPPED] * 5
    assert all(len(oracle.curve(t.trial_id)) == 4 for t in by_quality[:5])
    assert oracle.get_state()["round_oracle"]["engine"]["policy"] == {"keep_the_best_half": {}}
