"""benchmarks/pina_runner.py: PINA's problems state the same equations as pinnlab's (residuals
of known functions against their closed forms), the network's column order matches PINA's own
prediction, and the time budget stops training. PINA is not a pinnlab dependency: without it
(pip install pina-mathlab) these tests are skipped."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("pina", reason="PINA is not installed (pip install pina-mathlab); it is a benchmark peer only")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import pina_runner  # noqa: E402


class Formula(torch.nn.Module):
    """A 'network' that returns a closed-form function of its (labelled) inputs."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, points):
        from pina import LabelTensor

        return LabelTensor(self.function(points), ["u"])


def residual_of(problem, condition: str, function, points: torch.Tensor, labels: list[str]) -> torch.Tensor:
    from pina import LabelTensor

    inputs = LabelTensor(points.clone().requires_grad_(True), labels)
    output = Formula(function)(inputs)
    return problem.conditions[condition].equation.residual(inputs, output).as_subclass(torch.Tensor).reshape(-1)


def test_the_burgers_residual_is_pinnlabs_on_a_known_function() -> None:
    problem = pina_runner.burgers_problem()
    points = torch.rand(50, 2, dtype=torch.float64) * torch.tensor([2.0, 0.99], dtype=torch.float64) \
        - torch.tensor([1.0, 0.0], dtype=torch.float64)
    x, t = points[:, 0], points[:, 1]
    # u = t sin x: u_t = sin x, u_x = t cos x, u_xx = -t sin x
    got = residual_of(problem, "interior", lambda p: p.extract(["t"]) * torch.sin(p.extract(["x"])), points, ["x", "t"])
    expected = torch.sin(x) + t * torch.sin(x) * t * torch.cos(x) + pina_runner.NU * t * torch.sin(x)
    assert torch.allclose(got, expected, atol=1e-12)
    # the initial condition's residual vanishes on -sin(pi x), and is 1 on -sin(pi x) + 1
    initial = residual_of(problem, "initial", lambda p: -torch.sin(math.pi * p.extract(["x"])) + 1, points, ["x", "t"])
    assert torch.allclose(initial, torch.ones_like(initial), atol=1e-12)


def test_the_poisson_residual_vanishes_on_the_manufactured_solution() -> None:
    problem = pina_runner.poisson_problem()
    points = torch.rand(50, 2, dtype=torch.float64)

    def exact(p):
        return pina_runner.poisson_exact(p.extract(["x"]), p.extract(["y"]))

    assert residual_of(problem, "interior", exact, points, ["x", "y"]).abs().max() < 1e-10
    assert residual_of(problem, "boundary", exact, points, ["x", "y"]).abs().max() < 1e-12
    shifted = residual_of(problem, "boundary", lambda p: exact(p) + 0.5, points, ["x", "y"])
    assert torch.allclose(shifted, torch.full_like(shifted, 0.5))


@pytest.mark.parametrize("name, points, widths", [("burgers", (2540, 160, 80), (20, 3)), ("poisson", (1200, 120), (50, 4))])
def test_setup_samples_the_example_points_and_orders_the_columns_as_pina_does(name, points, widths) -> None:
    run = pina_runner.setup(name, seed=0)
    assert tuple(len(p) for p in run.problem.discretised_domains.values()) == points
    linears = [m for m in run.model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == widths[1] + 1 and linears[0].out_features == widths[0]
    grid = torch.rand(30, 2)
    bare = run.model(grid[:, run.columns()])
    assert torch.allclose(bare, pina_runner.predict(run, grid), atol=1e-6)
    # the same seed gives the same network and points
    again = pina_runner.setup(name, seed=0)
    assert torch.equal(again.model(grid[:, again.columns()]), bare)


def test_the_budget_stops_training() -> None:
    run = pina_runner.setup("poisson", seed=0)
    before = [p.detach().clone() for p in run.model.parameters()]
    epochs = pina_runner.train(run, elapsed=lambda: 1.0, budget=0.0)  # over budget from the start
    assert epochs == 1  # the first Adam epoch ends the run; L-BFGS never starts
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))


def test_an_unknown_problem_is_named() -> None:
    with pytest.raises(ValueError, match="unknown problem 'heat'"):
        pina_runner.setup("heat", seed=0)
