"""Every notebook in notebooks/ runs at a small budget, and is committed without outputs.

Each notebook starts with a code cell tagged ``parameters`` that sets its budget for real use.
The test appends the small budget below to that cell, runs the notebook with nbclient on the
current interpreter's ipykernel (importing this checkout's pinnlab) in a temporary working
directory, with ``OUT_DIR`` in a temporary folder, and checks the ``summary`` dict that the
notebook's last code cell defines.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

# Small budgets: a few seconds of training each on a 2-core CPU.
BUDGETS = {
    "01_burgers_and_hdf5": {"STEPS": 200, "LBFGS_STEPS": 500, "POINTS": 1500, "THREADS": 1},
    "02_your_own_equation": {"STEPS": 200, "LBFGS_STEPS": 200, "POINTS": 500, "BOUNDARY_POINTS": 100,
                             "GRID": 41, "THREADS": 1},
    "03_grow_a_classifier": {"STEPS": 100, "BUDGET_LAYERS": 8, "CYCLES": 5},
}


def check_burgers(summary: dict, out_dir: Path) -> None:
    # an untrained network (exact initial and boundary values only) is at about 0.58
    assert summary["rel_l2"] < 0.3
    assert abs(summary["rel_l2"] - summary["rel_l2_from_file"]) < 1e-6
    assert {"fields.h5", "fields.xdmf", "metrics.json"} <= {p.name for p in out_dir.iterdir()}


def check_own_equation(summary: dict, out_dir: Path) -> None:
    assert summary["rel_l2"] < 0.05
    assert summary["max_abs_error"] < 0.05
    assert "'v_yy'" in summary["mistake"] and "not a field" in summary["mistake"]


def check_growth(summary: dict, out_dir: Path) -> None:
    assert summary["dwr_best_test_accuracy"] > 0.8  # one layer, untrained: about 0.5
    assert 1 < summary["dwr_final_layers"] <= BUDGETS["03_grow_a_classifier"]["BUDGET_LAYERS"]
    assert {"growth.h5", "metrics.json"} <= {p.name for p in out_dir.iterdir()}


CHECKS = {
    "01_burgers_and_hdf5": check_burgers,
    "02_your_own_equation": check_own_equation,
    "03_grow_a_classifier": check_growth,
}


def parameters_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "the first code cell, and only it, is tagged 'parameters'"
    return tagged[0]


def assigned_names(source: str) -> set[str]:
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def test_every_notebook_has_a_budget_and_a_check():
    assert len(NOTEBOOKS) >= 3
    assert {path.stem for path in NOTEBOOKS} == set(BUDGETS) == set(CHECKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stripped(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    parameters_cell(notebook)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_at_a_small_budget(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    cell = parameters_cell(notebook)
    budget = {**BUDGETS[path.stem], "OUT_DIR": str(tmp_path / "out")}
    unknown = set(budget) - assigned_names(cell.source)
    assert not unknown, f"{path.name}: the parameters cell does not set {sorted(unknown)}"
    cell.source += "\n\n# small budget (tests/docs/test_notebooks.py)\n" + "".join(
        f"{name} = {value!r}\n" for name, value in budget.items())
    notebook.cells.append(nbformat.v4.new_code_cell("import json; print(json.dumps(summary))"))

    results = REPO / "results"
    before = sorted(results.rglob("*")) if results.exists() else []
    work = tmp_path / "cwd"
    work.mkdir()
    # the kernel imports the pinnlab under test, whatever else is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails

    printed = "".join(out.get("text", "") for out in notebook.cells[-1].outputs if out.output_type == "stream")
    summary = json.loads(printed)
    CHECKS[path.stem](summary, tmp_path / "out")
    assert (sorted(results.rglob("*")) if results.exists() else []) == before, "the notebook wrote into results/"
