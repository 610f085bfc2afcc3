"""Collocation points: the interior points and each condition's batch one training step uses,
how they are drawn, and how torchrun ranks share them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import torch

from pinnlab.geometry.sampling import Sampler, SamplingSettings
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.problem.equation_module import Problem

if TYPE_CHECKING:
    from pinnlab.training.refinement import RefinementSettings


@dataclass(frozen=True)
class Collocation:
    """The points one training phase uses: interior points and each condition's batch."""

    interior: torch.Tensor
    conditions: Mapping[str, ConditionBatch]


def sample_interior(problem: Problem, n: int, sampler: Sampler, dtype: torch.dtype,
                    device: torch.device) -> torch.Tensor:
    """``n`` interior points; a family's (pinnlab/problem/parameters.py) carry the parameter columns,
    drawn jointly with the point."""
    if problem.parameters:
        points = problem.parameters.draw(lambda s: problem.domain.sample_interior(n, s), sampler)
    else:
        points = problem.domain.sample_interior(n, sampler)
    return torch.as_tensor(points, dtype=dtype, device=device)


def sample_collocation(problem: Problem, sampling: SamplingSettings, sampler: Sampler, dtype: torch.dtype,
                       device: torch.device) -> Collocation:
    """``sampling.points`` interior points and ``sampling.boundary_points`` for each condition."""
    interior = sample_interior(problem, sampling.points, sampler, dtype, device)
    batches = {
        name: c.sample(name, problem.layout, sampling.boundary_points, sampler, dtype, device)
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


def rank_share(sampling: SamplingSettings, refinement: RefinementSettings,
               world: int) -> tuple[SamplingSettings, RefinementSettings]:
    """The point counts of one of ``world`` equal shares.

    ``sampling.points``, ``sampling.boundary_points`` (and ``refine.points``, ``refine.pool``
    with refinement) stay totals over all ranks in the settings a user writes and metrics.json
    records; each rank draws its share. Shares must be equal: the mean over ranks of per-rank
    mean losses equals the mean over the union only then. ``world == 1`` returns them unchanged.
    """
    if world == 1:
        return sampling, refinement
    counts = [("sampling.points", sampling.points), ("sampling.boundary_points", sampling.boundary_points)]
    if refinement.method in ("rar", "rar-d"):
        counts.append(("refine.points", refinement.points))
    uneven = [f"{name}={value}" for name, value in counts if value % world]
    if uneven:
        raise ValueError(
            f"{', '.join(uneven)} cannot be split evenly over {world} processes (the torchrun world "
            f"size); each process trains on an equal share, so choose multiples of {world}"
        )
    if sampling.sampler == "grid":
        raise ValueError(f"sampling.sampler=grid would give each of the {world} processes the same points; "
                         "use sobol, uniform or lhs with torchrun")
    shared_sampling = dataclasses.replace(sampling, points=sampling.points // world,
                                          boundary_points=sampling.boundary_points // world)
    points = refinement.points // world if refinement.method in ("rar", "rar-d") else refinement.points
    shared_refinement = dataclasses.replace(refinement, points=points, pool=max(refinement.pool // world, 1))
    return shared_sampling, shared_refinement


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
