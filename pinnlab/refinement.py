"""Residual-based adaptive refinement (RAR): add collocation points where the residual is largest.

Fixed uniform points waste effort where the solution is smooth and starve fronts and shocks.
Every ``rar_every`` L-BFGS iterations the residual is evaluated on a fresh candidate pool (in
chunks, without a graph for the parameters) and the ``rar_points`` worst candidates join the
interior set, as in Lu et al. 2021.
"""

from __future__ import annotations

import torch

from .losses import Collocation, residual_values, sample_interior
from .problem import Problem
from .sampling import Sampler


def residual_scores(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                    chunk: int = 8192) -> torch.Tensor:
    """Sum over residuals of r^2 at each point, chunked so large pools fit in memory."""
    scores = []
    for start in range(0, points.shape[0], chunk):
        values = residual_values(problem, model, points[start:start + chunk], create_graph=False)
        scores.append(sum(v.detach().square() for v in values.values()))
    return torch.cat(scores)


def refine(problem: Problem, model: torch.nn.Module, collocation: Collocation, sampler: Sampler,
           pool: int, count: int) -> Collocation:
    """``collocation`` with the ``count`` highest-residual points of a ``pool``-point draw added."""
    interior = collocation.interior
    candidates = sample_interior(problem, pool, sampler, interior.dtype, interior.device)
    scores = residual_scores(problem, model, candidates)
    worst = torch.topk(scores, min(count, len(scores))).indices
    return Collocation(torch.cat([interior, candidates[worst]]), collocation.conditions)
