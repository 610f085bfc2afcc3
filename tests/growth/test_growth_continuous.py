"""The torchdiffeq ODE-Net baseline."""

from __future__ import annotations

import pytest
import torch

from pinnlab.growth import ContinuousSettings, ODENet, load_dataset, train_ode_net

DATA = load_dataset("moons", seed=0, samples=200)


def test_fixed_step_and_adaptive_odenet_learn_moons() -> None:
    euler = train_ode_net(DATA, ContinuousSettings(method="euler", step_size=0.5, width=4, steps=60))
    assert euler.label == "odenet-euler(h=0.5)" and euler.evaluations_per_forward == 4
    assert euler.train_accuracy > 0.85
    dopri = train_ode_net(DATA, ContinuousSettings(method="dopri5", width=4, steps=15, rtol=1e-4, atol=1e-6))
    assert dopri.evaluations_per_forward >= 6 and dopri.train_accuracy > 0.7


def test_adjoint_gradients_match_backpropagation() -> None:
    net = ODENet(2, 2, 3, 1.0, torch.Generator().manual_seed(0))
    grads = {}
    for adjoint in (False, True):
        net.zero_grad()
        settings = ContinuousSettings(method="rk4", step_size=0.05, adjoint=adjoint)
        net(DATA.x_train[:50], settings).square().sum().backward()
        grads[adjoint] = torch.cat([p.grad.flatten() for p in net.parameters()])
    torch.testing.assert_close(grads[True], grads[False], rtol=1e-4, atol=1e-7)


def test_bad_solver_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="valid: euler, midpoint, rk4, dopri5"):
        ContinuousSettings(method="leapfrog")
    with pytest.raises(ValueError, match="needs a positive step_size"):
        ContinuousSettings(method="rk4")
