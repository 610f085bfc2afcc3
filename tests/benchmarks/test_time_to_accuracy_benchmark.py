"""benchmarks/time_to_accuracy.py: argument errors, the time-to-target statistics, and a tiny run
end to end (pinnlab, plus DeepXDE where it is installed: it is a benchmark dependency only)."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from markdown_tables import markdown_tables

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
    tools = ["pinnlab"] + (["deepxde-example"] if importlib.util.find_spec("deepxde") else [])
    table, figure = tmp_path / "tta.md", tmp_path / "tta.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--problems", "poisson", "--tools", *tools, "--seeds", "0", "--budget", "2",
         "--checkpoints", "3", "--pinnlab-set", "adam.steps=30", "--pinnlab-set", "lbfgs.steps=5",
         "--pinnlab-set", "sampling.points=100", "--pinnlab-set", "sampling.boundary_points=40",
         "--table", str(table), "--figure", str(figure)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (rows,) = markdown_tables(table.read_text())
    assert [row["tool"] for row in rows] == tools
    for row in rows:
        final = float(row["final error (per seed)"])
        assert 0 < final < 10  # a finite relative error of a barely trained network
    image = matplotlib.image.imread(figure)
    assert image.ndim == 3 and image.shape[0] > 100
