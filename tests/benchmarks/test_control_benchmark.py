"""benchmarks/control.py: a tiny run end to end writes one table row of finite numbers and the
side-by-side figures; a count below one is refused by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "control.py"


def _run(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), "--out", str(tmp / "control.md"), "--plots", str(tmp / "plots"),
               "--quiet", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_tiny_run_writes_the_table_and_figures(tmp_path: Path) -> None:
    done = _run(tmp_path, "--problems", "double_integrator", "--states", "3", "--set", "steps=10",
                "--set", "samples=8", "--set", "inner=5")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "control.md").read_text()
    assert "--states 3 --set steps=10" in text and "commit " in text
    (rows,) = markdown_tables(text)
    (row,) = rows
    assert row["problem"] == "double_integrator"
    assert float(row["cost policy / MPC, mean"]) >= 0.99 * 1  # MPC is near optimal
    assert float(row["worst"]) >= float(row["cost policy / MPC, mean"])
    assert row["violations > 1e-3 MPC"] == "0 / 3" and float(row["largest MPC"]) < 1e-6
    assert float(row["MPC ms/action"]) > 0 and float(row["policy us/action batched"]) > 0
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "double_integrator-inputs.png", "double_integrator-margins.png", "double_integrator-trajectories.png"]


def test_counts_below_one_are_refused_by_name(tmp_path: Path) -> None:
    done = _run(tmp_path, "--states", "0")
    assert done.returncode == 2 and "--states must be at least 1, got 0" in done.stderr
    assert not (tmp_path / "control.md").exists()
