"""One search process for the crash-resume and distributed tests.

Run as a script: `python tests/search_process.py DIRECTORY EPOCH_LOG [options]`.
Under keras_tuner's chief/worker environment variables (KERASTUNER_TUNER_ID,
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT) it is the chief or a worker of
a distributed search; without them a single-process search. Every epoch any
process trains is appended to EPOCH_LOG as "tuner_id,trial_id,epoch", before
it is reported (and to EPOCH_LOG.begin when it starts), so a test can count the epochs really trained, including
those a killed process never reported.
"""

import argparse
import os
import time

import keras
from sklearn.datasets import load_digits

import keras_prune_nas as kpn
from keras_prune_nas.local_workers import LocalWorkers
from keras_prune_nas.nao import NAOSearch


def build_mlp(hp):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Int("units", 8, 64, sampling="log"), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 3e-2, sampling="log")),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class EpochLogging:
    """Logs every epoch trained; a worker may be made slow at one epoch."""

    def __init__(self, epoch_log, slow_epoch, *args, **kwargs):
        self.epoch_log = epoch_log
        self.slow_epoch = slow_epoch
        super().__init__(*args, **kwargs)

    def on_epoch_begin(self, trial, model, epoch, logs=None):
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "single")
        with open(f"{self.epoch_log}.begin", "a") as stream:
            stream.write(f"{tuner_id},{trial.trial_id},{epoch}\n")
        if self.slow_epoch is not None:
            slow_tuner, slow_epoch, seconds = self.slow_epoch.split(":")
            if tuner_id == slow_tuner and epoch == int(slow_epoch):
                time.sleep(float(seconds))

    def on_epoch_end(self, trial, model, epoch, logs=None):
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "single")
        with open(self.epoch_log, "a") as stream:
            stream.write(f"{tuner_id},{trial.trial_id},{epoch}\n")


class LoggedSearch(EpochLogging, kpn.PruneSearch):
    pass


class LoggedNAOSearch(EpochLogging, NAOSearch):
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("epoch_log")
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--min-survivors", type=int, default=4)
    parser.add_argument("--cull-fraction", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--epochs-per-round", type=int, default=1)
    parser.add_argument("--lease-timeout", type=float, default=60)
    parser.add_argument("--max-live-models", type=int, default=64)
    parser.add_argument(
        "--nao-generation-size", type=int, default=None,
        help="run an NAOSearch with generations of this size (default: a PruneSearch)",
    )
    parser.add_argument("--local-workers", type=int, default=1,
                        help="run on this many LocalWorkers (a chief and its workers)")
    parser.add_argument("--memory-budget", type=float, default=None,
                        help="the local workers' memory budget in MiB")
    parser.add_argument(
        "--slow-epoch", default=None,
        help="TUNER_ID:EPOCH:SECONDS: that worker sleeps so long at the start "
        "of every epoch numbered EPOCH (0-based)",
    )
    args = parser.parse_args()
    print(f"backend={keras.backend.backend()}", flush=True)

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    nao = {}
    if args.nao_generation_size:
        nao = dict(generation_size=args.nao_generation_size, model_epochs=30)
    with LocalWorkers(args.local_workers, memory_budget_mib=args.memory_budget):
        search(args, x, y, nao)


def search(args, x, y, nao):
    tuner = (LoggedNAOSearch if nao else LoggedSearch)(
        args.epoch_log,
        args.slow_epoch,
        build_mlp,
        **nao,
        objective="val_accuracy",
        max_trials=args.max_trials,
        seed=3,
        cull_fraction=args.cull_fraction,
        min_survivors=args.min_survivors,
        epochs_per_round=args.epochs_per_round,
        patience=None,
        lease_timeout=args.lease_timeout,
        max_live_models=args.max_live_models,
        directory=args.directory,
        project_name="search",
    )
    tuner.search(
        x[:600], y[:600], epochs=args.epochs,
        validation_data=(x[600:900], y[600:900]), verbose=0,
    )


if __name__ == "__main__":
    main()
