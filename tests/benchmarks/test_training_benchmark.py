"""benchmarks/training.py: a tiny run end to end (pinnlab's own loop, and DeepXDE's where it is
installed), a table of positive step times read back, and the step-time arithmetic."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "training.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import training  # noqa: E402


def test_lbfgs_timing_is_the_difference_of_two_runs() -> None:
    timing = training.lbfgs_timing([(1.0, 50, 60), (3.0, 150, 260)])
    assert timing == {"lbfgs_ms": 20.0, "evals_per_iteration": 2.0, "eval_ms": 10.0, "lbfgs_timed": 100}
    with pytest.raises(RuntimeError, match="lower --lbfgs-warmup"):
        training.lbfgs_timing([(1.0, 50, 60), (1.5, 50, 60)])


def test_tiny_run_writes_a_table_of_step_times(tmp_path: Path) -> None:
    table = tmp_path / "training.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), "--adam-steps", "5", "--adam-warmup", "2", "--lbfgs-iterations", "5",
               "--lbfgs-warmup", "5", "--repeats", "1", "--set", "sampling.points=200", "--table", str(table)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    text = table.read_text()
    assert "sampling.points=200" in text and "numerics.engine=auto" in text and "1 thread(s)" in text
    (rows,) = markdown_tables(text)
    by_label = {row[""]: row for row in rows}
    assert float(by_label["Adam, ms per step"]["pinnlab"]) > 0
    assert float(by_label["L-BFGS, ms per iteration"]["pinnlab"]) > 0
    if importlib.util.find_spec("deepxde"):
        ratio = by_label["Adam, ms per step"]["DeepXDE / pinnlab"]
        assert ratio.endswith("NOT QUOTABLE")  # one repeat is never quotable
        assert float(ratio.split("x")[0]) > 0


def test_argument_errors_are_one_clear_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        training.parse_args(["--repeats", "0"])
    assert exit_info.value.code == 2 and "--repeats must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        training.parse_args(["--set", "engine"])
    assert "--set expects NAME=VALUE, got engine" in capsys.readouterr().err
