"""Axis-aligned boxes: `Interval`, `Rectangle`, `Box` and the time axis `TimeInterval`.

They share one implementation (`_AxisBox`) and differ only in dimension and face names. Face
`2*axis` is the low side of `axis`, face `2*axis + 1` the high side. In 1D a face is a point whose
measure is 1 (counting measure), which is what the general formula (product of the other extents)
gives for an empty product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pinnlab.geometry.base import DEFAULT_NAMES
from pinnlab.geometry.primitive import Primitive


class _AxisBox(Primitive):
    """Shared implementation of the boxes; never instantiated directly."""

    def __init__(
        self,
        lo: Sequence[float],
        hi: Sequence[float],
        face_names: Sequence[str],
        aliases: dict[str, str],
        names: tuple[str, ...],
        name: str | None,
        order_rule: str,
    ) -> None:
        owner = type(self).__name__
        self.dim = len(names)
        self.lo = _corner(owner, lo, self.dim, order_rule)
        self.hi = _corner(owner, hi, self.dim, order_rule)
        if np.any(self.lo >= self.hi):
            raise ValueError(
                f"{owner}: need {order_rule}, "
                f"got lower={tuple(self.lo.tolist())}, upper={tuple(self.hi.tolist())}"
            )
        self.names = names
        self.interior_unit_dim = self.dim
        self.boundary_unit_dim = max(self.dim - 1, 1)
        pieces = {face: (i,) for i, face in enumerate(face_names)}
        pieces.update({alias: pieces[face] for alias, face in aliases.items()})
        self._face_pieces = pieces
        extent = self.hi - self.lo
        self._faces = np.repeat(
            [float(np.prod(np.delete(extent, axis))) for axis in range(self.dim)], 2
        )
        super().__init__(name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lo.copy(), self.hi.copy()

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        return np.all((p >= self.lo - tol) & (p <= self.hi + tol), axis=1)

    def measure(self) -> float:
        return float(np.prod(self.hi - self.lo))

    def _interior_from_unit(self, u: np.ndarray) -> np.ndarray:
        return self.lo + (self.hi - self.lo) * u

    def _piece_measures(self) -> np.ndarray:
        return self._faces

    def _named_pieces(self) -> dict[str, tuple[int, ...]]:
        return self._face_pieces

    def _piece_from_unit(self, piece: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        axis, high = divmod(piece, 2)
        others = [a for a in range(self.dim) if a != axis]
        points = np.empty((len(u), self.dim))
        points[:, axis] = self.hi[axis] if high else self.lo[axis]
        points[:, others] = self.lo[others] + (self.hi - self.lo)[others] * u[:, : len(others)]
        normals = np.zeros((len(u), self.dim))
        normals[:, axis] = 1.0 if high else -1.0
        return points, normals

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return f"{type(self).__name__}({tuple(self.lo.tolist())}, {tuple(self.hi.tolist())}{extra})"


class Interval(_AxisBox):
    """[a, b]. Boundary parts "x_min"/"x_max" (aliases "left"/"right"), each of measure 1."""

    def __init__(self, a: float, b: float, *, name: str | None = None) -> None:
        super().__init__(
            [a], [b], ("x_min", "x_max"), {"left": "x_min", "right": "x_max"},
            DEFAULT_NAMES[1], name, "a < b",
        )  # fmt: skip


class Rectangle(_AxisBox):
    """[x0, x1] x [y0, y1]. Parts "x_min", "x_max", "y_min", "y_max"
    (aliases "left", "right", "bottom", "top")."""

    def __init__(
        self, lo: Sequence[float], hi: Sequence[float], *, name: str | None = None
    ) -> None:
        super().__init__(
            lo, hi, ("x_min", "x_max", "y_min", "y_max"),
            {"left": "x_min", "right": "x_max", "bottom": "y_min", "top": "y_max"},
            DEFAULT_NAMES[2], name, "x0 < x1 and y0 < y1 for corners (x0, y0), (x1, y1)",
        )  # fmt: skip


class Box(_AxisBox):
    """[x0, x1] x [y0, y1] x [z0, z1]. Parts "x_min", "x_max", ..., "z_max"."""

    def __init__(
        self, lo: Sequence[float], hi: Sequence[float], *, name: str | None = None
    ) -> None:
        super().__init__(
            lo, hi, ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max"), {},
            DEFAULT_NAMES[3], name,
            "x0 < x1, y0 < y1 and z0 < z1 for corners (x0, y0, z0), (x1, y1, z1)",
        )  # fmt: skip


class Hyperbox(_AxisBox):
    """An axis-aligned box in any dimension d, coordinates "x1" ... "xd" (high-dimensional
    problems such as a Poisson equation in d = 10). Parts "x1_min", "x1_max", ..."""

    def __init__(
        self, lo: Sequence[float], hi: Sequence[float], *, name: str | None = None
    ) -> None:
        if isinstance(lo, (int, float)) or len(lo) < 1:
            raise ValueError(f"Hyperbox: lower corner must be a sequence of numbers, got {lo!r}")
        names = tuple(f"x{i + 1}" for i in range(len(lo)))
        faces = [f"{n}_{side}" for n in names for side in ("min", "max")]
        super().__init__(lo, hi, faces, {}, names, name, "lower < upper in every coordinate")


class TimeInterval(_AxisBox):
    """The time axis [t0, t1], coordinate "t", parts "initial" and "final".

    Use it as `space * TimeInterval(t0, t1)`; it takes no part in CSG.
    """

    def __init__(self, t0: float, t1: float, *, name: str | None = None) -> None:
        super().__init__([t0], [t1], ("initial", "final"), {}, ("t",), name, "t0 < t1")

    @property
    def t0(self) -> float:
        return float(self.lo[0])

    @property
    def t1(self) -> float:
        return float(self.hi[0])


def _corner(owner: str, value: Sequence[float], dim: int, order_rule: str) -> np.ndarray:
    """A finite float64 vector of length dim, or a ValueError naming the class and arguments."""
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: bounds must be numbers ({order_rule}), got {value!r}") from None
    if arr.shape != (dim,) or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{owner}: each bound must be {dim} finite number(s) ({order_rule}), got {value!r}"
        )
    return arr
