"""One search on several worker processes of this machine.

keras_tuner's chief/worker protocol (the one `README.md` describes for
several machines) with the processes started and stopped for you: the
process that runs the script becomes the chief (it holds the oracle and
trains nothing); `workers` copies of the same script, started with the same
arguments, are the workers. Each worker gets its share of the CPU cores
(pinned, with that many threads) and, where GPUs are visible, its own GPU
(round robin, so a GPU may hold several workers).

```python
from keras_prune_nas.local_workers import LocalWorkers

with LocalWorkers(2):          # in a script: `python search.py`
    tuner = kpn.PruneSearch(build_model, objective="val_accuracy", max_trials=50)
    tuner.search(x, y, epochs=20, validation_data=(x_val, y_val))
# the chief goes on here once the search is over; the workers have exited
```

The workers start when the chief's search starts (`RoundSearch.search`,
after the chief's tuner has set up the project directory). Inside a worker
the block runs as a plain worker of the search, and the worker exits at the
end of the block: the code after it runs in the chief only. No worker outlives the
chief: on a normal end the chief waits for them, on an error or
Ctrl-C it terminates them, and if the chief is killed the kernel kills them
(Linux's parent-death signal). If every worker exits before the search is
over, the chief's search stops with an error instead of waiting for ever.

A worker past its memory budget (`memory_budget_mib`) leaves the search after
the unit it trains and the chief starts a fresh one in its place
(`keras_prune_nas.memory`), so the memory of a search stays bounded however
many candidates it builds. On JAX the workers share a cache of compiled
executables (`memory.compilation_cache_environment`), so a fresh worker
loads what its predecessor compiled instead of compiling it again.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

from keras_prune_nas import checks
from keras_prune_nas import memory

# Set in a worker's environment: the block there is a worker, not a chief.
WORKER_MARK = "KERAS_PRUNE_NAS_LOCAL_WORKER"
ROLE_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
# The LocalWorkers block the chief is in: its search starts the workers.
_active = None
# A worker's exit code when it leaves over its memory budget: replace it.
RETIRED_EXIT_CODE = 75  # EX_TEMPFAIL
# Set in a worker that leaves over its memory budget.
_retiring = False
# Thread-count variables of the backends and their math libraries.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)


def core_shares(cores, workers):
    """Splits `cores` (a sorted list of core ids) into `workers` shares.

    With at least as many cores as workers, each worker gets its own
    contiguous share (the first shares one larger); with fewer, workers
    share cores round robin.
    """
    if len(cores) >= workers:
        base, extra = divmod(len(cores), workers)
        shares, start = [], 0
        for index in range(workers):
            size = base + (1 if index < extra else 0)
            shares.append(cores[start:start + size])
            start += size
        return shares
    return [[cores[index % len(cores)]] for index in range(workers)]


def visible_gpus(environ=None):
    """The GPU ids visible to this process, without importing a backend."""
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip() and gpu.strip() != "-1"]
    try:
        output = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, line in enumerate(output.splitlines()) if line.startswith("GPU")]


def worker_environment(base, index, port, cores, gpus, tuner_id=None, budget_mib=None,
                       compilation_cache=None):
    """The environment of worker `index` (its tuner id `tuner<index>` unless
    given), sharing JAX's `compilation_cache` directory if one is given
    (a cache the user configured is kept)."""
    environ = dict(base)
    if compilation_cache is not None:
        for name, value in memory.compilation_cache_environment(compilation_cache).items():
            environ.setdefault(name, value)
    environ.update(
        {WORKER_MARK: "1", "KERASTUNER_TUNER_ID": tuner_id or f"tuner{index}",
         "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    )
    environ.pop(memory.BUDGET_VARIABLE, None)
    if budget_mib is not None:
        environ[memory.BUDGET_VARIABLE] = str(budget_mib)
    threads = str(len(cores))
    for name in THREAD_VARIABLES:
        environ[name] = threads
    # JAX (XLA) on the CPU: one Eigen pool per worker, of its share.
    xla = environ.get("XLA_FLAGS", "")
    environ["XLA_FLAGS"] = (
        f"{xla} --xla_cpu_multi_thread_eigen={'true' if len(cores) > 1 else 'false'} "
        f"intra_op_parallelism_threads={threads}"
    ).strip()
    if gpus:
        environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    return environ


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_in_child(cores):
    """Runs in the worker between fork and exec: pin it, tie it to the chief."""

    def prepare():
        os.setpgrp()  # Ctrl-C reaches the chief only, which stops the workers
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cores)
        if sys.platform.startswith("linux"):
            import ctypes

            # PR_SET_PDEATHSIG: SIGKILL this worker when the chief dies.
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)

    return prepare


class LocalWorkers:
    """Runs the search inside the block on `workers` local processes.

    Args:
        workers: Integer >= 1, worker processes. 1 runs the block in this
            process as usual, with no chief.
        argv: The command a worker runs (the chief's own by default:
            `[sys.executable, *sys.argv]`). It must run the same search.
        log_directory: Where each worker's output goes (`tuner<i>.log`);
            None: the chief's own output.
        stop_timeout: Seconds a worker gets to exit after being told to
            (at the end of the search, or on an error) before it is killed.
        memory_budget_mib: A worker's resident memory (MiB) past which it is
            replaced by a fresh one after its current unit; None: never.
            Defaults to `memory.DEFAULT_BUDGET_MIB` (2048). Keep it well
            above what a fresh worker holds with one model (about 0.9 GiB on
            TensorFlow with digits): below that, every worker is replaced
            after every unit.
    """

    def __init__(self, workers, argv=None, log_directory=None, stop_timeout=30.0,
                 memory_budget_mib=memory.DEFAULT_BUDGET_MIB):
        checks.require_int("workers", workers, 1, "worker processes of this machine")
        checks.require_number("stop_timeout", stop_timeout,
                              "seconds a worker gets to exit", minimum=0)
        checks.require_number("memory_budget_mib", memory_budget_mib,
                              "a worker's memory in MiB before it is replaced",
                              minimum=0, exclusive=True, allow_none=True,
                              none_means="never replaced")
        self.workers = workers
        self.argv = list(argv) if argv is not None else [sys.executable, *sys.argv]
        self.log_directory = log_directory
        self.stop_timeout = stop_timeout
        self.memory_budget_mib = memory_budget_mib
        # The current process of each worker slot, its tuner id, its cores.
        self.processes = []
        self.tuner_ids = []
        self.shares = []
        self.gpus = []
        self.generations = [0] * workers
        # tuner ids of the workers replaced over their memory budget.
        self.replaced = []
        self._saved_environment = {}
        self._logs = []
        self._port = None
        self._compilation_cache = None

    @property
    def is_worker(self):
        return os.environ.get(WORKER_MARK) == "1"

    @property
    def is_chief(self):
        return self.workers > 1 and not self.is_worker

    def __enter__(self):
        global _active
        if not self.is_chief:
            return self
        program = self.argv[1] if len(self.argv) > 1 else ""
        if program in ("", "-c", "-") or "ipykernel" in program:
            raise ValueError(
                "LocalWorkers starts its workers by running this program again, "
                "and this one cannot be (a notebook, an interactive session or "
                "`python -c`): "
                "run the search from a script, or pass `argv`."
            )
        if _active is not None:
            raise RuntimeError("LocalWorkers blocks cannot be nested.")
        self._port = _free_port()
        self._saved_environment = {name: os.environ.get(name) for name in ROLE_VARIABLES}
        os.environ.update(
            KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1",
            KERASTUNER_ORACLE_PORT=str(self._port),
        )
        _active = self
        return self

    def start(self):
        """Starts the workers (the chief's search calls it); once only."""
        if self.processes:
            return
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
            range(os.cpu_count() or 1)
        )
        self.shares = core_shares(cores, self.workers)
        self.gpus = visible_gpus()
        self._compilation_cache = tempfile.mkdtemp(prefix="kpn-compilation-cache-")
        for index in range(self.workers):
            self.tuner_ids.append(f"tuner{index}")
            self.processes.append(self._start(index, self.tuner_ids[index]))

    def all_exited(self):
        """True once workers were started and every one has exited (none
        waits to be replaced)."""
        return bool(self.processes) and all(
            p.poll() is not None and p.returncode != RETIRED_EXIT_CODE for p in self.processes
        )

    def tend(self, oracle):
        """Replaces the workers that left over their memory budget: the
        oracle forgets the old one, a fresh process takes its slot (the
        chief calls this while it serves the search)."""
        for index, process in enumerate(self.processes):
            if process.poll() != RETIRED_EXIT_CODE:
                continue
            old = self.tuner_ids[index]
            oracle.worker_left(old)
            self.replaced.append(old)
            self.generations[index] += 1
            self.tuner_ids[index] = f"tuner{index}-{self.generations[index]}"
            self.processes[index] = self._start(index, self.tuner_ids[index])

    def _start(self, index, tuner_id):
        environ = worker_environment(os.environ, index, self._port, self.shares[index],
                                     self.gpus, tuner_id, self.memory_budget_mib,
                                     self._compilation_cache)
        cores = self.shares[index]
        output = None
        if self.log_directory is not None:
            os.makedirs(self.log_directory, exist_ok=True)
            output = open(os.path.join(self.log_directory, f"{tuner_id}.log"), "w")
            self._logs.append(output)
        return subprocess.Popen(
            self.argv, env=environ, stdout=output,
            stderr=subprocess.STDOUT if output else None,
            preexec_fn=_start_in_child(cores),
        )

    def __exit__(self, exc_type, exc, traceback):
        global _active
        if self.workers > 1 and self.is_worker and exc_type is None:
            _exit_worker()
        if not self.is_chief:
            return False
        _active = None
        try:
            if exc_type is None:
                self._wait()
            else:
                self._stop()
        finally:
            for log in self._logs:
                log.close()
            if self._compilation_cache is not None:
                shutil.rmtree(self._compilation_cache, ignore_errors=True)
            for name, value in self._saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return False

    def _wait(self):
        """After the search: the workers have been told to stop; wait, then
        kill any that hang; warn of a worker that failed on the way."""
        deadline = time.monotonic() + self.stop_timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self._stop()
        failed = [
            (index, process.returncode) for index, process in enumerate(self.processes)
            if process.returncode not in (0, RETIRED_EXIT_CODE, -signal.SIGTERM, -signal.SIGKILL)
        ]
        if failed:
            # Their candidates went to the others: the search is complete.
            warnings.warn(
                "The search is over, but local workers "
                + ", ".join(f"tuner{index} (exit code {code})" for index, code in failed)
                + " failed on the way"
                + (f"; their logs are in {self.log_directory}" if self.log_directory else "")
                + ".",
                RuntimeWarning,
            )

    def _stop(self):
        """Terminates every worker still running, then kills what is left."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + min(self.stop_timeout, 10.0)
        for process in self.processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def retire_if_over_budget():
    """In a local worker over its memory budget (after freeing what the
    backend gives back): True, and the worker exits with `RETIRED_EXIT_CODE`
    at the end of its block, for the chief to replace it."""
    global _retiring
    if memory.over_budget(memory.worker_budget_mib()):
        _retiring = True
    return _retiring


def _exit_worker():
    """Ends a local worker at the end of its block.

    The code after the block is the chief's (it reads the results), and
    everything a worker trains is on disk once its search returns. Skipping
    the interpreter's teardown also skips its slowest and least reliable
    part here: TensorFlow's and gRPC's threads, which took two seconds per
    worker and once held a worker for 30 s, until the chief killed it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(RETIRED_EXIT_CODE if _retiring else 0)


def start_active():
    """Starts the workers of the LocalWorkers block this chief is in, if any."""
    if _active is not None:
        _active.start()


def active():
    """The LocalWorkers block this chief is in (its search serves them), or None."""
    return _active
