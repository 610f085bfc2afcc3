"""The goal functional J of the optimal control problem, as named terms.

    J(theta) = data + tikhonov + h1 + head

    data     = mean cross-entropy of head(x_M) against the labels
    tikhonov = alpha / 2 * sum_m k_m |theta_m|^2                (L^2(0, T) norm of theta)
    h1       = beta / 2  * sum_{m>1} |theta_m - theta_{m-1}|^2 / k_m
               (discrete H^1 seminorm of theta: the time variation of the controls)
    head     = gamma / 2 * (|lift|^2 + |output layer|^2)        (plain weight decay)

When interval I_m is split with both halves keeping theta_m, the L^2 term is unchanged (k_m
splits into two halves), the new jump inside I_m is zero, and the jump into I_m is now divided
by k_m / 2: the h1 term grows by exactly  beta / 2 |theta_m - theta_{m-1}|^2 / k_m.  These
changes add up: splitting every layer changes h1 by the sum of the single-split changes
(it doubles).  :meth:`Objective.split_costs` returns them; the estimator adds them to the
predicted change of J.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from pinnlab.growth.ode_net import EulerNet

__all__ = ["Objective"]


@dataclass(frozen=True)
class Objective:
    """Weights of the regularization terms; call :meth:`terms` or :meth:`total`."""

    alpha: float = 1e-4
    beta: float = 1e-4
    gamma: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"objective weight '{name}' must be >= 0, got {getattr(self, name)}")

    def data_loss(self, net: EulerNet, final_state: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy of the output layer applied to ``x_M``."""
        return cross_entropy(net.head(final_state), labels)

    def regularization(self, net: EulerNet) -> dict[str, Tensor]:
        k = net.steps
        norms = (net.weight**2).sum((1, 2)) + (net.bias**2).sum(1)
        terms = {"tikhonov": 0.5 * self.alpha * (k * norms).sum()}
        if net.num_layers > 1:
            jumps = ((net.weight[1:] - net.weight[:-1]) ** 2).sum((1, 2)) + ((net.bias[1:] - net.bias[:-1]) ** 2).sum(1)
            terms["h1"] = 0.5 * self.beta * (jumps / k[1:]).sum()
        else:
            terms["h1"] = net.weight.new_zeros(())
        outer = (net.head.weight**2).sum()
        if net.lift is not None:
            outer = outer + (net.lift.weight**2).sum()
        terms["head"] = 0.5 * self.gamma * outer
        return terms

    def split_costs(self, net: EulerNet) -> Tensor:
        """Exact change of the regularization when layer m alone is split, shape ``(M,)``."""
        with torch.no_grad():
            costs = net.steps.new_zeros(net.num_layers)
            if net.num_layers > 1:
                jumps = ((net.weight[1:] - net.weight[:-1]) ** 2).sum((1, 2)) + ((net.bias[1:] - net.bias[:-1]) ** 2).sum(1)
                costs[1:] = 0.5 * self.beta * jumps / net.steps[1:]
        return costs

    def terms(self, net: EulerNet, features: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Every named term and ``total``."""
        terms = {"data": self.data_loss(net, net.states(features)[-1], labels), **self.regularization(net)}
        terms["total"] = sum(terms.values())  # type: ignore[assignment]
        return terms

    def total(self, net: EulerNet, features: Tensor, labels: Tensor) -> Tensor:
        return self.terms(net, features, labels)["total"]


def accuracy(net: EulerNet, features: Tensor, labels: Tensor) -> float:
    """Fraction of correctly classified points."""
    with torch.no_grad():
        return float((net(features).argmax(1) == labels).to(torch.float64).mean())
