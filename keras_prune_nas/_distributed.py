"""The chief's side of a distributed search (keras_tuner's chief/worker mode).

keras_tuner's own `oracle_chief.start_server` checks every 20 s whether it
may exit and never forgets a worker that died, so a search with a dead worker
would never end. This serves the same gRPC service with the same servicer,
and lets the oracle expire the leases of silent workers.
"""

import os
import time
from concurrent import futures

# Seconds a worker waits at the round barrier before asking again.
IDLE_POLL_SECONDS = 0.2
# Seconds between the chief's checks for expired leases and the end.
CHIEF_POLL_SECONDS = 0.2


def serve_oracle(oracle):
    """Answers the workers' requests until the search is over.

    Args:
        oracle: The `PruneOracle` of the chief.
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
    finally:
        server.stop(grace=1)
        oracle.save()
