"""benchmarks/cold_start.py: argument errors, and a tiny run end to end whose solves each start
from an empty torch inductor cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "cold_start.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import cold_start  # noqa: E402


@pytest.mark.parametrize("argv, message", [
    (["--rounds", "0"], "--rounds and --threads must be >= 1"),
    (["--variants", "off", "off"], "--variants: each variant once"),
    (["--equation", "equations/nothing.py"], "--equation: no file equations/nothing.py"),
    (["--variants", "fast"], "invalid choice: 'fast'"),
])
def test_argument_errors_are_one_clear_line(capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cold_start.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_each_solve_gets_an_empty_cache_and_the_table_reads_back(tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[str, list[str]]] = []
    real = cold_start.run_solve

    def spy(equation, choice, threads, cache, extra):
        seen.append((choice, os.listdir(cache)))
        return real(equation, choice, threads, cache, extra)

    monkeypatch.setattr(cold_start, "run_solve", spy)
    table = tmp_path / "cold.md"
    cold_start.main(["--variants", "auto", "off", "--rounds", "1", "--table", str(table),
                     "--extra", "--steps 5 --lbfgs-steps 3 --points 64 --boundary-points 16"])
    assert sorted(choice for choice, _ in seen) == ["auto", "off"]
    assert all(listing == [] for _, listing in seen)  # every run started cold
    (rows,) = markdown_tables(table.read_text())
    assert [row["numerics.compile"] for row in rows] == ["auto", "off"]
    assert rows[0]["time / time of auto"] == "baseline"
    assert float(rows[1]["time / time of auto"].split("x")[0]) > 0
    assert all(0 < float(row["rel. L2 error (max field)"]) < 10 for row in rows)


def test_a_failing_solve_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="compile=off failed"):
        cold_start.run_solve("equations/burgers.py", "off", 1, str(tmp_path), ["--set", "network.width=-3"])
