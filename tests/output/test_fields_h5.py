"""Tests for pinnlab.output.fields_h5, checked against the file as plain h5py sees it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from pinnlab.output.fields_writer import write_fields
from pinnlab.output.io import Results, read_fields


def _problem(nx: int = 120, nt: int = 100) -> dict:
    """A 2D (x, t) grid big enough that some arrays are compressed, with a partial mask."""
    x = np.linspace(-1.0, 1.0, nx)
    t = np.linspace(0.0, 1.0, nt)
    X, T = np.meshgrid(x, t, indexing="ij")
    mask = X <= 0.8  # points with x > 0.8 lie outside the domain
    u_ref = np.sin(np.pi * X) * np.exp(-T)
    u = u_ref + 1e-3 * np.cos(3 * X) * T
    v = (X * T).astype(np.float32)
    steps = np.arange(0, 50, 10)
    return dict(
        equation="burgers",
        axes={"x": x, "t": t},
        mask=mask,
        prediction={"u": u, "v": v},
        reference={"u": u_ref},
        loss_history={
            "step": steps,
            "pde": np.geomspace(1.0, 1e-3, steps.size),
            "ic": np.geomspace(0.5, 1e-4, steps.size),
            "total": np.geomspace(2.0, 1e-3, steps.size),
        },
        attrs={"nu": "0.01/pi", "seed": 7, "config": {"lr": 1e-3, "layers": [2, 20, 1]},
               "tags": ["a", "b"]},
    )


def test_layout_read_with_h5py(tmp_path: Path) -> None:
    p = _problem()
    path = tmp_path / "fields.h5"
    write_fields(path, **p)
    inside = p["mask"]
    grid = (120, 100)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "pinnlab-fields"
        assert int(f.attrs["format_version"]) == 2
        assert f.attrs["equation"] == "burgers"
        assert json.loads(f.attrs["inputs"]) == ["x", "t"]
        assert json.loads(f.attrs["fields"]) == ["u", "v"]
        assert f.attrs["nu"] == "0.01/pi"
        assert int(f.attrs["seed"]) == 7
        assert json.loads(f.attrs["config"]) == {"lr": 1e-3, "layers": [2, 20, 1]}
        assert json.loads(f.attrs["tags"]) == ["a", "b"]

        for name in ("x", "t"):
            axis = f["coordinates"][name]
            assert axis.dtype == np.float64 and axis.ndim == 1
            np.testing.assert_array_equal(axis[()], p["axes"][name])

        assert f["mask"].dtype == np.uint8 and f["mask"].shape == grid
        np.testing.assert_array_equal(f["mask"][()], inside.astype(np.uint8))

        u = f["prediction/u"]
        assert u.shape == grid and u.dtype == np.float64
        assert u.compression == "gzip"  # 12,000 elements >= 1e4
        np.testing.assert_array_equal(u[()][inside], p["prediction"]["u"][inside])
        assert np.isnan(u[()][~inside]).all()
        v = f["prediction/v"]
        assert v.dtype == np.float32  # floating dtype kept
        np.testing.assert_array_equal(v[()][inside], p["prediction"]["v"][inside])

        assert list(f["reference"]) == ["u"]
        assert list(f["error"]) == ["u"]
        np.testing.assert_array_equal(f["reference/u"][()][inside], p["reference"]["u"][inside])
        expected_err = p["prediction"]["u"] - p["reference"]["u"]
        np.testing.assert_allclose(f["error/u"][()][inside], expected_err[inside], rtol=0, atol=0)
        assert np.isnan(f["error/u"][()][~inside]).all()

        hist = f["loss_history"]
        assert hist["step"].dtype == np.int64
        assert list(hist) == ["step", "pde", "ic", "total"]  # written order
        for term, values in p["loss_history"].items():
            assert hist[term].shape == (5,)
            np.testing.assert_array_equal(hist[term][()], values)
        assert hist["pde"].dtype == np.float64


def test_small_arrays_not_compressed(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 11)
    path = tmp_path / "small.h5"
    write_fields(path, equation="ode", axes={"x": x}, mask=np.ones(11, bool),
                 prediction={"y": x**2})
    with h5py.File(path, "r") as f:
        assert f["prediction/y"].compression is None
        assert len(f["reference"]) == 0 and len(f["error"]) == 0 and len(f["loss_history"]) == 0


def test_round_trip_read_fields(tmp_path: Path) -> None:
    p = _problem(30, 20)
    path = tmp_path / "fields.h5"
    write_fields(path, **p)
    got = read_fields(path)
    assert isinstance(got, Results)
    assert got.equation == "burgers"
    assert list(got.axes) == ["x", "t"]
    for name in ("x", "t"):
        np.testing.assert_array_equal(got.axes[name], p["axes"][name])
    assert got.mask.dtype == bool
    np.testing.assert_array_equal(got.mask, p["mask"])
    assert list(got.prediction) == ["u", "v"]
    inside = p["mask"]
    for name in ("u", "v"):
        np.testing.assert_array_equal(got.prediction[name][inside], p["prediction"][name][inside])
        assert np.isnan(got.prediction[name][~inside]).all()
    assert list(got.reference) == ["u"] and list(got.error) == ["u"]
    np.testing.assert_array_equal(
        got.error["u"][inside], (p["prediction"]["u"] - p["reference"]["u"])[inside]
    )
    assert list(got.loss_history) == ["step", "pde", "ic", "total"]
    np.testing.assert_array_equal(got.loss_history["step"], p["loss_history"]["step"])
    assert got.attrs == p["attrs"]
    assert type(got.attrs["seed"]) is int
    with pytest.raises(AttributeError):
        got.equation = "other"  # type: ignore[misc]


def test_three_axes_round_trip(tmp_path: Path) -> None:
    axes = {"x": np.linspace(0, 1, 4), "y": np.linspace(0, 2, 5), "t": np.linspace(0, 1, 3)}
    values = np.arange(60, dtype=np.float64).reshape(4, 5, 3)
    path = tmp_path / "f3.h5"
    write_fields(path, equation="heat", axes=axes, mask=np.ones((4, 5, 3), np.uint8),
                 prediction={"u": values})
    got = read_fields(path)
    np.testing.assert_array_equal(got.prediction["u"], values)
    assert got.reference == {} and got.loss_history == {}


def test_shape_mismatch_names_field(tmp_path: Path) -> None:
    p = _problem(10, 8)
    p["prediction"]["v"] = np.zeros((8, 10))
    path = tmp_path / "bad.h5"
    with pytest.raises(ValueError, match=r"'v'.*\(8, 10\).*\(10, 8\)"):
        write_fields(path, **p)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_reference_shape_mismatch(tmp_path: Path) -> None:
    p = _problem(10, 8)
    p["reference"]["u"] = np.zeros(80)
    with pytest.raises(ValueError, match="'u'"):
        write_fields(tmp_path / "bad.h5", **p)


def test_reference_for_unknown_field(tmp_path: Path) -> None:
    p = _problem(10, 8)
    p["reference"]["w"] = np.zeros((10, 8))
    with pytest.raises(ValueError, match="'w'.*not in prediction"):
        write_fields(tmp_path / "bad.h5", **p)


def test_loss_history_requires_step(tmp_path: Path) -> None:
    p = _problem(10, 8)
    del p["loss_history"]["step"]
    with pytest.raises(ValueError, match="step"):
        write_fields(tmp_path / "bad.h5", **p)


def test_reserved_attr_rejected(tmp_path: Path) -> None:
    p = _problem(10, 8)
    p["attrs"] = {"format": "mine"}
    with pytest.raises(ValueError, match="reserved"):
        write_fields(tmp_path / "bad.h5", **p)


def test_read_rejects_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="not a pinnlab-fields file"):
        read_fields(path)


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    p = _problem(10, 8)
    path = tmp_path / "fields.h5"
    write_fields(path, **p)
    before = path.read_bytes()
    p["attrs"] = {"bad": object()}
    with pytest.raises(TypeError):
        write_fields(path, **p)
    assert path.read_bytes() == before


def _extras(p: dict) -> dict:
    """Residuals, derivatives and point clouds for the grid of ``_problem``."""
    X, T = np.meshgrid(p["axes"]["x"], p["axes"]["t"], indexing="ij")
    rng = np.random.default_rng(1)
    return {
        "residual": {"momentum": np.sin(X) * T, "mass": (X + T).astype(np.float32)},
        "derivatives": {"u_x": np.cos(X), "u_xt": X * T},
        "points": {
            "interior": {"coordinates": rng.random((50, 2)), "momentum": rng.random(50),
                         "mass": rng.random(50)},
            "walls": {"coordinates": rng.random((7, 2)), "residual": rng.random(7)},
        },
    }


def test_version_2_layout_read_with_h5py(tmp_path: Path) -> None:
    import torch

    import pinnlab

    p = _problem(30, 20)
    extras = _extras(p)
    path = tmp_path / "fields.h5"
    write_fields(path, **p, **extras)
    inside = p["mask"]
    with h5py.File(path, "r") as f:
        versions = json.loads(f.attrs["versions"])
        assert versions["pinnlab"] == pinnlab.__version__ and versions["torch"] == torch.__version__
        assert list(f["residual"]) == ["momentum", "mass"]  # written order
        for name, values in extras["residual"].items():
            stored = f["residual"][name]
            assert stored.shape == (30, 20) and stored.dtype == values.dtype
            np.testing.assert_array_equal(stored[()][inside], values[inside])
            assert np.isnan(stored[()][~inside]).all()
        assert list(f["derivatives"]) == ["u_x", "u_xt"]
        np.testing.assert_array_equal(f["derivatives/u_xt"][()][inside], extras["derivatives"]["u_xt"][inside])
        assert np.isnan(f["derivatives/u_x"][()][~inside]).all()
        assert list(f["points"]) == ["interior", "walls"]
        assert list(f["points/interior"]) == ["coordinates", "momentum", "mass"]
        for cloud, arrays in extras["points"].items():
            for name, values in arrays.items():
                assert f["points"][cloud][name].dtype == np.float64
                np.testing.assert_array_equal(f["points"][cloud][name][()], values)
        # the spatial grid (x only: t is time) with a zero y column, for XDMF readers
        np.testing.assert_array_equal(f["spatial_grid"][()], np.stack([p["axes"]["x"], np.zeros(30)], 1))


def test_version_2_round_trip(tmp_path: Path) -> None:
    p = _problem(12, 9)
    extras = _extras(p)
    write_fields(tmp_path / "fields.h5", **p, **extras)
    got = read_fields(tmp_path / "fields.h5")
    assert got.format_version == 2 and set(got.versions) >= {"pinnlab", "torch"}
    assert list(got.residual) == ["momentum", "mass"] and list(got.derivatives) == ["u_x", "u_xt"]
    inside = p["mask"]
    np.testing.assert_array_equal(got.residual["momentum"][inside], extras["residual"]["momentum"][inside])
    np.testing.assert_array_equal(got.derivatives["u_x"][inside], extras["derivatives"]["u_x"][inside])
    assert list(got.points) == ["interior", "walls"]
    for cloud, arrays in extras["points"].items():
        assert list(got.points[cloud]) == list(arrays)
        for name, values in arrays.items():
            np.testing.assert_array_equal(got.points[cloud][name], values)
    assert got.attrs == p["attrs"]  # versions is format metadata, not an extra attribute


def test_spatial_grid_of_three_space_inputs(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 1.0]), "y": np.array([2.0, 3.0, 4.0]), "z": np.array([5.0, 6.0])}
    write_fields(tmp_path / "f.h5", equation="box", axes=axes, mask=np.ones((2, 3, 2)),
                 prediction={"u": np.zeros((2, 3, 2))})
    with h5py.File(tmp_path / "f.h5") as f:
        expected = np.stack(np.meshgrid(*axes.values(), indexing="ij"), -1).reshape(-1, 3)
        np.testing.assert_array_equal(f["spatial_grid"][()], expected)


def test_reads_version_1_files(tmp_path: Path) -> None:
    """A file as pinnlab wrote it before format version 2 (no residual, points, versions)."""
    path = tmp_path / "old.h5"
    x = np.linspace(0, 1, 5)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "pinnlab-fields", "format_version": 1, "equation": "old",
                        "inputs": '["x"]', "fields": '["u"]', "seed": 3})
        f["coordinates/x"] = x
        f["mask"] = np.ones(5, np.uint8)
        f["prediction/u"] = x**2
        f.create_group("reference")
        f.create_group("error")
        f["loss_history/step"] = np.arange(3)
    got = read_fields(path)
    assert got.format_version == 1 and got.equation == "old"
    np.testing.assert_array_equal(got.prediction["u"], x**2)
    assert got.residual == {} and got.derivatives == {} and got.points == {} and got.versions == {}
    assert got.attrs == {"seed": 3}


def test_rejects_newer_versions(tmp_path: Path) -> None:
    p = _problem(5, 4)
    write_fields(tmp_path / "f.h5", **p)
    with h5py.File(tmp_path / "f.h5", "a") as f:
        f.attrs["format_version"] = 3
    with pytest.raises(ValueError, match="format_version 3; this pinnlab reads 1 to 2"):
        read_fields(tmp_path / "f.h5")


@pytest.mark.parametrize("change, message", [
    ({"residual": {"r": np.zeros((3, 3))}}, r"residual field 'r' has shape \(3, 3\)"),
    ({"derivatives": {"u_x": np.zeros(3)}}, r"derivative field 'u_x' has shape"),
    ({"points": {"c": {"coordinates": np.zeros((4, 3))}}}, r"point cloud 'c'.*\(4, 3\), expected \(N, 2\)"),
    ({"points": {"c": {"coordinates": np.zeros((4, 2)), "r": np.zeros(5)}}}, r"'r' has shape \(5,\), expected \(4,\)"),
    ({"points": {"c": {"r": np.zeros(5)}}}, r"point cloud 'c' has no 'coordinates'"),
    ({"attrs": {"versions": "mine"}}, "reserved"),
])
def test_version_2_validation(tmp_path: Path, change: dict, message: str) -> None:
    p = {**_problem(6, 5), **change}
    with pytest.raises(ValueError, match=message):
        write_fields(tmp_path / "bad.h5", **p)
    assert list(tmp_path.iterdir()) == []
