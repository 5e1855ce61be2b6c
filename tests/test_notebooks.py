"""docs/notebooks: stored without outputs, valid, and on the learning guide's path.
(.ci/run executes every one of them with nbclient; see .ci/run-notebooks.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))


def test_the_learning_path_and_the_csv_notebook_exist():
    text = " ".join(p.read_text(encoding="utf-8") for p in NOTEBOOKS)
    for step in ("cr.explain", "cr.viz.graph", "load_dataset(\\\"digits\\\")", "\\\"mnist\\\"", "nn.lenet",
                 "cr.data.csv"):
        assert step in text, f"no notebook covers {step}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} keeps outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} keeps an execution count"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} keeps widget state"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_valid_nbformat(path):
    import nbformat  # the dev extra

    nbformat.validate(nbformat.read(path, as_version=4))
