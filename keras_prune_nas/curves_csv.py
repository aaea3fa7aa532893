"""Every candidate's per-epoch metrics, as rows and as a CSV file.

One row per candidate and epoch: `trial_id`, `status`, `epoch` (0-based, as
Keras numbers them) and one column per logged metric. `analysis.load_curves`
reads the file back.
"""

import csv
import io

from keras_prune_nas import files

KEY_COLUMNS = ("trial_id", "status", "epoch")


def curve_rows(oracle):
    """The rows of every trial of `oracle`, in the order they started."""
    rows = []
    for trial_id in oracle.start_order:
        trial = oracle.get_trial(trial_id)
        by_epoch = {}
        for name, history in trial.metrics.metrics.items():
            for obs in history.get_history():
                by_epoch.setdefault(obs.step, {})[name] = float(obs.mean())
        for epoch in sorted(by_epoch):
            row = {"trial_id": trial_id, "status": trial.status, "epoch": epoch}
            row.update(by_epoch[epoch])
            rows.append(row)
    return rows


def write_rows(rows, path):
    """Writes `rows` to the CSV file `path`, atomically; returns `path`."""
    metric_names = sorted({key for row in rows for key in row} - set(KEY_COLUMNS))
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=list(KEY_COLUMNS) + metric_names)
    writer.writeheader()
    writer.writerows(rows)
    files.atomic_write_text(path, stream.getvalue())
    return path
