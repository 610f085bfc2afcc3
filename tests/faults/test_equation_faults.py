"""Mistakes in equation modules: one line naming the module, the function and what went wrong,
exit status 2, nothing written; pinnlab's own bugs keep their traceback (cases 3, 9, 10, 11)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from pinnlab.problem.binding import EquationError
from pinnlab.problem.equation_module import load_problem

from .conftest import one_error_line, run_cli, solve_args

QUICK = ("--steps", "30", "--lbfgs-steps", "0")


def failed_solve(module, tmp_path, *extra) -> str:
    out = tmp_path / "out"
    status, err = run_cli(*solve_args(module, out, *QUICK, *extra))
    line = one_error_line(err)
    assert status == 2, line
    assert not out.exists(), "nothing is written for a run that fails before its first file"
    return line


@pytest.mark.parametrize("transform", [
    "def output_transform(x, u):\n    return 5\n",
    "def output_transform(x, u):\n    return x * (1 - x) * u.detach()\n",
    "def output_transform(x, u):\n    return 0 * u + x\n",
])
def test_a_transform_that_ignores_the_network_is_refused_at_load(variant, transform):
    """Case 3: such a transform trained with a residual loss of 0 and reported an error of 8."""
    module = variant("constant", transform)
    with pytest.raises(EquationError, match=r"constant.py: output_transform: its value for field 'u' does "
                                            r"not depend on the network's output"):
        load_problem(module)


def test_a_transform_of_the_network_still_loads(variant):
    problem = load_problem(variant("hard", "def output_transform(x, u):\n    return x * (1 - x) * u\n"))
    assert problem.output_transform is not None


@pytest.mark.parametrize("code, function, kind", [
    ("def residual(u_xx, x):\n    raise RuntimeError('residual broke')\n", "function residual", "RuntimeError: residual broke"),
    ("def output_transform(x, u):\n    return u\n\ndef output_transform(x, u):\n    raise ValueError('transform broke')\n",
     "function output_transform", "ValueError: transform broke"),
    ("def boom(x):\n    raise ZeroDivisionError('no')\nconditions = {'ends': Dirichlet(boom)}\n",
     "function boom", "ZeroDivisionError: no"),
    ("def exact(x):\n    raise KeyError('k')\nreference = Exact(exact)\n", "function exact", "KeyError: 'k'"),
])
def test_exceptions_of_user_code_name_module_function_and_message(variant, tmp_path, code, function, kind):
    """Case 9: a RuntimeError printed a 35-47-line traceback, a ValueError only its message."""
    module = variant("raising", code)
    line = failed_solve(module, tmp_path)
    assert str(module) in line and function in line and kind in line, line
    assert ", line " in line


def test_an_exception_of_user_code_during_training_is_one_line_too(variant, tmp_path):
    code = ("calls = [0]\n"
            "def residual(u_xx, x):\n"
            "    calls[0] += 1\n"
            "    if calls[0] > 40:\n"
            "        raise RuntimeError('late failure')\n"
            "    return u_xx + math.pi**2 * torch.sin(math.pi * x)\n")
    module = variant("late", code)
    out = tmp_path / "out"
    status, err = run_cli(*solve_args(module, out, "--steps", "100", "--lbfgs-steps", "0"))
    line = one_error_line(err)
    assert status == 2 and "residual 'residual'" in line and str(module) in line and "late failure" in line


def test_a_bug_in_pinnlab_keeps_its_traceback(equation, tmp_path, monkeypatch):
    """A ValueError from a library called by pinnlab is not the user's: it propagates whole."""
    def broken(model, problem, grid):
        return {"u": np.zeros(3).reshape(2)}  # numpy raises ValueError

    monkeypatch.setattr(importlib.import_module("pinnlab.solver.job"), "predict_on_grid", broken)
    with pytest.raises(ValueError, match="cannot reshape"):
        run_cli(*solve_args(equation, tmp_path / "out", *QUICK))


@pytest.mark.parametrize("code, term", [
    ("def residual(u_xx, x):\n    return u_xx / 0 * 0\n", "residual 'residual'"),
    ("def output_transform(x, u):\n    return u * x / x  # 0/0 at x = 0, on the boundary only\n",
     "condition 'ends'"),
])
def test_a_loss_that_is_nan_from_the_start_says_what_is_true(variant, tmp_path, code, term):
    """Case 10: three pointless rollbacks, then a message about a checkpoint that did not exist."""
    module = variant("nan", code)
    line = failed_solve(module, tmp_path)
    assert f"{term} is nan at step 0" in line and str(module) in line
    assert "no checkpoint was written" in line and "last.pt" not in line
    assert "rolled back" not in line


def test_a_nan_after_checkpoints_names_the_last_one_truly(variant, tmp_path):
    code = ("calls = [0]\n"
            "def residual(u_xx, x):\n"
            "    calls[0] += 1\n"
            "    r = u_xx + math.pi**2 * torch.sin(math.pi * x)\n"
            "    return r * float('nan') if calls[0] > 160 else r\n")
    module = variant("later", code)
    out = tmp_path / "out"
    status, err = run_cli(*solve_args(module, out, "--steps", "300", "--lbfgs-steps", "0", "--set", "checkpoint.rollbacks=1"))
    assert status == 1
    last = err.strip().splitlines()[-1]
    assert "residual 'residual' for divisions" in last and "after 1 rollback(s)" in last
    assert f"the last complete checkpoint is {out / 'checkpoints' / 'last.pt'} (step 100)" in last


@pytest.mark.parametrize("code, message", [
    ("defaults = [1, 2]\n", "'defaults' must be a dict {name: value}, got list [1, 2]"),
    ("constants = (1, 2)\n", "'constants' must be a dict {name: value}, got tuple (1, 2)"),
])
def test_malformed_module_dicts(variant, tmp_path, code, message):
    """Case 11: ``defaults = [1, 2]`` gave a TypeError traceback."""
    module = variant("malformed", code)
    line = failed_solve(module, tmp_path)
    assert str(module) in line and message in line


def test_a_directory_as_the_equation(tmp_path):
    folder = tmp_path / "equations"
    folder.mkdir()
    line = failed_solve(folder, tmp_path)
    assert f"equation module {folder} is a directory" in line and "does not exist" not in line
