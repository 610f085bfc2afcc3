"""benchmarks/growth.py: a tiny run end to end. Runs side by side (``--jobs 2``) give the same
curves as one after another, the tables hold a row per data set and protocol with per-seed
ratios, and bad counts are refused by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "growth.py"
TINY = ["--datasets", "moons", "--seeds", "0", "1", "--no-odenet", "--cycles", "3", "--steps", "20", "--budget", "4"]


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), *TINY, *extra, "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def _curves(text: str) -> str:
    return text.split("## Per-seed curves", 1)[1]


def test_tiny_run_side_by_side_matches_one_after_another(tmp_path: Path) -> None:
    parallel, serial = tmp_path / "jobs2.md", tmp_path / "jobs1.md"
    done = _run(parallel, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert _run(serial).returncode == 0
    text = parallel.read_text()
    assert "--cycles 3 --steps 20 --budget 4 --jobs 2`" in text  # the command as run, changed settings only
    assert "2 side by side" in text and "its first 3 cycles" in text
    assert _curves(text) == _curves(serial.read_text())  # same runs, whatever the scheduling

    curves = re.findall(r"moons seed (\d)\n  dwr +(.*)\n  uniform +(.*)\n  random +(.*)\n  fixed +(.*)", text)
    assert [seed for seed, *_ in curves] == ["0", "1"]  # in order, though side by side
    for _, dwr, uniform, random, fixed in curves:
        assert [len(c.split()) for c in (dwr, uniform, random)] == [3, 3, 3]  # one entry per cycle
        assert [entry.split(":")[0] for entry in uniform.split()] == ["1", "2", "4"]  # doubling up to the budget
        assert [entry.split(":")[0] for entry in fixed.split()] == ["1", "2", "4"]
        assert all(0 <= float(entry.split(":")[1]) <= 100 for entry in (dwr + " " + uniform).split())

    layers, accuracy = markdown_tables(text)
    assert [row["uniform"] for row in layers] == ["(a) stops at budget", "(b) equal training"]
    for row in layers:
        per_seed = row["DWR / uniform per seed"].split(" / ")
        assert len(per_seed) == 2 and all(x == "miss" or 0 < float(x) <= 4 for x in per_seed)
    assert [row["data set"] for row in accuracy] == ["moons"]


def test_counts_below_one_are_refused_by_name(tmp_path: Path) -> None:
    done = _run(tmp_path / "never.md", "--jobs", "0")
    assert done.returncode == 2 and "--jobs must be at least 1, got 0" in done.stderr
    assert not (tmp_path / "never.md").exists()
