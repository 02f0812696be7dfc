"""Every notebook in analysis/ runs end to end on a small run, and is stored without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "analysis").glob("*.ipynb"))
# A smaller study than the stored parameters, for notebooks whose own small run is a minute:
# set in a cell run after the parameters cell, so every other cell runs as stored.
SMALLER = {"deception": "HORIZON, TURN, SEEDS = 4_000, 2_000, 2"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    book = nbformat.read(path, as_version=4)
    if path.stem in SMALLER:
        first = next(i for i, c in enumerate(book.cells) if c.cell_type == "code")
        assert "".join(book.cells[first].source).startswith("# Parameters")
        book.cells.insert(first + 1, nbformat.v4.new_code_cell(SMALLER[path.stem]))
    NotebookClient(book, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any error
    figures = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
               if "image/png" in o.get("data", {})]
    assert figures, "each notebook draws at least one figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code")
