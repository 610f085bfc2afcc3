"""Each condition's residual vanishes for a function that satisfies it, and only then."""

import math

import pytest
import torch

from pinnlab import (
    Dirichlet, Disk, Initial, InitialRate, Interval, Neumann, Periodic, Problem, Rectangle, Robin,
    TimeInterval,
)
from pinnlab.training.losses import condition_residual
from pinnlab.geometry.sampling import make_sampler


class Closed(torch.nn.Module):
    """A 'network' that is a closed-form function, so condition residuals are known."""

    def __init__(self, function):
        super().__init__()
        self.function = function
        self.fields = ("u",)

    def forward(self, p):
        return self.function(p)[:, None]


def residual_of(problem, name, function, n=64):
    batch = problem.conditions[name].sample(name, problem.layout, n, make_sampler("sobol", 3),
                                            torch.float64, torch.device("cpu"))
    return condition_residual(problem, Closed(function), name, batch)


def define(domain, **conditions):
    return Problem.define("t", domain=domain, residual=lambda u: u, conditions=conditions)


def test_dirichlet_with_function_value():
    problem = define(Rectangle((0, 0), (2, 1)), edge=Dirichlet(lambda x, y: x * y))
    assert residual_of(problem, "edge", lambda p: p[:, 0] * p[:, 1]).abs().max() < 1e-12
    assert residual_of(problem, "edge", lambda p: p[:, 0]).abs().max() > 0.1


def test_neumann_uses_outward_normal_on_a_disk():
    # u = r^2 / 2 has du/dn = r = 0.5 on the circle of radius 0.5
    problem = define(Disk((0, 0), 0.5), rim=Neumann(0.5))
    r2 = lambda p: (p**2).sum(1) / 2
    assert residual_of(problem, "rim", r2).abs().max() < 1e-9
    assert residual_of(problem, "rim", lambda p: -r2(p)).abs().max() > 0.9  # inward sign is wrong


def test_neumann_on_named_part_only():
    problem = define(Rectangle((0, 0), (1, 1)), right=Neumann(2.0, on="x_max"))
    assert residual_of(problem, "right", lambda p: p[:, 0] ** 2).abs().max() < 1e-12


def test_robin_combines_value_and_flux():
    # on x_max of [0,1]^2: u = e^x gives u + 2 u_x = 3e
    problem = define(Rectangle((0, 0), (1, 1)), r=Robin(3 * math.e, on="x_max", alpha=1.0, beta=2.0))
    assert residual_of(problem, "r", lambda p: torch.exp(p[:, 0])).abs().max() < 1e-12


def test_periodic_matches_values_and_slopes():
    problem = define(Interval(-1, 1) * TimeInterval(0, 1), per=Periodic("x", order=2))
    periodic = lambda p: torch.cos(math.pi * p[:, 0]) * (1 + p[:, 1])
    assert residual_of(problem, "per", periodic).abs().max() < 1e-12
    assert residual_of(problem, "per", lambda p: p[:, 0]).abs().max() > 1.0  # u differs: 2
    assert residual_of(problem, "per", lambda p: torch.sin(math.pi * p[:, 0])).abs().max() < 1e-12
    kink = lambda p: (p[:, 0] ** 2 - 1) * (1 + p[:, 1])  # equal (zero) values, opposite slopes
    assert residual_of(problem, "per", kink).abs().max() > 1.0
    assert residual_of(problem, "per", lambda p: torch.sin(math.pi * p[:, 0] / 2)).abs().max() > 1.0


def test_initial_value_and_rate_apply_at_t0():
    domain = Interval(0, 1) * TimeInterval(0.5, 2)
    problem = define(domain, ic=Initial(lambda x: x**2), rate=InitialRate(lambda x: 3 * x**2))
    u = lambda p: p[:, 0] ** 2 * (1 + 3 * (p[:, 1] - 0.5))
    assert residual_of(problem, "ic", u).abs().max() < 1e-12
    assert residual_of(problem, "rate", u).abs().max() < 1e-12
    batch = problem.conditions["ic"].sample("ic", problem.layout, 10, make_sampler("uniform"),
                                            torch.float64, torch.device("cpu"))
    assert torch.all(batch.points[:, 1] == 0.5)


def test_periodic_needs_box_faces():
    from pinnlab import EquationError

    with pytest.raises(EquationError, match="periodic in 'x' needs a domain with faces"):
        define(Disk((0, 0), 1), per=Periodic("x"))
