"""The unknowns' standard deviations from the Gauss-Newton covariance at the end of a run.

Why it is cheap where it is offered: after Levenberg-Marquardt or a dense quasi-Newton phase the
network is small enough for one Jacobian J of the whole residual vector (physics, conditions and
data rows, each scaled by sqrt(weight / count) as in pinnlab/training/residual_vector.py) with
respect to every trainable parameter, the network's and the unknowns'.

The model: the measured values carry independent noise of one variance per data set, and the
physics rows none. To first order a perturbation e of the data rows moves the fit by
delta = -H^+ J_d^T e, with H = J^T J, so

    Cov = sum over data sets k of s_k^2 (J_k H^+)^T (J_k H^+),

restricted to the unknowns' rows, with s_k^2 = |r_k|^2 / n_k, each set's mean squared scaled
misfit at the fit (no correction for the parameters used: a network has more parameters than a
data set has rows). Without physics rows this is the textbook s^2 (J^T J)^-1; with them it
is the "sandwich" form, since the physics rows are constraints, not noisy measurements.

H is singular along the network directions that neither the physics nor the data determine.
The pseudo-inverse is taken from the SVD J = U S V^T, dropping singular values below
``rcond`` times the largest (directions determined to less than that are treated as not
determined at all): then J_k H^+ = U_k S^-1 V^T. Standard deviations of the raw parameters
(log-values for positive unknowns) are turned into ones of the values by the mapping's slope.
The measurements behind the choices are in docs/inverse.md and tests/training/test_inverse.py.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.problem.equation_module import Problem
from pinnlab.training.collocation import Collocation
from pinnlab.training.residual_vector import residual_jacobian, residual_vector

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


def data_rows(problem: Problem, weights: Mapping[str, float], total: int) -> dict[str, slice]:
    """Each weighted data set's rows in the residual vector: the last groups, in order."""
    counts = [(name, observed.values.size) for name, observed in problem.data.items() if weights[name] != 0.0]
    start = total - sum(n for _, n in counts)
    rows = {}
    for name, n in counts:
        rows[name] = slice(start, start + n)
        start += n
    return rows


def unknown_std(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                weights: Mapping[str, float], rcond: float = RCOND) -> dict[str, float]:
    """The standard deviation of each unknown at the current parameters (see the module
    docstring); {} when the problem has no unknowns or no weighted data."""
    names = list(problem.unknowns)
    rows_of = data_rows(problem, weights, 0)
    if not names or not rows_of:
        return {}
    with torch.no_grad():
        r = residual_vector(problem, model, collocation, weights, engine=ForwardMode())
    J = residual_jacobian(problem, model, collocation, weights, engine=ForwardMode()).detach()
    rows_of = data_rows(problem, weights, J.shape[0])
    columns = unknown_columns(model, names)
    U, S, Vh = torch.linalg.svd(J, full_matrices=False)
    keep = S > rcond * S[0]
    U, S, Vh = U[:, keep], S[keep], Vh[keep]
    Vu = Vh[:, [columns[n] for n in names]]  # (rank, unknowns)
    covariance = torch.zeros(len(names), len(names), dtype=J.dtype, device=J.device)
    for rows in rows_of.values():
        s2 = float(r[rows].square().mean())
        M = U[rows] @ (Vu / S[:, None])  # J_k H^+ restricted to the unknowns' columns
        covariance += s2 * (M.T @ M)
    stds = {}
    for k, name in enumerate(names):
        raw = float(model.unknowns.raw(name).detach())
        stds[name] = math.sqrt(max(float(covariance[k, k]), 0.0)) * abs(problem.unknowns[name].slope(raw))
    return stds
