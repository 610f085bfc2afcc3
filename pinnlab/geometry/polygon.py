"""`Polygon`: a simple polygon in the plane, vertices in either orientation.

Interior sampling triangulates once (ear clipping) and picks a triangle by area, so it needs no
rejection; the boundary pieces are the edges, edge i running from vertex i to vertex i+1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pinnlab.geometry.base import DEFAULT_NAMES
from pinnlab.geometry.primitive import Primitive, split_by_weights


class Polygon(Primitive):
    """Simple polygon. Parts "edge0", "edge1", ... (edge i joins vertex i to vertex i+1)."""

    interior_unit_dim = 2
    boundary_unit_dim = 1

    def __init__(self, vertices: Sequence[Sequence[float]], *, name: str | None = None) -> None:
        try:
            v = np.asarray(vertices, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Polygon: vertices must be (x, y) pairs, got {vertices!r}") from None
        if v.ndim != 2 or v.shape[1] != 2 or not np.all(np.isfinite(v)):
            raise ValueError(f"Polygon: vertices must be finite (x, y) pairs, got shape {v.shape}")
        if len(v) < 3:
            raise ValueError(f"Polygon: vertices must have at least 3 points, got {len(v)}")
        edges = np.roll(v, -1, axis=0) - v
        lengths = np.linalg.norm(edges, axis=1)
        scale = float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))
        if np.any(lengths <= 1e-12 * scale):
            raise ValueError(
                "Polygon: vertices contain repeated consecutive points (zero-length edge)"
            )
        signed_area = 0.5 * float(np.sum(v[:, 0] * edges[:, 1] - v[:, 1] * edges[:, 0]))
        if _has_crossing_edges(v):
            raise ValueError("Polygon: vertices do not form a simple polygon (edges cross)")
        if abs(signed_area) <= 1e-12 * scale**2:
            raise ValueError("Polygon: vertices enclose zero area")
        self.dim = 2
        self.names = DEFAULT_NAMES[2]
        self.vertices = v
        self._edges = edges
        self._lengths = lengths
        self._area = abs(signed_area)
        # Outward normal: the edge direction turned clockwise for a counter-clockwise polygon.
        turn = 1.0 if signed_area > 0 else -1.0
        self._normals = turn * np.column_stack([edges[:, 1], -edges[:, 0]]) / lengths[:, None]
        ccw = v if signed_area > 0 else v[::-1]
        self._triangles = _ear_clip(ccw)
        a, b, c = self._triangles[:, 0], self._triangles[:, 1], self._triangles[:, 2]
        self._triangle_areas = 0.5 * np.abs(_cross(b - a, c - a))
        super().__init__(name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)

    def _inside(self, p: np.ndarray, tol: float) -> np.ndarray:
        out = np.empty(len(p), dtype=bool)
        block = max(1, 2**20 // len(self.vertices))
        for start in range(0, len(p), block):
            q = p[start : start + block]
            near = self._edge_distance(q) <= abs(tol)
            odd = self._crossings_odd(q)
            out[start : start + block] = (odd | near) if tol >= 0 else (odd & ~near)
        return out

    def _crossings_odd(self, q: np.ndarray) -> np.ndarray:
        """Even-odd rule: a ray towards +x crosses the boundary an odd number of times."""
        a = self.vertices[None, :, :]
        b = np.roll(self.vertices, -1, axis=0)[None, :, :]
        x, y = q[:, None, 0], q[:, None, 1]
        straddles = (a[..., 1] > y) != (b[..., 1] > y)
        dy = np.where(straddles, b[..., 1] - a[..., 1], 1.0)
        x_cross = a[..., 0] + (y - a[..., 1]) * (b[..., 0] - a[..., 0]) / dy
        return (np.count_nonzero(straddles & (x < x_cross), axis=1) % 2) == 1

    def _edge_distance(self, q: np.ndarray) -> np.ndarray:
        """Distance from each point to the nearest edge."""
        rel = q[:, None, :] - self.vertices[None, :, :]
        t = np.clip(np.sum(rel * self._edges, axis=2) / self._lengths**2, 0.0, 1.0)
        gap = rel - t[..., None] * self._edges[None, :, :]
        return np.sqrt(np.min(np.sum(gap**2, axis=2), axis=1))

    def measure(self) -> float:
        return self._area

    def _interior_from_unit(self, u: np.ndarray) -> np.ndarray:
        which, rest = split_by_weights(u[:, 0], self._triangle_areas)
        a, b, c = (self._triangles[which, k] for k in range(3))
        s = np.sqrt(rest)[:, None]
        w = u[:, 1:2]
        return a + s * (b - a) + s * w * (c - b)

    def _piece_measures(self) -> np.ndarray:
        return self._lengths

    def _named_pieces(self) -> dict[str, tuple[int, ...]]:
        return {f"edge{i}": (i,) for i in range(len(self.vertices))}

    def _piece_from_unit(self, piece: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = self.vertices[piece] + u[:, :1] * self._edges[piece]
        return points, np.repeat(self._normals[piece : piece + 1], len(u), axis=0)

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return f"Polygon({self.vertices.tolist()}{extra})"


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _has_crossing_edges(v: np.ndarray) -> bool:
    """Whether any two non-adjacent edges touch (O(m^2); polygons here are small)."""
    m = len(v)
    for i in range(m):
        for j in range(i + 2, m):
            if i == 0 and j == m - 1:
                continue  # adjacent through the closing edge
            if _segments_touch(v[i], v[(i + 1) % m], v[j], v[(j + 1) % m]):
                return True
    return False


def _segments_touch(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    d1 = _cross(p2 - p1, q1 - p1)
    d2 = _cross(p2 - p1, q2 - p1)
    d3 = _cross(q2 - q1, p1 - q1)
    d4 = _cross(q2 - q1, p2 - q1)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True

    def on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: float) -> bool:
        """c is collinear with segment ab (d == 0) and within its bounding box."""
        return d == 0 and bool(np.all(np.minimum(a, b) <= c) and np.all(c <= np.maximum(a, b)))

    return (
        on_segment(p1, p2, q1, d1)
        or on_segment(p1, p2, q2, d2)
        or on_segment(q1, q2, p1, d3)
        or on_segment(q1, q2, p2, d4)
    )


def _ear_clip(v: np.ndarray) -> np.ndarray:
    """Triangulate a counter-clockwise simple polygon; returns (m - 2, 3, 2) vertex triples.

    An ear is a convex vertex whose triangle holds no other vertex; cutting ears one at a time
    always terminates for a simple polygon. Collinear vertices are dropped when no ear remains.
    """
    idx = list(range(len(v)))
    triangles: list[np.ndarray] = []

    def corner(k: int) -> tuple[int, int, int]:
        return idx[k - 1], idx[k], idx[(k + 1) % len(idx)]

    def turn(k: int) -> float:
        i0, i1, i2 = corner(k)
        return float(_cross(v[i1] - v[i0], v[i2] - v[i1]))

    while len(idx) > 3:
        for k in range(len(idx)):
            if turn(k) <= 0:
                continue  # reflex or straight: not an ear
            i0, i1, i2 = corner(k)
            others = v[[j for j in idx if j not in (i0, i1, i2)]]
            if np.any(_in_closed_triangle(others, v[i0], v[i1], v[i2])):
                continue
            triangles.append(v[[i0, i1, i2]])
            del idx[k]
            break
        else:
            straight = [k for k in range(len(idx)) if turn(k) == 0]
            if not straight:
                raise ValueError("Polygon: could not triangulate the vertices; is it simple?")
            del idx[straight[0]]
    triangles.append(v[idx])
    return np.stack(triangles)


def _in_closed_triangle(q: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Points inside or on a counter-clockwise triangle."""
    return (_cross(b - a, q - a) >= 0) & (_cross(c - b, q - b) >= 0) & (_cross(a - c, q - c) >= 0)
