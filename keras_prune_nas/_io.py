"""Atomic file writes: a reader never sees half a file."""

import json
import os
import tempfile


def atomic_write_bytes(path, data):
    """Writes `data` to `path` through a temporary file and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=".tmp-", suffix=os.path.basename(path)
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj))


def atomic_save_weights(model, path):
    """`model.save_weights(path)` without ever leaving a partial file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Keras insists on the `.weights.h5` suffix.
    temporary = os.path.join(
        directory, f".tmp-{os.getpid()}-{os.path.basename(path)}"
    )
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
