"""benchmarks/sven_vs_lm.py: a tiny run end to end gives both methods' records, each having
lowered the loss from the common start, and the table; a bad count is refused by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sven_vs_lm.py"


def _run(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


def test_a_tiny_run_lowers_both_losses_from_one_start_and_writes_the_table(tmp_path) -> None:
    out = tmp_path / "records.json"
    done = _run("--seconds", "1", "--width", "8", "--depth", "2", "--points", "120", "--boundary-points", "40",
                "--rank", "10", "--json", str(out))
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())
    assert [r["method"] for r in records] == ["lm", "sven"]
    assert records[0]["start_loss"] == records[1]["start_loss"]  # the same Adam start in both processes
    for record in records:
        assert record["parameters"] == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1
        assert record["residual_rows"] == 160 and record["iterations"] >= 1
        assert record["loss"] < record["start_loss"]
        assert record["peak_rss_mib"] >= record["peak_rss_before_mib"] > 0
    [rows] = markdown_tables(done.stdout)
    assert [row["method"] for row in rows] == ["`lm`", "`sven, rank 10`"]


def test_a_count_below_one_is_refused_by_name() -> None:
    done = _run("--rank", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("--rank must be > 0, got 0")
