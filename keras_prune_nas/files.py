"""Atomic file writes: a reader never sees half a file.

Every file the library writes (oracle state, trial files, checkpoints,
curves) goes through here: written to a temporary beside it, then renamed.
A killed process leaves at most a temporary, never half a file. No `fsync`:
safe against a killed process, not against a power loss.
"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renamed to `path` on success.

    Temporaries start with ".tmp-" (`remove_temporaries` knows them by it).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(
        directory, f".tmp-{os.getpid()}-{id(path)}-{os.path.basename(path)}"
    )
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_bytes(path, data):
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj))


def remove_temporaries(directory, recursive=False):
    """Removes what writes killed half-way left in `directory` (and in every
    directory under it, if `recursive`)."""
    if recursive:
        for subdirectory, _, _ in os.walk(directory):
            remove_temporaries(subdirectory)
        return
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.startswith(".tmp-"):
            try:
                os.remove(os.path.join(directory, name))
            except FileNotFoundError:
                pass
