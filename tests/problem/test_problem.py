"""The equation-module contract: good modules load, malformed ones fail early and say why."""

import textwrap

import pytest

from pinnlab import EquationError, load_problem, resolve_settings
from pinnlab.commands.main import main
from pinnlab.derivatives.derivative import Derivative

GOOD = """
import torch
from pinnlab import Dirichlet, Initial, Interval, TimeInterval, Exact

nu = 0.1
domain = Interval(0, 1) * TimeInterval(0, 1)
fields = ["u"]

def residual(u, u_t, u_xx):
    return u_t - nu * u_xx

conditions = {
    "initial": Initial(lambda x: torch.sin(torch.pi * x)),
    "walls": Dirichlet(0.0),
}
reference = Exact(lambda x, t: torch.exp(-nu * torch.pi**2 * t) * torch.sin(torch.pi * x))
defaults = {"adam.steps": 10}
"""


def write(tmp_path, text, name="eq.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def replace(old, new):
    assert old in GOOD
    return GOOD.replace(old, new)


def test_good_module_loads(tmp_path):
    problem = load_problem(write(tmp_path, GOOD))
    assert problem.name == "eq"
    assert problem.inputs == ("x", "t") and problem.fields == ("u",)
    assert problem.residuals["residual"].derivatives == {
        Derivative("u", ()), Derivative("u", (1,)), Derivative("u", (0, 0))}
    assert set(problem.conditions) == {"initial", "walls"}
    assert problem.defaults == {"adam.steps": 10}


@pytest.mark.parametrize("text,message", [
    (replace("def residual(u, u_t, u_xx)", "def other(u, u_t, u_xx)"), r"eq\.py: defines no 'residual'"),
    (replace("u_t, u_xx):", "u_t, u_qq):"), r"eq\.py: residual 'residual': 'u_qq'.*'qq'.*inputs: x, t"),
    (replace("u_t, u_xx):", "u_t, w_xx):"), r"eq\.py: residual 'residual': 'w_xx'.*'w', which is not a field"),
    (replace("u_t, u_xx):", "u_t, nuu):"), r"eq\.py: residual 'residual': 'nuu'"),
    (replace('Dirichlet(0.0)', 'Dirichlet(0.0, on=lambda x, t: x > 5)'),
     r"eq\.py: condition 'walls': the boundary selection 'on' matches no point"),
    (replace('Dirichlet(0.0)', 'Dirichlet(0.0, on="top")'),
     r"eq\.py: condition 'walls': 'top' is not a boundary part.*x_min"),
    (replace('Dirichlet(0.0)', 'Dirichlet(lambda x, t: torch.zeros(3))'),
     r"eq\.py: condition 'walls': value returned shape \(3,\); expected \(16,\)"),
    (replace('Dirichlet(0.0)', 'Dirichlet(0.0, field="v")'),
     r"eq\.py: condition 'walls': 'v' is not a field"),
    (replace('Dirichlet(0.0)', 'Dirichlet(lambda x, t: torch.log(x - 2))'),
     r"eq\.py: condition 'walls': value is not finite"),
    (replace("reference = Exact(", "from pinnlab import GridData\nreference = GridData('nowhere.npz', axes={'x': 'x', 't': 't'}, fields={'u': 'u'})\nunused = ("),
     r"reference file .*nowhere\.npz does not exist"),
    (replace('fields = ["u"]', 'fields = ["u_1"]'), r"'fields' entries must be identifiers without '_'"),
    (replace("domain = Interval(0, 1) * TimeInterval(0, 1)", "domain = Interval(0, 1)")
     .replace("u_t, u_xx):", "u_xx):").replace("u_t - nu", "-nu"),
     r"condition 'initial': an initial condition needs a time-dependent domain"),
    (replace('fields = ["u"]', 'fields = ["u", "v"]'), r"condition 'initial'.*say which one with field="),
    (replace("nu = 0.1", "nu = 1 / 0 * undefined"), r"eq\.py: importing the module failed: ZeroDivisionError"),
    (replace('"walls": Dirichlet(0.0)', '"residual": Dirichlet(0.0)'), r"eq\.py: loss term name\(s\) residual used twice"),
])
def test_malformed_modules_fail_before_training(tmp_path, text, message):
    with pytest.raises(EquationError, match=message):
        load_problem(write(tmp_path, text))


def test_unknown_default_setting_is_refused_before_training(tmp_path):
    problem = load_problem(write(tmp_path, replace('defaults = {"adam.steps": 10}', 'defaults = {"stepz": 10}')))
    with pytest.raises(EquationError, match=r"eq\.py: defaults: unknown setting 'stepz' \(did you mean 'steps'"):
        resolve_settings(problem)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(EquationError, match="missing.py does not exist"):
        load_problem(tmp_path / "missing.py")


def test_cli_reports_one_line_and_exit_status_2(tmp_path, capsys):
    path = write(tmp_path, replace("u_t, u_xx):", "u_t, u_q):"))
    status = main(["solve", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "u_q" in err and "eq.py" in err
    assert not (tmp_path / "out").exists()


def test_cli_rejects_unknown_setting(tmp_path, capsys):
    status = main(["solve", str(write(tmp_path, GOOD)), "--set", "widht=3", "--quiet"])
    assert status == 2
    assert "unknown setting 'widht'" in capsys.readouterr().err


def test_unknown_loss_weight_is_refused(tmp_path, capsys):
    status = main(["solve", str(write(tmp_path, GOOD)), "--set", "weights=initial:10,wals:2",
                   "--out", str(tmp_path / "out"), "--quiet"])
    assert status == 2
    assert "unknown loss term(s) wals; terms are residual, initial, walls" in capsys.readouterr().err


def test_problem_define_from_python():
    from pinnlab import Dirichlet, Problem, Rectangle

    problem = Problem.define(
        "laplace", domain=Rectangle((0, 0), (1, 1)), residual=lambda u_xx, u_yy: u_xx + u_yy,
        conditions={"edge": Dirichlet(1.0)},
    )
    assert problem.inputs == ("x", "y") and problem.name == "laplace"


@pytest.mark.parametrize("text,message", [
    (replace("return u_t - nu * u_xx", "u_t - nu * u_xx"), r"eq\.py: residual 'residual' returned None.*return"),
    (replace("return u_t - nu * u_xx", "return torch.zeros(3, 2)"),
     r"eq\.py: residual 'residual' returned shape \(3, 2\); expected \(16,\)"),
    (replace("reference = Exact(lambda x, t: torch.exp(-nu * torch.pi**2 * t) * torch.sin(torch.pi * x))",
             "reference = Exact(lambda x, t: {'v': x})"),
     r"eq\.py: reference returned no value for field\(s\) u"),
])
def test_errors_in_user_functions_stop_before_training(tmp_path, capsys, text, message):
    # a million steps would time the test out: the error must come before training starts
    status = main(["solve", str(write(tmp_path, text)), "--steps", "1000000", "--out",
                   str(tmp_path / "out"), "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    import re
    assert re.search(message, err), err
