"""pinnlab/problem/labels.py and method_of_lines.py: cheap labels, their error, their bad inputs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnlab import Dirichlet, EquationError, Initial, Interval, Observations, Periodic, Problem, Rectangle, TimeInterval
from pinnlab.problem.burgers_exact import burgers_sine
from pinnlab.problem.equation_module import load_problem
from pinnlab.problem.labels import LABELS, FunctionLabels, MethodOfLines, attach_labels, check_labels

ROOT = Path(__file__).resolve().parents[2]


def with_labels(problem: Problem, spec) -> Problem:
    return dataclasses.replace(problem, labels=check_labels(spec, problem))


def test_coarse_burgers_labels_are_within_their_stated_error_of_cole_hopf() -> None:
    family = load_problem(ROOT / "equations" / "burgers_family.py")  # labels: MOL 64x51, 5 viscosities
    assert len(attach_labels(family)[0].data[LABELS].points) == 3000  # kept at random of 5 x 64 x 51
    labelled, report = attach_labels(with_labels(family, dataclasses.replace(family.labels, points=None)))
    observed = labelled.data[LABELS]
    assert observed.points.shape == (5 * 64 * 51, 3) and report.rows == len(observed.points)
    errors = []
    for nu in np.unique(observed.points[:, 2]):  # recomputed here from Cole-Hopf, independently
        rows = observed.points[:, 2] == nu
        exact = burgers_sine(observed.points[rows, 0], observed.points[rows, 1], float(nu))
        errors.append(np.linalg.norm(observed.values[rows, 0] - exact) / np.linalg.norm(exact))
    assert sorted(float(v["nu"]) for v in report.instances) == pytest.approx(np.linspace(0.003, 0.03, 5))
    assert np.mean(errors) == pytest.approx(report.mean, rel=1e-9) and max(errors) == pytest.approx(report.max)
    assert report.mean < 4e-2 and report.max < 8e-2  # as docs/parametric.md states: 3.2e-2, 7.2e-2
    assert report.metrics()["rel_l2_mean"] == report.mean and "3.21e-02" in report.line("burgers_family")


def test_heat_labels_converge_at_second_order_and_rhs_matches_the_residual() -> None:
    heat = load_problem(ROOT / "equations" / "heat_family.py")
    errors = [attach_labels(with_labels(heat, MethodOfLines(grid=(n, 11), instances=2)))[1].mean for n in (8, 16)]
    assert 3.0 < errors[0] / errors[1] < 5.0  # central differences: the error falls 4x per halving
    derived = attach_labels(with_labels(heat, MethodOfLines(grid=(8, 11), instances=2)))[0].data[LABELS]
    given = attach_labels(with_labels(heat, MethodOfLines(lambda u_xx, k: k * u_xx, grid=(8, 11),
                                                          instances=2)))[0].data[LABELS]
    np.testing.assert_allclose(given.values, derived.values, rtol=1e-9, atol=1e-12)


def advection(**extra) -> Problem:
    """u_t + u_x = 0.1 u_xx, periodic on [0, 2 pi): u = exp(-0.1 t) sin(x - t)."""
    namespace = dict(
        domain=Interval(0.0, 2 * math.pi) * TimeInterval(0.0, 1.0),
        residual=lambda u_t, u_x, u_xx: u_t + u_x - 0.1 * u_xx,
        conditions={"initial": Initial(lambda x: torch.sin(x)), "periodic": Periodic("x")},
        reference=lambda x, t: torch.exp(-0.1 * t) * torch.sin(x - t))
    return Problem.define("advection", **{**namespace, **extra})


def test_periodic_walls_and_the_users_function_and_data() -> None:
    labelled, report = attach_labels(advection(labels=MethodOfLines(grid=(64, 11))))
    assert report.max < 3e-3  # smooth, resolved: central differences, second order
    points = labelled.data[LABELS].points
    assert points[:, 0].max() == pytest.approx(2 * math.pi)  # the periodic copy of the first node
    exact = lambda x, t: torch.exp(-0.1 * t) * torch.sin(x - t)  # noqa: E731
    _, report = attach_labels(advection(labels=FunctionLabels(exact, grid=(9, 5))))
    assert report.max < 1e-12 and report.rows == 45
    x, t = np.meshgrid(np.linspace(0, 6, 7), np.linspace(0, 1, 3))
    data = {"x": x.ravel(), "t": t.ravel(), "u": 1.1 * np.exp(-0.1 * t.ravel()) * np.sin(x.ravel() - t.ravel())}
    labelled, report = attach_labels(advection(labels=Observations(data)))
    assert report.max == pytest.approx(0.1, rel=1e-9) and LABELS in labelled.data  # 10 % too large


@pytest.mark.parametrize("extra, expected", [
    ({"domain": Rectangle((0, 0), (1, 1)), "residual": lambda u_xx, u_yy: u_xx + u_yy, "conditions": {},
      "reference": None, "labels": MethodOfLines()}, "MethodOfLines solves 1-D time-dependent problems"),
    ({"labels": MethodOfLines(grid=(64,))}, "grid must be (nodes in x, times kept)"),
    ({"labels": MethodOfLines(scheme="spectral")}, "scheme must be hybrid, upwind or central"),
    ({"conditions": {"periodic": Periodic("x")}, "labels": MethodOfLines()}, "needs an Initial condition"),
    ({"conditions": {"initial": Initial(0.0)}, "labels": MethodOfLines()}, "needs periodic walls"),
    ({"residual": lambda u_tt, u_xx: u_tt - u_xx, "labels": MethodOfLines()}, "not u_t - F"),
    ({"residual": lambda u_t, u_x: u_t**2 + u_x, "labels": MethodOfLines()}, "not affine in u_t"),
    ({"labels": MethodOfLines(rhs=lambda u_t: u_t)}, "labels: rhs takes u_t"),
    ({"labels": MethodOfLines(instances={"nu": [0.1]})}, "declares no parameters"),
    ({"labels": 3.0}, "labels must be Observations"),
    ({"labels": Observations({"x": [1.0, 9.0], "t": [0.5, 0.5], "u": [0.0, 0.0]})}, "lie outside the domain"),
])
def test_bad_labels_are_one_line_naming_the_problem(extra, expected) -> None:
    with pytest.raises(EquationError) as caught:
        attach_labels(advection(**extra))
    message = str(caught.value)
    assert expected in message and message.startswith("problem 'advection'") and "\n" not in message


def test_label_values_outside_the_box_are_refused() -> None:
    heat = load_problem(ROOT / "equations" / "heat_family.py")
    with pytest.raises(EquationError, match=r"k=0.5 lies outside the trained box \[0.02, 0.2\]"):
        check_labels(MethodOfLines(instances={"k": [0.1, 0.5]}), heat)
    data = {"x": [0.5], "t": [0.5], "k": [0.9], "u": [0.0]}
    with pytest.raises(EquationError, match="outside the domain or the parameter box, the first at x=0.5, t=0.5, k=0.9"):
        check_labels(Observations(data), heat)
