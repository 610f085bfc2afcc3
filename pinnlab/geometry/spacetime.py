"""`SpaceTime`: a spatial domain times a time interval, built as `space * TimeInterval(t0, t1)`."""

from __future__ import annotations

import math

import numpy as np

from pinnlab.geometry.base import WHOLE_BOUNDARY, Geometry, check_n
from pinnlab.geometry.boxes import TimeInterval
from pinnlab.geometry.primitive import Primitive
from pinnlab.geometry.rejection import fill_by_rejection
from pinnlab.geometry.sampling import Sampler

INITIAL = "initial"
FINAL = "final"


class SpaceTime(Geometry):
    """Space x [t0, t1]; coordinates are the spatial names followed by "t".

    Boundary parts: every spatial part, meaning that part times [t0, t1] (the lateral boundary,
    normals (n_space, 0)), plus "initial" (t = t0, normal -e_t) and "final" (t = t1, normal +e_t).
    Part None or "boundary" is the whole *lateral* boundary, initial and final slices excluded,
    since boundary conditions and initial conditions are imposed separately.
    """

    def __init__(self, space: Geometry, time: TimeInterval) -> None:
        if not isinstance(time, TimeInterval):
            raise TypeError(
                f"SpaceTime: a Geometry can only be multiplied by a TimeInterval, "
                f"got {type(time).__name__}"
            )
        if not isinstance(space, Geometry) or isinstance(space, (SpaceTime, TimeInterval)):
            raise TypeError(
                f"SpaceTime: space must be a spatial Geometry, got {type(space).__name__}"
            )
        self.space = space
        self.time = time
        self.dim = space.dim + 1
        self.names = (*space.names, "t")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.space.bounds()
        return np.append(lo, self.time.t0), np.append(hi, self.time.t1)

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return self.space._inside(p[:, :-1], tol) & self.time._inside(p[:, -1:], tol)

    def measure(self) -> float:
        return self.space.measure() * self.time.measure()

    def boundary_parts(self) -> tuple[str, ...]:
        return (*dict.fromkeys((WHOLE_BOUNDARY, *self.space.boundary_parts())), INITIAL, FINAL)

    def boundary_measure(self, part: str | None = None) -> float:
        part = self.resolve_part(part)
        if part in (INITIAL, FINAL):
            return self.space.measure()
        return self.space.boundary_measure(part) * self.time.measure()

    def sample_interior(self, n: int, sampler: Sampler) -> np.ndarray:
        """Space and time are drawn as one (dim)-dimensional unit point, so a low-discrepancy
        sampler stays low-discrepancy jointly."""
        n = check_n("SpaceTime.sample_interior", n)
        if sampler.is_grid:
            return self._fill_from_bounding_box(n, sampler)
        if isinstance(self.space, Primitive):
            k = self.space.interior_unit_dim
            u = sampler.unit(n, k + 1)
            return np.column_stack([self.space._interior_from_unit(u[:, :k]), self._time(u[:, k])])
        lo, hi = self.space.bounds()
        return fill_by_rejection(
            n,
            sampler,
            self.dim,
            lambda u: np.column_stack([lo + (hi - lo) * u[:, :-1], self._time(u[:, -1])]),
            lambda p: self.space.contains(p[:, :-1]),
            self.space.measure() / float(np.prod(hi - lo)),
            "SpaceTime",
        )

    def sample_boundary(
        self, n: int, sampler: Sampler, part: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = check_n("SpaceTime.sample_boundary", n)
        part = self.resolve_part(part)
        if part in (INITIAL, FINAL):
            x = self.space.sample_interior(n, sampler)
            t = self.time.t0 if part == INITIAL else self.time.t1
            normals = np.zeros((len(x), self.dim))
            normals[:, -1] = -1.0 if part == INITIAL else 1.0
            return np.column_stack([x, np.full(len(x), t)]), normals
        if isinstance(self.space, Primitive):
            k = self.space.boundary_unit_dim
            u = sampler.unit(n, k + 1)
            x, nx = self.space.boundary_from_unit(u[:, :k], self.space.pieces_of(part))
            t = self._time(u[:, k])
        elif sampler.is_grid:
            # A product of boundary points and time levels; one shared grid would tie t to position.
            space_dim = self.space.dim
            levels = math.ceil(n ** (1.0 / space_dim)) if space_dim > 1 else math.ceil(n / 2)
            x, nx = self.space.sample_boundary(math.ceil(n / levels), sampler, part)
            times = self._time(sampler.unit(levels, 1)[:, 0])
            x, nx = np.repeat(x, levels, axis=0), np.repeat(nx, levels, axis=0)
            t = np.tile(times, len(x) // levels)
        else:
            x, nx = self.space.sample_boundary(n, sampler, part)
            t = self._time(sampler.unit(len(x), 1)[:, 0])
        return np.column_stack([x, t]), np.column_stack([nx, np.zeros(len(x))])

    def _time(self, u: np.ndarray) -> np.ndarray:
        return self.time.t0 + (self.time.t1 - self.time.t0) * u

    def __repr__(self) -> str:
        return f"({self.space!r} * {self.time!r})"
