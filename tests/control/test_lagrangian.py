"""The augmented Lagrangian for inequalities: the multiplier and penalty rule on numbers, and the
method on a problem with a known KKT point."""

from __future__ import annotations

import pytest
import torch

from pinnlab.control.lagrangian import Penalty, lagrangian_term, max_violation, update


def test_update_rule_on_numbers() -> None:
    c = torch.tensor([0.5, -1.0, 0.0])
    lam = torch.tensor([0.0, 0.3, 1.0])
    new, mu, violation = update(c, lam, 2.0, None, Penalty(mu_factor=10.0, mu_max=100.0))
    assert new.tolist() == [1.0, 0.0, 1.0]  # max(0, lambda + mu c)
    assert violation == 0.5 and mu == 20.0  # first iteration with a violation: mu grows
    _, mu, _ = update(torch.tensor([0.1]), torch.zeros(1), 20.0, 0.5, Penalty(progress=0.25))
    assert mu == 20.0  # 0.1 <= 0.25 * 0.5: enough progress, mu stays
    _, mu, _ = update(torch.tensor([0.2]), torch.zeros(1), 50.0, 0.5, Penalty(mu_max=100.0))
    assert mu == 100.0  # capped
    _, mu, violation = update(torch.tensor([-0.2]), torch.zeros(1), 50.0, 0.5, Penalty())
    assert (mu, violation) == (50.0, 0.0)  # satisfied: nothing to push
    assert max_violation(torch.zeros(0)) == 0.0


def test_term_value_and_gradient() -> None:
    c = torch.tensor([0.5, -1.0], requires_grad=True)
    lam, mu = torch.tensor([1.0, 0.2]), 4.0
    term = lagrangian_term(c, lam, mu, samples=2)
    # (max(0, 1 + 2)^2 - 1) / 8 / 2 + (max(0, 0.2 - 4)^2 - 0.04) / 8 / 2
    assert float(term.detach()) == pytest.approx((9 - 1) / 16 + (0 - 0.04) / 16)
    term.backward()
    assert c.grad.tolist() == pytest.approx([3.0 / 2, 0.0])  # (lambda + mu c)_+ / samples


def test_method_finds_the_kkt_point() -> None:
    """min (t - 2)^2 s.t. t <= 1: t* = 1 with multiplier lambda* = 2."""
    t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    lam, mu, previous = torch.zeros(1, dtype=torch.float64), 1.0, None
    for _ in range(12):
        optimizer = torch.optim.LBFGS([t], max_iter=50, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = (t - 2).square().sum() + lagrangian_term(t - 1, lam, mu, 1)
            loss.backward()
            return loss

        optimizer.step(closure)
        lam, mu, previous = update(t.detach() - 1, lam, mu, previous, Penalty(mu=1.0))
    assert float(t.detach()) == pytest.approx(1.0, abs=1e-6)
    assert float(lam) == pytest.approx(2.0, abs=1e-5)
