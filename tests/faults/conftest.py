"""Shared pieces of the fault-injection tests: a tiny equation module, the command line run in
this process (one line on stderr, an exit status) or in a child process (to kill it)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pinnlab.commands.main import main

# -u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends: u = sin(pi x)
EQUATION = '''
import math
import torch
from pinnlab import Dirichlet, Exact, Interval

name = "poisson1d"
domain = Interval(0.0, 1.0)
conditions = {"ends": Dirichlet(0.0)}
reference = Exact(lambda x: torch.sin(math.pi * x))
defaults = {"network": {"width": 12, "depth": 2}, "sampling": {"points": 200, "boundary_points": 8},
            "output": {"grid": (33,), "log_every": 10}, "checkpoint.every": 100,
            "numerics": {"dtype": "float64", "threads": 1}}

def residual(u_xx, x):
    return u_xx + math.pi**2 * torch.sin(math.pi * x)
'''

REPO = Path(__file__).resolve().parents[2]
# what a result file or folder must never hold after a fault: atomic temporaries, staging folders
TEMPORARY = ".tmp-"


@pytest.fixture
def equation(tmp_path: Path) -> Path:
    path = tmp_path / "poisson1d.py"
    path.write_text(EQUATION)
    return path


@pytest.fixture
def variant(tmp_path: Path):
    """``variant("name", code)``: the tiny equation module with ``code`` appended (a later
    definition replaces the first)."""

    def write(name: str, code: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(EQUATION + "\n" + code)
        return path

    return write


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_cli(*argv: object) -> tuple[int, str]:
    """``pinnlab ARGV`` in this process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main([str(a) for a in argv])
    return status, err.getvalue()


def one_error_line(stderr: str) -> str:
    """The single line a failed command printed (asserting it is one line)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def solve_args(equation: Path, out: Path, *extra: object) -> list[object]:
    return ["solve", equation, "--out", out, "--quiet", *extra]


def child_command(equation: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pinnlab", "solve", str(equation), "--out", str(out), "--quiet", *extra]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def wait_for(predicate, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def temporaries(folder: Path) -> list[str]:
    """Every temporary file or staging folder under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if TEMPORARY in p.name)


def file_bytes(folder: Path) -> dict[str, bytes]:
    """Every top-level file of a folder with its bytes, to compare before and after a fault."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
