import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run_cli(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "keras_prune_nas.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=900,
        env=None if env is None else {**os.environ, **env},
    )


def test_search_on_digits_end_to_end(tmp_path):
    result = run_cli(
        "search", "--trials", "12", "--epochs", "5", "--cull-fraction", "0.3",
        "--min-survivors", "4", "--directory", str(tmp_path), "--seed", "1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "population by round: [12, 9, 7, 5, 4]" in out
    for round_number, (alive, left) in enumerate([(12, 9), (9, 7), (7, 5), (5, 4)], 1):
        assert f"[round {round_number:>3}] epoch {round_number:>3}/5  alive {alive:>4} -> {left:<4}" in out
    assert "Finalists: 4 candidates" in out
    assert "Test accuracy:" in out

    summary_path = tmp_path / "digits" / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["candidates"] == 12
    assert summary["statuses"] == {"STOPPED": 8, "COMPLETED": 4}
    assert summary["random_search_epochs"] == 60
    assert summary["epochs_trained"] <= 12 + 9 + 7 + 5 + 4
    assert summary["test_accuracy"] > 0.5
    assert summary["parameters"] > 0
    with open(summary["curves_csv"]) as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == summary["epochs_trained"]
    assert {row["trial_id"] for row in rows} == {f"{i:02d}" for i in range(12)}
    assert f"Epochs trained: {summary['epochs_trained']} (RandomSearch would train 60" in out

    # First impressions: no TensorFlow start-up line, a live line from the
    # first epoch on, and a picture.
    assert "InitializeLog" not in result.stderr and "oneDNN" not in result.stderr
    assert "round 1/4: 0/12 candidates, 1 epoch trained, " in out
    assert f"Picture of the search: {tmp_path / 'digits' / 'curves.png'}" in out
    assert (tmp_path / "digits" / "curves.png").stat().st_size > 5000

    described = run_cli("report", str(tmp_path / "digits"), "--output",
                        str(tmp_path / "again.png"), cwd=tmp_path)
    assert described.returncode == 0, described.stderr
    assert described.stdout.splitlines()[0] == f"PruneSearch in {tmp_path / 'digits'} (finished)"
    assert f"Test accuracy of the pick: {summary['test_accuracy']:.4f}" in described.stdout
    assert (tmp_path / "again.png").stat().st_size > 5000
    missing = run_cli("report", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "No search state" in missing.stderr


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_search_with_the_nao_strategy(tmp_path, backend):
    pytest.importorskip(backend)
    result = run_cli(
        "search", "--strategy", "nao", "--trials", "8", "--generation-size", "4",
        "--epochs", "3", "--min-survivors", "3", "--directory", str(tmp_path),
        "--seed", "2", cwd=tmp_path, env={"KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"NAOSearch on digits ({backend} backend):")
    assert "generations of 4, 4" in out
    assert "NAO generation 2 of 2: 4 proposed, 0 random" in out
    summary = json.loads((tmp_path / "digits" / "summary.json").read_text())
    assert summary["candidates"] == 8
    assert summary["test_accuracy"] > 0.3


def test_without_backend_the_search_follows_keras_backend(tmp_path):
    # `--backend` used to default to tensorflow and overwrite KERAS_BACKEND.
    pytest.importorskip("jax")  # in the test extra
    result = run_cli(
        "search", "--trials", "3", "--epochs", "1", "--min-survivors", "3",
        "--directory", str(tmp_path), cwd=tmp_path, env={"KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PruneSearch on digits (jax backend):")


def test_the_installed_command_refuses_bad_input_before_training(tmp_path):
    # Every case is in tests/test_bad_input.py, in-process; this one runs the
    # real command: exit status 2, the message on stderr, nothing trained.
    result = run_cli("search", "--directory", str(tmp_path), "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "epochs" in result.stderr
    assert result.stdout == ""
    assert not any(tmp_path.iterdir())
