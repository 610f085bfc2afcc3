"""Unknown: each parameterisation maps its raw number to the value and back and keeps the sign
or range; functions take unknowns by name with their live value; a bad declaration is one
EquationError line (load_problem) or one error line with exit status 2 (the command line)."""

from __future__ import annotations

import contextlib
import io
import math
import re

import numpy as np
import pytest
import torch

from pinnlab import EquationError, Interval, Problem, Unknown, load_problem
from pinnlab.commands.main import main
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.field_model import FieldModel, unknown_values
from pinnlab.model.network import MLP


@pytest.mark.parametrize("unknown, kind", [
    (Unknown(0.05, positive=True), "log"),
    (Unknown(0.3, lower=0.0, upper=2.0), "bounded"),
    (Unknown(3.0, lower=1.0), "above"),
    (Unknown(-3.0, upper=-1.0), "below"),
    (Unknown(-0.7), "plain"),
])
def test_each_parameterisation_maps_back_and_keeps_its_range(unknown, kind):
    assert unknown.kind == kind
    raw = unknown.raw(unknown.initial)
    value = float(unknown.value(torch.tensor(raw, dtype=torch.float64)))
    assert value == pytest.approx(unknown.initial, rel=1e-14)
    extremes = [float(unknown.value(torch.tensor(r, dtype=torch.float64))) for r in (-30.0, 30.0)]
    if kind == "log":
        assert all(v > 0 for v in extremes)
    if kind == "bounded":
        assert all(0.0 <= v <= 2.0 for v in extremes)
    if kind == "above":
        assert all(v >= 1.0 for v in extremes)
    if kind == "below":
        assert all(v <= -1.0 for v in extremes)
    # the slope is d value / d raw, checked against autograd
    r = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(unknown.value(r), r) if kind != "plain" else (torch.tensor(1.0),)
    assert unknown.slope(raw) == pytest.approx(float(slope), rel=1e-12)


def test_functions_see_the_live_value_of_an_unknown():
    problem = Problem.define("p", domain=Interval(0.0, 1.0), residual=lambda u_xx, k: u_xx - k,
                             output_transform=lambda x, u, k: k * x * (1 - x) * u,
                             unknowns={"k": Unknown(2.0, positive=True)})
    model = FieldModel(MLP(1, 1, 8, 2, lower=np.array([0.0]), upper=np.array([1.0])), problem).double()
    x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    before = model(x)
    with torch.no_grad():
        model.unknowns.raw_k.copy_(torch.tensor(math.log(6.0), dtype=torch.float64))  # k: 2 -> 6
    assert float(unknown_values(model)["k"].detach()) == pytest.approx(6.0)
    torch.testing.assert_close(model(x), 3 * before)  # the transform read the new k
    residual = problem.residuals["residual"]
    assert residual.unknowns_used == ("k",)
    values = {Derivative("u", (0, 0)): torch.zeros(5, dtype=torch.float64)}
    torch.testing.assert_close(residual(x, values, unknown_values(model)), torch.full((5,), -6.0, dtype=torch.float64),
                               rtol=1e-15, atol=0)
    assert "unknowns.raw_k" in model.state_dict()


MODULE = '''
from pinnlab import Dirichlet, Interval, Unknown
domain = Interval(0.0, 1.0)
conditions = {"ends": Dirichlet(0.0)}
def residual(u_xx, x, k):
    return u_xx + k
constants = {"c": 1.0}
'''

BAD = {
    "outside bounds": ('{"k": Unknown(3.0, lower=0.0, upper=2.0)}', r"unknown 'k': initial 3.0 must lie below upper=2.0"),
    "positive": ('{"k": Unknown(-1.0, positive=True)}', r"unknown 'k': positive=True needs initial > 0, got -1.0"),
    "bounds reversed": ('{"k": Unknown(1.0, lower=2.0, upper=0.0)}', r"unknown 'k': needs lower < upper"),
    "positive and bounds": ('{"k": Unknown(1.0, positive=True, upper=3.0)}', r"unknown 'k': give positive=True or"),
    "not finite": ('{"k": Unknown(float("nan"))}', r"unknown 'k': initial must be a finite number, got nan"),
    "not an Unknown": ('{"k": 1.0}', r"unknown 'k' must be Unknown\(initial, ...\), got float"),
    "input clash": ('{"k": Unknown(1.0), "x": Unknown(1.0)}', r"unknown 'x': the name is an input; choose another"),
    "field clash": ('{"k": Unknown(1.0), "u": Unknown(1.0)}', r"unknown 'u': the name is a field"),
    "constant clash": ('{"k": Unknown(1.0), "c": Unknown(1.0)}', r"unknown 'c': the name is a constant"),
    "derivative clash": ('{"k": Unknown(1.0), "u_x": Unknown(1.0)}', r"unknown 'u_x': the name is the name of a derivative"),
    "unused": ('{"k": Unknown(1.0), "q": Unknown(1.0)}', r"unknown\(s\) q appear in no residual or output_transform"),
    "not a dict": ('[Unknown(1.0)]', r"'unknowns' must be a dict \{name: Unknown\(...\)\}, got list"),
}


def bad_module(tmp_path, case: str):
    path = tmp_path / "bad.py"
    path.write_text(MODULE + f"unknowns = {BAD[case][0]}\n")
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_unknown_is_one_line_from_load_problem(tmp_path, case):
    path = bad_module(tmp_path, case)
    with pytest.raises(EquationError, match=BAD[case][1]) as raised:
        load_problem(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


@pytest.mark.parametrize("case", ["outside bounds", "positive", "field clash", "unused"])
def test_a_bad_unknown_is_one_line_and_status_2_from_the_command_line(tmp_path, case):
    path = bad_module(tmp_path, case)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["solve", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err.getvalue()
    assert lines[0].startswith(f"pinnlab solve: error: {path}: ") and re.search(BAD[case][1], lines[0])
    assert not (tmp_path / "out").exists()


def test_a_misspelt_unknown_in_a_residual_lists_the_unknowns(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(MODULE.replace("u_xx + k", "u_xx + kk").replace("x, k)", "x, kk)")
                    + 'unknowns = {"k": Unknown(1.0)}\n')
    with pytest.raises(EquationError, match=r"residual 'residual': .*'kk'"):
        load_problem(path)
