"""benchmarks/residuals.py: a tiny run end to end (subprocesses, table, agreement check), every
problem's residual against nested autograd, and the check stopping a run whose methods disagree.
DeepXDE is not a test dependency: the run leaves it out with --methods."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.markdown_tables import markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "residuals.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    name = "benchmark_residuals"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_tiny_run_writes_a_table_of_finite_numbers(tmp_path: Path) -> None:
    table = tmp_path / "residuals.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(SCRIPT), "--problems", "kdv", "--sizes", "200", "--rounds", "5",
               "--warmup", "1", "--methods", "pinnlab", "autograd", "--memory", "--table", str(table)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "- kdv: pinnlab" in done.stdout and "(ok)" in done.stdout and "FAILED" not in done.stdout
    text = table.read_text()
    assert "deepxde" not in text.lower().split("residual agreement")[1]
    assert "Machine load during the rounds: N=200: load average" in text
    (rows,) = markdown_tables(text)
    (row,) = rows
    assert row.pop("N") == "200"
    method, difference = row.pop("rel. diff vs autograd").split()
    assert method == "pinnlab" and float(difference) <= 1e-3
    ratio = row.pop("autograd / pinnlab")
    median, spread = ratio.split(" ", 1)
    low, high = (float(v) for v in spread.split("IQR ")[1].split(",")[0].split("-"))
    assert 0 < low <= float(median.rstrip("x")) <= high
    assert set(row) == {"pinnlab ms", "autograd ms", "peak MB pinnlab", "peak MB autograd"}
    for head, value in row.items():
        number = float(value)
        assert math.isfinite(number) and number >= 0, (head, value)
        if head.endswith("ms"):
            assert number > 0, (head, value)


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "lots"], "--sizes expects point counts such as 1e4, got lots"),
    (["--sizes", "1.5"], "--sizes expects whole point counts >= 1"),
    (["--rounds", "0"], "--rounds, --repeats and --threads must be >= 1"),
    (["--set", "engine"], "--set expects NAME=VALUE, got engine"),
])
def test_argument_errors_are_one_clear_line(bench: ModuleType, capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_every_problem_matches_nested_autograd(bench: ModuleType) -> None:
    args = bench.parse_args([])
    for name in bench.PROBLEMS:
        difference = bench.agreement(bench.make_case(name), ["pinnlab", "autograd"], args, None)
        assert difference["pinnlab"] <= bench.TOLERANCE["float32"], name
    poisson = bench.make_case(f"poisson{bench.POISSON_DIM}").problem
    assert poisson.inputs == tuple(f"x{k}" for k in range(1, bench.POISSON_DIM + 1))
    (residual,) = poisson.residuals.values()
    (laplacian,) = residual.derivatives
    assert laplacian.laplacian and laplacian.wrt == tuple(range(bench.POISSON_DIM))


def test_disagreeing_methods_stop_the_run(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    build = bench.make_model

    def perturbed(case, method, args):
        model, engine = build(case, method, args)
        if method == "pinnlab":
            with torch.no_grad():
                next(model.parameters()).add_(0.1)
        return model, engine

    monkeypatch.setattr(bench, "make_model", perturbed)
    cases = {"burgers": bench.make_case("burgers")}
    with pytest.raises(SystemExit, match="agreement check FAILED for burgers/pinnlab"):
        bench.check_agreement(cases, ["pinnlab", "autograd"], bench.parse_args([]))


deepxde_needed = pytest.mark.skipif(importlib.util.find_spec("deepxde") is None,
                                    reason="DeepXDE is a benchmark dependency (pip install -e '.[bench]')")


@deepxde_needed
def test_every_case_computes_the_same_residual_in_both_libraries(bench: ModuleType) -> None:
    args = bench.parse_args([])
    dde = bench.import_deepxde()
    assert set(bench.PROBLEMS) == {"burgers", "burgers-hard", "kdv", "ks", "poisson10"}
    for name in bench.PROBLEMS:
        difference = bench.agreement(bench.make_case(name), ["pinnlab", "autograd", "deepxde"], args, dde)
        assert set(difference) == {"pinnlab", "deepxde", "pinnlab vs deepxde"}, name
        assert max(difference.values()) <= bench.TOLERANCE["float32"], (name, difference)


@deepxde_needed
def test_a_deepxde_residual_that_differs_stops_the_run(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    case = bench.make_case("kdv")

    def wrong_dispersion(grad, x, u):  # 0.0025 u_xxx written as 0.025 u_xxx
        return case.deepxde_residual(grad, x, u) + 0.0225 * grad.jacobian(grad.hessian(u, x, i=0, j=0), x, i=0, j=0)

    cases = {"kdv": dataclasses.replace(case, deepxde_residual=wrong_dispersion)}
    with pytest.raises(SystemExit, match="agreement check FAILED for kdv/deepxde, kdv/pinnlab vs deepxde"):
        bench.check_agreement(cases, ["pinnlab", "autograd", "deepxde"], bench.parse_args([]))
