"""keras_tuner's own tuner tests, run with RandomSearch replaced by PruneSearch.

keras_tuner's wheel ships no tests, so point `KERAS_TUNER_SRC` at a checkout
of https://github.com/keras-team/keras-tuner (a work tree or a bare git
directory); without it these tests are skipped. The test files are read from
there at run time, their imports adapted to the installed package's layout
(`keras_tuner.src.*`), and run twice in subprocesses: as they are (the
baseline) and with `swap_random_search` as a pytest plugin. Every test that
passes in the baseline must pass with PruneSearch, except those listed in
`RANDOM_SEARCH_ONLY`, each with the reason.
"""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

pytestmark = pytest.mark.slow

SUITE_FILES = (
    "keras_tuner/engine/tuner_test.py",
    "keras_tuner/tuners/randomsearch_test.py",
)

# Tests that check RandomSearch's internals rather than its behaviour.
RANDOM_SEARCH_ONLY = {
    "tuner_test.py::test_callbacks_in_fit_kwargs": (
        "patches Tuner._build_and_fit_model and expects the callbacks "
        "RandomSearch passes to it (TunerCallback, SaveBestEpoch); PruneSearch "
        "trains through its own run_trial, which wraps the user's callbacks "
        "so that each candidate's rounds make one continuous run"
    ),
}

HERE = os.path.dirname(os.path.abspath(__file__))


def _read_suite_file(source, relative_path):
    git_dir = None
    if os.path.isdir(os.path.join(source, ".git")):
        git_dir = os.path.join(source, ".git")
    elif os.path.exists(os.path.join(source, "HEAD")):
        git_dir = source
    work_tree_file = os.path.join(source, relative_path)
    if os.path.exists(work_tree_file):
        with open(work_tree_file) as stream:
            return stream.read()
    if git_dir is None:
        return None
    result = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{relative_path}"],
        capture_output=True, text=True,
    )
    return result.stdout if result.returncode == 0 else None


def adapt_imports(text):
    """Maps the repository's module paths onto the installed wheel's."""
    text = re.sub(r"\bkeras_tuner\.engine\b", "keras_tuner.src.engine", text)
    text = re.sub(r"\bkeras_tuner\.backend\b", "keras_tuner.src.backend", text)
    text = re.sub(
        r"\bkeras_tuner\.tuners\.randomsearch\b",
        "keras_tuner.src.tuners.randomsearch", text,
    )
    return text.replace(
        "from keras_tuner.tuners import randomsearch",
        "from keras_tuner.src.tuners import randomsearch",
    )


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory):
    source = os.environ.get("KERAS_TUNER_SRC")
    if not source:
        pytest.skip("set KERAS_TUNER_SRC to a keras-tuner checkout to run its tests")
    directory = tmp_path_factory.mktemp("keras_tuner_suite")
    for relative_path in SUITE_FILES:
        text = _read_suite_file(source, relative_path)
        if text is None:
            pytest.skip(f"{relative_path} not found under KERAS_TUNER_SRC={source}")
        with open(directory / os.path.basename(relative_path), "w") as stream:
            stream.write(adapt_imports(text))
    return directory


def run_suite(directory, swap):
    report = directory / ("swapped.xml" if swap else "baseline.xml")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}"]
    if swap:
        command += ["-p", "swap_random_search"]
    command += [str(directory / os.path.basename(p)) for p in SUITE_FILES]
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(HERE, "keras_tuner_suite"), environment.get("PYTHONPATH", "")]
    )
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    subprocess.run(command, cwd=directory, env=environment,
                   capture_output=True, text=True, timeout=1800)
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname').split('.')[-1]}.py::{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[name] = "skipped" if skipped else ("failed" if failed else "passed")
    return outcomes


def test_keras_tuner_tuner_tests_pass_with_prune_search(suite_dir):
    baseline = run_suite(suite_dir, swap=False)
    swapped = run_suite(suite_dir, swap=True)
    assert len(baseline) > 50
    regressions = sorted(
        name for name, outcome in baseline.items()
        if outcome == "passed" and swapped.get(name) != "passed"
    )
    assert regressions == sorted(RANDOM_SEARCH_ONLY)
    print(
        f"{sum(o == 'passed' for o in swapped.values())} of "
        f"{len(swapped)} keras_tuner tests pass with PruneSearch; "
        f"baseline {sum(o == 'passed' for o in baseline.values())}"
    )
