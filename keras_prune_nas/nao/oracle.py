"""NAOOracle and NAOSearch: generations proposed by NAO, each culled.

Generation 0 is random. Every later generation is proposed from everything
evaluated so far: a `NAOModel` is trained on the evaluated architectures and
their rank targets, and proposes new architectures by gradient steps from
the best ones; a share of each generation stays random (exploration). Each
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
from keras_prune_nas.tuner import RoundSearch

PROPOSAL_MODES = ("gradient", "wide")
# How many of the best architectures lend their neighbours in "wide" mode.
NEIGHBOUR_SEEDS = 15


def propose_architectures(
    hyperparameters, evaluated, targets, count, top_k=100, proposals="wide",
    max_step_size=50.0, model_epochs=200, model_options=None, seed=0,
):
    """New architectures, proposed by an NAO model trained on evaluated ones.

    Args:
        hyperparameters: The search space.
        evaluated: Hyperparameter values of the evaluated architectures.
        targets: Their targets in [0, 1] (higher is better).
        count: How many new architectures to return (fewer if fewer are
            found).
        top_k, proposals, max_step_size, model_epochs, model_options: As
            for `NAOOracle`.
        seed: Seed of the model's weights and of its training order.

    Returns:
        A list of hyperparameter values, none of them among `evaluated`,
        best first for "wide" (by the predictor), in the order found for
        "gradient" (smallest step first).
    """
    from keras_prune_nas.nao.codec import SearchSpaceCodec
    from keras_prune_nas.nao.model import NAOModel

    codec = SearchSpaceCodec(hyperparameters)
    tokens = np.array([codec.encode(values) for values in evaluated])
    targets = np.asarray(targets, dtype=float)
    model = NAOModel(codec, seed=seed, **(model_options or {}))
    model.fit(tokens, targets, epochs=model_epochs, seed=seed)
    best = tokens[np.argsort(-targets, kind="stable")[:top_k]]
    seen = {tuple(row) for row in tokens}
    found = []
    step = 1.0
    # The paper's decoding: steps of growing size until enough are new.
    while len(found) < count and step <= max_step_size:
        for proposal in model.propose(best, step):
            if tuple(proposal) not in seen:
                seen.add(tuple(proposal))
                found.append(proposal)
        step *= 2
    if proposals == "wide":
        # Widened: the one-edit neighbours of the best join the decoded
        # architectures, and the predictor ranks them all.
        for row in best[:NEIGHBOUR_SEEDS]:
            for neighbour in codec.neighbours([int(token) for token in row]):
                if tuple(neighbour) not in seen:
                    seen.add(tuple(neighbour))
                    found.append(neighbour)
        if found:
            scores = model.predict(np.array(found))
            found = [found[i] for i in np.argsort(-scores, kind="stable")]
    return [codec.decode(row) for row in found[:count]]


def make_nao_policy(
    space, max_trials, seed=None, cull_fraction=0.15, min_survivors=10,
    generation_size=25, random_share=0.2, top_k=100, proposals="wide",
    max_step_size=50.0, model_epochs=200, model_options=None, targets="rank",
    background=False,
):
    """An `NAOPolicy` whose proposals come from an NAO model over `space`.

    The one place NAO's arguments are checked and bound: `NAOOracle` uses it,
    and so does a search driven through the engine alone (the benchmarks).

    Args:
        space: `space() -> keras_tuner.HyperParameters`, the search space
            (a function: a tuner's space can grow while it searches).
        max_trials, seed, cull_fraction, min_survivors, generation_size,
        random_share, top_k, proposals, max_step_size, model_epochs,
        model_options, targets: As for `NAOOracle`.
        background: Train the NAO model in a thread, so that an oracle
            answers its workers meanwhile (see `NAOPolicy`).
    """
    checks.require_int("generation_size", generation_size, 2,
                       "the most candidates one generation holds")
    checks.require_number("random_share", random_share,
                          "the share of each later generation sampled at random",
                          minimum=0, maximum=1)
    checks.require_int("top_k", top_k, 1, "the best architectures proposals start from")
    checks.require_choice("proposals", proposals, PROPOSAL_MODES,
                          "decoded gradient steps only, or also ranked neighbours")
    checks.require_number("max_step_size", max_step_size, "the largest gradient step",
                          minimum=0, exclusive=True)
    checks.require_int("model_epochs", model_epochs, 1,
                       "epochs the NAO model trains per generation")
    checks.require_choice("targets", targets, TARGET_MODES,
                          "what the predictor learns from the evaluated candidates")
    from keras_prune_nas.nao.model import model_option_defaults
    from keras_prune_nas.nao.model import require_tensorflow_backend
    from keras_prune_nas.nao.model import validate_model_parameters

    model_options = dict(model_options or {})
    defaults = model_option_defaults()
    unknown = set(model_options) - set(defaults)
    if unknown:
        raise ValueError(
            f"`model_options` has unknown keys {sorted(unknown)}; NAOModel "
            f"takes {sorted(defaults)}."
        )
    validate_model_parameters(**{**defaults, **model_options})
    require_tensorflow_backend()

    def propose(evaluated, targets_, count):
        return propose_architectures(
            space(), evaluated, targets_, count, top_k=top_k, proposals=proposals,
            max_step_size=max_step_size, model_epochs=model_epochs,
            model_options=model_options, seed=seed or 0,
        )

    return NAOPolicy(
        max_trials, cull_fraction=cull_fraction, min_survivors=min_survivors,
        generation_size=generation_size, random_share=random_share, targets=targets,
        propose=propose, background=background,
        options={"top_k": top_k, "proposals": proposals, "max_step_size": max_step_size},
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
        objective, max_trials, seed, hyperparameters, allow_new_entries,
        tune_new_entries, max_retries_per_trial,
        max_consecutive_failed_trials, cull_fraction, min_survivors,
        epochs_per_round, patience, rank_by, lease_timeout,
        complexity_penalty, clock: As for `PruneOracle`; `max_trials` is
            the number of candidates over all generations.
        generation_size: Integer >= 2, the most candidates a generation
            holds: `max_trials` is split into `ceil(max_trials /
            generation_size)` generations of nearly equal size (150 into six
            of 25, 30 into two of 15). Defaults to 25, the size measured on
            NAS-Bench-201.
        random_share: Float in [0, 1], the share of each later generation
            sampled at random. Defaults to 0.2.
        top_k: Integer >= 1, how many of the best evaluated architectures
            the proposals start from. Defaults to 100.
        proposals: "gradient" (the paper's: decode gradient steps of growing
            size from the top k) or "wide" (those decoded architectures
            plus every one-edit neighbour of the top k, all ranked by the
            predictor). Defaults to "wide".
        max_step_size: Float > 0, the largest gradient step tried.
            Defaults to 50.
        model_epochs: Integer >= 1, epochs the NAO model trains per
            generation. Defaults to 200.
        model_options: Optional dict of `NAOModel` arguments
            (`embedding_size`, `hidden_size`, `trade_off`, ...).
        targets: What the predictor learns: "rank" (every ended candidate
            ranked, a candidate culled after epoch e below every one that
            trained longer, ties by score; scaled to [0, 1]) or "score" (the
            reference code's: best scores min-max normalised, however long
            each trained). Defaults to "rank" (see the README's ablation).
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
        min_survivors=10,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        generation_size=25,
        random_share=0.2,
        top_k=100,
        proposals="wide",
        max_step_size=50.0,
        model_epochs=200,
        model_options=None,
        targets="rank",
        clock=time.monotonic,
    ):
        checks.require_int(
            "max_trials", max_trials, 1, "the number of candidate architectures sampled"
        )
        policy = make_nao_policy(
            lambda: self.hyperparameters, max_trials, seed=seed,
            cull_fraction=cull_fraction, min_survivors=min_survivors,
            generation_size=generation_size, random_share=random_share, top_k=top_k,
            proposals=proposals, max_step_size=max_step_size, model_epochs=model_epochs,
            model_options=model_options, targets=targets, background=True,
        )
        super().__init__(
            objective=objective, max_trials=max_trials, seed=seed,
            hyperparameters=hyperparameters, allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            cull_fraction=cull_fraction, min_survivors=min_survivors,
            epochs_per_round=epochs_per_round, patience=patience, rank_by=rank_by,
            lease_timeout=lease_timeout, complexity_penalty=complexity_penalty,
            clock=clock, policy=policy,
        )
        self.generation_size = generation_size
        self.random_share = random_share
        self.top_k = top_k
        self.proposals = proposals
        self.max_step_size = max_step_size
        self.model_epochs = model_epochs
        self.model_options = dict(model_options or {})
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
        model_epochs, model_options, targets: As for `NAOOracle`.
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
        min_survivors=10,
        epochs_per_round=1,
        patience=5,
        rank_by="best",
        lease_timeout=60,
        complexity_penalty=0.0,
        generation_size=25,
        random_share=0.2,
        top_k=100,
        proposals="wide",
        max_step_size=50.0,
        model_epochs=200,
        model_options=None,
        targets="rank",
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
        )
        self.seed = seed
        super().__init__(oracle, hypermodel, **kwargs)
