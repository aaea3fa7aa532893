"""Fixtures shared by the test modules."""

import pytest
from sklearn.datasets import load_digits

import processes


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return x[:480], y[:480], x[480:640], y[480:640]


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    yield
    while processes.STARTED:
        process = processes.STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()
