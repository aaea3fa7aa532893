"""What one `fit` call costs on each Keras backend, for a search's small models.

A search that trains round by round calls `fit` once per candidate and
round, so two costs set its floor: the first `fit` of a new architecture
(building, compiling, tracing) and a one-epoch `fit` call of a model already
trained. For a 3-layer MLP on digits (batch 32, validation data; on
TensorFlow the input pipeline PruneSearch builds once per search) this
prints, per backend, the first `fit`, a one-epoch `fit` call, and an epoch
inside one long `fit` (their difference is the cost of a call). Each
backend runs in a fresh process.

    python benchmarks/fit_cost.py                        # tensorflow,jax,torch
    python benchmarks/fit_cost.py --backend jax --repeats 3
"""

import argparse
import os
import subprocess
import sys
import time


def measure(backend, repeats):
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from keras_prune_nas import datasets
    from keras_prune_nas import pipeline

    splits = datasets.load("digits", seed=0)

    def build():
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    inputs = dict(x=splits.x_train, y=splits.y_train, batch_size=32,
                  validation_data=(splits.x_val, splits.y_val))
    if backend == "tensorflow":
        _, inputs = pipeline.cache_fit_inputs((), inputs)
    epochs = 20
    for _ in range(repeats):
        model = build()
        started = time.perf_counter()
        model.fit(epochs=1, verbose=0, **inputs)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for epoch in range(1, epochs):
            model.fit(epochs=epoch + 1, initial_epoch=epoch, verbose=0, **inputs)
        per_call = (time.perf_counter() - started) / (epochs - 1)
        model = build()
        model.fit(epochs=1, verbose=0, **inputs)
        started = time.perf_counter()
        model.fit(epochs=epochs, initial_epoch=1, verbose=0, **inputs)
        per_epoch = (time.perf_counter() - started) / (epochs - 1)
        print(f"{backend}: first fit {first:.2f} s, one-epoch fit call "
              f"{per_call * 1000:.1f} ms, epoch inside a long fit {per_epoch * 1000:.1f} ms",
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow,jax,torch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        measure(args.backend, args.repeats)
        return 0
    for backend in [b for b in args.backend.split(",") if b]:
        result = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", "--backend", backend,
             "--repeats", str(args.repeats)],
            capture_output=True, text=True,
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith(backend)]
        if result.returncode != 0 or not lines:
            print(f"{backend}: could not run ({result.stderr.strip().splitlines()[-1:]})")
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
