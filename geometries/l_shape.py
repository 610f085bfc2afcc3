"""The L-shaped domain: the square [-1, 1]^2 without its upper-right quarter (0, 1] x (0, 1]."""

from __future__ import annotations

from pinnlab.geometry import Polygon


def l_shape() -> Polygon:
    """L-shaped polygon of area 3, a standard test for the corner singularity at the origin.

    Vertices run counter-clockwise from (-1, -1); edge i joins vertex i to i+1, so the edges
    meeting at the re-entrant corner (0, 0) are "edge2" (y = 0, 0 <= x <= 1) and "edge3"
    (x = 0, 0 <= y <= 1).
    """
    return Polygon([(-1.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0)])
