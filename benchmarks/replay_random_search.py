"""Would PruneSearch's cull have kept RandomSearch's winner?

Runs `keras_tuner.RandomSearch` on one `compare` dataset and seed (the same
candidates, split and settings as `keras-prune-nas compare`), records every
candidate's validation accuracy after every epoch, and replays the cull on
those curves (`analysis.replay`, the oracle's own functions) for a few cull
fractions. Regret 0 means the cull, given RandomSearch's own curves, picks
RandomSearch's winner; a gap between `compare`'s PruneSearch and RandomSearch
results that the replay does not show comes from training the same
candidates again (noise), not from the cull's decisions.

    python benchmarks/replay_random_search.py --dataset mnist1d-conv --seed 0
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_prune_nas import analysis  # noqa: E402
from keras_prune_nas import compare  # noqa: E402


def random_search_curves(dataset, seed, settings):
    import keras
    import keras_tuner as kt

    import keras_prune_nas as kpn

    splits = compare.load_splits(dataset, seed)
    _, architecture, _ = compare.DATASETS[dataset]
    curves = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            curves.append([])

        def on_epoch_end(self, epoch, logs=None):
            curves[-1].append(logs["val_accuracy"])

    keras.utils.set_random_seed(seed)
    tuner = kt.RandomSearch(
        kpn.NASHyperModel(splits.input_shape, splits.num_classes, architecture=architecture),
        objective="val_accuracy", max_trials=settings.trials, seed=seed,
        directory=tempfile.mkdtemp(), project_name="random", overwrite=True,
    )
    tuner.search(splits.x_train, splits.y_train, epochs=settings.epochs,
                 batch_size=settings.batch_size,
                 validation_data=(splits.x_val, splits.y_val), verbose=0,
                 callbacks=[compare.shared_callback(Record())])
    return np.array(curves)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d-conv", choices=list(compare.DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = compare.Settings()
    curves = random_search_curves(args.dataset, args.seed, settings)
    best = curves.max(axis=1)
    print(f"{args.dataset} seed {args.seed}: {len(curves)} candidates x {curves.shape[1]} epochs")
    print(f"RandomSearch's winner: candidate {int(best.argmax())}, best val_accuracy {best.max():.4f}")
    correlation = analysis.rank_correlation(curves)
    print("Spearman with the final ranking per epoch:", np.round(correlation.spearman, 2).tolist())
    for fraction in (0.05, 0.15, 0.3):
        result = analysis.replay(
            curves, "prune", cull_fraction=fraction,
            min_survivors=settings.min_survivors, patience=settings.patience,
        )
        # Culled, or a finalist stopped early, yet within 3 points of the winner.
        stopped_near_best = [
            row for row in range(len(curves))
            if row != result.chosen and result.trained[row] < curves.shape[1]
            and best[row] >= best.max() - 0.03
        ]
        print(
            f"cull {fraction}: picks candidate {result.chosen} ({result.value:.4f}), "
            f"regret {100 * result.regret:.2f} points, {result.share:.0%} of the epochs; "
            "stopped before the last epoch (culled or early-stopped) though within "
            f"3 points of the winner: {[f'{row} after {result.trained[row]}' for row in stopped_near_best]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
