"""The notebooks: Colab-ready as committed, and they run (in a quick setting)."""

import configparser
import pathlib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Small enough for CI, large enough that every notebook still culls.
QUICK = {
    "quickstart.ipynb": "TRIALS = 8\nEPOCHS = 3\nMIN_SURVIVORS = 4",
    "prune_vs_hyperband.ipynb": "SEEDS = (0,)\nTRIALS = 6\nEPOCHS = 3",
    "early_epochs_and_stopping_rules.ipynb": "TRIALS = 8\nEPOCHS = 4\nMIN_SURVIVORS = 3",
    "nao_search.ipynb": "TRIALS = 8\nGENERATION_SIZE = 4\nEPOCHS = 3\nMIN_SURVIVORS = 3",
}


def repository_url():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["url"]


def test_every_notebook_has_a_quick_setting():
    assert sorted(QUICK) == [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_colab_ready_and_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), (
        f"{path.name} holds outputs: clear them before committing"
    )
    repository = repository_url().removeprefix("https://github.com/")
    badge = (
        f"https://colab.research.google.com/github/{repository}/blob/main/"
        f"notebooks/{path.name}"
    )
    assert badge in notebook.cells[0].source
    assert f'%pip install -q "keras-prune-nas[analysis] @ git+{repository_url()}"' in code[0].source
    assert sum("parameters" in cell.metadata.get("tags", []) for cell in code) == 1
    text = "\n".join(cell.source for cell in notebook.cells)
    for local in ("/work", "/tmp", "/root", "/home", "../shared", "C:\\"):
        assert local not in text, f"{path.name} mentions the local path {local!r}"


def with_quick_parameters(notebook, name):
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.metadata.get("tags", []):
            notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(QUICK[name]))
            return notebook
    raise AssertionError(f"{name} has no cell tagged 'parameters'")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    from nbclient import NotebookClient

    notebook = with_quick_parameters(nbformat.read(path, as_version=4), path.name)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell, on any error
    errors = [
        output for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "error"
    ]
    assert not errors
    images = [
        output for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} showed no plot"
