"""Rejection sampling of a domain from its bounding box, shared by CSG and space-time domains."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from pinnlab.geometry.sampling import Sampler

MAX_ROUNDS = 64
"""Batches to try before concluding that the domain is (numerically) empty."""


def fill_by_rejection(
    n: int,
    sampler: Sampler,
    unit_dim: int,
    to_points: Callable[[np.ndarray], np.ndarray],
    accept: Callable[[np.ndarray], np.ndarray],
    inside_fraction: float,
    owner: str,
) -> np.ndarray:
    """First n accepted points of the sampler's stream, mapped by `to_points`.

    Batches are sized from the expected acceptance rate, so one or two rounds usually suffice;
    keeping the first n in stream order is unbiased and deterministic. A grid sampler gets a single
    pass (its grid never changes), returning the grid points inside: about n of them.
    """
    dim_out = len(to_points(np.zeros((1, unit_dim)))[0])
    if n == 0:
        return np.empty((0, dim_out))
    if inside_fraction <= 0.0:
        raise ValueError(f"{owner}: the domain is empty (zero measure), nothing to sample")
    if sampler.is_grid:
        points = to_points(sampler.unit(math.ceil(n / min(inside_fraction, 1.0) - 1e-9), unit_dim))
        return points[accept(points)]
    kept: list[np.ndarray] = []
    count = 0
    for _ in range(MAX_ROUNDS):
        batch = batch_size(n - count, inside_fraction)
        points = to_points(sampler.unit(batch, unit_dim))
        points = points[accept(points)]
        kept.append(points)
        count += len(points)
        if count >= n:
            return np.concatenate(kept)[:n]
    raise ValueError(
        f"{owner}: rejection sampling found only {count} of {n} points; is the domain empty?"
    )


def batch_size(needed: int, acceptance: float) -> int:
    """Candidates to draw so that about `needed` are accepted, with a three-sigma margin.

    The margin shrinks with the acceptance rate's variance, so nested CSG, where every level
    draws from the level below, does not compound a fixed over-draw factor.
    """
    spread = 3.0 * math.sqrt(needed * max(1.0 - acceptance, 0.0))
    return math.ceil((needed + spread) / acceptance) + 4
