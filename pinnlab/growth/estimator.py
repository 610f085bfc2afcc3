"""Goal-oriented (dual-weighted-residual) error indicators per layer of an :class:`EulerNet`.

Setting.  The Euler network is the DG(0)-in-time discretization of the neural ODE
``x' = f(x, theta(t))`` with ``theta`` piecewise constant on the mesh ``I_1, ..., I_M``.  The
goal is the objective ``J`` (:mod:`.objective`).  Refining the mesh keeps ``theta`` and so only
changes how accurately the ODE is integrated; the indicator of layer ``m`` predicts how much
``J`` changes when interval ``I_m`` is split.

What is computed (all sums over the training points, ``<a, b>`` the Euclidean product):

1. Primal states ``x_0..x_M`` (forward pass) and adjoint states ``p_0..p_M`` by the discrete
   adjoint sweep
        p_M = dJ/dx_M,     p_{m-1} = p_m + k_m (d_x f(x_{m-1}, theta_m))^T p_m,
   which is what backpropagation computes; :func:`adjoint_states` does the sweep explicitly
   (the tests check it against autograd).  ``p_m = dJ/dx_m``.

2. Primal residual against a higher-order reconstruction.  From ``x_{m-1}``, two half steps
   give ``x~_m = x_{m-1/2} + k_m/2 f(x_{m-1/2})`` with ``x_{m-1/2} = x_{m-1} + k_m/2 f(x_{m-1})``;
   the local residual of the Euler step is
        delta_m = x~_m - x_m = k_m/2 (f(x_{m-1/2}) - f(x_{m-1})).
   It vanishes when ``f`` does not change along the step (e.g. ``W_m = 0``: the exact
   solution is linear in t and Euler is exact), and is ``O(k_m^2)`` otherwise.
   Primal indicator:  eta^P_m = <p_m, delta_m>   (residual weighted by the adjoint).

3. Adjoint residual weighted by the primal error.  ``p^_m`` is the adjoint of the
   reconstruction (the uniformly split network, read at the coarse nodes); ``p^_m - p_m`` is the
   error the adjoint residuals of the Euler steps produce.  Weighted by the primal error:
        eta^A_m = 1/2 <p^_m - p_m, delta_m>.
   Together  eta_m = eta^P_m + eta^A_m = <(p_m + p^_m)/2, delta_m>,  the usual symmetric
   DWR form (1/2 primal + 1/2 adjoint residual), whose remainder is of third order in the
   local errors.  ``sum_m eta_m`` predicts ``J(split all) - J(current)`` at fixed controls; by
   Richardson (Euler is first order) ``2 sum_m eta_m`` estimates the data part of
   ``J(exact ODE) - J(current)``.

4. Regularization.  A split changes the h1 term of J by an exactly known amount
   (:meth:`Objective.split_costs`, ``eta^R_m >= 0``); it is added to the predicted change of
   J but not to the marking indicator, which measures the discretization error of the
   state equation only.

5. Control residual where the optimization stopped early.  The reduced gradient
   ``g_m = dJ/dtheta_m`` vanishes at a discrete optimum; where it does not, a steepest-descent
   step with Armijo step ``alpha`` (found here by backtracking, nothing is changed) would lower
   ``J`` by about ``alpha |g|^2 / 2`` for the quadratic model:
        eta^C_m = -alpha/2 |g_m|^2.
   This is the iteration error, not a discretization error: splitting a layer does not reduce
   it, so marking uses ``|eta_m|`` only and the grow loop reports ``sum eta^C`` alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pinnlab.growth.objective import Objective
from pinnlab.growth.ode_net import EulerNet

__all__ = ["Estimate", "adjoint_states", "estimate", "local_residuals"]


@dataclass(frozen=True)
class Estimate:
    """Per-layer parts of the estimate (numpy arrays of length ``M``)."""

    primal: np.ndarray
    adjoint: np.ndarray
    regularization: np.ndarray
    control: np.ndarray
    armijo_step: float

    @property
    def discretization(self) -> np.ndarray:
        """``eta_m = eta^P_m + eta^A_m``: the discretization error of layer m in J."""
        return self.primal + self.adjoint

    @property
    def change(self) -> np.ndarray:
        """``eta_m + eta^R_m``: the predicted change of J when layer m alone is split."""
        return self.discretization + self.regularization

    @property
    def indicators(self) -> np.ndarray:
        """``|eta_m|``, what marking uses."""
        return np.abs(self.discretization)

    @property
    def total(self) -> float:
        """``sum_m (eta_m + eta^R_m)``: predicted change of J under uniform refinement."""
        return float(self.change.sum())

    @property
    def discretization_total(self) -> float:
        """``sum_m eta_m``: the discretization part (what the tolerance is compared with)."""
        return float(self.discretization.sum())

    @property
    def control_total(self) -> float:
        return float(self.control.sum())


def _final_adjoint(net: EulerNet, objective: Objective, final_state: Tensor, labels: Tensor) -> Tensor:
    x = final_state.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = objective.data_loss(net, x, labels)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def adjoint_states(
    net: EulerNet, objective: Objective, features: Tensor, labels: Tensor, states: list[Tensor] | None = None
) -> list[Tensor]:
    """``[p_0, ..., p_M]`` with ``p_m = dJ/dx_m``, by the explicit backward sweep."""
    with torch.no_grad():
        xs = net.states(features) if states is None else states
        p = _final_adjoint(net, objective, xs[-1], labels)
        adjoints = [p]
        for m in range(net.num_layers - 1, -1, -1):
            z = net.pre_activation(m, xs[m])
            p = p + net.steps[m] * (net.activation.derivative(z) * p) @ net.weight[m]
            adjoints.append(p)
    return adjoints[::-1]


def local_residuals(net: EulerNet, states: list[Tensor]) -> list[Tensor]:
    """``delta_m = x~_m - x_m`` (two half steps minus one step) for every layer."""
    with torch.no_grad():
        out = []
        for m in range(net.num_layers):
            x = states[m]
            f0 = net.rhs(m, x)
            half = x + 0.5 * net.steps[m] * f0
            out.append(0.5 * net.steps[m] * (net.rhs(m, half) - f0))
    return out


def _armijo_step(net: EulerNet, objective: Objective, features: Tensor, labels: Tensor,
                 grads: list[Tensor], value: float, c: float = 1e-4, max_halvings: int = 40) -> float:
    params = list(net.parameters())
    slope = float(sum((g**2).sum() for g in grads))
    if slope == 0.0:
        return 0.0
    saved = [p.detach().clone() for p in params]
    alpha = 1.0
    try:
        with torch.no_grad():
            for _ in range(max_halvings):
                for p, s, g in zip(params, saved, grads):
                    p.copy_(s - alpha * g)
                if float(objective.total(net, features, labels)) <= value - c * alpha * slope:
                    return alpha
                alpha *= 0.5
        return 0.0
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def estimate(net: EulerNet, objective: Objective, features: Tensor, labels: Tensor) -> Estimate:
    """The DWR indicators of ``net`` for ``objective`` on ``(features, labels)``."""
    with torch.no_grad():
        states = net.states(features)
    adjoint = adjoint_states(net, objective, features, labels, states)
    deltas = local_residuals(net, states)
    fine = net.split_all()
    fine_adjoint = adjoint_states(fine, objective, features, labels)[::2]
    primal = np.array([float((p * d).sum()) for p, d in zip(adjoint[1:], deltas)])
    adjoint_part = np.array([0.5 * float(((q - p) * d).sum()) for p, q, d in zip(adjoint[1:], fine_adjoint[1:], deltas)])

    names, params = zip(*net.named_parameters())
    with torch.enable_grad():
        value = objective.total(net, features, labels)
        grads = torch.autograd.grad(value, params)
    grad_w, grad_b = grads[names.index("weight")], grads[names.index("bias")]
    per_layer = (grad_w**2).sum((1, 2)) + (grad_b**2).sum(1)
    alpha = _armijo_step(net, objective, features, labels, list(grads), float(value.detach()))
    control = -0.5 * alpha * per_layer.detach().numpy()
    costs = objective.split_costs(net).numpy()
    return Estimate(primal, adjoint_part, costs, control, alpha)
