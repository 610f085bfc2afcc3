"""benchmarks/sampling.py: a tiny run end to end, two methods side by side, with a table of
finite errors per seed and the mean ratio to fixed uniform points."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sampling.py"


def test_tiny_run_side_by_side_writes_errors_and_ratios(tmp_path: Path) -> None:
    table = tmp_path / "sampling.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), "--equation", "heat", "--methods", "uniform", "march-rad",
               "--seeds", "0", "1", "--jobs", "2", "--table", str(table),
               "--extra", "--points 200 --boundary-points 40 --steps 20 --lbfgs-steps 20 "
                          "--set refine_every=10 --set refine_pool=1000 --set grid=11x11 --set threads=1"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    text = table.read_text()
    assert "`march-rad`: `--set sampler=uniform --set refine=rad --set curriculum=10" in text  # what each method sets
    runs, means = markdown_tables(text)
    assert [(row["method"], row["seed"]) for row in runs] == [
        ("uniform", "0"), ("uniform", "1"), ("march-rad", "0"), ("march-rad", "1")]  # in order, though side by side
    assert all(0 < float(row["rel. L2 error"]) < 10 and float(row["whole command (s)"]) > 0 for row in runs)
    ratios = {row["method"]: row["uniform / method"] for row in means}
    assert ratios["uniform"] == "1.00x" and math.isfinite(float(ratios["march-rad"].rstrip("x")))
