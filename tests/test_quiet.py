"""The command line's quiet start: TensorFlow's start-up lines filtered."""

import os
import subprocess
import sys

import pytest

from keras_prune_nas import quiet

STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796175315.231205   25328 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796175315.232464   25328 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions.\n"
    "To enable the following instructions: AVX2 FMA, rebuild TensorFlow.\n"
    "W0000 00:00:1796175315.3   25328 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"
    "2025-09-17 14:44:05.176998: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:467] "
    "Unable to register cuFFT factory\n"
    "F0000 00:00:1796175315.4   25328 fatal.cc:1] Check failed\n"
    "/site-packages/x.py:3: UserWarning: a warning of someone else\n"
)


@pytest.mark.parametrize("level, expected", [
    (3, ["F0000 00:00:1796175315.4   25328 fatal.cc:1] Check failed",
         "/site-packages/x.py:3: UserWarning: a warning of someone else"]),
    (1, 4),  # W, E and F kept, and the other line
    (0, 8),  # everything, the preamble too
])
def test_kept_lines_drop_the_log_lines_below_the_level_with_their_continuations(
        level, expected):
    kept = quiet.kept_lines(STARTUP, level)
    if isinstance(expected, int):
        assert len(kept) == expected
    else:
        assert kept == expected
    assert not any(line.startswith("To enable") for line in kept) or level == 0


def test_the_command_line_starts_without_tensorflows_startup_lines(tmp_path):
    env = {name: value for name, value in os.environ.items()
           if name not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    code = ("from keras_prune_nas import quiet\n"
            "keras = quiet.import_keras_quietly()\n"
            "import tensorflow as tf\n"
            "print(keras.backend.backend(), tf.constant(2).numpy())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tensorflow", "2"]
    for noise in ("InitializeLog", "oneDNN", "cuda drivers", "cpu_feature_guard"):
        assert noise not in result.stderr
