"""Residual-based adaptive collocation: move or add points where the residual is large.

Fixed uniform points waste effort where the solution is smooth and starve fronts and shocks.
Every ``refine_every`` steps the residual is evaluated on a fresh candidate pool (in chunks,
without a graph for the parameters) and the point set changes by one of:

* ``rar`` (Lu et al. 2021): add the ``refine_points`` candidates with the largest residual;
* ``rar-d`` (Wu et al. 2023): add ``refine_points`` candidates drawn with density
  p(x) proportional to |r(x)|^k / mean |r|^k + c;
* ``rad`` (Wu et al. 2023): replace all interior points by ``points`` candidates drawn from p.

The budget is explicit: ``rad`` keeps the number of points fixed; ``rar`` and ``rar-d`` grow it,
unless ``refine_budget`` is ``fixed``, in which case each added point replaces one of the current
points with the smallest residual. ``k`` sharpens the density (k = 0: uniform), ``c`` keeps a
floor of uniform points so smooth regions are not emptied.

Every other change of the interior points (a new time window of the curriculum, a
``resample_every`` draw) is recorded the same way, as a :class:`Redraw` with |r| at the moment
of drawing, so the output file shows every point set training used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pinnlab.training.losses import residual_values
from pinnlab.training.collocation import Collocation, sample_interior
from pinnlab.problem.equation_module import Problem
from pinnlab.geometry.sampling import Sampler


REFINE_METHODS = ("none", "rar", "rar-d", "rad")
REFINE_BUDGETS = ("grow", "fixed")


@dataclass(frozen=True)
class RefinementSettings:
    """``refine.*``: residual-based adaptive collocation every ``every`` steps (``method`` none: off)."""

    method: str = "none"
    every: int = 500
    points: int = 500
    pool: int = 20000
    k: float = 1.0
    c: float = 1.0
    budget: str = "grow"

    def problems(self) -> list[str]:
        found = []
        if self.method not in REFINE_METHODS:
            found.append(f"refine.method must be one of {', '.join(REFINE_METHODS)}, got '{self.method}'")
        if self.budget not in REFINE_BUDGETS:
            found.append(f"refine.budget must be grow or fixed, got '{self.budget}'")
        for name in ("every", "pool"):
            if getattr(self, name) < 1:
                found.append(f"refine.{name} must be >= 1, got {getattr(self, name)}")
        if self.points < 0:
            found.append(f"refine.points must be >= 0, got {self.points}")
        if self.k < 0 or self.c < 0:
            found.append(f"refine.k and refine.c must be >= 0, got {self.k}, {self.c}")
        return found


@dataclass(frozen=True)
class Refinement:
    """One refinement, kept for the output file: the new interior set and its residual there."""

    step: int
    method: str
    points: np.ndarray
    residual: np.ndarray


@dataclass(frozen=True)
class Redraw:
    """Interior points drawn afresh, not by residual: ``kind`` "window" (the curriculum's window
    ``index``, its first draw) or "resample" (the ``index``-th ``resample_every`` draw), with |r|
    there from the network at that moment; written to the output file as ``<kind>_<index>``."""

    step: int
    kind: str
    index: int
    points: np.ndarray
    residual: np.ndarray

    @property
    def cloud(self) -> str:
        return f"{self.kind}_{self.index}"


def redraw_record(problem: Problem, model: torch.nn.Module, interior: torch.Tensor, step: int,
                  kind: str, index: int, engine: Any = None) -> Redraw:
    """A :class:`Redraw` of ``interior``, its residual evaluated without a parameter graph."""
    norms = residual_norms(problem, model, interior, engine=engine)
    return Redraw(step, kind, index, interior.detach().double().cpu().numpy(), norms.double().cpu().numpy())


def residual_norms(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                   chunk: int = 8192, engine: Any = None) -> torch.Tensor:
    """|r| at each point (the root of the summed squares of all residuals), chunked so large
    pools fit in memory; no graph is kept for the parameters."""
    norms = []
    for start in range(0, points.shape[0], chunk):
        values = residual_values(problem, model, points[start:start + chunk], create_graph=False, engine=engine)
        norms.append(sum(v.detach().square() for v in values.values()).sqrt())
    return torch.cat(norms) if norms else points.new_zeros(0)


def density(norms: torch.Tensor, k: float, c: float) -> torch.Tensor:
    """Sampling probabilities |r|^k / mean |r|^k + c, normalized (uniform if all residuals vanish)."""
    powered = norms.double().pow(k)
    mean = powered.mean()
    weights = (powered / mean if mean > 0 else torch.zeros_like(powered)) + c
    if not torch.isfinite(weights).all() or weights.sum() <= 0:
        weights = torch.ones_like(powered)
    return weights / weights.sum()


def draw(probabilities: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` distinct indices drawn with the given probabilities, reproducibly from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(probabilities.cpu(), count, replacement=False, generator=generator)


def refine(problem: Problem, model: torch.nn.Module, collocation: Collocation, sampler: Sampler,
           refinement: RefinementSettings, points: int, step: int, seed: int,
           engine: Any = None) -> tuple[Collocation, Refinement]:
    """The refined point set and a record of it; ``points`` is the interior count ``rad`` keeps,
    ``seed`` makes the density draws repeatable."""
    method = refinement.method
    interior = collocation.interior
    pool = sample_interior(problem, refinement.pool, sampler, interior.dtype, interior.device)
    norms = residual_norms(problem, model, pool, engine=engine)
    if method == "rad":
        if points > len(pool):
            raise ValueError(f"refine.pool ({len(pool)}) must be at least sampling.points ({points}) for rad")
        chosen = draw(density(norms, refinement.k, refinement.c), points, seed).to(pool.device)
        new, new_norms = pool[chosen], norms[chosen]
    else:
        count = min(refinement.points, len(pool))
        if method == "rar":
            picked = torch.topk(norms, count).indices
        else:
            picked = draw(density(norms, refinement.k, refinement.c), count, seed).to(pool.device)
        kept, kept_norms = interior, residual_norms(problem, model, interior, engine=engine)
        if refinement.budget == "fixed":
            keep = torch.topk(kept_norms, max(len(interior) - count, 0)).indices.sort().values
            kept, kept_norms = interior[keep], kept_norms[keep]
        new, new_norms = torch.cat([kept, pool[picked]]), torch.cat([kept_norms, norms[picked]])
    # the record reuses the norms already computed for choosing: no second residual evaluation
    record = Refinement(step, method, new.detach().double().cpu().numpy(), new_norms.double().cpu().numpy())
    return Collocation(new, collocation.conditions), record
