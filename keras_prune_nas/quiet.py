"""A quiet start for the command line: TensorFlow's start-up lines filtered.

TensorFlow 2.19 and later write their C++ start-up messages (oneDNN, "Could
not find cuda drivers", CPU features, and absl's "All log messages before
absl::InitializeLog() ..." preamble, each printed twice) straight to
the process's standard error while it is imported, whatever
`TF_CPP_MIN_LOG_LEVEL` says (tensorflow/tensorflow#100442). The command line
therefore imports the backend with file descriptor 2 captured and writes back
every line except the log lines below the level: `TF_CPP_MIN_LOG_LEVEL` as the
user set it, else 3 (fatal errors only, as the command line always ran).
Anything else written meanwhile (a Python warning, a traceback) is written
back unchanged.
"""

import importlib
import logging
import os
import re
import sys
import tempfile

DEFAULT_LEVEL = "3"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# absl's format (TensorFlow >= 2.19), then TensorFlow's older one.
_LOG_LINE = re.compile(
    r"^(?:([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+\s+\S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: ([IWEF]) \S+:\d+\])"
)
_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"


def kept_lines(text, level):
    """The lines of captured start-up output that `level` lets through.

    A log line below `level` is dropped, with the lines that continue it
    (a message that spans several lines); absl's preamble is dropped when
    anything is filtered. Every other line is kept.

    >>> text = ("WARNING: All log messages before absl::InitializeLog() is called are "
    ...         "written to STDERR\\n"
    ...         "I0000 00:00:1796175315.231205   25328 port.cc:153] oneDNN custom operations are on.\\n"
    ...         "I0000 00:00:17.6 26 cpu_feature_guard.cc:227] This binary is optimized.\\n"
    ...         "To enable the following instructions: AVX2, rebuild TensorFlow.\\n"
    ...         "E0000 00:00:17.7 26 cuda_dnn.cc:8579] Unable to register cuDNN factory\\n"
    ...         "UserWarning: something else\\n")
    >>> kept_lines(text, 2)
    ['E0000 00:00:17.7 26 cuda_dnn.cc:8579] Unable to register cuDNN factory', \
'UserWarning: something else']
    >>> len(kept_lines(text, 0))
    6
    """
    kept = []
    dropping = False
    for line in text.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            severity = _SEVERITY[match.group(1) or match.group(2)]
            dropping = severity < level
            if not dropping:
                kept.append(line)
            continue
        if line.startswith(_PREAMBLE):
            if level <= 0:
                kept.append(line)
            dropping = False
            continue
        if dropping and line.strip():
            continue  # the rest of a dropped message
        dropping = False
        kept.append(line)
    return kept


def log_level():
    """TensorFlow's C++ log level: the user's `TF_CPP_MIN_LOG_LEVEL`, else
    `DEFAULT_LEVEL`, which is then set for TensorFlow to read."""
    value = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    try:
        return int(value)
    except ValueError:
        return int(DEFAULT_LEVEL)


def import_keras_quietly():
    """Imports Keras (and its backend) with TensorFlow's start-up lines
    filtered as `kept_lines` says; returns the `keras` module.

    Without TensorFlow as the backend, or once it is imported, this is
    `import keras`.
    """
    level = log_level()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow" or "tensorflow" in sys.modules or level <= 0:
        return importlib.import_module("keras")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            keras = importlib.import_module("keras")
            importlib.import_module("tensorflow")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            for line in kept_lines(text, level):
                print(line, file=sys.stderr)
    if level >= 2:
        # TensorFlow's Python warnings, e.g. "5 out of the last 13 calls ...
        # triggered tf.function retracing": a search builds many models.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras
