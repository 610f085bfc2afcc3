"""The unknowns' standard deviations from the Gauss-Newton covariance at the end of a run.

Why it is cheap where it is offered: after Levenberg-Marquardt or a dense quasi-Newton phase the
network is small enough for one Jacobian J of the whole residual vector (physics, conditions and
data rows, each scaled by sqrt(weight / count) as in pinnlab/training/residual_vector.py) with
respect to every trainable parameter, the network's and the unknowns'.

The model: every group of rows g (the physics residuals, each condition, each data set) carries
an independent error of its own variance. For a data set that is the measurement noise; for the
physics and the conditions it is the part the network cannot fit, whose influence on the
unknowns is a bias of the fit that noise-free data make the largest error. To first order a
perturbation e of the rows moves the fit by delta = -H^+ J^T e, with H = J^T J, so

    Cov = sum over groups g of s_g^2 (J_g H^+)^T (J_g H^+),

restricted to the unknowns' rows, with s_g^2 = |r_g|^2 / n_g, each group's mean squared scaled
residual at the fit (no correction for the parameters used: a network has more parameters than a
data set has rows). With data rows only this is the textbook s^2 (J^T J)^-1. With noisy data
the data groups dominate (their residual is the noise); with clean data the physics group does.

A run that stopped short of the minimum has a second error, the distance still to go. The
Gauss-Newton step from the final parameters, delta = -H^+ J^T r, estimates it to first order
(on Burgers identification after 500 Adam steps and 1500 SSBroyden iterations it predicted
lambda_1's remaining error of -3.4e-5 to 4e-9). The reported standard deviation is
sqrt(Cov_uu + delta_u^2); its two parts are reported beside it.

H is singular along the network directions that neither the physics nor the data determine.
The pseudo-inverse is taken from the SVD J = U S V^T, dropping singular values below
``rcond`` times the largest (directions determined to less than that are treated as not
determined at all): then J_g H^+ = U_g S^-1 V^T. Standard deviations of the raw parameters
(log-values for positive unknowns) are turned into ones of the values by the mapping's slope.
The measurements behind the choices are in docs/inverse.md and tests/training/test_inverse.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Mapping

import torch

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.problem.equation_module import Problem
from pinnlab.training.collocation import Collocation
from pinnlab.training.residual_vector import residual_jacobian, residual_parts

RCOND = 1e-10
"""Singular values of J below this times the largest count as zero (float64 has about 1e-16)."""


def unknown_columns(model: torch.nn.Module, names: list[str]) -> dict[str, int]:
    """The column of each unknown's raw parameter in the Jacobian (parameter order)."""
    columns, offset = {}, 0
    for full_name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        for name in names:
            if full_name == f"unknowns.raw_{name}":
                columns[name] = offset
        offset += p.numel()
    return columns


@dataclass(frozen=True)
class Uncertainty:
    """One unknown's uncertainty: ``std`` = sqrt(``std_misfit``^2 + ``remaining``^2)."""

    std: float
    std_misfit: float
    """From the residuals' misfit (noise, and what the network cannot fit)."""
    remaining: float
    """The change of the unknown that one more Gauss-Newton step would make (signed)."""


UNCERTAINTY_PARTS = tuple(f.name for f in fields(Uncertainty))
"""The parts reported for each unknown (metrics.json keys): std, std_misfit, remaining."""


def unknown_uncertainty(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                        weights: Mapping[str, float], rcond: float = RCOND) -> dict[str, Uncertainty]:
    """Each unknown's uncertainty at the current parameters (see the module docstring); {} when
    the problem has no unknowns or no weighted data."""
    names = list(problem.unknowns)
    if not names or not any(weights[name] != 0.0 for name in problem.data):
        return {}
    parts = residual_parts(problem, model, collocation, weights, engine=ForwardMode())
    J = residual_jacobian(problem, model, collocation, weights, engine=ForwardMode()).detach()
    columns = unknown_columns(model, names)
    U, S, Vh = torch.linalg.svd(J, full_matrices=False)
    keep = S > rcond * S[0]
    U, S, Vh = U[:, keep], S[keep], Vh[keep]
    Vu = Vh[:, [columns[n] for n in names]]  # (rank, unknowns)
    covariance = torch.zeros(len(names), len(names), dtype=J.dtype, device=J.device)
    start = 0
    for r in parts.values():
        rows = slice(start, start + r.numel())
        start += r.numel()
        M = U[rows] @ (Vu / S[:, None])  # J_g H^+ restricted to the unknowns' columns
        covariance += float(r.square().mean()) * (M.T @ M)
    r = torch.cat(list(parts.values()))
    step = -(Vu.T @ ((U.T @ r) / S))  # the Gauss-Newton step's unknown components
    found = {}
    for k, name in enumerate(names):
        slope = abs(problem.unknowns[name].slope(float(model.unknowns.raw(name).detach())))
        misfit = math.sqrt(max(float(covariance[k, k]), 0.0)) * slope
        remaining = float(step[k]) * slope
        found[name] = Uncertainty(math.hypot(misfit, remaining), misfit, remaining)
    return found
