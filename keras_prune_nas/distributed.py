"""Both sides of a distributed search (keras_tuner's chief/worker mode).

The chief: keras_tuner's own `oracle_chief.start_server` checks every 20 s
whether it may exit and never forgets a worker that died, so a search with a
dead worker would never end. `serve_oracle` serves the same gRPC service with
the same servicer, and lets the oracle expire the leases of silent workers.

A worker: `Heartbeat` renews its lease every few seconds while it trains, so
that the chief can tell a dead worker from one in a long epoch.
"""

import contextlib
import os
import threading
import time
from concurrent import futures

# Seconds a worker waits at the round barrier before asking again.
IDLE_POLL_SECONDS = 0.05
# Seconds between the chief's checks for expired leases and the end.
CHIEF_POLL_SECONDS = 0.2


class WorkersGone(RuntimeError):
    """Every worker exited before the search was over."""


def serve_oracle(oracle, workers=None):
    """Answers the workers' requests until the search is over.

    Args:
        oracle: The `PruneOracle` of the chief.
        workers: The chief's `LocalWorkers`, or None. Workers that left over
            their memory budget are replaced (`tend`); if every worker has
            exited before the search is over, `WorkersGone` ends the wait.
    """
    # Imported here, as keras_tuner does, so that a search that is not
    # distributed never loads gRPC and protobuf.
    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = (
        f"{os.environ['KERASTUNER_ORACLE_IP']}:"
        f"{os.environ['KERASTUNER_ORACLE_PORT']}"
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(
            f"The chief cannot listen on {address}. Set KERASTUNER_ORACLE_IP "
            "and KERASTUNER_ORACLE_PORT to an address of this machine and a "
            "free port."
        )
    server.start()
    try:
        while True:
            time.sleep(CHIEF_POLL_SECONDS)
            oracle.expire_leases()
            if servicer.stop_triggered and oracle_chief.exit_chief(oracle):
                break
            if workers is not None:
                workers.tend(oracle)
            if workers is not None and workers.all_exited():
                raise WorkersGone(
                    "Every worker exited before the search was over. What was "
                    "trained is saved: run the search again to resume."
                )
    finally:
        server.stop(grace=1)
        oracle.close_progress()
        oracle.persist()


def heartbeat_interval(lease_timeout):
    """Seconds between two heartbeats: several per lease, at most 5 s apart."""
    return min(5.0, lease_timeout / 4.0)


class Heartbeat:
    """Renews a worker's lease from a background thread while it trains.

    Each beat asks the chief for the worker's trial again
    (`oracle.create_trial(tuner_id)`, keras_tuner's own RPC): for a worker
    that holds a trial the chief answers with that trial and records that
    the worker is alive; nothing else changes.

    Args:
        oracle: The worker's oracle (keras_tuner's `OracleClient`).
        tuner_id: The worker's id.
        interval: Seconds between beats.
        on_contact: Called with no argument after every answered beat.

    Example:

    ```python
    with Heartbeat(tuner.oracle, tuner.tuner_id, 5.0, lease.touch):
        train_one_unit()
    ```
    """

    def __init__(self, oracle, tuner_id, interval, on_contact=None):
        self.oracle = oracle
        self.tuner_id = tuner_id
        self.interval = interval
        self.on_contact = on_contact
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.tuner_id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        # Not for ever: keras_tuner's client waits for an unreachable chief
        # without a deadline, and a beat may be stuck in it.
        self._thread.join(timeout=self.interval)
        return False

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.oracle.create_trial(self.tuner_id)
            except Exception:
                # The chief is unreachable; the worker notices by the silence
                # (its lease is lost after `lease_timeout`).
                continue
            if self.on_contact is not None:
                self.on_contact()


class WorkerLease:
    """A worker's own view of its lease (the chief keeps the real one).

    Renewed by every answer from the chief and by each heartbeat; once it is
    silent longer than the timeout, the chief has given the worker's
    candidate to another worker, so the worker gives it up too.

    Args:
        worker: The worker's tuner id.
        timeout: The chief's `lease_timeout` (None: never lost).
        remote: Whether there is a chief at all (a worker process).
    """

    def __init__(self, worker, timeout, remote):
        from keras_prune_nas.leases import LeaseTable

        self.worker = worker
        self.timeout = timeout
        self.remote = remote
        self.table = LeaseTable(timeout)
        self.table.touch(worker)

    def touch(self):
        self.table.touch(self.worker)

    def lost(self):
        """True if this worker has been silent so long the chief gave up."""
        return (
            self.remote
            and self.timeout is not None
            and self.table.silent_for(self.worker) > self.timeout
        )


def heartbeat_while_training(oracle, lease):
    """A `Heartbeat` for a worker whose lease can expire, else nothing."""
    if not lease.remote or lease.timeout is None:
        return contextlib.nullcontext()
    return Heartbeat(
        oracle, lease.worker, heartbeat_interval(lease.timeout), on_contact=lease.touch
    )
