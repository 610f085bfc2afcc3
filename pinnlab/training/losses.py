"""Named loss terms: one per residual (mean square over collocation points) and one per condition.

Terms stay separate (a dict by name) so weights, logs and output files all work on names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from pinnlab.problem.binding import as_column
from pinnlab.derivatives.chunked_loss import chunk_count, chunked_mean_square, derivative_streams, network_width
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.curriculum import CausalWeights
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.field_model import field_derivatives
from pinnlab.problem.equation_module import Problem
from pinnlab.geometry.sampling import Sampler
from pinnlab.solver.settings import Settings


@dataclass(frozen=True)
class Collocation:
    """The points one training phase uses: interior points and each condition's batch."""

    interior: torch.Tensor
    conditions: Mapping[str, ConditionBatch]


def sample_interior(problem: Problem, n: int, sampler: Sampler, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    points = problem.domain.sample_interior(n, sampler)
    return torch.as_tensor(points, dtype=dtype, device=device)


def sample_collocation(problem: Problem, settings: Settings, sampler: Sampler, dtype: torch.dtype,
                       device: torch.device) -> Collocation:
    interior = sample_interior(problem, settings.points, sampler, dtype, device)
    batches = {
        name: c.sample(name, problem.layout, settings.boundary_points, sampler, dtype, device)
        for name, c in problem.conditions.items()
    }
    return Collocation(interior, batches)


# Rank r > 0 of a torchrun job seeds its sampler with seed + r * 2**32: distinct from rank 0
# (which keeps ``seed``, so one process draws what it always did) and from every other rank's
# stream for any seed below 2**32.
RANK_SEED_STRIDE = 2**32


def rank_share_seed(seed: int, rank: int) -> int:
    """The sampler seed of ``rank``'s share of the points (``seed`` itself for rank 0)."""
    return seed + RANK_SEED_STRIDE * rank


def rank_share(settings: Settings, world: int) -> Settings:
    """Settings with the point counts of one of ``world`` equal shares.

    ``points``, ``boundary_points`` (and ``refine_points``, ``refine_pool`` with ``refine``) stay
    totals over all ranks in the settings a user writes and metrics.json records; each rank draws
    its share. Shares must be equal: the mean over ranks of per-rank mean losses equals the mean
    over the union only then. ``world == 1`` returns ``settings`` unchanged.
    """
    if world == 1:
        return settings
    counts = ["points", "boundary_points"] + (["refine_points"] if settings.refine in ("rar", "rar-d") else [])
    uneven = [f"{name}={getattr(settings, name)}" for name in counts if getattr(settings, name) % world]
    if uneven:
        raise ValueError(
            f"{', '.join(uneven)} cannot be split evenly over {world} processes (the torchrun world "
            f"size); each process trains on an equal share, so choose multiples of {world}"
        )
    if settings.sampler == "grid":
        raise ValueError(f"sampler=grid would give each of the {world} processes the same points; "
                         "use sobol, uniform or lhs with torchrun")
    shares = {name: getattr(settings, name) // world for name in counts}
    shares["refine_pool"] = max(settings.refine_pool // world, 1)
    return settings.replace(shares, f"share of {world} processes")


def concat_collocations(parts: list[Collocation]) -> Collocation:
    """One collocation holding every part's points in order (the ranks' shares, for output)."""
    interior = torch.cat([part.interior for part in parts])
    conditions = {}
    for name in parts[0].conditions:
        batches = [part.conditions[name] for part in parts]
        conditions[name] = ConditionBatch(*(
            None if getattr(batches[0], key) is None else torch.cat([getattr(b, key) for b in batches])
            for key in ("points", "target", "normals", "partners")
        ))
    return Collocation(interior, conditions)


def residual_derivatives(problem: Problem) -> set[Derivative]:
    return set().union(*(r.derivatives for r in problem.residuals.values()))


def residual_values(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                    create_graph: bool = True) -> dict[str, torch.Tensor]:
    """Each residual's pointwise value (N,) at ``points``."""
    values = field_derivatives(model, points, problem.fields, residual_derivatives(problem),
                               create_graph=create_graph)
    n = points.shape[0]
    return {
        name: as_column(r(points, values), n, f"residual '{name}'", points.dtype, points.device)
        for name, r in problem.residuals.items()
    }


def residual_terms(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                   causal: "CausalWeights | None" = None,
                   values: dict[str, list[torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
    """Each residual's loss term at ``points``: its mean square, or with ``causal`` its causally
    weighted mean square. A single residual on a large point set is taken chunk by chunk while
    gradients are on (pinnlab/derivatives/chunked_loss.py). With ``values``, each residual's detached
    pointwise values are collected there (a list of chunks per name)."""
    chunks = 1
    if causal is None and len(problem.residuals) == 1 and torch.is_grad_enabled():
        streams = derivative_streams(residual_derivatives(problem))
        chunks = chunk_count(points.shape[0], streams, network_width(model), points.element_size(),
                             getattr(model, "residual_chunk", 0), points.device.type)
    if chunks > 1:
        name = next(iter(problem.residuals))
        parameters = [p for p in model.parameters() if p.requires_grad]
        found = None if values is None else values.setdefault(name, [])

        def residual(part: torch.Tensor) -> torch.Tensor:
            return residual_values(problem, model, part)[name]

        return {name: chunked_mean_square(residual, points, parameters, chunks, found)}
    residuals = residual_values(problem, model, points)
    if values is not None:
        for name, r in residuals.items():
            values.setdefault(name, []).append(r.detach())
    if causal is None:
        return {name: r.square().mean() for name, r in residuals.items()}
    t = points[:, problem.layout.time_index]
    return {name: causal.loss(r.square(), t) for name, r in residuals.items()}


def condition_residual(problem: Problem, model: torch.nn.Module, name: str,
                       batch: ConditionBatch) -> torch.Tensor:
    condition = problem.conditions[name]
    layout = problem.layout
    needed = condition.derivatives(name, layout)
    values = field_derivatives(model, batch.points, problem.fields, needed)
    partner_values = None
    if batch.partners is not None:
        partner_values = field_derivatives(model, batch.partners, problem.fields, needed)
    return condition.residual(name, layout, batch, values, partner_values)


def loss_terms(problem: Problem, model: torch.nn.Module, collocation: Collocation,
               causal: "CausalWeights | None" = None) -> dict[str, torch.Tensor]:
    """Raw (unweighted) mean-square loss of every residual and condition, by name; with
    ``causal``, residual terms are causally weighted in time."""
    terms = residual_terms(problem, model, collocation.interior, causal)
    for name, batch in collocation.conditions.items():
        terms[name] = condition_residual(problem, model, name, batch).square().mean()
    return terms


def term_weights(problem: Problem, settings: Settings) -> dict[str, float]:
    """Weight of every term: 1 unless set; 0 for conditions marked exact. Unknown names fail."""
    names = list(problem.residuals) + list(problem.conditions)
    unknown = [k for k in settings.weights if k not in names]
    if unknown:
        raise ValueError(
            f"weights: unknown loss term(s) {', '.join(unknown)}; terms are {', '.join(names)}"
        )
    weights = {name: float(settings.weights.get(name, 1.0)) for name in names}
    for name, condition in problem.conditions.items():
        if condition.exact:
            weights[name] = 0.0
    return weights
