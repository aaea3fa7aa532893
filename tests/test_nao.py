"""NAO's parts: the codec of any search space, and the encoder-predictor-decoder."""

import importlib.util
import itertools
import json
import os
import re

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_prune_nas as kpn
from keras_prune_nas.nao.codec import PAD
from keras_prune_nas.nao.codec import SearchSpaceCodec

def every_type_space():
    hp = kt.HyperParameters()
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Boolean("batch_norm")
    hp.Fixed("optimizer", "adam")
    hp.Int("depth", 1, 3)
    hp.Int("units", 8, 512, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    with hp.conditional_scope("depth", [2, 3]):
        hp.Int("units_2", 4, 64, step=4)
    with hp.conditional_scope("depth", [3]):
        hp.Choice("pool_3", ["max", "average"])
    return hp


def random_values(space, seed):
    oracle = kt.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=1, seed=seed)
    oracle.hyperparameters = space.copy()
    return oracle._random_values()


def test_every_type_round_trips_exactly_on_its_own_values():
    codec = SearchSpaceCodec(every_type_space(), bins=8)
    assert codec.length == 9
    for depth, batch_norm in itertools.product((1, 2, 3), (False, True)):
        values = {
            "activation": "tanh", "batch_norm": batch_norm, "optimizer": "adam",
            "depth": depth, "units": codec.value_of(4, codec.offsets[4] + 5),
            "dropout": codec.value_of(5, codec.offsets[5] + 2),
            "learning_rate": codec.value_of(6, codec.offsets[6] + 3),
        }
        if depth >= 2:
            values["units_2"] = codec.value_of(7, codec.offsets[7] + 1)
        if depth == 3:
            values["pool_3"] = "average"
        tokens = codec.encode(values)
        assert (tokens[7] == PAD) == (depth < 2) and (tokens[8] == PAD) == (depth < 3)
        assert codec.decode(tokens) == values


def test_numerical_values_are_binned_on_their_own_scale():
    codec = SearchSpaceCodec(every_type_space(), bins=8)
    units = codec.choices(4)
    # Log sampling: the bins are (about) evenly spaced in log10.
    ratios = np.diff(np.log(units))
    assert len(units) == 8 and np.allclose(ratios, ratios.mean(), rtol=0.15)
    assert codec.choices(3) == [1, 2, 3]  # a narrow Int keeps every value
    # Any value decodes to the bin nearest it on the log scale.
    assert codec.decode(codec.encode({**base_values(), "units": 9}))["units"] == units[0]
    assert codec.decode(codec.encode({**base_values(), "units": 500}))["units"] == units[-1]


def base_values():
    return {
        "activation": "relu", "batch_norm": False, "optimizer": "adam", "depth": 1,
        "units": 32, "dropout": 0.1, "learning_rate": 0.01,
    }


def test_random_architectures_round_trip_to_their_binned_selves():
    space = every_type_space()
    codec = SearchSpaceCodec(space)
    for seed in range(30):
        values = random_values(space, seed)
        tokens = codec.encode(values)
        decoded = codec.decode(tokens)
        assert set(decoded) == set(values)  # the same active hyperparameters
        assert codec.encode(decoded) == tokens


def test_masked_choices_always_decode_to_a_valid_architecture():
    space = every_type_space()
    codec = SearchSpaceCodec(space)
    rng = np.random.default_rng(0)
    for _ in range(200):
        values, tokens = {}, []
        for position in range(codec.length):
            token = int(rng.choice(codec.allowed_tokens(position, values)))
            tokens.append(token)
            if token != PAD:
                values[codec.space[position].name] = codec.value_of(position, token)
        decoded = codec.decode(tokens)
        hp = space.copy()
        hp.values = decoded
        for item in space.space:
            assert (item.name in decoded) == hp.is_active(item)


def test_a_token_not_allowed_where_it_stands_is_refused():
    codec = SearchSpaceCodec(every_type_space())
    tokens = codec.encode(base_values())
    tokens[7] = codec.offsets[7]  # units_2 while depth is 1
    with pytest.raises(ValueError, match="not allowed at position 7 \\(units_2\\)"):
        codec.decode(tokens)


def test_neighbours_differ_by_one_choice_and_are_valid():
    codec = SearchSpaceCodec(every_type_space())
    tokens = codec.encode(base_values())
    neighbours = codec.neighbours(tokens)
    assert neighbours and tokens not in neighbours
    for neighbour in neighbours:
        codec.decode(neighbour)
        changed = [a != b for a, b in zip(tokens, neighbour)]
        # One value changed, plus the children it switched on.
        assert changed[:7].count(True) == 1


def test_the_codec_reads_nas_hypermodel_conditional_widths():
    hypermodel = kpn.NASHyperModel((64,), 10, architecture="dense")
    hp = kt.HyperParameters()
    hypermodel.build(hp)
    codec = SearchSpaceCodec(hp)
    for seed in range(20):
        values = random_values(hp, seed)
        decoded = codec.decode(codec.encode(values))
        model_hp = hp.copy()
        model_hp.values = decoded
        hypermodel.build(model_hp)  # every decoded architecture builds
        # The depth, which decides which widths exist, survives the round
        # trip (widths and rates are binned); a decoded architecture encodes
        # and decodes back to the same tokens.
        assert decoded["dense_layers"] == values["dense_layers"]
        tokens = codec.encode(decoded)
        assert codec.encode(codec.decode(tokens)) == tokens


def test_widths_registered_only_up_to_the_depth_encode_as_their_default():
    # keras_tuner's common pattern: `for i in range(hp.Int("layers", 1, 3)):
    # hp.Int(f"units_{i}", ...)` outside a conditional scope. A trial of a
    # shallow model made before a deeper one registered units_2 lacks it.
    hp = kt.HyperParameters()
    hp.Int("layers", 1, 3)
    for i in range(3):
        hp.Int(f"units_{i}", 8, 64, step=8, default=16)
    codec = SearchSpaceCodec(hp)
    tokens = codec.encode({"layers": 2, "units_0": 32, "units_1": 8})
    assert PAD not in tokens
    assert codec.decode(tokens) == {"layers": 2, "units_0": 32, "units_1": 8, "units_2": 16}
    assert all(codec.decode(neighbour) for neighbour in codec.neighbours(tokens))


def test_bad_codec_input_is_refused():
    with pytest.raises(ValueError, match="`bins` must be an integer >= 2"):
        SearchSpaceCodec(every_type_space(), bins=1)
    with pytest.raises(ValueError, match="search space is empty"):
        SearchSpaceCodec(kt.HyperParameters())


# ----------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------
def nasbench_like_space():
    hp = kt.HyperParameters()
    for edge in range(6):
        hp.Choice(f"edge_{edge}", ["skip", "none", "conv3", "conv1", "pool"])
    return hp


def synthetic_pool(codec, count, seed):
    """Architectures scored by how many conv3 edges they have (plus noise)."""
    rng = np.random.default_rng(seed)
    tokens, targets = [], []
    for _ in range(count):
        values = {f"edge_{e}": str(rng.choice(["skip", "none", "conv3", "conv1", "pool"]))
                  for e in range(6)}
        tokens.append(codec.encode(values))
        targets.append(sum(v == "conv3" for v in values.values()) / 6 + rng.normal(0, 0.02))
    return np.array(tokens), np.clip(np.array(targets), 0, 1)


def test_a_gradient_step_raises_the_predicted_score():
    from keras_prune_nas.nao.model import NAOModel

    codec = SearchSpaceCodec(nasbench_like_space())
    tokens, targets = synthetic_pool(codec, 120, seed=0)
    model = NAOModel(codec, seed=0)
    model.fit(tokens, targets, epochs=60)
    before = model.predict_from_outputs(model.encode_outputs(tokens[:20])[0])
    after = model.predict_from_outputs(model.moved_outputs(tokens[:20], 1.0))
    assert np.all(keras.ops.convert_to_numpy(after) > keras.ops.convert_to_numpy(before))


def test_padding_rows_of_weight_zero_change_no_loss():
    from keras_prune_nas.nao.model import NAOModel

    codec = SearchSpaceCodec(nasbench_like_space())
    tokens, targets = synthetic_pool(codec, 5, seed=3)
    model = NAOModel(codec, seed=0)
    masks = model.token_masks(tokens)
    targets = targets.astype("float32")
    whole = model.loss(tokens[:3], targets[:3], masks[:3], np.ones(3, "float32"))
    padded = model.loss(tokens, targets, masks, np.array([1, 1, 1, 0, 0], "float32"))
    for left, right in zip([whole[0], *whole[1]], [padded[0], *padded[1]]):
        assert np.isclose(keras.ops.convert_to_numpy(left), keras.ops.convert_to_numpy(right),
                          rtol=1e-5)


def test_trained_model_ranks_and_reconstructs_and_proposals_are_valid():
    from scipy import stats

    from keras_prune_nas.nao.model import NAOModel

    codec = SearchSpaceCodec(nasbench_like_space())
    tokens, targets = synthetic_pool(codec, 150, seed=1)
    held_tokens, held_targets = synthetic_pool(codec, 200, seed=2)
    model = NAOModel(codec, seed=0)
    model.fit(tokens, targets, epochs=80)
    rho = stats.spearmanr(model.predict(held_tokens), held_targets).statistic
    assert rho > 0.6
    # With no step the decoder gives back (mostly) the architectures themselves.
    reconstructed = model.decode(model.encode_outputs(tokens[:50])[0])
    assert np.mean([list(a) == list(b) for a, b in zip(reconstructed, tokens[:50])]) > 0.8
    for proposal in model.propose(tokens[:30], step_size=5.0):
        codec.decode(proposal)


# ----------------------------------------------------------------------
# NAOOracle, driven like PruneOracle in test_oracle (no Keras training)
# ----------------------------------------------------------------------
def conv3_count(values):
    return sum(value == "conv3" for value in values.values())


def make_nao_oracle(tmp_path, **kwargs):
    from keras_prune_nas.nao.oracle import NAOOracle

    kwargs.setdefault("max_trials", 40)
    kwargs.setdefault("generation_size", 20)
    kwargs.setdefault("min_survivors", 5)
    kwargs.setdefault("cull_fraction", 0.3)
    kwargs.setdefault("patience", None)
    kwargs.setdefault("model_epochs", 40)
    kwargs.setdefault("seed", 3)
    oracle = NAOOracle(
        objective=kt.Objective("val_accuracy", "max"),
        hyperparameters=nasbench_like_space(), **kwargs,
    )
    oracle._set_project_dir(str(tmp_path), "nao")
    oracle._display.verbose = 0
    oracle.set_epochs(3)
    return oracle


def play(oracle, stop_after=None):
    """Trains every unit on a curve that rises with the conv3 count."""
    from keras_prune_nas import simulation

    def metrics(trial, epoch):
        quality = conv3_count(trial.hyperparameters.values) / 6
        return {"val_accuracy": quality * (1 - 0.5 ** (epoch + 1))}

    return simulation.play(oracle, metrics, max_units=stop_after)


def test_nao_generations_cull_and_learn_where_to_look(tmp_path):
    oracle = make_nao_oracle(tmp_path, random_share=0.2)
    play(oracle)
    assert len(oracle.trials) == 40 and oracle.sizes == [20, 20]
    first = [t for t in oracle.start_order if oracle.generation_of[t] == 0]
    second = [t for t in oracle.start_order if oracle.generation_of[t] == 1]
    assert len(first) == len(second) == 20
    # Each generation was culled (20 -> 14 -> 10 -> ... with 3 epochs).
    assert [r["alive"] for r in oracle.cull_history][:1] == [20]
    assert any(r["alive"] == 20 and r["round"] == 0 for r in oracle.cull_history[1:])
    # Proposals (16 of 20; 20% random) are better than random draws.
    mean_conv3 = [
        np.mean([conv3_count(oracle.trials[t].hyperparameters.values) for t in ids])
        for ids in (first, second)
    ]
    assert mean_conv3[1] > mean_conv3[0] + 0.5
    assert oracle.generation_history[0]["proposed"] == 16
    table = oracle.candidate_table()
    assert [row["trial_id"] for row in table] == oracle.start_order
    assert [(row["generation"], row["origin"]) for row in table] == (
        [(0, "random")] * 20 + [(1, "nao")] * 16 + [(1, "random")] * 4
    )
    assert all(row["epochs"] >= 1 and row["score"] is not None for row in table)
    values = [tuple(sorted(oracle.trials[t].hyperparameters.values.items())) for t in oracle.trials]
    assert len(set(values)) == 40  # no architecture evaluated twice
    assert oracle.get_best_trials(1)[0].status == "COMPLETED"


def first_generation(directory, seed):
    oracle = make_nao_oracle(directory, seed=seed, max_trials=50, generation_size=25)
    trials = [oracle.create_trial(f"worker{index}") for index in range(25)]
    return {tuple(sorted(trial.hyperparameters.values.items())) for trial in trials}


def test_two_seeds_share_no_more_first_generation_candidates_than_chance(tmp_path):
    # keras_tuner's sampler starts at the seed and advances by one per value
    # drawn: with six values per candidate, its seeds 1 and 7 sample nearly
    # the same 25 candidates. NAOSearch's seeds must not.
    def keras_tuner_first(seed):
        oracle = kt.oracles.RandomSearchOracle(
            objective=kt.Objective("val_accuracy", "max"), max_trials=25, seed=seed,
            hyperparameters=nasbench_like_space(),
        )
        oracle._set_project_dir(str(tmp_path / f"kt{seed}"), "random")
        trials = [oracle.create_trial(f"worker{index}") for index in range(25)]
        return {tuple(sorted(trial.hyperparameters.values.items())) for trial in trials}

    assert len(keras_tuner_first(1) & keras_tuner_first(7)) >= 20
    generations = {seed: first_generation(tmp_path / f"nao{seed}", seed) for seed in (1, 2, 7, 8)}
    assert all(len(candidates) == 25 for candidates in generations.values())
    # By chance two draws of 25 of the 5**6 cells share 25 * 25 / 15625 =
    # 0.04 on average; 2 or more happen with probability under 0.001.
    for first, second in itertools.combinations(generations, 2):
        assert len(generations[first] & generations[second]) <= 1
    # The same seed samples the same candidates.
    assert first_generation(tmp_path / "again", 7) == generations[7]


def test_paper_proposals_start_from_the_best_sixth_with_linear_steps():
    from keras_prune_nas.nao.oracle import proposal_seeds
    from keras_prune_nas.nao.oracle import resolve_proposal_settings
    from keras_prune_nas.nao.oracle import step_sizes

    targets = np.linspace(0, 1, 60)
    assert list(proposal_seeds(targets, 100, "wide")) == list(range(59, -1, -1))
    assert list(proposal_seeds(targets, 100, "paper")) == list(range(59, 49, -1))
    assert list(proposal_seeds(targets, 4, "paper")) == [59, 58, 57, 56]
    assert list(proposal_seeds(targets[:3], 100, "paper")) == [2]
    assert step_sizes("paper", 5) == [1, 2, 3, 4, 5]
    assert step_sizes("wide", 50) == [1, 2, 4, 8, 16, 32]
    paper = resolve_proposal_settings("paper", model_options={"hidden_size": 8})
    assert paper == {
        "generation_size": 25, "min_survivors": 10, "random_share": 0.0, "local_share": 0.0,
        "model_epochs": 1000,
        "model_options": {"predictor_layers": 0, "weight_decay": 0.0, "hidden_size": 8},
    }
    assert resolve_proposal_settings("wide", random_share=None, generation_size=None) == {
        "generation_size": 10, "min_survivors": 4, "random_share": 0.0, "local_share": 0.5,
        "model_epochs": 200, "model_options": {},
    }
    given = resolve_proposal_settings("paper", random_share=0.5, model_epochs=10,
                                      model_options={"weight_decay": 1e-3}, min_survivors=3)
    assert (given["random_share"], given["model_epochs"], given["min_survivors"]) == (0.5, 10, 3)
    assert given["model_options"] == {"predictor_layers": 0, "weight_decay": 1e-3}


@pytest.mark.parametrize("proposals, origins", [
    ("wide", {"decoded", "neighbour"}), ("gradient", {"decoded"}), ("paper", {"decoded"}),
])
def test_proposals_say_where_they_came_from(proposals, origins):
    from keras_prune_nas.nao.oracle import propose_architectures

    codec = SearchSpaceCodec(nasbench_like_space())
    tokens, targets = synthetic_pool(codec, 40, seed=4)
    evaluated = [codec.decode(row) for row in tokens]
    proposed = propose_architectures(
        nasbench_like_space(), evaluated, targets, 30, proposals=proposals, model_epochs=30,
    )
    assert 0 < len(proposed) <= 30
    assert {origin for _, origin in proposed} <= origins
    if proposals == "wide":  # the predictor ranks neighbours in, usually most of them
        assert any(origin == "neighbour" for _, origin in proposed)
    found = [tuple(sorted(values.items())) for values, _ in proposed]
    seen = {tuple(sorted(values.items())) for values in evaluated}
    assert len(set(found)) == len(found) and not set(found) & seen


def test_local_steps_exhaust_the_best_neighbourhood_before_the_next():
    from keras_prune_nas.nao.oracle import local_steps

    neighbours = {
        (0, 0): [(1, 0), (2, 0), (0, 1), (0, 2)],
        (1, 0): [(0, 0), (2, 0), (1, 1), (1, 2)],
    }

    def predict(rows):  # prefers large second tokens
        return [row[1] + 0.1 * row[0] for row in rows]

    evaluated = {(0, 0), (1, 0), (0, 2)}
    # The best's unevaluated neighbours first, the predictor's favourite
    # first, then the second best's; nothing evaluated, nothing twice.
    assert local_steps([(0, 0), (1, 0)], neighbours.get, evaluated, 5, predict) == [
        (0, 1), (2, 0), (1, 2), (1, 1),
    ]
    assert local_steps([(0, 0), (1, 0)], neighbours.get, evaluated, 2, predict) == [
        (0, 1), (2, 0),
    ]
    assert local_steps([(0, 0)], neighbours.get, evaluated, 0, predict) == []
    # However low the predictor ranks them, the best's neighbours come first.
    assert local_steps([(0, 0), (1, 0)], neighbours.get, evaluated, 2,
                       lambda rows: [-row[1] for row in rows]) == [(2, 0), (0, 1)]


def test_wide_proposals_with_a_local_share_start_with_the_best_neighbours():
    from keras_prune_nas.nao.oracle import propose_architectures

    codec = SearchSpaceCodec(nasbench_like_space())
    tokens, targets = synthetic_pool(codec, 40, seed=4)
    evaluated = [codec.decode(row) for row in tokens]
    proposed = propose_architectures(
        nasbench_like_space(), evaluated, targets, 10, model_epochs=30, local_share=0.5,
    )
    origins = [origin for _, origin in proposed]
    assert origins[:5] == ["local"] * 5 and "local" not in origins[5:]
    best = [int(token) for token in tokens[int(np.argmax(targets))]]
    best_neighbours = {tuple(row) for row in codec.neighbours(best)}
    assert all(tuple(codec.encode(values)) in best_neighbours for values, _ in proposed[:5])
    found = [tuple(sorted(values.items())) for values, _ in proposed]
    seen = {tuple(sorted(values.items())) for values in evaluated}
    assert len(set(found)) == len(found) == 10 and not set(found) & seen


def test_nao_state_round_trips_mid_generation(tmp_path):
    reference = make_nao_oracle(tmp_path / "reference")
    play(reference)
    oracle = make_nao_oracle(tmp_path / "killed")
    play(oracle, stop_after=45)  # in generation 2
    assert oracle.generation == 1
    restored = make_nao_oracle(tmp_path / "killed")
    restored.reload()
    assert restored.generation == 1 and restored.queued == oracle.queued
    play(restored)
    assert {i: t.hyperparameters.values for i, t in restored.trials.items()} == {
        i: t.hyperparameters.values for i, t in reference.trials.items()
    }
    assert restored.cull_history == reference.cull_history


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"generation_size": 1}, "`generation_size` must be an integer >= 2"),
        ({"random_share": 1.5}, "`random_share` must be a number from 0 to 1"),
        ({"top_k": 0}, "`top_k` must be an integer >= 1"),
        ({"local_share": -0.1}, "`local_share` must be a number from 0 to 1"),
        ({"proposals": "beam"}, "`proposals` must be 'wide', 'gradient' or 'paper'"),
        ({"targets": "both"}, "`targets` must be 'rank' or 'score'"),
        ({"max_step_size": 0}, "`max_step_size` must be a finite number > 0"),
        ({"model_options": {"trade_off": 2}}, "`trade_off` must be a number from 0 to 1"),
        ({"model_options": {"layers": 2}}, r"unknown keys \['layers'\]"),
    ],
)
def test_bad_nao_parameters_are_refused_up_front(kwargs, message):
    from keras_prune_nas.nao.oracle import NAOOracle

    with pytest.raises(ValueError, match=message):
        NAOOracle(objective="val_accuracy", **kwargs)


def test_a_small_real_nao_search_ends_with_a_valid_best_model(tmp_path):
    from sklearn.datasets import load_digits

    from keras_prune_nas.nao import NAOSearch
    from test_tuner import build_mlp

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    tuner = NAOSearch(
        build_mlp, objective="val_accuracy", max_trials=8, generation_size=4,
        min_survivors=2, cull_fraction=0.3, model_epochs=20, seed=1,
        directory=tmp_path, project_name="nao",
    )
    tuner.search(x[:400], y[:400], epochs=3, validation_data=(x[400:600], y[400:600]),
                 verbose=0)
    oracle = tuner.oracle
    assert len(oracle.trials) == 8 and oracle.generation == 1
    assert sorted(set(oracle.generation_of.values())) == [0, 1]
    best = tuner.get_best_models(1)[0]
    accuracy = best.evaluate(x[400:600], y[400:600], verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(oracle.get_best_trials(1)[0].score, abs=1e-6)


def test_generation_sizes_and_rank_targets():
    from keras_prune_nas.nao.policy import generation_sizes
    from keras_prune_nas.nao.policy import rank_targets
    from keras_prune_nas.nao.policy import score_targets

    assert generation_sizes(30, 10) == [10, 10, 10]
    assert generation_sizes(31, 10) == [8, 8, 8, 7]
    assert generation_sizes(150, 25) == [25] * 6
    assert generation_sizes(30, 25) == [15, 15]
    assert generation_sizes(7, 25) == [7]
    # Culled earlier ranks lower whatever its score; ties share their rank.
    keys = [(True, 1, 0.9), (True, 3, 0.2), (True, 3, 0.5), (False, 0, 0.0), (True, 3, 0.5)]
    assert list(rank_targets(keys)) == [0.25, 0.5, 0.875, 0.0, 0.875]
    assert list(score_targets([0.5, None, 0.9, 0.7])) == pytest.approx([0, 0, 1, 0.5])
    assert list(score_targets([0.5, 0.9], maximize=False)) == pytest.approx([1, 0])
    assert list(score_targets([None, None])) == [0, 0]


# ----------------------------------------------------------------------
# The benchmarks (they need ../shared/data; users without it skip)
# ----------------------------------------------------------------------
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
NASBENCH201 = os.path.join(SHARED, "nasbench201", "nasbench201_cifar10.npz")
SURROGATE = os.path.join(SHARED, "lcbench_surrogate")


def load_benchmark(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        name, os.path.join(os.path.dirname(__file__), "..", "benchmarks", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def result_lines(output):
    found = {}
    for match in re.finditer(
        r"^method=(\S+) queries=(\d+) mean_regret=(\S+) p90_regret=(\S+)$", output, re.M
    ):
        found[(match[1], int(match[2]))] = (float(match[3]), float(match[4]))
    return found


@pytest.mark.skipif(not os.path.exists(NASBENCH201),
                    reason="needs the shared NAS-Bench-201 table (../shared/data/nasbench201)")
def test_nasbench201_benchmark_prints_every_method_and_budget(capsys, tmp_path):
    module = load_benchmark("nao_nasbench201")
    methods = ("evolution", "evolution_cached", "local_search", "nao", "random")
    arguments = ["--table", NASBENCH201, "--queries", "30", "--seeds", "2", "--budgets", "10",
                 "--methods", ",".join(methods), "--results", str(tmp_path)]
    assert module.main(arguments + ["--cost-pool", "40"]) == 0
    output = capsys.readouterr().out
    found = result_lines(output)
    assert sorted(found) == [(m, q) for m in methods for q in (10, 30)]
    for method in methods:
        # Regret against the table's best never grows with the budget.
        assert 0 <= found[(method, 30)][0] <= found[(method, 10)][0]
    assert re.search(r"^nao_cost pool=40 proposed=25 seconds=\S+$", output, re.M)
    # NAO says where its proposals came from: 30 queries are 3 generations
    # of 10, the last two proposed, half of each by local-search steps.
    origins = re.search(r"^# nao: .*; proposals per seed: (.*)$", output, re.M).group(1)
    counts = dict((name, float(count)) for name, count in
                  (part.split() for part in origins.split(", ")))
    assert sum(counts.values()) == 20 and counts["local"] == 10 and counts["random"] == 0
    assert re.search(r"^paired method=nao reference=local_search queries=30 [+-]", output, re.M)
    # Each run's record was kept: a second call reads them, and prints the same.
    records = sorted(os.listdir(tmp_path / keras.backend.backend()))
    assert records == sorted(f"{m}_{s}.json" for m in methods for s in (1, 2))
    assert module.main(arguments) == 0
    assert result_lines(capsys.readouterr().out) == found


@pytest.mark.skipif(not os.path.exists(NASBENCH201),
                    reason="needs the shared NAS-Bench-201 table (../shared/data/nasbench201)")
def test_local_search_and_cached_evolution_never_pay_for_a_cell_twice():
    module = load_benchmark("nao_nasbench201")
    table = module.Table(NASBENCH201)
    for seed in (1, 2):
        searched = module.run_local_search(table, 300, seed)
        cached = module.run_evolution(table, 300, seed, cached=True)
        charged = module.run_evolution(table, 300, seed)
        assert len(searched) == len(cached) == len(charged) == 300
        assert len(set(searched)) == len(set(cached)) == 300
        assert len(set(charged)) < 300  # evolution mutates back to cells it had
        # Local search moves by one edit: after its first ten random starts,
        # a cell is a neighbour of one queried before, or a restart.
        restarts = sum(
            min(sum(a != b for a, b in zip(cell, earlier)) for earlier in searched[:index]) > 1
            for index, cell in enumerate(searched[10:], 10)
        )
        assert restarts <= 300 // 24  # a restart follows a whole neighbourhood (24 cells)


needs_surrogate = pytest.mark.skipif(
    not os.path.exists(os.path.join(SURROGATE, "model.onnx"))
    or importlib.util.find_spec("onnxruntime") is None,
    reason="needs the shared LCBench surrogate (../shared/data/lcbench_surrogate) and onnxruntime",
)


@needs_surrogate
def test_lcbench_surrogate_curves_skip_the_untrained_epoch():
    import json

    import onnxruntime

    module = load_benchmark("nao_lcbench")
    surrogate = module.Surrogate(SURROGATE, "3945")
    config = [256, 1e-3, 0.9, 1e-4, 3, 512, 0.2]
    curve = surrogate.curves([config])[0]
    assert curve.shape == (51,)
    session = onnxruntime.InferenceSession(os.path.join(SURROGATE, "model.onnx"))
    with open(os.path.join(SURROGATE, "encoding.json")) as file:
        task = json.load(file)["OpenML_task_id"]["3945"]
    direct = session.run(None, {
        "x_cat": np.full((52, 1), task, dtype=np.int32),
        "x_cont": np.array([[epoch, *config] for epoch in range(1, 53)], dtype=np.float32),
    })[0][:, 1]
    # Keras epoch k (after k epochs of training) is the surrogate's epoch k + 1.
    np.testing.assert_allclose(curve, direct[1:], rtol=1e-5)


@needs_surrogate
def test_lcbench_benchmark_compares_at_one_budget(capsys, tmp_path):
    module = load_benchmark("nao_lcbench")
    arguments = ["--data", SURROGATE, "--tasks", "3945,7593", "--seeds", "1",
                 "--max-trials", "20", "--reference", "200", "--results", str(tmp_path)]
    assert module.main(arguments) == 0
    output = capsys.readouterr().out
    lines = re.findall(r"^task=\d+ reference=\S+ nao_regret=\S+ random_regret=\S+ "
                       r"nao-random=[+-]\d+\.\d+$", output, re.M)
    assert len(lines) == 2
    summary = re.search(r"^mean_regret nao=\S+ random=\S+ tasks=2 won=(\d) tied=(\d) lost=(\d);",
                        output, re.M)
    assert summary and sum(map(int, summary.groups())) == 2
    # Every run was recorded; a second call reads the records back.
    assert sorted(os.listdir(tmp_path / "3945")) == ["nao_1.json", "random_1.json",
                                                     "reference_200.json"]
    assert module.main(arguments) == 0
    again = capsys.readouterr().out
    assert re.findall(r"^task=.*$", again, re.M) == lines
    # A record made with other NAO parameters (an older default) is run again.
    path = tmp_path / "3945" / "nao_1.json"
    record = json.loads(path.read_text())
    current = dict(record["parameters"])
    record["parameters"]["generation_size"] = 25
    record["trained"] = [0.0]
    path.write_text(json.dumps(record))
    assert module.main(arguments + ["--tasks", "3945"]) == 0
    rerun = json.loads(path.read_text())
    assert rerun["parameters"] == current and len(rerun["trained"]) > 1
    # With --populations, records that lack their candidates are run again
    # and keep them; the regret splits into the best candidate sampled and
    # what the cull lost of it (never negative: the search only reports
    # epochs of candidates it sampled).
    assert module.main(arguments + ["--populations"]) == 0
    output = capsys.readouterr().out
    record = json.loads((tmp_path / "7593" / "nao_1.json").read_text())
    assert len(record["population"]) == 20
    assert {c["origin"] for c in record["population"]} <= {"nao", "random"}
    assert record["population"][0]["generation"] == 0
    for method in ("nao", "random"):
        line = re.search(rf"^population {method}: regret of the best candidate sampled "
                         r"(\S+), reported (\S+) \(the cull and stopping lost (\S+)\), "
                         r"at the budget (\S+);", output, re.M)
        sampled, reported, lost, found = map(float, line.groups())
        assert 0 <= sampled <= reported <= found + 1e-9
        assert lost == pytest.approx(reported - sampled, abs=2e-3)
    # A variant's records never replace the default's.
    with pytest.raises(SystemExit):
        module.main(["--data", SURROGATE, "--nao-options", '{"local_share": 0}'])
    assert "needs its own --results" in capsys.readouterr().err


def test_the_lcbench_count_needs_a_larger_advantage_where_tasks_are_noisier():
    module = load_benchmark("nao_lcbench")
    won, lost = module.expected_task_count([0.1] * 4, advantage=0.0, tie=0.05)
    assert won == pytest.approx(lost) and won < 4
    won, lost = module.expected_task_count([0.01] * 4, advantage=1.0, tie=0.05)
    assert won == pytest.approx(4) and lost == pytest.approx(0)
    quiet = module.advantage_for_count_ratio([0.05] * 10, tie=0.05)
    noisy = module.advantage_for_count_ratio([1.0] * 10, tie=0.05)
    assert 0 < quiet < noisy
    won, lost = module.expected_task_count([1.0] * 10, noisy, tie=0.05)
    assert won == pytest.approx(2 * lost)
    with pytest.raises(ValueError, match="ratio must be above 1"):
        module.advantage_for_count_ratio([0.1], tie=0.05, ratio=1)
