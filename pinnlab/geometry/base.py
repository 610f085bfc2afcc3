"""The `Geometry` interface shared by primitives, CSG combinations and space-time domains.

Everything works in numpy float64: geometry produces collocation points once per batch, so there is
nothing to differentiate and no reason to tie it to a torch device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from pinnlab.geometry.rejection import fill_by_rejection
from pinnlab.geometry.sampling import Sampler

if TYPE_CHECKING:
    from pinnlab.geometry.boxes import TimeInterval
    from pinnlab.geometry.csg import Difference, Intersection, Union
    from pinnlab.geometry.spacetime import SpaceTime

WHOLE_BOUNDARY = "boundary"
"""Part name every geometry accepts for its whole boundary (same as passing part=None)."""

REL_TOL = 1e-9
"""Membership tolerance relative to the bounding-box diagonal: boundary points count as inside."""

DEFAULT_NAMES: dict[int, tuple[str, ...]] = {1: ("x",), 2: ("x", "y"), 3: ("x", "y", "z")}


class Geometry(ABC):
    """A closed domain that can sample its interior and boundary uniformly by measure.

    Combine with `a | b` (union), `a - b` (difference), `a & b` (intersection), and add time with
    `geometry * TimeInterval(t0, t1)`.
    """

    dim: int
    names: tuple[str, ...]

    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box (lo, hi), each of shape (dim,)."""

    @abstractmethod
    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        """Membership of (n, dim) points in the set grown by `tol` (shrunk when tol < 0).

        A negative tolerance gives the open interior, which CSG difference needs so that the
        boundary of a hole stays part of the (closed) result.
        """

    @abstractmethod
    def measure(self) -> float:
        """Length, area or volume."""

    @abstractmethod
    def boundary_parts(self) -> tuple[str, ...]:
        """Every part name `sample_boundary` accepts, "boundary" included."""

    @abstractmethod
    def boundary_measure(self, part: str | None = None) -> float:
        """Length/area of the selected boundary part (None or "boundary": whole boundary)."""

    @abstractmethod
    def sample_interior(self, n: int, sampler: Sampler) -> np.ndarray:
        """(n, dim) points, uniform with respect to volume.

        Exactly n points, except with a grid sampler: then the points of a regular grid over the
        bounding box that fall inside, about n of them.
        """

    @abstractmethod
    def sample_boundary(
        self, n: int, sampler: Sampler, part: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(points, outward unit normals), each (n, dim), uniform by length/area over `part`."""

    # ------------------------------------------------------------------ shared behaviour

    @property
    def scale(self) -> float:
        """Bounding-box diagonal: the length that tolerances are relative to."""
        lo, hi = self.bounds()
        return float(np.linalg.norm(hi - lo))

    def contains(self, p: np.ndarray) -> np.ndarray:
        """Bool (n,): whether each point lies in the closed domain (boundary counts as inside)."""
        return self._inside(as_points(p, self.dim, type(self).__name__), REL_TOL * self.scale)

    def grid(self, shape: tuple[int, ...]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Regular grid over the bounding box, for output and plotting.

        Returns the 1D axes (linspace including both ends), the points (prod(shape), dim) in C order
        (indexing="ij"), and the mask of points inside the domain.
        """
        shape = tuple(shape)
        if len(shape) != self.dim or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in shape
        ):
            raise ValueError(
                f"{type(self).__name__}.grid: shape must be {self.dim} positive ints, got {shape!r}"
            )
        lo, hi = self.bounds()
        axes = [np.linspace(lo[i], hi[i], int(s)) for i, s in enumerate(shape)]
        mesh = np.meshgrid(*axes, indexing="ij")
        points = np.stack([m.reshape(-1) for m in mesh], axis=1)
        return axes, points, self.contains(points)

    def resolve_part(self, part: str | None) -> str:
        """Normalise a part name (None -> "boundary"); unknown names raise with the valid list."""
        if part is None:
            return WHOLE_BOUNDARY
        valid = self.boundary_parts()
        if part not in valid:
            raise ValueError(
                f"{type(self).__name__} has no boundary part {part!r}; "
                f"valid parts: {', '.join(valid)}"
            )
        return part

    def _fill_from_bounding_box(self, n: int, sampler: Sampler) -> np.ndarray:
        """Interior points by rejection from the bounding box (a single pass for a grid sampler)."""
        lo, hi = self.bounds()
        return fill_by_rejection(
            n,
            sampler,
            self.dim,
            lambda u: lo + (hi - lo) * u,
            self.contains,
            self.measure() / float(np.prod(hi - lo)),
            type(self).__name__,
        )

    # ------------------------------------------------------------------ operators

    def __or__(self, other: Geometry) -> Union:
        from pinnlab.geometry.csg import Union

        return Union(self, other)

    def __sub__(self, other: Geometry) -> Difference:
        from pinnlab.geometry.csg import Difference

        return Difference(self, other)

    def __and__(self, other: Geometry) -> Intersection:
        from pinnlab.geometry.csg import Intersection

        return Intersection(self, other)

    def __mul__(self, other: TimeInterval) -> SpaceTime:
        from pinnlab.geometry.spacetime import SpaceTime

        return SpaceTime(self, other)


def as_points(p: np.ndarray, dim: int, owner: str) -> np.ndarray:
    """Canonical (n, dim) float64 array; a 1D array is n points when dim == 1, else one point."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1) if dim == 1 else arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{owner}: expected points of shape (n, {dim}), got {np.shape(p)}")
    return arr


def check_n(owner: str, n: int) -> int:
    """A sample count must be a non-negative int."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"{owner}: n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"{owner}: n must be non-negative, got {n}")
    return int(n)
