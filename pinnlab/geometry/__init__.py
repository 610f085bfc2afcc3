"""Domains with measure-weighted sampling, outward normals and named boundary parts.

Primitives (`Interval`, `Rectangle`, `Box`, `Disk`, `Polygon`) combine with `|`, `-`, `&` into CSG
domains (`Union`, `Difference`, `Intersection`) and with `* TimeInterval(t0, t1)` into `SpaceTime`.
All sampling goes through a `pinnlab.geometry.sampling.Sampler`, so the point distribution is chosen by the
caller and reproducible from its seed.
"""

from pinnlab.geometry.base import Geometry
from pinnlab.geometry.boxes import Box, Hyperbox, Interval, Rectangle, TimeInterval
from pinnlab.geometry.csg import Difference, Intersection, Union
from pinnlab.geometry.disk import Disk
from pinnlab.geometry.polygon import Polygon
from pinnlab.geometry.primitive import Primitive
from pinnlab.geometry.spacetime import SpaceTime

__all__ = [
    "Geometry",
    "Primitive",
    "Interval",
    "Rectangle",
    "Box",
    "Hyperbox",
    "Disk",
    "Polygon",
    "TimeInterval",
    "Union",
    "Difference",
    "Intersection",
    "SpaceTime",
]
