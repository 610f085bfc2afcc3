"""Control modules: the shipped ones load; each kind of bad input is one line naming the field,
and the CLI turns it into exit status 2."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pinnlab.commands.main import main
from pinnlab.control.problem import define_control, load_control
from pinnlab.problem.binding import EquationError

ROOT = Path(__file__).resolve().parents[2]
GOOD = '''
states = ["p", "v"]
inputs = ["a"]
dt = 0.2
horizon = 5
def dynamics(p, v, a):
    return {"p": v, "v": a}
def stage_cost(p, v, a):
    return p * p + v * v + a * a
input_bounds = {"a": (-1.0, 1.0)}
state_bounds = {"v": (-1.0, 1.0)}
initial_states = {"p": (-1.0, 1.0), "v": (-0.5, 0.5)}
'''


def namespace(source: str = GOOD) -> dict:
    found: dict = {}
    exec(source, found)  # noqa: S102 - the test's own module text
    return found


def test_shipped_modules_load() -> None:
    linear = load_control(ROOT / "equations/control/double_integrator.py")
    assert linear.states == ("p", "v") and linear.inputs == ("a",) and linear.horizon == 25
    assert linear.state_bounds == ((-math.inf, math.inf), (-1.0, 1.0)) and linear.bounded_states == [1]
    nonlinear = load_control(ROOT / "equations/control/van_der_pol.py")
    assert nonlinear.state_bounds[1] == (-1.5, math.inf) and nonlinear.constants == {"mu": 1.0}


BAD = [
    (GOOD.replace("def dynamics(p, v, a)", "def dynamics(p, q, a)"),
     "dynamics: unknown parameter 'q' (it may use: p, v, a, math)"),
    (GOOD.replace('return {"p": v, "v": a}', 'return {"p": v}'),
     "dynamics must return dx/dt for exactly the states p, v; missing: v"),
    (GOOD.replace('"v": (-1.0, 1.0)}\ninitial', '"v": (1.0, -1.0)}\ninitial'),
     "state_bounds['v']: lower bound 1.0 > upper bound -1.0"),
    (GOOD.replace("horizon = 5", "horizon = 0"), "'horizon' must be a whole number of steps > 0, got 0"),
    (GOOD.replace("dt = 0.2", "dt = -1"), "'dt' must be a number > 0, got -1"),
    (GOOD.replace('{"a": (-1.0, 1.0)}', '{"a": (-1.0, None)}'), "input_bounds['a'] must be finite numbers"),
    (GOOD.replace('initial_states = {"p": (-1.0, 1.0), ', 'initial_states = {'),
     "initial_states must give (lower, upper) for every one of p, v; missing: p"),
    (GOOD.replace('state_bounds = {"v"', 'state_bounds = {"w"'), "state_bounds: 'w' is not one of p, v"),
    (GOOD.replace("return p * p + v * v + a * a", "return None"), "stage_cost returned None"),
]


@pytest.mark.parametrize(("source", "message"), BAD)
def test_bad_module_is_one_line_naming_the_field(source: str, message: str) -> None:
    with pytest.raises(EquationError) as caught:
        define_control(namespace(source), "m.py")
    assert str(caught.value).startswith("m.py: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("source", "message"), BAD[:4])
def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str,
                                        message: str) -> None:
    module = tmp_path / "bad.py"
    module.write_text(source)
    assert main(["control", str(module), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pinnlab control: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "good.py"
    module.write_text(GOOD)
    assert main(["control", str(module), "--set", "widht=3", "--quiet"]) == 2
    assert "--set: unknown setting 'widht'" in capsys.readouterr().err
    assert main(["control", str(module), "--set", "method=euler", "--quiet"]) == 2
    assert "method must be one of rk4" in capsys.readouterr().err
    assert main(["control", str(tmp_path / "missing.py"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
