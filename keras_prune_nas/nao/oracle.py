"""NAOOracle and NAOSearch: generations proposed by NAO, each culled.

Generation 0 is random. Every later generation is proposed from everything
evaluated so far: a `NAOModel` is trained on the evaluated architectures and
their rank targets, and proposes new architectures: local-search steps
from the best, and gradient steps from the best together with their
neighbours, ranked by its predictor; a share of each generation can stay
random (`random_share`). Each
generation is evaluated by the per-epoch cull, with the same mechanics and
guarantees as `PruneOracle` (it is one): per-epoch reports, culled
candidates STOPPED, finalists trained with early stopping, checkpoints,
crash resume, distributed mode. `max_trials` is the total over all
generations.
"""

import time

import numpy as np

from keras_tuner.src.engine import hyperparameters as hp_module

from keras_prune_nas import checks
from keras_prune_nas.nao.policy import TARGET_MODES
from keras_prune_nas.nao.policy import NAOPolicy
from keras_prune_nas.oracle import PruneOracle
from keras_prune_nas.oracle import start_sampling_at
from keras_prune_nas.tuner import RoundSearch

PROPOSAL_MODES = ("wide", "gradient", "paper")
# "paper" follows the reference code (renqianluo/NAO_pytorch, NAO_V1
# train_search.py): proposals start from the best 100 of a pool of 600 (the
# same sixth of the pool here, at most `top_k`), no random share, and the
# model trains 1,000 epochs per generation without weight decay, its
# predictor one sigmoid unit on the embedding (no hidden layer).
PAPER_SEED_SHARE = 1 / 6
# What an argument left None becomes. "wide" and "gradient": generations of
# 10 (a model retrained every 10 candidates: on NAS-Bench-201, generations
# of 25 left the predictor too few turns), 4 of each trained to the end (the
# share 10 of 25 had), half of the proposals local-search steps (`local_steps`;
# "wide" only), nothing random (see the README's ablation). "paper": the
# settings it was measured with, generations of 25.
DEFAULTS = {"generation_size": 10, "min_survivors": 4, "random_share": 0.0,
            "local_share": 0.5, "model_epochs": 200, "model_options": {}}
PAPER_DEFAULTS = {"generation_size": 25, "min_survivors": 10, "random_share": 0.0,
                  "local_share": 0.0, "model_epochs": 1000,
                  "model_options": {"predictor_layers": 0, "weight_decay": 0.0}}


def resolve_proposal_settings(proposals, **settings):
    """`settings` (some of `DEFAULTS`' keys) with every key of `DEFAULTS`,
    those left out or None filled in for `proposals` (the paper's own for
    "paper"); `model_options` merged over the defaults'.

    >>> resolve_proposal_settings("paper", random_share=0.5)["random_share"]
    0.5
    >>> resolve_proposal_settings("wide", generation_size=None)["generation_size"]
    10
    """
    defaults = PAPER_DEFAULTS if proposals == "paper" else DEFAULTS
    unknown = set(settings) - set(defaults)
    if unknown:
        raise TypeError(f"unknown NAO settings {sorted(unknown)}")
    resolved = {name: value if settings.get(name) is None else settings[name]
                for name, value in defaults.items()}
    resolved["model_options"] = {**defaults["model_options"],
                                 **(settings.get("model_options") or {})}
    return resolved


def proposal_seeds(targets, top_k, proposals):
    """Indices of the evaluated architectures proposals start from, best
    first: the best `top_k`, or for "paper" the best sixth of them (at
    least one, at most `top_k`)."""
    order = np.argsort(-np.asarray(targets, dtype=float), kind="stable")
    if proposals == "paper":
        top_k = min(top_k, max(1, int(np.ceil(PAPER_SEED_SHARE * len(order)))))
    return order[:top_k]


def step_sizes(proposals, max_step_size):
    """The gradient steps tried, in order: 1, 2, 3, ... for "paper" (as the
    reference code grows them), 1, 2, 4, ... otherwise; none above
    `max_step_size`."""
    step, steps = 1.0, []
    while step <= max_step_size:
        steps.append(step)
        step = step + 1 if proposals == "paper" else step * 2
    return steps


def local_steps(best, neighbours_of, evaluated, count, predict):
    """The local-search part of a generation: up to `count` one-edit
    neighbours not yet evaluated, every one of the best architecture's before
    any of the second best's, and so on (local search's move, so that the
    best's neighbourhood is explored in the end however the predictor ranks
    it); within one neighbourhood, in the order `predict` ranks them.

    Args:
        best: Token rows, best first.
        neighbours_of: `neighbours_of(row) -> [row, ...]`, the one-edit
            neighbours.
        evaluated: Set of token tuples already evaluated (none is returned).
        count: The most rows to return.
        predict: `predict(rows) -> scores`, higher is better.

    >>> neighbours = {(0,): [(1,), (2,)], (1,): [(0,), (2,), (3,)]}
    >>> local_steps([(0,), (1,)], neighbours.get, {(0,), (1,)}, 2,
    ...             lambda rows: [-row[0] for row in rows])
    [(2,), (3,)]
    """
    chosen, taken = [], set(evaluated)
    for row in best:
        if len(chosen) >= count:
            break
        fresh = [neighbour for neighbour in neighbours_of(row) if tuple(neighbour) not in taken]
        if not fresh:
            continue
        scores = np.asarray(predict(fresh), dtype=float)
        for index in np.argsort(-scores, kind="stable")[: count - len(chosen)]:
            chosen.append(fresh[index])
            taken.add(tuple(fresh[index]))
    return chosen


def propose_architectures(
    hyperparameters, evaluated, targets, count, top_k=100, proposals="wide",
    max_step_size=50.0, model_epochs=200, model_options=None, seed=0,
    neighbour_seeds=15, local_share=0.0,
):
    """New architectures, proposed by an NAO model trained on evaluated ones.

    Args:
        hyperparameters: The search space.
        evaluated: Hyperparameter values of the evaluated architectures.
        targets: Their targets in [0, 1] (higher is better).
        count: How many new architectures to return (fewer if fewer are
            found).
        top_k, proposals, max_step_size, model_epochs, model_options,
            neighbour_seeds, local_share: As for `NAOOracle`.
        seed: Seed of the model's weights and of its training order.

    Returns:
        A list of `(values, origin)`, none of the values among `evaluated`;
        `origin` is "decoded" (a gradient step decoded), "neighbour" (a
        one-edit neighbour of one of the best, ranked by the predictor) or
        "local" (a local-search step, `local_steps`); the last two for
        "wide" only. For "wide", the local steps first, then the rest best
        first by the predictor; in the order found otherwise (smallest step
        first).
    """
    from keras_prune_nas.nao.codec import SearchSpaceCodec
    from keras_prune_nas.nao.model import NAOModel

    codec = SearchSpaceCodec(hyperparameters)
    tokens = np.array([codec.encode(values) for values in evaluated])
    model = NAOModel(codec, seed=seed, **(model_options or {}))
    model.fit(tokens, np.asarray(targets, dtype=float), epochs=model_epochs, seed=seed)
    best = tokens[proposal_seeds(targets, top_k, proposals)]
    seen = {tuple(row) for row in tokens}
    found = []
    if proposals == "wide" and local_share > 0:
        local = local_steps(
            [[int(token) for token in row] for row in best], codec.neighbours, seen,
            int(round(local_share * count)), lambda rows: model.predict(np.array(rows)),
        )
        found = [(row, "local") for row in local]
        seen.update(tuple(row) for row in local)
    ranked_from = len(found)
    # The paper's decoding: steps of growing size until enough are new.
    for step in step_sizes(proposals, max_step_size):
        if len(found) >= count:
            break
        for proposal in model.propose(best, step):
            if tuple(proposal) not in seen:
                seen.add(tuple(proposal))
                found.append((proposal, "decoded"))
    if proposals == "wide":
        # Widened: the one-edit neighbours of the best join the decoded
        # architectures, and the predictor ranks them all.
        for row in best[:neighbour_seeds]:
            for neighbour in codec.neighbours([int(token) for token in row]):
                if tuple(neighbour) not in seen:
                    seen.add(tuple(neighbour))
                    found.append((neighbour, "neighbour"))
        ranked = found[ranked_from:]
        if ranked:
            scores = model.predict(np.array([row for row, _ in ranked]))
            found = found[:ranked_from] + [ranked[i] for i in np.argsort(-scores, kind="stable")]
    return [(codec.decode(row), origin) for row, origin in found[:count]]


def sampling_stream_start(seed):
    """Where the sampler of an NAO search seeded `seed` starts its stream.

    keras_tuner's samplers draw the value at position p of their stream from
    `random.Random(p)`, starting at `seed`, so searches seeded s and s + k
    (k values per candidate) would sample nearly the same candidates. An NAO
    search starts at a position hashed from its seed instead, anywhere in
    [1, 2**31): two seeds share no more candidates than two independent
    random draws do.
    """
    state = np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint32)[0]
    return int(state % (2**31 - 1)) + 1


def make_nao_policy(
    space, max_trials, seed=None, cull_fraction=0.15, min_survivors=None,
    generation_size=None, random_share=None, top_k=100, proposals="wide",
    max_step_size=50.0, model_epochs=None, model_options=None, targets="rank",
    neighbour_seeds=15, local_share=None, background=False,
):
    """An `NAOPolicy` whose proposals come from an NAO model over `space`.

    The one place NAO's arguments are checked and bound: `NAOOracle` uses it,
    and so does a search driven through the engine alone (the benchmarks).

    Args:
        space: `space() -> keras_tuner.HyperParameters`, the search space
            (a function: a tuner's space can grow while it searches).
        max_trials, seed, cull_fraction, min_survivors, generation_size,
        random_share, top_k, proposals, max_step_size, model_epochs,
        model_options, targets, neighbour_seeds, local_share: As for
            `NAOOracle` (None: the default for `proposals`).
        background: Train the NAO model in a thread, so that an oracle
            answers its workers meanwhile (see `NAOPolicy`).
    """
    checks.require_choice("proposals", proposals, PROPOSAL_MODES,
                          "NAO's decoded gradient steps and ranked neighbours, "
                          "decoded steps alone, or the paper's procedure")
    settings = resolve_proposal_settings(
        proposals, generation_size=generation_size, min_survivors=min_survivors,
        random_share=random_share, local_share=local_share, model_epochs=model_epochs,
        model_options=model_options,
    )
    generation_size, min_survivors = settings["generation_size"], settings["min_survivors"]
    random_share, local_share = settings["random_share"], settings["local_share"]
    model_epochs, model_options = settings["model_epochs"], settings["model_options"]
    checks.require_int("generation_size", generation_size, 2,
                       "the most candidates one generation holds")
    checks.require_number("random_share", random_share,
                          "the share of each later generation sampled at random",
                          minimum=0, maximum=1)
    checks.require_int("top_k", top_k, 1, "the best architectures proposals start from")
    checks.require_number("max_step_size", max_step_size, "the largest gradient step",
                          minimum=0, exclusive=True)
    checks.require_int("neighbour_seeds", neighbour_seeds, 1,
                       "how many of the best lend their one-edit neighbours (\"wide\")")
    checks.require_number("local_share", local_share,
                          "the share of each generation's proposals taken by local-search "
                          "steps from the best (\"wide\")", minimum=0, maximum=1)
    checks.require_int("model_epochs", model_epochs, 1,
                       "epochs the NAO model trains per generation")
    checks.require_choice("targets", targets, TARGET_MODES,
                          "what the predictor learns from the evaluated candidates")
    from keras_prune_nas.nao.gradients import require_supported_backend
    from keras_prune_nas.nao.model import model_option_defaults
    from keras_prune_nas.nao.model import validate_model_parameters

    defaults = model_option_defaults()
    unknown = set(model_options) - set(defaults)
    if unknown:
        raise ValueError(
            f"`model_options` has unknown keys {sorted(unknown)}; NAOModel "
            f"takes {sorted(defaults)}."
        )
    validate_model_parameters(**{**defaults, **model_options})
    require_supported_backend()

    def propose(evaluated, targets_, count):
        return propose_architectures(
            space(), evaluated, targets_, count, top_k=top_k, proposals=proposals,
            max_step_size=max_step_size, model_epochs=model_epochs,
            model_options=model_options, seed=seed or 0, neighbour_seeds=neighbour_seeds,
            local_share=local_share,
        )

    return NAOPolicy(
        max_trials, cull_fraction=cull_fraction, min_survivors=min_survivors,
        generation_size=generation_size, random_share=random_share, targets=targets,
        propose=propose, background=background,
        options={"top_k": top_k, "proposals": proposals, "max_step_size": max_step_size,
                 "neighbour_seeds": neighbour_seeds, "local_share": local_share},
    )


def distinct_sampler(space, seed, population, max_collisions=100):
    """`sample(candidate_id)` for a `RoundEngine`: `sample_values` draws that
    skip the values `population` (a `Population`) already holds; None once
    `max_collisions` draws in a row were all repeats (the space is spent)."""
    state = {"seed": seed or 0}

    def sample(candidate_id):
        for _ in range(max_collisions):
            values, state["seed"] = sample_values(space, state["seed"])
            if not population.has_values(values):
                return values
        return None

    return sample


def sample_values(space, seed):
    """Random values of `space`, drawn as keras_tuner's RandomSearch draws
    them (each active hyperparameter from its prior, the seed advancing by
    one per value). Returns `(values, next_seed)`."""
    drawn = hp_module.HyperParameters()
    for parameter in space.space:
        drawn.merge([parameter])
        if drawn.is_active(parameter):
            drawn.values[parameter.name] = parameter.random_sample(seed)
            seed += 1
    return dict(drawn.values), seed


class NAOOracle(PruneOracle):
    """Neural Architecture Optimization feeding the per-epoch cull.

    Args:
        objective, max_trials, hyperparameters, allow_new_entries,
        tune_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, cull_fraction, min_survivors,
        epochs_per_round, patience, rank_by, lease_timeout,
        complexity_penalty, clock: As for `PruneOracle`; `max_trials` is
            the number of candidates over all generations, `min_survivors`
            the candidates of each generation trained to the end (default:
            4; 10 for "paper").
        seed: Optional integer >= 1, the random seed: the same seed samples
            the same random candidates and seeds the NAO model alike. Unlike
            keras_tuner's oracles (whose sampler starts at the seed and
            advances by one per value, so seeds s and s + 1 sample nearly
            the same candidates), any two seeds sample independently.
        generation_size: Integer >= 2, the most candidates a generation
            holds: `max_trials` is split into `ceil(max_trials /
            generation_size)` generations of nearly equal size (150 into 15
            of 10, 30 into three of 10, 75 into eight of 9 or 10). Defaults
            to 10 (25 for "paper"): on NAS-Bench-201 a model retrained
            every 10 candidates found better cells in the same queries than
            one retrained every 25 (see the README).
        random_share: Float in [0, 1], the share of each later generation
            sampled at random. Defaults to 0 (on NAS-Bench-201, 0.2 was
            worse with generations of 10).
        top_k: Integer >= 1, how many of the best evaluated architectures
            the proposals start from (for "paper", the best sixth of the
            pool, at most this many). Defaults to 100.
        proposals: What a generation's proposals are. "wide" (the default):
            predictor-guided local search fed by the NAO model: a
            `local_share` of local-search steps from the best, then the
            architectures decoded from gradient steps (1, 2, 4, ...) from
            the top k together with every one-edit neighbour of the best
            15, ranked by the predictor (`generation_history` counts the
            proposals by origin). "gradient": the decoded gradient steps
            alone. "paper": the procedure of the NAO paper's reference
            code as the codec allows: decoded steps 1, 2, 3, ... from the
            best sixth of the pool, no random share, generations of 25 with
            10 finalists, the model trained 1,000 epochs per generation
            with a one-unit predictor and no weight decay (its symmetric
            augmentation swaps the two inputs of a cell's node, a symmetry a
            keras_tuner space does not declare, so it is left out).
        max_step_size: Float > 0, the largest gradient step tried.
            Defaults to 50.
        model_epochs: Integer >= 1, epochs the NAO model trains per
            generation. Defaults to 200 (1,000 for "paper").
        model_options: Optional dict of `NAOModel` arguments
            (`embedding_size`, `hidden_size`, `trade_off`, ...).
        targets: What the predictor learns: "rank" (every ended candidate
            ranked, a candidate culled after epoch e below every one that
            trained longer, ties by score; scaled to [0, 1]) or "score" (the
            reference code's: best scores min-max normalised, however long
            each trained). Defaults to "rank" (see the README's ablation).
        neighbour_seeds: Integer >= 1, for "wide": how many of the best
            evaluated architectures lend their one-edit neighbours to the
            ranked proposals. Defaults to 15.
        local_share: Float in [0, 1], for "wide": the share of a
            generation's proposals that are local-search steps: the
            unevaluated one-edit neighbours of the best architecture so far
            (the predictor's favourites first), then of the second best, and
            so on (`local_steps`). The predictor alone can keep passing over
            the one neighbour that beats the best; these steps explore the
            best's neighbourhood in the end, as local search does. The rest
            of the proposals are ranked by the predictor. Defaults to 0.5.
    """

    search_name = "NAOSearch"

    def __init__(
        self,
        objective=None,
        max_trials=30,
        seed=None,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        cull_fraction=0.15,
        min_survivors=None,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        generation_size=None,
        random_share=None,
        top_k=100,
        proposals="wide",
        max_step_size=50.0,
        model_epochs=None,
        model_options=None,
        targets="rank",
        neighbour_seeds=15,
        local_share=None,
        clock=time.monotonic,
    ):
        checks.require_int(
            "max_trials", max_trials, 1, "the number of candidate architectures sampled"
        )
        settings = resolve_proposal_settings(
            proposals, generation_size=generation_size, min_survivors=min_survivors,
            random_share=random_share, local_share=local_share, model_epochs=model_epochs,
            model_options=model_options,
        )
        policy = make_nao_policy(
            lambda: self.hyperparameters, max_trials, seed=seed,
            cull_fraction=cull_fraction, top_k=top_k, proposals=proposals,
            max_step_size=max_step_size, targets=targets,
            neighbour_seeds=neighbour_seeds, background=True, **settings,
        )
        super().__init__(
            objective=objective, max_trials=max_trials, seed=seed,
            hyperparameters=hyperparameters, allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            cull_fraction=cull_fraction, min_survivors=settings["min_survivors"],
            epochs_per_round=epochs_per_round, patience=patience, rank_by=rank_by,
            lease_timeout=lease_timeout, complexity_penalty=complexity_penalty,
            clock=clock, policy=policy,
        )
        self.generation_size = settings["generation_size"]
        self.random_share = settings["random_share"]
        self.local_share = settings["local_share"]
        self.model_epochs = settings["model_epochs"]
        self.model_options = settings["model_options"]
        self.top_k = top_k
        self.proposals = proposals
        self.max_step_size = max_step_size
        self.neighbour_seeds = neighbour_seeds
        # Seeds s and s + 1 sample independent first generations (see
        # `sampling_stream_start`); a resumed search restores its position.
        start_sampling_at(self, sampling_stream_start(self.seed))
        self.targets = targets

    # The policy's record, as the README and the benchmarks read it.
    @property
    def sizes(self):
        return self.policy.sizes

    @property
    def generations(self):
        return self.policy.generations

    @property
    def generation(self):
        return self.policy.generation

    @property
    def queued(self):
        return self.policy.queued

    @property
    def generation_of(self):
        return self.policy.generation_of

    @property
    def origin_of(self):
        return self.policy.origin_of

    @property
    def generation_history(self):
        return self.policy.generation_history

    def evaluated(self):
        """(trial ids, targets in [0, 1]) of every candidate that has ended
        (see `NAOPolicy.evaluated`)."""
        return self.policy.evaluated(self.engine)

    def candidate_table(self):
        """One dict per candidate, in the order they started: `trial_id`,
        `generation`, `origin` ("nao" or "random"), `status`, `epochs`
        trained and `score` (None before its first report)."""
        rows = self.policy.candidate_table(self.engine)
        for row in rows:
            row["status"] = self.trials[row["trial_id"]].status
        return rows


class NAOSearch(RoundSearch):
    """NAO-proposed generations, each evaluated by the per-epoch cull.

    A drop-in like `PruneSearch`: `NAOSearch(build_model,
    objective="val_accuracy", max_trials=30)`; `max_trials` counts the
    candidates over all generations.

    Args:
        hypermodel, objective, max_trials, seed, hyperparameters,
        tune_new_entries, allow_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, cull_fraction, min_survivors,
        epochs_per_round, patience, rank_by, lease_timeout,
        complexity_penalty: As for `PruneSearch`.
        generation_size, random_share, top_k, proposals, max_step_size,
        model_epochs, model_options, targets, neighbour_seeds, local_share:
            As for `NAOOracle`.
        **kwargs: As for `RoundSearch` (`batch_size_schedule`,
            `max_live_models`, `directory`, `project_name`, ...).

    Example:

    ```python
    from keras_prune_nas.nao import NAOSearch

    tuner = NAOSearch(build_model, objective="val_accuracy", max_trials=30)
    tuner.search(x, y, epochs=10, validation_data=(x_val, y_val))
    best_model = tuner.get_best_models(1)[0]
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
        max_trials=30,
        seed=None,
        hyperparameters=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
        cull_fraction=0.15,
        min_survivors=None,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        generation_size=None,
        random_share=None,
        top_k=100,
        proposals="wide",
        max_step_size=50.0,
        model_epochs=None,
        model_options=None,
        targets="rank",
        neighbour_seeds=15,
        local_share=None,
        **kwargs,
    ):
        oracle = NAOOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            hyperparameters=hyperparameters, tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            cull_fraction=cull_fraction, min_survivors=min_survivors,
            epochs_per_round=epochs_per_round, patience=patience, rank_by=rank_by,
            lease_timeout=lease_timeout, complexity_penalty=complexity_penalty,
            generation_size=generation_size, random_share=random_share, top_k=top_k,
            proposals=proposals, max_step_size=max_step_size,
            model_epochs=model_epochs, model_options=model_options, targets=targets,
            neighbour_seeds=neighbour_seeds, local_share=local_share,
        )
        self.seed = seed
        super().__init__(oracle, hypermodel, **kwargs)
