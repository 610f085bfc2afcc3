"""Tests for pinnlab.fields_h5, checked against the file as plain h5py sees it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from pinnlab.fields_h5 import FieldsFile, read_fields, write_fields


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
        assert int(f.attrs["format_version"]) == 1
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
    assert isinstance(got, FieldsFile)
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
