"""Closed-loop rollouts: exact on the double integrator, and their gradients with respect to the
policy's parameters against central finite differences (fixed-step RK4 and adaptive dopri5)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pinnlab.control.policy import Policy
from pinnlab.control.problem import load_control
from pinnlab.control.rollout import Integrator, closed_loop, margins

ROOT = Path(__file__).resolve().parents[2]
LINEAR = load_control(ROOT / "equations/control/double_integrator.py")
NONLINEAR = load_control(ROOT / "equations/control/van_der_pol.py")


def test_double_integrator_steps_are_exact() -> None:
    """Piecewise-constant acceleration: p+ = p + v dt + a dt^2 / 2, v+ = v + a dt (RK4 is exact)."""
    x0 = torch.tensor([[1.0, -0.5], [-2.0, 0.3]], dtype=torch.float64)
    run = closed_loop(LINEAR, lambda x: torch.full((len(x), 1), 0.7, dtype=x.dtype), x0, steps=3)
    dt, a = LINEAR.dt, 0.7
    p, v = x0[:, 0].clone(), x0[:, 1].clone()
    cost = torch.zeros(2, dtype=torch.float64)
    for k in range(3):
        cost += p * p + v * v + 0.1 * a * a
        p, v = p + v * dt + a * dt * dt / 2, v + a * dt
        assert torch.allclose(run.states[k + 1], torch.stack([p, v], 1), atol=1e-14)
    c = LINEAR.constants
    cost += c["P11"] * p * p + 2 * c["P12"] * p * v + c["P22"] * v * v
    assert torch.allclose(run.cost, cost, atol=1e-12)
    assert torch.allclose(margins(LINEAR, run.states)[:, :, 0], 1 - run.states[1:, :, 1].abs(), atol=1e-15)


def test_policy_outputs_stay_within_the_input_bounds() -> None:
    policy = Policy(LINEAR, width=8, depth=1)
    with torch.no_grad():
        for p in policy.parameters():
            p.mul_(100.0)  # saturate the tanh
        u = policy(torch.randn(1000, 2, dtype=torch.float64) * 10)
    assert float(u.abs().max()) <= 1.0 and float(u.abs().max()) > 0.999


@pytest.mark.parametrize(("problem", "integrator"), [
    (LINEAR, Integrator("rk4")), (NONLINEAR, Integrator("rk4", substeps=2)),
    (NONLINEAR, Integrator("dopri5", rtol=1e-11, atol=1e-12)),
])
def test_gradient_matches_finite_differences(problem, integrator: Integrator) -> None:
    short = problem.__class__(**{**problem.__dict__, "horizon": 6})
    policy = Policy(short, width=6, depth=1, seed=3)
    x0 = short.sample_initial(5, torch.Generator().manual_seed(1))
    params = list(policy.parameters())

    def objective() -> torch.Tensor:
        run = closed_loop(short, policy, x0, integrator)
        return run.cost.mean() + 10 * torch.relu(-margins(short, run.states)).square().sum()

    policy.zero_grad()
    objective().backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in params])
    direction = torch.randn(gradient.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    h, values = 1e-5, []
    with torch.no_grad():
        for sign in (1, -1):
            offset = 0
            for p in params:
                p.add_(sign * h * direction[offset:offset + p.numel()].reshape(p.shape))
                offset += p.numel()
            values.append(float(objective()))
            offset = 0
            for p in params:
                p.sub_(sign * h * direction[offset:offset + p.numel()].reshape(p.shape))
                offset += p.numel()
    finite = (values[0] - values[1]) / (2 * h)
    assert float(gradient @ direction) == pytest.approx(finite, rel=1e-5)


def test_numpy_form_is_the_same_law() -> None:
    policy = Policy(NONLINEAR, width=7, depth=3, seed=4)
    law = policy.as_numpy()
    x = NONLINEAR.sample_initial(5, torch.Generator().manual_seed(8))
    with torch.no_grad():
        expected = policy(x).numpy()
    for state, u in zip(x.numpy(), expected):
        assert abs(law(state) - u).max() < 1e-14
