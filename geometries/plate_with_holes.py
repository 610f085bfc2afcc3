"""A rectangular plate with circular holes, the holes forming one boundary part "holes"."""

from __future__ import annotations

from collections.abc import Sequence

from pinnlab.geometry import Disk, Geometry, Rectangle

FOUR_HOLES = ((-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3))


def plate_with_holes(
    width: float = 1.0,
    height: float = 1.0,
    radius: float = 0.1,
    centers: Sequence[Sequence[float]] = FOUR_HOLES,
) -> Geometry:
    """[-width/2, width/2] x [-height/2, height/2] minus disks of `radius` at `centers`.

    Boundary parts: "x_min", "x_max", "y_min", "y_max" for the outer edges and "holes" for all hole
    boundaries (normals point into the holes, i.e. out of the plate).
    """
    if not centers:
        raise ValueError("plate_with_holes: centers must hold at least one hole centre")
    plate: Geometry = Rectangle((-0.5 * width, -0.5 * height), (0.5 * width, 0.5 * height))
    for center in centers:
        plate = plate - Disk(center, radius, name="holes")
    return plate
