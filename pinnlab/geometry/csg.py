"""Constructive solid geometry: `Union`, `Difference`, `Intersection` of two domains.

Interior points come by rejection from the bounding box. Boundary points come by drawing candidates
from the children's boundaries, in proportion to the children's boundary measures, and keeping those
on the boundary of the result, so the kept points are uniform by length/area.

Whether a candidate p (outward normal n of its child) is kept is decided by looking a small step
eps to either side of it, which also settles edges that two children share:

=============  ==============================================  =====================================
operation      from the left child A                           from the right child B
=============  ==============================================  =====================================
A | B          p + eps*n not in B                              p +- eps*n both not in A
A - B          p - eps*n not in B                              p + eps*n in A (normal flipped)
A & B          p - eps*n in B                                  p +- eps*n both in A
=============  ==============================================  =====================================

Away from shared edges this is the textbook rule (for A | B: the part of dA outside B, ...); on an
edge shared with the same outward normal it keeps exactly one copy, and edges where the children
meet face to face drop out of a union.

A part name of a CSG domain selects, in every child that has it, the kept pieces of that part; so
the parts are the union of the children's parts. Measures are quasi-Monte Carlo estimates with a
fixed Sobol' sequence, computed once per domain and part.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar

import numpy as np

from pinnlab.geometry.base import WHOLE_BOUNDARY, Geometry, check_n
from pinnlab.geometry.rejection import MAX_ROUNDS, batch_size
from pinnlab.geometry.sampling import Sampler, SobolSampler

MEASURE_POINTS = 2**16
"""Sobol' points used to estimate a CSG volume."""
ESTIMATE_POINTS = 2**14
"""Boundary candidates per child used to estimate the kept fraction of its boundary."""
STEP = 1e-6
"""Side-test step relative to the bounding-box diagonal (well above the membership tolerance)."""


class _Csg(Geometry):
    """Shared machinery of the three operations; each only says what it keeps."""

    symbol: ClassVar[str]

    def __init__(self, left: Geometry, right: Geometry) -> None:
        from pinnlab.geometry.boxes import TimeInterval
        from pinnlab.geometry.spacetime import SpaceTime

        owner = type(self).__name__
        for operand in (left, right):
            if not isinstance(operand, Geometry):
                raise TypeError(f"{owner}: operands must be Geometry, got {type(operand).__name__}")
            if isinstance(operand, (TimeInterval, SpaceTime)):
                raise TypeError(
                    f"{owner}: {type(operand).__name__} cannot take part in CSG; combine the "
                    "spatial domains first, then multiply by a TimeInterval"
                )
        if left.dim != right.dim:
            raise ValueError(f"{owner}: operands differ in dimension ({left.dim} vs {right.dim})")
        self.left = left
        self.right = right
        self.dim = left.dim
        self.names = left.names
        self._measure: float | None = None
        self._kept: dict[str, list[tuple[int, float, float]]] = {}

    @abstractmethod
    def _keep(
        self, child: int, points: np.ndarray, normals: np.ndarray, step: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mask of candidates from child 0 (left) or 1 (right) that lie on this boundary, and
        their outward normals with respect to this domain."""

    def measure(self) -> float:
        if self._measure is None:
            lo, hi = self.bounds()
            points = lo + (hi - lo) * SobolSampler(seed=0).unit(MEASURE_POINTS, self.dim)
            self._measure = float(np.prod(hi - lo) * np.mean(self.contains(points)))
        return self._measure

    def boundary_parts(self) -> tuple[str, ...]:
        parts = dict.fromkeys((WHOLE_BOUNDARY, *self.left.boundary_parts()))
        parts.update(dict.fromkeys(self.right.boundary_parts()))
        return tuple(parts)

    def boundary_measure(self, part: str | None = None) -> float:
        return float(sum(m * kept for _, m, kept in self._kept_fractions(part)))

    def sample_interior(self, n: int, sampler: Sampler) -> np.ndarray:
        n = check_n(f"{type(self).__name__}.sample_interior", n)
        return self._fill_from_bounding_box(n, sampler)

    def sample_boundary(
        self, n: int, sampler: Sampler, part: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        owner = type(self).__name__
        n = check_n(f"{owner}.sample_boundary", n)
        part = self.resolve_part(part)
        rows = [row for row in self._kept_fractions(part) if row[1] * row[2] > 0.0]
        if not rows:
            raise ValueError(f"{owner}: boundary part {part!r} matches no point of the domain")
        if n == 0:
            return np.empty((0, self.dim)), np.empty((0, self.dim))
        children = (self.left, self.right)
        candidates = sum(m for _, m, _ in rows)
        acceptance = sum(m * kept for _, m, kept in rows) / candidates
        step = STEP * self.scale
        points: list[np.ndarray] = []
        normals: list[np.ndarray] = []
        count = 0
        for _ in range(MAX_ROUNDS):
            batch = (
                math.ceil(n / acceptance) if sampler.is_grid else batch_size(n - count, acceptance)
            )
            for child, m, _ in rows:
                p, nrm = children[child].sample_boundary(
                    math.ceil(batch * m / candidates), sampler, part
                )
                keep, nrm = self._keep(child, p, nrm, step)
                points.append(p[keep])
                normals.append(nrm[keep])
                count += int(keep.sum())
            if count >= n or sampler.is_grid:  # a grid never changes: one pass is all it has
                break
        if count == 0:
            raise ValueError(f"{owner}: boundary part {part!r} matches no point of the domain")
        if count < n and not sampler.is_grid:
            raise ValueError(f"{owner}: boundary part {part!r} gave only {count} of {n} points")
        all_points, all_normals = np.concatenate(points), np.concatenate(normals)
        if sampler.is_grid:
            return all_points, all_normals
        # Thin evenly over the pool (grouped by child) so each child keeps its share.
        index = (np.arange(n) * len(all_points)) // n
        return all_points[index], all_normals[index]

    def _kept_fractions(self, part: str | None) -> list[tuple[int, float, float]]:
        """Per child having the part: (child index, its measure of the part, fraction kept)."""
        part = self.resolve_part(part)
        if part not in self._kept:
            rows = []
            step = STEP * self.scale
            for i, child in enumerate((self.left, self.right)):
                if part not in child.boundary_parts():
                    continue
                m = child.boundary_measure(part)
                p, nrm = child.sample_boundary(ESTIMATE_POINTS, SobolSampler(seed=0), part)
                keep, _ = self._keep(i, p, nrm, step)
                rows.append((i, m, float(np.mean(keep))))
            self._kept[part] = rows
        return self._kept[part]

    def __repr__(self) -> str:
        return f"({self.left!r} {self.symbol} {self.right!r})"


class Union(_Csg):
    """A | B: points in either domain."""

    symbol = "|"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        (alo, ahi), (blo, bhi) = self.left.bounds(), self.right.bounds()
        return np.minimum(alo, blo), np.maximum(ahi, bhi)

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return self.left._inside(p, tol) | self.right._inside(p, tol)

    def _keep(
        self, child: int, points: np.ndarray, normals: np.ndarray, step: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if child == 0:
            return ~self.right.contains(points + step * normals), normals
        outside = ~self.left.contains(points + step * normals)
        return outside & ~self.left.contains(points - step * normals), normals


class Difference(_Csg):
    """A - B: points of A not in the interior of B (the cut edges belong to the result)."""

    symbol = "-"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.left.bounds()

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return self.left._inside(p, tol) & ~self.right._inside(p, -tol)

    def _keep(
        self, child: int, points: np.ndarray, normals: np.ndarray, step: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if child == 0:
            return ~self.right.contains(points - step * normals), normals
        return self.left.contains(points + step * normals), -normals


class Intersection(_Csg):
    """A & B: points in both domains."""

    symbol = "&"

    def __init__(self, left: Geometry, right: Geometry) -> None:
        super().__init__(left, right)
        lo, hi = self.bounds()
        if np.any(lo >= hi):
            raise ValueError(
                "Intersection: the operands' bounding boxes do not overlap, the result is empty"
            )

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        (alo, ahi), (blo, bhi) = self.left.bounds(), self.right.bounds()
        return np.maximum(alo, blo), np.minimum(ahi, bhi)

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return self.left._inside(p, tol) & self.right._inside(p, tol)

    def _keep(
        self, child: int, points: np.ndarray, normals: np.ndarray, step: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if child == 0:
            return self.right.contains(points - step * normals), normals
        inward = self.left.contains(points - step * normals)
        return inward & self.left.contains(points + step * normals), normals
