"""The round engine and its policies, without Keras or keras_tuner.

Every test drives the engine with scripted objective values and an injected
clock: nothing trains, nothing sleeps.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from keras_prune_nas import culling
from keras_prune_nas.engine import COMPLETED
from keras_prune_nas.engine import FAILED
from keras_prune_nas.engine import FINALISTS
from keras_prune_nas.engine import FINISHED
from keras_prune_nas.engine import STOP
from keras_prune_nas.engine import STOPPED
from keras_prune_nas.engine import WAIT
from keras_prune_nas.engine import CullPolicy
from keras_prune_nas.engine import RoundEngine
from keras_prune_nas.engine import RoundPolicy
from keras_prune_nas.engine import SearchAborted
from keras_prune_nas.engine import SecretaryPolicy
from keras_prune_nas.engine import TextDisplay
from keras_prune_nas.engine import Work
from keras_prune_nas.engine import choose_waiting_candidate
from keras_prune_nas.engine import play
from keras_prune_nas.leases import LeaseTable


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def rows(candidate_id):
    return {"row": int(candidate_id)}


def make_engine(policy=None, max_candidates=20, epochs=8, **options):
    engine = RoundEngine(
        policy if policy is not None else CullPolicy(0.2, 5),
        max_candidates=max_candidates, sample=rows, **options,
    )
    engine.set_epochs(epochs)
    return engine


def table(candidates=20, epochs=8, seed=0):
    """Rising curves of different heights: a stand-in for a population."""
    rng = np.random.default_rng(seed)
    ceilings = rng.uniform(0.3, 0.95, size=(candidates, 1))
    rates = rng.uniform(0.2, 0.9, size=(candidates, 1))
    steps = np.arange(1, epochs + 1)[None, :]
    return ceilings * (1 - np.exp(-rates * steps)) + rng.normal(0, 0.01, (candidates, epochs))


def objective_of(curves):
    return lambda work, epoch: float(curves[work.values["row"], epoch])


def test_importing_the_engine_and_policies_loads_no_framework():
    code = (
        "import sys\n"
        "import keras_prune_nas.engine, keras_prune_nas.engine.policies\n"
        "import keras_prune_nas.engine.play, keras_prune_nas.nao.policy\n"
        "import keras_prune_nas.culling, keras_prune_nas.plan\n"
        "heavy = ('keras', 'keras_tuner', 'tensorflow', 'jax', 'torch')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_cull_search_follows_the_cull_schedule_and_trains_finalists_to_the_end():
    curves = table(20, 12)
    engine = make_engine(CullPolicy(0.2, 5), epochs=12, patience=None)
    play.play(engine, objective_of(curves))
    history = engine.policy.cull_history
    assert engine.phase == FINISHED
    assert [r["alive"] for r in history] == culling.cull_schedule(20, 0.2, 5)[:-1]
    statuses = [engine.population.status(cid) for cid in engine.population.ids()]
    assert statuses.count(COMPLETED) == 5 and statuses.count(STOPPED) == 15
    # A culled candidate trained exactly to its cull; a finalist to the end.
    for record in history:
        for culled in record["culled"]:
            assert engine.population.epochs_reported(culled["trial_id"]) == record["epoch"]
    for cid in engine.population.ids():
        if engine.population.status(cid) == COMPLETED:
            assert engine.population.epochs_reported(cid) == 12


def test_a_grace_period_spares_a_late_starter_and_then_catches_up():
    curves = table(20, 12)
    late = 7
    curves[late] = [0.1, 0.1, 0.1] + [0.99] * 9  # at chance for 3 epochs, then best
    results = {}
    for grace in (1, 4):
        engine = make_engine(CullPolicy(0.2, 5, grace_rounds=grace), epochs=12, patience=None)
        play.play(engine, objective_of(curves))
        history = engine.policy.cull_history
        results[grace] = engine.population[engine.population.results()[0]].values["row"]
        # No cull record before the grace ends; then one per schedule step.
        assert [r["alive"] for r in history] == culling.cull_schedule(
            20, 0.2, 5, grace)[grace - 1:-1]
        assert history[0]["epoch"] == grace
    assert results[1] != late  # culled after epoch 1 at chance
    assert results[4] == late
    # After the grace period the population is where it is without one.
    assert culling.cull_schedule(20, 0.2, 5, 4)[4:] == culling.cull_schedule(20, 0.2, 5)[4:]


class RecordingDisplay(TextDisplay):
    """Keeps every progress snapshot the engine hands out."""

    wants_progress = True

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def progress(self, snapshot):
        self.snapshots.append(snapshot)


class TickingClock(Clock):
    """One second passes every time the engine reads the clock."""

    def __call__(self):
        self.now += 1.0
        return self.now


def test_progress_counts_every_round_up_to_its_candidates_then_the_finalists():
    display = RecordingDisplay()
    engine = make_engine(CullPolicy(0.2, 5), max_candidates=20, epochs=12, patience=None,
                         display=display, clock=TickingClock())
    play.play(engine, objective_of(table(20, 12)))
    snapshots = display.snapshots
    stages = []
    for snapshot in snapshots:
        if not stages or stages[-1][0] != snapshot.stage:
            stages.append((snapshot.stage, []))
        stages[-1][1].append(snapshot)
    schedule = culling.cull_schedule(20, 0.2, 5)
    rounds = len(schedule) - 1
    assert [stage for stage, _ in stages] == (
        [f"round {r + 1}/{rounds}" for r in range(rounds)] + ["finalists", "finished"])
    for (stage, group), due in zip(stages, schedule):
        assert {s.due for s in group} == {due}, stage
        assert [s.done for s in group] == sorted(s.done for s in group)
        assert group[-1].done == due
        assert all(0 <= s.done <= s.due for s in group)
    epochs = [s.epochs_trained for s in snapshots]
    assert epochs == sorted(epochs)
    assert epochs[-1] == sum(engine.population.epochs_reported(c) for c in engine.population.ids())
    # Before the first unit ends nothing is measured; afterwards an estimate
    # that reaches 0 when a round is done.
    assert snapshots[0].remaining_seconds is None
    assert all(s.remaining_seconds == 0 for s in snapshots if s.done == s.due)
    assert any(s.remaining_seconds and s.remaining_seconds > 0 for s in snapshots)


def test_a_display_that_does_not_ask_for_progress_costs_nothing():
    engine = make_engine(CullPolicy(0.2, 5))
    play.play(engine, objective_of(table()), max_units=3)
    assert engine.progress().epochs_trained == 3 and engine.progress().done == 3


def test_nao_targets_rank_finalists_by_their_final_score_however_early_they_stopped():
    from keras_prune_nas.nao.policy import NAOPolicy

    # The probe of issue 16: 12 candidates, all finalists, patience 2. Two
    # peak early and stop after 4 epochs; one climbs slowly for 12.
    curves = np.array([np.linspace(0.40, 0.40 + 0.02 * row, 12) for row in range(12)])
    curves[0] = [0.80, 0.876, 0.85, 0.84] + [0.84] * 8
    curves[1] = [0.80, 0.866, 0.85, 0.84] + [0.84] * 8
    curves[2] = np.linspace(0.50, 0.745, 12)
    engine = make_engine(NAOPolicy(12, min_survivors=12, generation_size=12),
                         max_candidates=12, epochs=12, patience=2)
    play.play(engine, objective_of(curves))
    ids, targets = engine.policy.evaluated(engine)
    trained = {cid: engine.population.epochs_reported(cid) for cid in ids}
    assert trained["00"] == trained["01"] == 4 and trained["02"] == 12
    by_target = [cid for _, cid in sorted(zip(targets, ids), reverse=True)]
    by_final_score = sorted(ids, key=lambda cid: -engine.score(cid))
    assert by_target == by_final_score
    assert by_target[:3] == ["00", "01", "02"]


@pytest.mark.parametrize("finished", [False, True])
def test_an_nao_search_resumed_with_another_max_trials_is_refused_by_name(finished):
    from keras_prune_nas.nao.policy import NAOPolicy

    engine = make_engine(NAOPolicy(24, min_survivors=6, generation_size=12),
                         max_candidates=24, epochs=4)
    play.play(engine, objective_of(table(24, 4)), max_units=None if finished else 20)
    assert (engine.phase == FINISHED) == finished
    state = engine.state()
    for max_trials in (12, 36):
        again = RoundEngine(NAOPolicy(max_trials, min_survivors=6, generation_size=12),
                            max_candidates=max_trials, sample=rows)
        with pytest.raises(ValueError, match=f"max_trials=24 .*max_trials={max_trials} "
                                             "would cut its generations anew"):
            again.restore(state)
    same = RoundEngine(NAOPolicy(24, min_survivors=6, generation_size=12),
                       max_candidates=24, sample=rows)
    same.restore(state)
    assert same.policy.generation == engine.policy.generation


def test_nao_targets_rank_by_the_cull_then_the_score_there():
    from keras_prune_nas.nao.policy import verdict_key

    keys = {
        "finalist, stopped early": verdict_key("COMPLETED", 3, 0.70, "max"),
        "culled late": verdict_key("STOPPED", 5, 0.95, "max"),
        "culled early, high": verdict_key("STOPPED", 1, 0.99, "max"),
        "culled early, low": verdict_key("STOPPED", 1, 0.20, "max"),
        "failed": verdict_key("FAILED", 4, 0.90, "max"),
        "diverged": verdict_key("STOPPED", 4, None, "max"),
    }
    assert sorted(keys, key=keys.get, reverse=True) == [
        "finalist, stopped early", "culled late", "culled early, high",
        "culled early, low", "failed", "diverged"]
    assert verdict_key("STOPPED", 2, 0.1, "min") > verdict_key("STOPPED", 2, 0.3, "min")


def test_each_cull_removes_the_worst_by_score():
    curves = table(20, 8, seed=3)
    engine = make_engine(CullPolicy(0.2, 5), patience=None)
    play.play(engine, objective_of(curves))
    first = engine.policy.cull_history[0]
    scores = {str(row).zfill(2): curves[row, 0] for row in range(20)}
    worst = sorted(scores, key=scores.get)[: len(first["culled"])]
    assert sorted(c["trial_id"] for c in first["culled"]) == sorted(worst)


def test_the_pick_is_the_best_finalist_by_its_best_score():
    curves = table(20, 8, seed=5)
    engine = make_engine(CullPolicy(0.2, 5), patience=None)
    play.play(engine, objective_of(curves))
    finalists = [c for c in engine.population.ids() if engine.population.status(c) == COMPLETED]
    best = max(finalists, key=lambda c: curves[int(c)].max())
    assert engine.population.results()[0] == best


def test_finalists_stop_early_after_patience_epochs_without_improvement():
    curves = np.tile(np.array([0.5, 0.6, 0.59, 0.58, 0.57, 0.56, 0.55, 0.54]), (3, 1))
    engine = make_engine(RoundPolicy(), max_candidates=3, patience=2)
    play.play(engine, objective_of(curves))
    assert [engine.population.epochs_reported(c) for c in engine.population.ids()] == [4, 4, 4]


def test_the_barrier_holds_every_worker_until_the_round_is_trained():
    engine = make_engine(CullPolicy(0.2, 5), max_candidates=12)
    units = [engine.ask("a") for _ in range(1)] + [engine.ask("b")]
    # Each worker holds one unit; "a" asking again gets its unit back.
    assert engine.ask("a").again
    for work in units:
        engine.report_epoch(work.candidate_id, 0, 0.5)
        engine.end_unit(work.candidate_id)
    handed = []
    while True:
        work = engine.ask("a")
        if not isinstance(work, Work):
            break
        handed.append(work.candidate_id)
        engine.report_epoch(work.candidate_id, 0, 0.1 * len(handed))
        if len(handed) == 10:
            last = work  # "a" holds the last unit of round 1
            break
        engine.end_unit(work.candidate_id)
    assert engine.ask("b") is WAIT
    assert engine.policy.cull_history == []
    engine.end_unit(last.candidate_id)
    assert len(engine.policy.cull_history) == 1  # the barrier fell
    assert isinstance(engine.ask("b"), Work)


def test_a_silent_worker_loses_its_unit_and_its_late_reports_are_ignored():
    clock = Clock()
    engine = make_engine(CullPolicy(0.2, 5), max_candidates=12, lease_timeout=10,
                         clock=clock, epochs_per_round=2)
    taken = engine.ask("dead")
    engine.report_epoch(taken.candidate_id, 0, 0.4)
    clock.now = 5
    assert engine.expire_leases() == []
    clock.now = 20
    other = engine.ask("alive")  # expires "dead" first
    assert engine.expired_leases[0]["tuner_id"] == "dead"
    assert other.candidate_id == taken.candidate_id and not other.new
    late = engine.report_epoch(taken.candidate_id, 1, 0.9)
    assert late.accepted  # "alive" holds it now: the report is its own
    assert engine.end_unit(taken.candidate_id)
    assert not engine.end_unit(taken.candidate_id)  # no holder: ignored


def test_a_reissued_unit_resumes_where_its_first_report_says():
    clock = Clock()
    engine = make_engine(RoundPolicy(), max_candidates=1, epochs=6, lease_timeout=1,
                         clock=clock)
    work = engine.ask("w0")
    for epoch, value in enumerate([0.1, 0.2, 0.3]):
        engine.report_epoch(work.candidate_id, epoch, value)
    clock.now = 5  # w0 dies; its last checkpoint is epoch 2 (two epochs)
    again = engine.ask("w1")
    assert again.candidate_id == work.candidate_id
    answer = engine.report_epoch(work.candidate_id, 2, 0.35)
    assert answer.resumed_from == 2
    assert engine.curve(work.candidate_id) == [0.1, 0.2, 0.35]


def test_a_leftover_candidate_moves_when_the_busy_workers_running_unit_is_long():
    # Worker "b" runs a unit with 9 s left and has one 1 s candidate waiting;
    # "a" can rebuild it in 2 s: moving it ends the round 8 s sooner.
    waiting, owner = ["05"], {"05": "b"}.get
    seconds, rebuild = {"05": 1.0}.get, {"05": 2.0}.get
    assert choose_waiting_candidate(waiting, owner, "a", {"a", "b"}, seconds, rebuild,
                                    busy_seconds={"b": 9.0}) == "05"
    # Without the running unit counted (the bug), waiting always looked faster.
    assert choose_waiting_candidate(waiting, owner, "a", {"a", "b"}, seconds, rebuild,
                                    busy_seconds={"b": 0.0}) is None


def test_choose_waiting_candidate_keeps_candidates_with_their_worker():
    waiting = ["00", "01", "02", "03", "04"]
    worker_of = {"00": "b", "01": "a", "02": "b", "03": None, "04": "gone"}.get
    live = {"a", "b"}
    assert choose_waiting_candidate(waiting, worker_of, "a", live) == "01"
    assert choose_waiting_candidate(waiting, worker_of, "b", live) == "00"
    # A new worker takes what nobody holds, or a dead worker held.
    assert choose_waiting_candidate(waiting, worker_of, "c", live | {"c"}) == "03"
    assert choose_waiting_candidate(["02", "04"], worker_of, "c", live | {"c"}) == "04"
    # Rather than wait, the last of the worker with the most left.
    worker_of = {"00": "b", "01": "a", "02": "b", "03": "b"}.get
    assert choose_waiting_candidate(["00", "01", "02", "03"], worker_of, "c", live) == "03"
    assert choose_waiting_candidate(["01", "02"], worker_of, "c", live) == "01"  # tie: a
    assert choose_waiting_candidate([], worker_of, "a", live) is None


def test_an_idle_worker_takes_a_candidate_only_when_that_is_faster_than_waiting():
    worker_of = {"00": "b", "01": "b", "02": "b", "03": "c", "04": "c"}.get
    live = {"a", "b", "c"}
    seconds = {"00": 1.0, "01": 1.0, "02": 1.0, "03": 4.0, "04": 4.0}.get
    # b's three 1-second epochs against a rebuild of 0.5 s + 1 s: take b's last.
    assert choose_waiting_candidate(["00", "01", "02"], worker_of, "a", live,
                                    seconds, lambda _: 0.5) == "02"
    # A rebuild of 2.5 s: b is done first; wait.
    assert choose_waiting_candidate(["00", "01", "02"], worker_of, "a", live,
                                    seconds, lambda _: 2.5) is None
    # By seconds, c (8 s) is busier than b (3 s).
    assert choose_waiting_candidate(["00", "01", "02", "03", "04"], worker_of, "a",
                                    live, seconds, lambda _: 0.5) == "04"


def test_the_first_failures_in_a_row_abort_and_later_ones_are_contained():
    engine = make_engine(RoundPolicy(), max_candidates=6, max_consecutive_failures=2)
    first = engine.ask("w")
    engine.end_unit(first.candidate_id, failed=True, message="boom")
    second = engine.ask("w")
    with pytest.raises(SearchAborted, match="(?s)first 2 candidates all failed.*boom"):
        engine.end_unit(second.candidate_id, failed=True, message="boom")

    engine = make_engine(RoundPolicy(), max_candidates=6, max_consecutive_failures=2)
    trained = engine.ask("w")
    engine.report_epoch(trained.candidate_id, 0, 0.5)
    engine.end_unit(trained.candidate_id)
    for _ in range(3):  # after one trained, failures are contained
        work = engine.ask("w")
        engine.end_unit(work.candidate_id, failed=True, message="oom")
        assert engine.population.status(work.candidate_id) == FAILED


def test_a_crashed_unit_is_retried_before_its_candidate_fails():
    engine = make_engine(RoundPolicy(), max_candidates=2, max_retries=1)
    work = engine.ask("w")
    engine.end_unit(work.candidate_id, failed=True, retryable=True, message="crash")
    assert engine.population.status(work.candidate_id) is None
    again = engine.ask("w")
    assert again.candidate_id == work.candidate_id and not again.new
    engine.end_unit(work.candidate_id, failed=True, retryable=True, message="crash")
    assert engine.population.status(work.candidate_id) == FAILED


def test_a_diverged_candidate_ranks_last_and_stops_its_unit():
    engine = make_engine(CullPolicy(0.2, 5), max_candidates=12)
    work = engine.ask("w")
    answer = engine.report_epoch(work.candidate_id, 0, float("nan"), finite=False)
    assert not answer.keep_training and engine.score(work.candidate_id) is None


def test_a_search_saved_and_restored_half_way_decides_as_one_that_was_not():
    curves = table(20, 8, seed=7)
    straight = make_engine(CullPolicy(0.2, 5))
    play.play(straight, objective_of(curves))

    first = make_engine(CullPolicy(0.2, 5))
    play.play(first, objective_of(curves), max_units=47)
    state = json.loads(json.dumps(first.state()))
    resumed = RoundEngine(CullPolicy(0.2, 5), max_candidates=20, sample=rows)
    resumed.restore(state)
    play.play(resumed, objective_of(curves))
    assert resumed.policy.cull_history == straight.policy.cull_history
    assert resumed.population.results() == straight.population.results()
    assert resumed.population.epochs_trained() == straight.population.epochs_trained()


def test_a_policy_keeps_its_state_under_its_own_key_and_a_resume_checks_it():
    engine = make_engine(CullPolicy(0.2, 5))
    play.play(engine, objective_of(table()), max_units=25)
    state = engine.state()
    assert set(state["policy"]) == {"cull"}
    assert state["policy"]["cull"]["cull_history"] == engine.policy.cull_history
    with pytest.raises(RuntimeError, match="another strategy"):
        RoundEngine(SecretaryPolicy(20), max_candidates=20, sample=rows).restore(
            {**state, "parameters": {**state["parameters"], "observe": 7,
                                     "cull_fraction": None, "min_survivors": None}}
        )
    with pytest.raises(ValueError, match="cull_fraction=0.2 \\(now 0.3\\)"):
        RoundEngine(CullPolicy(0.3, 5), max_candidates=20, sample=rows).restore(state)


def test_asking_before_the_epochs_are_set_says_how_to_fix_it():
    engine = RoundEngine(CullPolicy(), max_candidates=20, sample=rows)
    with pytest.raises(RuntimeError, match="set_epochs"):
        engine.ask("w")


def test_the_secretary_accepts_the_first_candidate_that_beats_the_observed():
    probes = [0.5, 0.7, 0.6, 0.65, 0.8, 0.9, 0.95, 0.4, 0.3, 0.2]
    curves = np.array([[p] * 4 for p in probes])
    engine = make_engine(SecretaryPolicy(10), max_candidates=10, epochs=4)
    play.play(engine, objective_of(curves))
    observe = culling.secretary_observe_count(10)  # 3: 0.5, 0.7, 0.6
    assert engine.policy.observe == observe
    assert engine.policy.accepted == "04"  # 0.8: the first to beat 0.7
    assert len(engine.population) == 5 and engine.phase == FINISHED
    assert engine.population.results()[0] == "04"


def test_a_new_strategy_is_a_policy():
    from example_policies import KeepTheBestHalf

    curves = table(10, 5, seed=2)
    engine = make_engine(KeepTheBestHalf(), max_candidates=10, epochs=5, patience=None)
    play.play(engine, objective_of(curves))
    completed = {c for c in engine.population.ids() if engine.population.status(c) == COMPLETED}
    best_after_one = sorted(range(10), key=lambda r: -curves[r, 0])[:5]
    assert completed == {str(r).zfill(2) for r in best_after_one}
    assert engine.state()["policy"] == {"keep_the_best_half": {}}


def test_a_finished_search_given_more_candidates_trains_them_as_finalists():
    engine = make_engine(RoundPolicy(), max_candidates=3, epochs=2)
    play.play(engine, lambda work, epoch: 0.5)
    assert engine.phase == FINISHED and engine.ask("w") is STOP
    engine.max_candidates = 5
    work = engine.ask("w")
    assert work.new and engine.phase == FINALISTS and work.target == 2


def test_reading_a_lease_does_not_change_it():
    clock = Clock()
    leases = LeaseTable(10, clock=clock)
    clock.now = 3
    assert leases.silent_for("never-seen") == 0.0
    clock.now = 30
    # Reading did not start its clock at 3; a first `expire` starts it now.
    assert leases.expire(["never-seen"]) == {}
    clock.now = 35
    assert leases.silent_for("never-seen") == 5.0


def test_nao_proposes_in_the_background_while_the_engine_answers_its_workers():
    import threading

    from keras_prune_nas.nao.policy import NAOPolicy

    release = threading.Event()
    calls = []

    def propose(values, targets, count):
        calls.append(len(values))
        release.wait(10)  # the NAO model "trains" until released
        return [({"row": 100 + i}, "decoded") for i in range(count)]

    policy = NAOPolicy(8, min_survivors=4, generation_size=4, random_share=0.0,
                       propose=propose, background=True)
    engine = make_engine(policy, max_candidates=8, epochs=2, patience=None)
    first_generation = lambda work, epoch: 0.1 * int(work.values["row"] % 100)  # noqa: E731
    for _ in range(4):  # four finalists (nothing to cull), one unit each
        assert play.play_unit(engine, first_generation) is not None
    # The last finalist's unit ended without waiting for NAO, and while NAO
    # works every worker is told to wait (heartbeats answered too).
    assert engine.ask("w") is WAIT and engine.ask("other") is WAIT
    assert calls == [4] and policy.busy(engine)
    release.set()
    policy.pending[0].join(10)
    work = engine.ask("w")
    assert work.new and work.values == {"row": 100}
    assert policy.generation == 1 and policy.origin_of[work.candidate_id] == "nao"
    assert policy.generation_history[0]["origins"] == {"decoded": 4}


def test_a_busy_policy_at_the_end_of_the_epochs_culls_nothing_that_has_ended():
    import threading

    from keras_prune_nas.nao.policy import NAOPolicy

    release = threading.Event()

    def propose(values, targets, count):
        release.wait(10)
        return []

    # 16 candidates, 2 epochs: the cull schedule needs more rounds than the
    # epochs allow, so the survivors all end at epoch 2 while NAO proposes.
    policy = NAOPolicy(32, cull_fraction=0.1, min_survivors=4, generation_size=16,
                       propose=propose, background=True)
    engine = make_engine(policy, max_candidates=32, epochs=2, patience=None)
    while engine.policy.generation == 0 and not policy.busy(engine):
        assert play.play_unit(engine, lambda work, epoch: 0.5) is not None
    culled = [c["trial_id"] for r in policy.cull_history for c in r["culled"]]
    completed = [c for c in engine.population.ids()
                 if engine.population.status(c) == COMPLETED]
    assert len(culled) == len(set(culled)) and not set(culled) & set(completed)
    assert len(culled) + len(completed) == 16 and len(policy.cull_history) == 1
    assert engine.ask("w") is WAIT  # nothing trains while NAO proposes
    release.set()
    policy.pending[0].join(10)
    assert isinstance(engine.ask("w"), Work) and policy.generation == 1
