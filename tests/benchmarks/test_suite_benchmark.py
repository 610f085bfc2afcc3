"""benchmarks/suite.py end to end on two tiny runs: the table holds each equation's measured
error against its target, and a second run merges its row without losing the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "suite.py"
TINY = "--steps 20 --lbfgs-steps 0 --points 200 --boundary-points 50 --set numerics.threads=1 --set numerics.compile=off"
SECOND_ORDER = " --set ssbroyden.steps=3"  # poisson's suite run adds an SSBroyden phase; 3 iterations of it


def run_suite(table: Path, *equations: str, extra: str = TINY) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), "--equations", *equations, "--extra", extra, "--out", str(table)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def rows(table: Path) -> dict[str, dict[str, str]]:
    (found,) = markdown_tables(table.read_text())
    return {r["equation"]: r for r in found}


def test_suite_writes_and_merges_rows(tmp_path: Path) -> None:
    table = tmp_path / "benchmarks.md"
    done = run_suite(table, "poisson", extra=TINY + SECOND_ORDER)
    assert done.returncode == 0, done.stderr
    first = rows(table)
    assert list(first) == ["poisson"]
    error = float(first["poisson"]["rel. L2 error"].split()[1])
    assert 0 < error < 10  # 20 Adam steps: far from solved, but a finite error against the reference
    assert first["poisson"]["target"] == "1e-06 not met"
    assert "phases=adam,lbfgs,ssbroyden" in first["poisson"]["settings"] and "--steps 20" in first["poisson"]["settings"]
    assert "commit " in first["poisson"]["measured"] and "torch" in first["poisson"]["measured"]
    assert first["poisson"]["steps"] == "23"  # 20 Adam steps and 3 SSBroyden iterations

    done = run_suite(table, "heat")
    assert done.returncode == 0, done.stderr
    merged = rows(table)
    assert list(merged) == ["poisson", "heat"]  # the suite's order, the earlier row kept
    assert merged["poisson"] == first["poisson"]
    assert merged["heat"]["target"] == "-"


def test_suite_refuses_an_equation_that_is_not_shipped(tmp_path: Path) -> None:
    done = run_suite(tmp_path / "t.md", "nosuch")
    assert done.returncode == 2 and "invalid choice: 'nosuch'" in done.stderr


def test_suite_with_nothing_to_run_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--equations", "--out", str(tmp_path / "t.md")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "nothing to run" in done.stderr
