"""The memory of a search's worker processes, and their budget.

Every backend keeps something for every model a process has built, after the
model itself is gone: measured on digits' dense candidates, about 7 MiB per
model on TensorFlow (its function library and graphs; neither
`keras.backend.clear_session()`, dropping the model's traced functions nor
`malloc_trim` gives it back) and about 14 MiB on JAX, of which
`jax.clear_caches()` (its compiled executables) gives back all but 2 MiB.
So a process that builds a thousand candidates grows by gigabytes whatever
it frees (keras_tuner issues #873, #395, #1031).

Local workers are therefore replaced once they pass a memory budget
(`LocalWorkers(memory_budget_mib=...)`, `keras-prune-nas search --workers N
--memory-budget MIB`): after a unit, a worker over its budget first frees
what its backend can give back, and if it is still over, it leaves the
search and the chief starts a fresh worker in its place. Every candidate
continues from its checkpoint, so no epoch is trained twice; the search
decides exactly as an unbounded one.
"""

import os
import resource
import sys
from typing import Optional

BUDGET_VARIABLE = "KERAS_PRUNE_NAS_MEMORY_BUDGET_MIB"
# Per worker: TensorFlow's own footprint with the data is about 0.7-1 GiB,
# so a worker builds roughly 150 dense candidates before it is replaced.
DEFAULT_BUDGET_MIB = 2048


def resident_mib() -> float:
    """This process's resident memory (RSS) in MiB; its peak where the
    current value cannot be read (not Linux)."""
    try:
        with open("/proc/self/statm") as stream:
            pages = int(stream.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Kilobytes on Linux, bytes on macOS.
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def release_backend_caches() -> None:
    """Frees what the backend keeps for models already released: JAX's
    compiled executables (the models still in use compile again on their
    next step). TensorFlow and PyTorch have nothing that helps here."""
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()


def compilation_cache_environment(directory: str, backend: Optional[str] = None) -> dict:
    """The environment that gives JAX processes a shared on-disk cache of
    compiled executables in `directory`; empty on other backends (`backend`,
    default: Keras' current one).

    On JAX, a model compiles its steps whenever it is built, and again after
    `jax.clear_caches()`: so a worker freeing its caches, a fresh worker
    replacing one, and every rebuild from a checkpoint would compile the
    same candidates again (about 2.5 s per digits candidate on one core).
    With the cache, those compile once per search and load in a fraction of
    that. Every executable is cached, however fast it compiled: the default
    threshold (1 s) would leave out the many small ones a model needs.
    """
    if backend is None:
        keras = sys.modules.get("keras")
        backend = (keras.backend.backend() if keras is not None
                   else os.environ.get("KERAS_BACKEND"))
    if backend != "jax":
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": directory,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def worker_budget_mib() -> Optional[float]:
    """The memory budget this process was given as a local worker, or None."""
    value = os.environ.get(BUDGET_VARIABLE)
    return float(value) if value else None


def over_budget(budget_mib: Optional[float]) -> bool:
    """Whether this process is over `budget_mib` even after freeing the
    backend's caches (False without a budget)."""
    if budget_mib is None or resident_mib() < budget_mib:
        return False
    release_backend_caches()
    return resident_mib() >= budget_mib
