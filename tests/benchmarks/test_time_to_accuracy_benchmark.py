"""benchmarks/time_to_accuracy.py: argument errors, the time-to-target statistics, and a tiny run
end to end (pinnlab, plus DeepXDE where it is installed: it is a benchmark dependency only)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "time_to_accuracy.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import time_to_accuracy as tta  # noqa: E402


def test_time_to_target_is_the_first_checkpoint_at_or_below_it() -> None:
    curve = [(1.0, 0.5), (2.0, 1e-2), (4.0, 2e-2), (8.0, 5e-4)]
    assert tta.time_to(curve, 1e-2) == 2.0
    assert tta.time_to(curve, 1e-3) == 8.0
    assert tta.time_to(curve, 1e-4) is None
    # a seed that never gets there counts as infinitely slow in the median
    assert tta.median_time([curve, curve, [(1.0, 1.0)]], 1e-3) == "8.0 s (2/3 seeds)"
    assert tta.median_time([curve, [(1.0, 1.0)], [(1.0, 1.0)]], 1e-3) == "not reached (1/3 seeds)"


def test_the_burgers_reference_is_the_cole_hopf_solution() -> None:
    points, exact = tta.reference("burgers")
    assert points.shape == (25600, 2) and exact.shape == (25600,)
    at_start = np.isclose(points[:, 1], 0.0)
    assert np.allclose(exact[at_start], -np.sin(np.pi * points[at_start, 0]), atol=1e-10)
    assert tta.relative_l2(exact, exact) == 0.0
    assert math.isclose(tta.relative_l2(2 * exact, exact), 1.0)


def test_argument_errors_are_one_clear_line(monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tta.parse_args(["--budget", "0.1"])
    assert exit_info.value.code == 2 and "--budget must exceed 0.5 s" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tta.parse_args(["--pinnlab-set", "adam.steps"])
    assert "--pinnlab-set expects NAME=VALUE, got adam.steps" in capsys.readouterr().err
    monkeypatch.setattr(tta.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit):
        tta.parse_args(["--tools", "deepxde-example"])
    assert "pip install -e '.[bench]'" in capsys.readouterr().err
    assert tta.parse_args(["--tools", "pinnlab"]).tools == ["pinnlab"]  # needs no DeepXDE


def test_tiny_run_writes_a_table_and_a_figure(tmp_path: Path) -> None:
    tools = (["pinnlab"] + (["deepxde-example"] if importlib.util.find_spec("deepxde") else [])
             + (["pina"] if importlib.util.find_spec("pina") else []))
    table, figure, curves = tmp_path / "tta.md", tmp_path / "tta.png", tmp_path / "tta.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--problems", "poisson", "--tools", *tools, "--seeds", "0", "--budget", "2",
         "--checkpoints", "3", "--pinnlab-set", "adam.steps=30", "--pinnlab-set", "lbfgs.steps=5",
         "--pinnlab-set", "sampling.points=100", "--pinnlab-set", "sampling.boundary_points=40",
         "--table", str(table), "--figure", str(figure), "--curves", str(curves)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows, per_seed = markdown_tables(table.read_text())
    assert [row["tool"] for row in rows] == tools
    assert [(row["tool"], row["seed"]) for row in per_seed] == [(tool, "0") for tool in tools]
    for row in rows:
        final = float(row["final error (per seed)"])
        assert 0 < final < 10  # a finite relative error of a barely trained network
    written = json.loads(curves.read_text())["poisson"]
    assert list(written) == tools and all(list(by_seed) == ["0"] for by_seed in written.values())
    for tool, by_seed in written.items():
        times = [seconds for seconds, _ in by_seed["0"]]
        assert times == sorted(times) and len(times) >= 2, tool  # copies during the run, then the end
        # the table's final error is the curve's last point
        final = next(row for row in rows if row["tool"] == tool)["final error (per seed)"]
        assert float(final) == pytest.approx(by_seed["0"][-1][1], rel=0.06)
    image = matplotlib.image.imread(figure)
    assert image.ndim == 3 and image.shape[0] > 100


class FakeWatch:
    """A Stopwatch whose time is set by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def elapsed(self) -> float:
        return self.now


def test_snapshots_copy_the_parameters_at_each_checkpoint() -> None:
    model = torch.nn.Linear(2, 1)
    watch = FakeWatch()
    with torch.no_grad():
        model.weight.fill_(1.0)
    watch.now = 3.0  # both checkpoints (at 0 s) are due: run() copies at once, here in this thread
    snapshots = tta.Snapshots(lambda: model, [0.0, 0.0], watch)
    snapshots.run()
    with torch.no_grad():
        model.weight.fill_(7.0)  # a later change must not reach the copies
    assert [seconds for seconds, _ in snapshots.copies] == [3.0, 3.0]
    assert all(torch.equal(state["weight"], torch.ones(1, 2)) for _, state in snapshots.copies)


def test_stopping_ends_the_snapshots_before_the_next_checkpoint() -> None:
    snapshots = tta.Snapshots(lambda: torch.nn.Linear(2, 1), [60.0], FakeWatch())
    snapshots.start()
    snapshots.stop()  # returns at once: the thread waits on the stop event, not the clock
    assert not snapshots.is_alive() and snapshots.copies == []


def test_a_module_that_does_not_exist_yet_is_skipped() -> None:
    snapshots = tta.Snapshots(lambda: None, [0.0, 0.0], FakeWatch())
    snapshots.run()
    assert snapshots.copies == []


def test_errors_of_evaluates_each_copy_on_the_grid_in_the_networks_column_order() -> None:
    points, exact = tta.reference("poisson")
    model = torch.nn.Linear(2, 1, bias=False).double()
    # weights (0, 1) on columns reordered as (y, x) read x: the error of u = x against the exact solution
    picks_x = {"weight": torch.tensor([[0.0, 1.0]], dtype=torch.float64)}
    zero = {"weight": torch.zeros(1, 2, dtype=torch.float64)}
    curve = tta.errors_of(model, [(1.0, zero), (2.0, picks_x)], "poisson", columns=[1, 0])
    assert curve[0] == (1.0, 1.0)  # a zero prediction has relative error 1
    assert curve[1][0] == 2.0 and math.isclose(curve[1][1], tta.relative_l2(points[:, 0], exact), rel_tol=1e-12)
    unordered = tta.errors_of(model, [(2.0, picks_x)], "poisson")
    assert math.isclose(unordered[0][1], tta.relative_l2(points[:, 1], exact), rel_tol=1e-12)


def test_times_against_pinnlab() -> None:
    fast, slow, never = [(1.0, 0.5), (2.0, 5e-3)], [(1.0, 0.5), (8.0, 5e-3)], [(1.0, 0.5), (99.0, 0.1)]
    by_tool = {"pinnlab": [fast, fast], "deepxde-example": [slow, slow], "pina": [never, never]}
    assert tta.median_seconds(by_tool["deepxde-example"], 1e-2) == 8.0
    assert tta.median_seconds(by_tool["pina"], 1e-2) == math.inf
    assert tta.against_pinnlab(by_tool, "deepxde-example", 1e-2) == ", 4.0x pinnlab's"
    assert tta.against_pinnlab(by_tool, "pina", 1e-2) == ", pinnlab reached it"
    assert tta.against_pinnlab(by_tool, "pinnlab", 1e-2) == ""
    assert tta.against_pinnlab(by_tool, "deepxde-example", 1e-4) == ""  # neither got there


def test_a_missing_pina_is_one_clear_line(monkeypatch, capsys) -> None:
    monkeypatch.setattr(tta, "pina_installed", lambda: False)
    with pytest.raises(SystemExit):
        tta.parse_args(["--tools", "pinnlab", "pina"])
    assert "pip install pina-mathlab" in capsys.readouterr().err


def test_recorded_models_sees_the_solvers_model_and_puts_the_builder_back() -> None:
    from types import SimpleNamespace

    built_by_solver = torch.nn.Linear(1, 1)
    job = SimpleNamespace(build_model=lambda problem, settings: built_by_solver)
    original = job.build_model
    with tta.recorded_models(job) as built:
        assert job.build_model("problem", "settings") is built_by_solver
    assert built == [built_by_solver] and job.build_model is original
