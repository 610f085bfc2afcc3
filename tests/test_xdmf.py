"""XDMF written beside a fields file must be read back by VTK point for point."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from pinnlab.fields_h5 import write_fields
from pinnlab.xdmf import write_xdmf


def _fields(path: Path, axes: dict[str, np.ndarray], dtype=np.float64) -> dict:
    """Write a fields file whose values differ at every point; return what was written."""
    grids = np.meshgrid(*axes.values(), indexing="ij")
    shape = grids[0].shape
    rng = np.random.default_rng(0)
    u = sum((k + 1.0) * 10.0**k * g for k, g in enumerate(grids)) + rng.random(shape)
    v = np.sin(grids[0]) + rng.random(shape)
    u_ref = u + 0.25 * rng.random(shape)
    mask = rng.random(shape) > 0.3
    write_fields(
        path,
        equation="test",
        axes=axes,
        mask=mask,
        prediction={"u": u.astype(dtype), "v": v.astype(dtype)},
        reference={"u": u_ref.astype(dtype)},
    )
    with h5py.File(path) as f:
        return {
            "u": f["prediction/u"][()],
            "v": f["prediction/v"][()],
            "u_reference": f["reference/u"][()],
            "u_error": f["error/u"][()],
            "mask": f["mask"][()],
        }


def _reader(xdmf: Path):
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(xdmf))
    reader.UpdateInformation()
    return reader


def _times(reader) -> list[float]:
    info = reader.GetOutputInformation(0)
    key = vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS()
    return [info.Get(key, i) for i in range(info.Length(key))] if info.Has(key) else []


def _check(output, axes: list[np.ndarray], written: dict, index) -> None:
    """Compare VTK's points and point data with the written arrays at ``index``."""
    expected_points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    points = vtk_to_numpy(output.GetPoints().GetData())
    assert points.shape == (expected_points.shape[0], 3)
    np.testing.assert_array_equal(points[:, : len(axes)], expected_points)
    np.testing.assert_array_equal(points[:, len(axes) :], 0.0)
    data = output.GetPointData()
    assert sorted(data.GetArrayName(i) for i in range(data.GetNumberOfArrays())) == sorted(written)
    for name, values in written.items():
        got = vtk_to_numpy(data.GetArray(name))
        want = values[index].reshape(-1)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_2d_nonuniform(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 0.1, 0.5, 2.0]), "y": np.array([-1.0, 0.0, 0.3, 0.7, 3.0, 4.5])}
    written = _fields(tmp_path / "fields.h5", axes)
    xdmf = write_xdmf(tmp_path / "fields.h5")
    assert xdmf == tmp_path / "fields.xdmf"
    assert "fields.h5:/prediction/u" in xdmf.read_text()
    reader = _reader(xdmf)
    assert _times(reader) == []
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


def test_3d(tmp_path: Path) -> None:
    axes = {
        "x": np.array([0.0, 1.0, 3.0]),
        "y": np.array([0.0, 0.5, 2.0, 2.5]),
        "z": np.array([-2.0, -1.0, 0.0, 1.0, 5.0]),
    }
    written = _fields(tmp_path / "fields.h5", axes)
    reader = _reader(write_xdmf(tmp_path / "fields.h5"))
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


@pytest.mark.parametrize(
    "space",
    [
        {"x": np.array([0.0, 0.2, 0.3, 1.0, 1.5])},
        {"x": np.array([0.0, 0.2, 1.0]), "y": np.array([1.0, 2.0, 4.0, 8.0])},
    ],
    ids=["x-t", "x-y-t"],
)
def test_space_time(tmp_path: Path, space: dict[str, np.ndarray]) -> None:
    t = np.array([0.0, 0.05, 0.2, 0.25, 1.0])
    axes = {**space, "t": t}
    written = _fields(tmp_path / "fields.h5", axes)
    reader = _reader(write_xdmf(tmp_path / "fields.h5"))
    assert _times(reader) == t.tolist()
    for k in (0, 2, 1, len(t) - 1):
        reader.UpdateTimeStep(t[k])
        _check(reader.GetOutputDataObject(0), list(space.values()), written, (..., k))


def test_float32_and_custom_path(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 1.0]), "y": np.array([0.0, 1.0, 2.0])}
    written = _fields(tmp_path / "run" / "fields.h5", axes, dtype=np.float32)
    assert written["u"].dtype == np.float32
    xdmf = write_xdmf(tmp_path / "run" / "fields.h5", tmp_path / "view" / "out.xdmf")
    assert "../run/fields.h5:/prediction/u" in xdmf.read_text()
    reader = _reader(xdmf)
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


def test_rejects_other_files(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="not a pinnlab-fields file"):
        write_xdmf(tmp_path / "other.h5")
