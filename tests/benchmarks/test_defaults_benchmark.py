"""benchmarks/defaults.py: the equations run interleaved (one round per seed, the order rotated),
each with its seeds in order, and the table reads back with every run and each equation's median."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import defaults  # noqa: E402


def test_rounds_rotate_the_equations_and_the_table_reads_back(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple[str, int]] = []
    seconds = {("heat", 0): 3.0, ("heat", 1): 5.0, ("heat", 2): 4.0, ("poisson", 0): 1.0, ("poisson", 1): 2.0,
               ("poisson", 2): 9.0}

    def fake_run(equation: str, seed: int, extra: list[str]) -> dict:
        calls.append((equation, seed))
        assert extra == ["--steps", "3"]
        return {"seconds": seconds[equation, seed], "rel_l2": {"u": 0.1 * (seed + 1)}, "steps": 3}

    monkeypatch.setattr(defaults, "run", fake_run)
    table = tmp_path / "defaults.md"
    defaults.main(["--equations", "heat", "poisson", "--seeds", "0", "1", "2", "--extra", "--steps 3",
                   "--table", str(table)])
    assert calls == [("heat", 0), ("poisson", 0), ("poisson", 1), ("heat", 1), ("heat", 2), ("poisson", 2)]
    text = table.read_text()
    assert "python benchmarks/defaults.py --equations heat poisson" in text and "load average" in text
    runs, summary = markdown_tables(text)
    assert [(r["equation"], r["seed"], r["rel. L2 error"]) for r in runs] == [
        ("heat", "0", "u 1.00e-01"), ("heat", "1", "u 2.00e-01"), ("heat", "2", "u 3.00e-01"),
        ("poisson", "0", "u 1.00e-01"), ("poisson", "1", "u 2.00e-01"), ("poisson", "2", "u 3.00e-01")]
    assert {r["equation"]: r["median whole command (s)"] for r in summary} == {"heat": "4.0", "poisson": "2.0"}
    assert {r["equation"]: r["range (s)"] for r in summary} == {"heat": "3.0-5.0", "poisson": "1.0-9.0"}


@pytest.mark.parametrize("argv, message", [
    (["--equations", "nosuch"], "not shipped in equations/: nosuch"),
    (["--equations", "heat", "heat"], "each equation once"),
])
def test_argument_errors_are_one_clear_line(capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        defaults.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_real_tiny_solve_is_timed(tmp_path: Path) -> None:
    result = defaults.run("poisson", 0, ["--steps", "3", "--lbfgs-steps", "0", "--points", "50",
                                         "--boundary-points", "20", "--set", "numerics.threads=1"])
    assert result["steps"] == 3 and result["seconds"] > 0
    assert 0 < result["rel_l2"]["u"] < 10
