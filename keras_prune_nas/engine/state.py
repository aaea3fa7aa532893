"""The engine's state: one plain dict, written in one place, in one order.

Everything a resumed search needs: the parameters it must keep, the plan's
budget, the phase and round, every candidate's record, the failure count,
the expired leases, and the policy's own state under the policy's key. Who
holds which unit is not saved: after a restart every unfinished unit is
handed out again, from its last checkpoint. JSON-ready (plain values only).
"""

from keras_prune_nas.engine.messages import FINISHED


def parameters(engine) -> dict:
    """Parameters a run must keep until it is finished."""
    return {
        "epochs_per_round": engine.plan.epochs_per_round,
        "rank_by": engine.population.rank_by,
        "complexity_penalty": engine.population.complexity_penalty,
        **engine.policy.parameters(),
    }


def engine_state(engine) -> dict:
    return {
        "parameters": parameters(engine),
        "epochs": engine.plan.epochs,
        "rounds": engine.plan.rounds,
        "phase": engine.phase,
        "round": engine.round,
        "space_exhausted": engine.space_exhausted,
        "population": engine.population.state(),
        "failures": engine.failures.state(),
        "expired_leases": list(engine.expired_leases),
        "policy": {engine.policy.key: engine.policy.state()},
    }


def changed_parameters(saved: dict, current: dict) -> list:
    """`name=saved (now current)` for every parameter that differs."""
    return [
        f"{name}={value!r} (now {current.get(name)!r})"
        for name, value in saved.items()
        if value != current.get(name)
    ]


def check_epochs_unchanged(engine, epochs: int) -> None:
    """Refuses a new epoch budget for an unfinished search that has begun."""
    if (
        engine.plan.epochs is not None and engine.plan.epochs != epochs
        and len(engine.population) and engine.phase != FINISHED
    ):
        raise ValueError(
            f"This project's search was started with epochs={engine.epochs} "
            f"and is not finished; resuming it with epochs={epochs} would "
            f"change its plan. Pass epochs={engine.epochs} to resume it, or "
            "overwrite=True (or another project_name) to start afresh."
        )


def restore_engine(engine, state: dict) -> None:
    """Restores `engine_state`; refuses an unfinished run with other parameters
    or the state of another policy."""
    if engine.policy.key not in state["policy"]:
        raise RuntimeError(
            f"The project directory holds the state of another strategy "
            f"({', '.join(state['policy'])}), not of {engine.name}. Use another "
            "`project_name` or `directory`, or pass `overwrite=True`."
        )
    changed = changed_parameters(state["parameters"], parameters(engine))
    if changed and state["phase"] != FINISHED:
        raise ValueError(
            f"This project directory holds an unfinished {engine.name} run "
            f"with other parameters: {', '.join(changed)}. Pass the same "
            "values to resume it, or overwrite=True (or another "
            "project_name) to start afresh."
        )
    engine.plan.epochs = state["epochs"]
    engine.plan.rounds = state["rounds"]
    engine.phase = state["phase"]
    engine.round = state["round"]
    engine.space_exhausted = state["space_exhausted"]
    engine.population.restore(state["population"])
    engine.failures.restore(state["failures"])
    engine.expired_leases = list(state["expired_leases"])
    engine.holders = {}
    engine.policy.restore(state["policy"][engine.policy.key])
