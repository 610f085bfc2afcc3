"""Geometry: membership, exact measures, area/length-weighted sampling, outward normals, parts."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from geometries.l_shape import l_shape
from geometries.plate_with_holes import plate_with_holes
from pinnlab.geometry import (
    Box,
    Difference,
    Disk,
    Geometry,
    Intersection,
    Interval,
    Polygon,
    Rectangle,
    SpaceTime,
    TimeInterval,
    Union,
)
from pinnlab.geometry.sampling import GridSampler, LatinHypercubeSampler, SobolSampler, UniformSampler

PI = math.pi

# name -> (factory, exact measure, exact boundary measure). Factories are cached so the CSG
# measure estimates are computed once per test session.
CASES: dict[str, tuple[Callable[[], Geometry], float, float]] = {
    "interval": (lambda: Interval(0.0, 2.0), 2.0, 2.0),
    "rectangle": (lambda: Rectangle((0.0, 0.0), (2.0, 1.0)), 2.0, 6.0),
    "box": (lambda: Box((0.0, 0.0, 0.0), (1.0, 2.0, 3.0)), 6.0, 22.0),
    "disk": (lambda: Disk((0.5, -0.2), 0.7), PI * 0.49, 2 * PI * 0.7),
    "triangle_cw": (lambda: Polygon([(0, 0), (0, 1), (2, 0)]), 1.0, 3.0 + math.sqrt(5)),
    "l_shape": (l_shape, 3.0, 8.0),
    "comb": (  # concave, with a straight (collinear) vertex on the bottom edge
        lambda: Polygon(
            [(0, 0), (1, 0), (2, 0), (3, 0), (3, 2), (2.5, 2), (2.5, 0.5), (2, 0.5), (2, 2),
             (1, 2), (1, 0.5), (0.5, 0.5), (0.5, 2), (0, 2)]
        ),  # fmt: skip
        4.5,
        16.0,
    ),
    "plate": (plate_with_holes, 1.0 - 4 * PI * 0.01, 4.0 + 8 * PI * 0.1),
    "union": (lambda: Rectangle((0, 0), (2, 1)) | Rectangle((1, 0), (3, 2)), 5.0, 10.0),
    "union_shared_edge": (lambda: Rectangle((0, 0), (1, 1)) | Rectangle((1, 0), (2, 1)), 2.0, 6.0),
    "difference_cut_corner": (
        lambda: Rectangle((0, 0), (1, 1)) - Disk((1, 1), 0.5),
        1.0 - PI / 16,
        3.0 + PI / 4,
    ),
    "difference_flush": (lambda: Rectangle((0, 0), (2, 1)) - Rectangle((1, 0), (2, 1)), 1.0, 4.0),
    "half_disk": (lambda: Disk((0, 0), 1.0) & Rectangle((0, -2), (2, 2)), PI / 2, PI + 2.0),
    "hollow_box": (lambda: Box((0, 0, 0), (1, 1, 1)) - Box((0.25,) * 3, (0.75,) * 3), 0.875, 7.5),
    "interval_union": (lambda: Interval(0, 1) | Interval(2, 3), 2.0, 4.0),
    "interval_difference": (lambda: Interval(0, 2) - Interval(0.5, 1), 1.5, 4.0),
}
PRIMITIVES = {"interval", "rectangle", "box", "disk", "triangle_cw", "l_shape", "comb"}


@functools.cache
def geometry(name: str) -> Geometry:
    return CASES[name][0]()


def fraction_inside(points: np.ndarray, region: Callable[[np.ndarray], np.ndarray]) -> float:
    return float(np.mean(region(points)))


# ---------------------------------------------------------------------------- measures


@pytest.mark.parametrize("name", sorted(CASES))
def test_measure_matches_exact_value(name: str) -> None:
    _, area, _ = CASES[name]
    rtol = 1e-12 if name in PRIMITIVES else 5e-3
    assert geometry(name).measure() == pytest.approx(area, rel=rtol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_boundary_measure_matches_exact_value(name: str) -> None:
    _, _, length = CASES[name]
    rtol = 1e-12 if name in PRIMITIVES else 5e-3
    assert geometry(name).boundary_measure() == pytest.approx(length, rel=rtol)


# ---------------------------------------------------------------------------- interior


@pytest.mark.parametrize("name", sorted(CASES))
def test_interior_points_are_inside_with_exact_count(name: str) -> None:
    g = geometry(name)
    for sampler in (UniformSampler(1), SobolSampler(1), LatinHypercubeSampler(1)):
        p = g.sample_interior(300, sampler)
        assert p.dtype == np.float64 and p.shape == (300, g.dim)
        assert g.contains(p).all()


@pytest.mark.parametrize("name", sorted(CASES))
def test_interior_is_area_weighted_in_the_lower_left_of_the_box(name: str) -> None:
    """The share of samples in a corner box equals that box's share of the area, which is
    measured independently by counting points of a fine grid that the domain contains."""
    g = geometry(name)
    lo, hi = g.bounds()
    corner = lambda p: np.all(p < lo + 0.45 * (hi - lo), axis=1)  # noqa: E731
    shape = (200_000,) if g.dim == 1 else (400, 400) if g.dim == 2 else (60, 60, 60)
    _, grid, mask = g.grid(shape)
    expected = fraction_inside(grid[mask], corner)
    n = 8000
    observed = fraction_inside(g.sample_interior(n, UniformSampler(2)), corner)
    sigma = math.sqrt(max(expected * (1 - expected), 1e-3) / n)
    assert observed == pytest.approx(expected, abs=5 * sigma + 5e-3)


def test_disk_interior_is_area_weighted_in_radius() -> None:
    """A quarter of the area lies within half the radius (a naive polar map would give a half)."""
    disk = Disk((1.0, 2.0), 2.0)
    p = disk.sample_interior(20_000, UniformSampler(0))
    r = np.linalg.norm(p - disk.center, axis=1)
    assert np.mean(r < 1.0) == pytest.approx(0.25, abs=0.015)
    # Radius has density 2r/R^2: r^2/R^2 is uniform.
    assert stats.kstest((r / 2.0) ** 2, "uniform").pvalue > 1e-3


def test_l_shape_interior_fills_the_three_unit_squares_equally() -> None:
    p = l_shape().sample_interior(12_000, UniformSampler(3))
    left, bottom = p[:, 0] < 0, p[:, 1] < 0
    for square in (left & bottom, ~left & bottom, left & ~bottom):
        assert np.mean(square) == pytest.approx(1 / 3, abs=0.02)
    assert not np.any((p[:, 0] > 1e-9) & (p[:, 1] > 1e-9))


def test_plate_interior_avoids_holes_in_proportion_to_their_area() -> None:
    """The strip 0.2 <= x <= 0.5 holds two whole holes: 0.3 - 2*pi*r^2 of the plate's area."""
    plate = plate_with_holes()
    p = plate.sample_interior(20_000, UniformSampler(4))
    expected = (0.3 - 2 * PI * 0.01) / (1.0 - 4 * PI * 0.01)
    assert np.mean(p[:, 0] >= 0.2) == pytest.approx(expected, abs=0.012)
    centers = np.array([(-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)])
    distance = np.linalg.norm(p[:, None, :] - centers[None], axis=2).min(axis=1)
    assert distance.min() >= 0.1 - 1e-12


def test_sobol_interior_of_a_disk_is_more_even_than_uniform() -> None:
    """The measure-preserving map keeps Sobol' points low-discrepancy (checked on the unit square
    they come from, recovered by inverting the polar map)."""
    disk = Disk((0.0, 0.0), 1.0)

    def back_to_unit(p: np.ndarray) -> np.ndarray:
        r2 = np.sum(p**2, axis=1)
        return np.column_stack([r2, (np.arctan2(p[:, 1], p[:, 0]) / (2 * PI)) % 1.0])

    sobol = back_to_unit(disk.sample_interior(512, SobolSampler(0)))
    uniform = back_to_unit(disk.sample_interior(512, UniformSampler(0)))
    assert qmc.discrepancy(np.clip(sobol, 0, 1)) < 0.5 * qmc.discrepancy(np.clip(uniform, 0, 1))


def test_grid_sampler_interior_gives_grid_points_inside() -> None:
    rect = Rectangle((0.0, 0.0), (2.0, 1.0))
    p = rect.sample_interior(100, GridSampler())
    assert p.shape == (100, 2)
    assert len(np.unique(p[:, 0])) == 10
    disk = Disk((0.0, 0.0), 1.0)
    q = disk.sample_interior(400, GridSampler())
    assert disk.contains(q).all()
    assert 0.9 * 400 <= len(q) <= 1.1 * 400
    plate = plate_with_holes()
    r = plate.sample_interior(400, GridSampler())
    assert plate.contains(r).all() and 0.85 * 400 <= len(r) <= 1.15 * 400


def test_samples_are_reproducible_by_seed() -> None:
    plate = plate_with_holes()
    a = plate.sample_boundary(200, SobolSampler(5))[0]
    b = plate.sample_boundary(200, SobolSampler(5))[0]
    c = plate.sample_boundary(200, SobolSampler(6))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(
        plate.sample_interior(50, UniformSampler(1)), plate.sample_interior(50, UniformSampler(1))
    )


# ---------------------------------------------------------------------------- boundary


@pytest.mark.parametrize("name", sorted(CASES))
def test_boundary_points_with_unit_outward_normals(name: str) -> None:
    """p lies in the domain, p + eps*n outside it and p - eps*n inside it."""
    g = geometry(name)
    p, n = g.sample_boundary(400, UniformSampler(3))
    assert p.shape == n.shape == (400, g.dim)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-12)
    assert g.contains(p).all()
    eps = 1e-4 * g.scale
    lo, hi = g.bounds()
    # Stay clear of corners, where a step along the normal may cross a neighbouring edge.
    assert np.mean(~g.contains(p + eps * n)) > 0.98
    assert np.mean(g.contains(p - eps * n)) > 0.98
    assert np.all((p >= lo - 1e-12) & (p <= hi + 1e-12))


@pytest.mark.parametrize("name", ["rectangle", "disk", "l_shape", "plate", "half_disk", "union"])
def test_boundary_normals_are_outward_at_every_sample_away_from_corners(name: str) -> None:
    g = geometry(name)
    p, n = g.sample_boundary(1000, SobolSampler(0))
    eps = 1e-6 * g.scale
    outside = ~g.contains(p + eps * n)
    inside = g.contains(p - eps * n)
    # With eps this small only points within ~eps of a corner could fail.
    assert outside.all() and inside.all()


def test_rectangle_boundary_is_length_weighted() -> None:
    rect = Rectangle((0.0, 0.0), (2.0, 1.0))
    p, n = rect.sample_boundary(12_000, UniformSampler(0))
    shares = {
        "x_min": np.mean(p[:, 0] == 0.0),
        "x_max": np.mean(p[:, 0] == 2.0),
        "y_min": np.mean(p[:, 1] == 0.0),
        "y_max": np.mean(p[:, 1] == 1.0),
    }
    expected = {"x_min": 1 / 6, "x_max": 1 / 6, "y_min": 1 / 3, "y_max": 1 / 3}
    for part, share in shares.items():
        assert share == pytest.approx(expected[part], abs=0.015), part
    # Position along an edge is uniform too.
    bottom = p[p[:, 1] == 0.0, 0] / 2.0
    assert stats.kstest(bottom, "uniform").pvalue > 1e-3


def test_box_boundary_is_area_weighted() -> None:
    box = Box((0.0, 0.0, 0.0), (1.0, 2.0, 3.0))
    p, n = box.sample_boundary(12_000, UniformSampler(1))
    # Faces normal to x have area 6 each, to y 3, to z 2; total 22.
    for axis, area in enumerate([6.0, 3.0, 2.0]):
        assert np.mean(n[:, axis] != 0.0) == pytest.approx(2 * area / 22, abs=0.015)


def test_disk_boundary_is_on_the_circle_and_uniform_in_angle() -> None:
    disk = Disk((0.5, -0.2), 0.7)
    p, n = disk.sample_boundary(4000, UniformSampler(0))
    np.testing.assert_allclose(np.linalg.norm(p - disk.center, axis=1), 0.7, atol=1e-12)
    np.testing.assert_allclose(n, (p - disk.center) / 0.7, atol=1e-12)
    angle = (np.arctan2(n[:, 1], n[:, 0]) / (2 * PI)) % 1.0
    assert stats.kstest(angle, "uniform").pvalue > 1e-3


def test_polygon_edges_are_length_weighted_and_normals_outward_for_either_orientation() -> None:
    ccw = [(0.0, 0.0), (3.0, 0.0), (0.0, 4.0)]  # edges of length 3, 5, 4
    for vertices in (ccw, ccw[::-1]):
        tri = Polygon(vertices)
        assert tri.measure() == pytest.approx(6.0)
        p, n = tri.sample_boundary(12_000, UniformSampler(2))
        on_x_axis = np.abs(p[:, 1]) < 1e-12
        on_y_axis = np.abs(p[:, 0]) < 1e-12
        assert np.mean(on_x_axis) == pytest.approx(3 / 12, abs=0.015)
        assert np.mean(on_y_axis) == pytest.approx(4 / 12, abs=0.015)
        np.testing.assert_allclose(n[on_x_axis], [[0.0, -1.0]] * int(on_x_axis.sum()))
        np.testing.assert_allclose(n[on_y_axis], [[-1.0, 0.0]] * int(on_y_axis.sum()))


def test_interval_boundary_is_its_two_ends_split_evenly() -> None:
    interval = Interval(-1.0, 3.0)
    p, n = interval.sample_boundary(2000, UniformSampler(0))
    assert set(np.unique(p[:, 0])) == {-1.0, 3.0}
    np.testing.assert_array_equal(n[:, 0], np.where(p[:, 0] == -1.0, -1.0, 1.0))
    assert np.mean(p[:, 0] == -1.0) == pytest.approx(0.5, abs=0.05)
    assert interval.boundary_measure("x_min") == 1.0


def test_plate_boundary_is_length_weighted_between_holes_and_edges() -> None:
    plate = plate_with_holes()
    p, n = plate.sample_boundary(12_000, UniformSampler(5))
    centers = np.array([(-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)])
    distance = np.linalg.norm(p[:, None, :] - centers[None], axis=2)
    on_hole = np.isclose(distance.min(axis=1), 0.1, atol=1e-9)
    on_edge = np.isclose(np.abs(p).max(axis=1), 0.5, atol=1e-12)
    assert np.all(on_hole ^ on_edge)
    hole_length = 4 * 2 * PI * 0.1
    assert np.mean(on_hole) == pytest.approx(hole_length / (hole_length + 4.0), abs=0.015)
    # Hole normals are flipped: they point into the hole (out of the plate).
    nearest = centers[distance.argmin(axis=1)]
    np.testing.assert_allclose(n[on_hole], (nearest - p)[on_hole] / 0.1, atol=1e-9)
    # The four holes get equal shares.
    counts = np.bincount(distance.argmin(axis=1)[on_hole], minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), 0.25, atol=0.02)


def test_union_drops_the_shared_edge_and_keeps_one_copy_of_flush_edges() -> None:
    g = geometry("union_shared_edge")
    p, _ = g.sample_boundary(6000, UniformSampler(0))
    assert not np.any(np.isclose(p[:, 0], 1.0) & (p[:, 1] > 1e-9) & (p[:, 1] < 1 - 1e-9))
    # Bottom and top are each 2 of the perimeter 6, with no doubling on either half.
    bottom = p[:, 1] == 0.0
    assert np.mean(bottom) == pytest.approx(1 / 3, abs=0.02)
    assert np.mean(bottom & (p[:, 0] < 1.0)) == pytest.approx(1 / 6, abs=0.015)


def test_difference_cut_is_length_weighted_with_flipped_normals() -> None:
    g = geometry("difference_cut_corner")
    p, n = g.sample_boundary(12_000, UniformSampler(7))
    on_arc = np.isclose(np.linalg.norm(p - 1.0, axis=1), 0.5, atol=1e-9)
    assert np.mean(on_arc) == pytest.approx((PI / 4) / (3 + PI / 4), abs=0.015)
    np.testing.assert_allclose(n[on_arc], (1.0 - p[on_arc]) / 0.5, atol=1e-9)


def test_sampling_a_csg_boundary_returns_exactly_n_points() -> None:
    for n in (0, 1, 7, 1000):
        p, normals = geometry("plate").sample_boundary(n, SobolSampler(0))
        assert p.shape == normals.shape == (n, 2)


def test_grid_sampler_boundary_is_evenly_spaced() -> None:
    rect = Rectangle((0.0, 0.0), (2.0, 1.0))
    p, _ = rect.sample_boundary(60, GridSampler())
    bottom = np.sort(p[p[:, 1] == 0.0, 0])
    np.testing.assert_allclose(np.diff(bottom), 0.1)
    q, _ = geometry("plate").sample_boundary(300, GridSampler())
    assert 0.9 * 300 <= len(q) <= 1.1 * 300


# ---------------------------------------------------------------------------- parts


def test_rectangle_parts_and_aliases() -> None:
    rect = Rectangle((0.0, 0.0), (2.0, 1.0), name="wall")
    assert rect.boundary_parts() == (
        "boundary", "x_min", "x_max", "y_min", "y_max", "left", "right", "bottom", "top", "wall",
    )  # fmt: skip
    for part, axis, value, sign in [
        ("left", 0, 0.0, -1), ("x_max", 0, 2.0, 1), ("bottom", 1, 0.0, -1), ("top", 1, 1.0, 1),
    ]:  # fmt: skip
        p, n = rect.sample_boundary(50, UniformSampler(0), part=part)
        assert np.all(p[:, axis] == value)
        assert np.all(n[:, axis] == sign)
    assert rect.boundary_measure("top") == 2.0
    assert rect.boundary_measure("wall") == rect.boundary_measure() == 6.0


def test_box_parts_select_faces() -> None:
    box = Box((0.0, 0.0, 0.0), (1.0, 2.0, 3.0))
    p, n = box.sample_boundary(50, UniformSampler(0), part="z_max")
    assert np.all(p[:, 2] == 3.0) and np.all(n == [0.0, 0.0, 1.0])
    assert box.boundary_measure("z_max") == 2.0


def test_polygon_edge_parts() -> None:
    shape = l_shape()
    p, n = shape.sample_boundary(100, UniformSampler(0), part="edge2")
    np.testing.assert_allclose(p[:, 1], 0.0, atol=1e-15)
    assert np.all((p[:, 0] >= 0.0) & (p[:, 0] <= 1.0))
    np.testing.assert_allclose(n, [[0.0, 1.0]] * 100)
    assert shape.boundary_measure("edge0") == pytest.approx(2.0)


def test_named_disk_part() -> None:
    disk = Disk((0.0, 0.0), 0.1, name="hole")
    assert disk.boundary_parts() == ("boundary", "hole")
    p, _ = disk.sample_boundary(10, UniformSampler(0), part="hole")
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 0.1)


def test_csg_parts_select_kept_pieces_of_each_child() -> None:
    plate = plate_with_holes()
    assert {"boundary", "x_min", "x_max", "y_min", "y_max", "holes"} <= set(plate.boundary_parts())
    p, n = plate.sample_boundary(400, SobolSampler(0), part="holes")
    centers = np.array([(-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)])
    distance = np.linalg.norm(p[:, None, :] - centers[None], axis=2).min(axis=1)
    np.testing.assert_allclose(distance, 0.1, atol=1e-9)
    assert plate.boundary_measure("holes") == pytest.approx(8 * PI * 0.1, rel=1e-3)
    p, n = plate.sample_boundary(100, SobolSampler(0), part="x_min")
    assert np.all(p[:, 0] == -0.5) and np.all(n == [-1.0, 0.0])
    assert plate.boundary_measure("x_min") == pytest.approx(1.0, rel=1e-3)

    cut = geometry("difference_cut_corner")
    p, _ = cut.sample_boundary(200, UniformSampler(0), part="x_max")
    assert np.all(p[:, 0] == 1.0) and np.all(p[:, 1] <= 0.5 + 1e-9)
    assert cut.boundary_measure("x_max") == pytest.approx(0.5, rel=5e-3)


def test_csg_part_with_no_kept_points_raises() -> None:
    g = Rectangle((0, 0), (1, 1)) - Disk((5.0, 5.0), 0.5, name="far")
    with pytest.raises(ValueError, match="boundary part 'far' matches no point of the domain"):
        g.sample_boundary(10, UniformSampler(0), part="far")


@pytest.mark.parametrize("name", ["rectangle", "disk", "plate", "interval_union"])
def test_unknown_part_names_the_part_and_lists_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match=r"no boundary part 'nope'; valid parts: boundary"):
        geometry(name).sample_boundary(10, UniformSampler(0), part="nope")
    with pytest.raises(ValueError, match="no boundary part 'nope'"):
        geometry(name).boundary_measure("nope")


# ---------------------------------------------------------------------------- space-time


def test_space_time_shape_names_and_measures() -> None:
    st = Disk((0.0, 0.0), 1.0) * TimeInterval(0.5, 2.5)
    assert isinstance(st, SpaceTime)
    assert st.dim == 3 and st.names == ("x", "y", "t")
    assert Interval(0, 1).names == ("x",) and Box((0, 0, 0), (1, 1, 1)).names == ("x", "y", "z")
    assert st.measure() == pytest.approx(2 * PI)
    assert st.boundary_measure() == pytest.approx(2 * PI * 2)
    assert st.boundary_measure("initial") == pytest.approx(PI)
    assert st.boundary_parts()[-2:] == ("initial", "final")
    lo, hi = st.bounds()
    np.testing.assert_array_equal(lo, [-1, -1, 0.5])
    np.testing.assert_array_equal(hi, [1, 1, 2.5])


def test_space_time_interior_is_inside_and_uniform_in_time() -> None:
    st = Disk((0.0, 0.0), 1.0) * TimeInterval(0.5, 2.5)
    p = st.sample_interior(4000, UniformSampler(0))
    assert p.shape == (4000, 3) and st.contains(p).all()
    assert stats.kstest((p[:, 2] - 0.5) / 2.0, "uniform").pvalue > 1e-3
    assert np.mean(np.linalg.norm(p[:, :2], axis=1) < 0.5) == pytest.approx(0.25, abs=0.03)


def test_space_time_sobol_points_are_jointly_low_discrepancy() -> None:
    st = Rectangle((0.0, 0.0), (2.0, 1.0)) * TimeInterval(0.0, 3.0)
    lo, hi = st.bounds()
    sobol = (st.sample_interior(512, SobolSampler(0)) - lo) / (hi - lo)
    uniform = (st.sample_interior(512, UniformSampler(0)) - lo) / (hi - lo)
    assert qmc.discrepancy(sobol) < 0.5 * qmc.discrepancy(uniform)


def test_space_time_initial_final_and_lateral_parts() -> None:
    st = Disk((0.0, 0.0), 1.0) * TimeInterval(0.5, 2.5)
    p, n = st.sample_boundary(500, UniformSampler(1), part="initial")
    assert np.all(p[:, 2] == 0.5) and np.all(n == [0.0, 0.0, -1.0])
    assert np.all(np.linalg.norm(p[:, :2], axis=1) <= 1.0)
    p, n = st.sample_boundary(500, UniformSampler(1), part="final")
    assert np.all(p[:, 2] == 2.5) and np.all(n == [0.0, 0.0, 1.0])
    p, n = st.sample_boundary(500, UniformSampler(1))
    np.testing.assert_allclose(np.linalg.norm(p[:, :2], axis=1), 1.0, atol=1e-12)
    assert np.all((p[:, 2] >= 0.5) & (p[:, 2] <= 2.5))
    np.testing.assert_allclose(n[:, :2], p[:, :2], atol=1e-12)
    assert np.all(n[:, 2] == 0.0)


def test_space_time_over_csg_space() -> None:
    st = plate_with_holes() * TimeInterval(0.0, 1.0)
    p = st.sample_interior(500, SobolSampler(0))
    assert p.shape == (500, 3) and st.contains(p).all()
    p, n = st.sample_boundary(300, SobolSampler(0), part="holes")
    assert p.shape == (300, 3)
    centers = np.array([(-0.3, -0.3), (0.3, -0.3), (-0.3, 0.3), (0.3, 0.3)])
    distance = np.linalg.norm(p[:, None, :2] - centers[None], axis=2).min(axis=1)
    np.testing.assert_allclose(distance, 0.1, atol=1e-9)
    assert np.all(n[:, 2] == 0.0)
    assert stats.kstest(p[:, 2], "uniform").pvalue > 1e-3
    q, _ = st.sample_boundary(200, GridSampler(), part="x_min")
    assert np.all(q[:, 0] == -0.5) and len(np.unique(q[:, 2])) > 5


def test_space_time_of_interval_lateral_boundary_is_the_two_ends() -> None:
    st = Interval(0.0, 1.0) * TimeInterval(0.0, 1.0)
    p, n = st.sample_boundary(400, SobolSampler(0), part="x_min")
    assert np.all(p[:, 0] == 0.0) and np.all(n == [-1.0, 0.0])
    p, _ = st.sample_boundary(400, SobolSampler(0))
    assert set(np.unique(p[:, 0])) == {0.0, 1.0}


# ---------------------------------------------------------------------------- grid and contains


def test_grid_axes_points_and_mask() -> None:
    rect = Rectangle((0.0, 0.0), (2.0, 1.0))
    axes, points, mask = rect.grid((3, 5))
    np.testing.assert_array_equal(axes[0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(axes[1], np.linspace(0.0, 1.0, 5))
    assert points.shape == (15, 2) and mask.all()
    np.testing.assert_array_equal(points[1], [0.0, 0.25])  # C order: last axis fastest
    _, points, mask = Disk((0.0, 0.0), 1.0).grid((201, 201))
    assert np.mean(mask) == pytest.approx(PI / 4, abs=0.01)
    with pytest.raises(ValueError, match="Rectangle.grid: shape must be 2 positive ints"):
        rect.grid((3,))


def test_contains_is_closed_and_respects_holes() -> None:
    plate = plate_with_holes()
    points = np.array([[0.0, 0.0], [0.5, 0.5], [-0.3, -0.3], [-0.2, -0.3], [0.6, 0.0]])
    np.testing.assert_array_equal(plate.contains(points), [True, True, False, True, False])
    inside = Interval(0.0, 1.0).contains(np.array([0.0, 0.5, 1.0, 1.1]))
    assert inside.tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match=r"expected points of shape \(n, 2\)"):
        plate.contains(np.zeros((4, 3)))


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Interval(1.0, 0.0), r"Interval: need a < b, got lower=\(1.0,\), upper=\(0.0,\)"),
        (lambda: Rectangle((0, 0), (0, 1)), "Rectangle: need x0 < x1 and y0 < y1"),
        (lambda: Rectangle((0, 0), (1, 1, 1)), "Rectangle: each bound must be 2 finite"),
        (lambda: Box((0, 0, 0), (1, 1, -1)), "Box: need x0 < x1"),
        (lambda: TimeInterval(2.0, 1.0), "TimeInterval: need t0 < t1"),
        (lambda: Disk((0, 0), 0.0), "Disk: radius must be positive"),
        (lambda: Disk((0, 0, 0), 1.0), "Disk: center must be 2 finite numbers"),
        (lambda: Polygon([(0, 0), (1, 0)]), "Polygon: vertices must have at least 3 points, got 2"),
        (lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "Polygon: .*not form a simple polygon"),
        (lambda: Polygon([(0, 0), (1, 0), (2, 0)]), "Polygon: vertices enclose zero area"),
        (lambda: Rectangle((0, 0), (1, 1), name="left"), "Rectangle: name 'left' clashes"),
        (lambda: Rectangle((0, 0), (1, 1)) | Interval(0, 1), "Union: operands differ in dimension"),
        (lambda: Disk((0, 0), 1) & Disk((5, 5), 1), "Intersection: .*do not overlap"),
    ],
)
def test_bad_arguments_raise_value_error_naming_class_and_argument(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_negative_counts_raise() -> None:
    with pytest.raises(ValueError, match="Disk.sample_interior: n must be non-negative, got -1"):
        Disk((0, 0), 1.0).sample_interior(-1, UniformSampler())
    with pytest.raises(ValueError, match="Difference.sample_boundary: n must be non-negative"):
        geometry("plate").sample_boundary(-3, UniformSampler())


def test_space_time_and_csg_do_not_mix() -> None:
    with pytest.raises(TypeError, match="can only be multiplied by a TimeInterval"):
        Disk((0, 0), 1.0) * Disk((0, 0), 1.0)
    st = Disk((0, 0), 1.0) * TimeInterval(0, 1)
    with pytest.raises(TypeError, match="SpaceTime cannot take part in CSG"):
        Union(st, st)
    assert isinstance(Rectangle((0, 0), (1, 1)) - Disk((0, 0), 0.5), Difference)
    assert isinstance(Disk((0, 0), 1) & Disk((0.5, 0), 1), Intersection)
