"""Primitives: domains with explicit, measure-preserving maps from the unit cube.

Mapping unit points directly (no rejection) means every sampler keeps its character on the domain,
a Sobol sequence stays low-discrepancy, and `SpaceTime` can draw space and time as one joint point.
The boundary is a list of pieces (faces, edges, an arc); a part name selects some of them.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from pinnlab.geometry.base import WHOLE_BOUNDARY, Geometry, check_n
from pinnlab.geometry.sampling import Sampler


class Primitive(Geometry):
    """Base of the final primitive shapes; see the module docstring for the contract."""

    interior_unit_dim: int
    """Unit-cube dimension consumed per interior point."""
    boundary_unit_dim: int
    """Unit-cube dimension consumed per boundary point (column 0 picks the piece)."""

    def __init__(self, name: str | None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty str, got {name!r}")
        builtin = self._named_pieces()
        if name is not None and name in builtin:
            raise ValueError(
                f"{type(self).__name__}: name {name!r} clashes with a built-in boundary part"
            )
        every = tuple(range(len(self._piece_measures())))
        parts: dict[str, tuple[int, ...]] = {WHOLE_BOUNDARY: every, **builtin}
        if name is not None:
            parts[name] = every
        self.name = name
        self._parts = parts

    # ------------------------------------------------------------------ what each shape provides

    @abstractmethod
    def _interior_from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map (n, interior_unit_dim) unit points to (n, dim) interior points, keeping measure."""

    @abstractmethod
    def _piece_measures(self) -> np.ndarray:
        """Length/area of each boundary piece, shape (pieces,)."""

    @abstractmethod
    def _piece_from_unit(self, piece: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map (m, boundary_unit_dim) unit points onto one piece: (points, outward normals)."""

    @abstractmethod
    def _named_pieces(self) -> dict[str, tuple[int, ...]]:
        """Built-in part names (aliases included) and the pieces they cover."""

    # ------------------------------------------------------------------ Geometry interface

    def boundary_parts(self) -> tuple[str, ...]:
        return tuple(self._parts)

    def boundary_measure(self, part: str | None = None) -> float:
        return float(self._piece_measures()[list(self.pieces_of(part))].sum())

    def pieces_of(self, part: str | None) -> tuple[int, ...]:
        """Indices of the boundary pieces a part covers (validates the name)."""
        return self._parts[self.resolve_part(part)]

    def sample_interior(self, n: int, sampler: Sampler) -> np.ndarray:
        n = check_n(f"{type(self).__name__}.sample_interior", n)
        if sampler.is_grid:
            return self._fill_from_bounding_box(n, sampler)
        return self._interior_from_unit(sampler.unit(n, self.interior_unit_dim))

    def sample_boundary(
        self, n: int, sampler: Sampler, part: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Uniform by length/area over the part: column 0 of the unit point picks a piece with
        probability proportional to its measure, and its remainder is the position on that piece."""
        n = check_n(f"{type(self).__name__}.sample_boundary", n)
        pieces = self.pieces_of(part)
        return self.boundary_from_unit(sampler.unit(n, self.boundary_unit_dim), pieces)

    def boundary_from_unit(
        self, u: np.ndarray, pieces: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map (n, boundary_unit_dim) unit points onto the given pieces, uniformly by measure."""
        which, rest = split_by_weights(u[:, 0], self._piece_measures()[list(pieces)])
        points = np.empty((len(u), self.dim))
        normals = np.empty((len(u), self.dim))
        for k, piece in enumerate(pieces):
            sel = which == k
            if sel.any():
                local = np.column_stack([rest[sel], u[sel, 1:]])
                points[sel], normals[sel] = self._piece_from_unit(piece, local)
        return points, normals


def split_by_weights(u: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pick index k with probability weights[k]/sum and rescale u within that slot to [0, 1].

    Reusing the remainder of u as a coordinate keeps a low-discrepancy sequence low-discrepancy
    after the choice, instead of spending another dimension on it.
    """
    weights = np.asarray(weights, dtype=np.float64)
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    which = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(weights) - 1)
    width = edges[which + 1] - edges[which]
    rest = np.clip((u - edges[which]) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    return which, rest
