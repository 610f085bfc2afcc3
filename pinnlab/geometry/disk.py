"""`Disk`: the closed disk |p - c| <= r in the plane."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pinnlab.geometry.base import DEFAULT_NAMES
from pinnlab.geometry.primitive import Primitive


class Disk(Primitive):
    """Closed disk. Its boundary is one piece, the circle: part "boundary" (plus `name` if given).

    Interior points use r = R*sqrt(u0), theta = 2*pi*u1, the area-preserving polar map.
    """

    interior_unit_dim = 2
    boundary_unit_dim = 1

    def __init__(
        self, center: Sequence[float], radius: float, *, name: str | None = None
    ) -> None:
        try:
            c = np.asarray(center, dtype=np.float64).reshape(-1)
            r = float(radius)
        except (TypeError, ValueError):
            raise ValueError(
                f"Disk: center must be 2 numbers and radius a number, got {center!r}, {radius!r}"
            ) from None
        if c.shape != (2,) or not np.all(np.isfinite(c)):
            raise ValueError(f"Disk: center must be 2 finite numbers, got {center!r}")
        if not np.isfinite(r) or r <= 0.0:
            raise ValueError(f"Disk: radius must be positive and finite, got {radius!r}")
        self.dim = 2
        self.names = DEFAULT_NAMES[2]
        self.center = c
        self.radius = r
        super().__init__(name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return np.linalg.norm(p - self.center, axis=1) <= self.radius + tol

    def measure(self) -> float:
        return float(np.pi * self.radius**2)

    def _interior_from_unit(self, u: np.ndarray) -> np.ndarray:
        r = self.radius * np.sqrt(u[:, 0])
        theta = 2.0 * np.pi * u[:, 1]
        return self.center + np.column_stack([r * np.cos(theta), r * np.sin(theta)])

    def _piece_measures(self) -> np.ndarray:
        return np.array([2.0 * np.pi * self.radius])

    def _named_pieces(self) -> dict[str, tuple[int, ...]]:
        return {}

    def _piece_from_unit(self, piece: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta = 2.0 * np.pi * u[:, 0]
        normals = np.column_stack([np.cos(theta), np.sin(theta)])
        return self.center + self.radius * normals, normals

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return f"Disk({tuple(self.center.tolist())}, {self.radius}{extra})"
