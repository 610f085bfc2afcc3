"""The DWR estimator: adjoint = autograd, exact steps give zero, the sum predicts the change of J."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.growth import EulerNet, Objective, adjoint_states, estimate, load_dataset

OBJECTIVE = Objective(alpha=1e-3, beta=1e-3, gamma=1e-4)
PLAIN = Objective(alpha=1e-3, beta=0.0, gamma=1e-4)  # J changes by the discretization error only


def _problem(final_time: float = 2.0, layers: int = 4, seed: int = 0):
    data = load_dataset("spirals", seed=seed, samples=120)
    net = EulerNet.create(2, 2, 5, layers, final_time=final_time, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # controls that differ from layer to layer, as after training
        gen = torch.Generator().manual_seed(seed + 10)
        net.weight.mul_(1.5).add_(0.7 * torch.randn(net.weight.shape, generator=gen, dtype=torch.float64))
        net.bias.add_(0.5 * torch.randn(net.bias.shape, generator=gen, dtype=torch.float64))
    return net, data.x_train, data.y_train


def _total(net: EulerNet, x: torch.Tensor, y: torch.Tensor, objective: Objective = OBJECTIVE) -> float:
    with torch.no_grad():
        return float(objective.total(net, x, y))


def test_adjoint_sweep_equals_autograd_gradient() -> None:
    net, x, y = _problem()
    states = net.states(x)
    for s in states:
        s.retain_grad()
    (OBJECTIVE.data_loss(net, states[-1], y) + sum(OBJECTIVE.regularization(net).values())).backward()
    adjoints = adjoint_states(net, OBJECTIVE, x, y)
    assert len(adjoints) == net.num_layers + 1
    for p, s in zip(adjoints, states):
        assert p.dtype == torch.float64 and p.shape == s.shape
        torch.testing.assert_close(p, s.grad, rtol=1e-12, atol=1e-15)


def test_indicator_of_an_exact_step_is_zero() -> None:
    net, x, y = _problem()
    with torch.no_grad():
        net.weight[2].zero_()  # f(x, theta_3) = tanh(b_3) does not depend on x: Euler is exact
    est = estimate(net, OBJECTIVE, x, y)
    assert est.discretization.shape == (4,)
    assert est.primal[2] == 0.0 and est.adjoint[2] == 0.0
    scale = np.abs(est.discretization).max()
    assert scale > 1e-4  # the other layers are not exact
    assert np.all(np.abs(np.delete(est.discretization, 2)) > 1e-8 * scale)
    # splitting that layer changes the data loss by round-off only; J changes by the exactly
    # known regularization cost of the split
    def data(n: EulerNet) -> float:
        with torch.no_grad():
            return float(OBJECTIVE.terms(n, x, y)["data"])

    assert abs(data(net.split([2])) - data(net)) < 1e-14
    assert _total(net.split([2]), x, y) - _total(net, x, y) == pytest.approx(est.regularization[2], rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_indicators_predict_the_change_of_j_under_refinement(seed: int) -> None:
    """Without the h1 term J changes under refinement by the discretization error alone:
    sum eta_m = J(uniformly refined) - J(current) within a factor 1.25 (both ways), and per
    layer for single splits; the prediction becomes exact as the steps shrink."""
    net, x, y = _problem(seed=seed)
    est = estimate(net, PLAIN, x, y)
    assert np.all(est.regularization == 0)
    j = _total(net, x, y, PLAIN)
    true = _total(net.split_all(), x, y, PLAIN) - j
    assert abs(true) > 1e-3
    assert 0.8 <= est.total / true <= 1.25, est.total / true
    for m in range(net.num_layers):
        single = _total(net.split([m]), x, y, PLAIN) - j
        assert est.change[m] == pytest.approx(single, rel=0.25, abs=0.05 * abs(true))

    # the remainder is of higher order than the indicators: relative to sum |eta_m| the error of
    # the prediction shrinks as the steps shrink (same controls on [0, T], T smaller)
    errors = []
    for final_time in (2.0, 1.0, 0.5):
        net, x, y = _problem(final_time=final_time, seed=seed)
        true = _total(net.split_all(), x, y, PLAIN) - _total(net, x, y, PLAIN)
        est = estimate(net, PLAIN, x, y)
        errors.append(abs(est.total - true) / np.abs(est.change).sum())
    assert errors[0] < 0.05
    assert errors[2] < errors[1] < errors[0]


def test_regularization_part_is_the_exact_cost_of_a_split() -> None:
    net, x, y = _problem()
    est = estimate(net, OBJECTIVE, x, y)
    j = _total(net, x, y)
    true = _total(net.split_all(), x, y) - j
    assert 0.8 <= est.total / true <= 1.25
    assert est.total - est.discretization_total == pytest.approx(est.regularization.sum(), rel=1e-12)
    with torch.no_grad():
        h1 = float(OBJECTIVE.regularization(net)["h1"])
    assert est.regularization.sum() == pytest.approx(h1, rel=1e-12)  # uniform refinement doubles h1


def test_control_residual_is_nonpositive_and_vanishes_with_the_gradient() -> None:
    net, x, y = _problem()
    est = estimate(net, OBJECTIVE, x, y)
    assert est.armijo_step > 0
    assert np.all(est.control <= 0) and est.control.sum() < 0
    # the estimator does not modify the network
    before = [p.detach().clone() for p in net.parameters()]
    estimate(net, OBJECTIVE, x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
