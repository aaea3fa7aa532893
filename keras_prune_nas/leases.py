"""Leases: how the chief tells a dead worker from a busy one.

A worker holds a lease on its candidate while it is heard from. Workers are
heard from at every request, and while they train by a heartbeat every few
seconds (`keras_prune_nas.distributed.Heartbeat`), so a lease outlives any
epoch however long, and a worker that died loses its candidate about
`timeout` seconds after its last heartbeat.

Which candidate a worker holds is keras_tuner's `Oracle.ongoing_trials`
(one source of truth, also read by keras_tuner's chief); this table only
keeps the clock.
"""

import time


class LeaseTable:
    """When each worker was last heard from, and who has been silent too long.

    Args:
        timeout: Seconds of silence after which a worker is taken for dead,
            or None to wait for ever.
        clock: A function returning seconds (monotonic); injectable so that
            tests need not sleep.

    Example:

    ```python
    leases = LeaseTable(timeout=60)
    leases.touch("worker0")
    leases.expire(["worker0"])  # [] until worker0 is silent for 60 s
    ```
    """

    def __init__(self, timeout, clock=time.monotonic):
        self.timeout = timeout
        self.clock = clock
        self._last_seen = {}

    def touch(self, worker):
        """Records that `worker` was heard from now."""
        self._last_seen[worker] = self.clock()

    def forget(self, worker):
        self._last_seen.pop(worker, None)

    def silent_for(self, worker):
        """Seconds since `worker` was last heard from (0 if never)."""
        last_seen = self._last_seen.get(worker)
        return 0.0 if last_seen is None else self.clock() - last_seen

    def expire(self, workers):
        """The workers among `workers` silent longer than the timeout.

        They are forgotten: one heard from again starts a new lease. A worker
        never heard from starts its clock now (after a restart of the chief,
        every worker gets a full timeout).

        Returns:
            {worker: seconds it was silent}, in the order of the workers' ids.
        """
        if self.timeout is None:
            return {}
        for worker in workers:
            if worker not in self._last_seen:
                self.touch(worker)
        silence = {worker: self.silent_for(worker) for worker in sorted(workers)}
        expired = {
            worker: seconds for worker, seconds in silence.items()
            if seconds > self.timeout
        }
        for worker in expired:
            self.forget(worker)
        return expired
