"""XDMF written beside a fields file must be read back by VTK point for point."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from pinnlab.output.fields_writer import write_fields
from pinnlab.output.xdmf import XDMF3_ONLY, write_xdmf


def _fields(path: Path, axes: dict[str, np.ndarray], dtype=np.float64, clouds: dict | None = None) -> dict:
    """Write a fields file whose values differ at every point; return the grid arrays as stored."""
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
        residual={"pde": (u * v).astype(dtype)},
        derivatives={"u_x": (2.0 * u).astype(dtype)},
        points=clouds,
    )
    with h5py.File(path) as f:
        return {
            "u": f["prediction/u"][()],
            "v": f["prediction/v"][()],
            "u_reference": f["reference/u"][()],
            "u_error": f["error/u"][()],
            "residual_pde": f["residual/pde"][()],
            "u_x": f["derivatives/u_x"][()],
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


def _blocks(output) -> dict:
    """Top-level grids by name: a multiblock when there are point clouds, else the grid itself."""
    if not isinstance(output, vtk.vtkMultiBlockDataSet):
        return {"fields": output}
    return {output.GetMetaData(i).Get(vtk.vtkCompositeDataSet.NAME()): output.GetBlock(i)
            for i in range(output.GetNumberOfBlocks())}


def _arrays(data) -> dict[str, np.ndarray]:
    point_data = data.GetPointData()
    return {point_data.GetArrayName(i): vtk_to_numpy(point_data.GetArray(i))
            for i in range(point_data.GetNumberOfArrays())}


def _check(output, axes: list[np.ndarray], written: dict, index) -> None:
    """Compare VTK's points and point data with the written arrays at ``index``."""
    grid = _blocks(output)["fields"]
    assert isinstance(grid, vtk.vtkStructuredGrid)
    expected_points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    points = vtk_to_numpy(grid.GetPoints().GetData())
    assert points.shape == (expected_points.shape[0], 3)
    np.testing.assert_array_equal(points[:, : len(axes)], expected_points)
    np.testing.assert_array_equal(points[:, len(axes) :], 0.0)
    arrays = _arrays(grid)
    assert sorted(arrays) == sorted(written)
    for name, values in written.items():
        want = values[index].reshape(-1)
        assert arrays[name].dtype == want.dtype, name
        np.testing.assert_array_equal(arrays[name], want, err_msg=name)


def test_2d_nonuniform(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 0.1, 0.5, 2.0]), "y": np.array([-1.0, 0.0, 0.3, 0.7, 3.0, 4.5])}
    written = _fields(tmp_path / "fields.h5", axes)
    xdmf = write_xdmf(tmp_path / "fields.h5")
    assert xdmf == tmp_path / "fields.xdmf"
    text = xdmf.read_text()
    assert "fields.h5:/prediction/u" in text and "fields.h5:/spatial_grid" in text
    reader = _reader(xdmf)
    assert _times(reader) == []
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


def test_1d(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 0.25, 1.0, 1.5])}
    written = _fields(tmp_path / "fields.h5", axes)
    reader = _reader(write_xdmf(tmp_path / "fields.h5"))
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
        {"x": np.array([0.0, 1.0]), "y": np.array([1.0, 2.0, 4.0]), "z": np.array([-1.0, 0.0, 3.0, 7.0])},
    ],
    ids=["x-t", "x-y-t", "x-y-z-t"],
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
    assert written["u"].dtype == np.float32 and written["residual_pde"].dtype == np.float32
    xdmf = write_xdmf(tmp_path / "run" / "fields.h5", tmp_path / "view" / "out.xdmf")
    assert "../run/fields.h5:/prediction/u" in xdmf.read_text()
    reader = _reader(xdmf)
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


def _cloud(n: int, d: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"coordinates": rng.random((n, d)), "pde": rng.random(n), "other": rng.random(n)}


@pytest.mark.parametrize("axes", [
    {"x": np.array([0.0, 0.5, 1.0])},
    {"x": np.array([0.0, 0.5, 1.0]), "t": np.array([0.0, 1.0])},
    {"x": np.array([0.0, 0.5, 1.0]), "y": np.array([0.0, 1.0]), "t": np.array([0.0, 0.5, 1.0])},
    {"x": np.array([0.0, 1.0]), "y": np.array([0.0, 1.0]), "z": np.array([0.0, 1.0]), "t": np.array([0.0, 1.0])},
], ids=["x", "x-t", "x-y-t", "x-y-z-t"])
def test_point_clouds(tmp_path: Path, axes: dict[str, np.ndarray]) -> None:
    d = len(axes)
    clouds = {"interior": _cloud(40, d, 1), "walls": _cloud(9, d, 2), "empty": _cloud(0, d, 3)}
    written = _fields(tmp_path / "fields.h5", axes, clouds=clouds)
    xdmf = write_xdmf(tmp_path / "fields.h5")
    assert 'TopologyType="Polyvertex"' in xdmf.read_text()
    reader = _reader(xdmf)
    timed = "t" in axes
    times = _times(reader) if timed else [None]
    assert times == (axes["t"].tolist() if timed else [None])
    space = [a for name, a in axes.items() if name != "t"]
    for k, time in enumerate(times):
        if time is None:
            reader.Update()
        else:
            reader.UpdateTimeStep(time)
        output = reader.GetOutputDataObject(0)
        blocks = _blocks(output)
        assert list(blocks) == ["fields", "points_interior", "points_walls"]  # empty clouds left out
        _check(output, space, written, ... if time is None else (..., k))
        for name in ("interior", "walls"):
            cloud = blocks[f"points_{name}"]
            assert cloud.GetNumberOfCells() == len(clouds[name]["coordinates"])
            # one single-point (poly)vertex cell per point, so every point is drawn
            assert [cloud.GetCell(i).GetPointId(0) for i in range(cloud.GetNumberOfCells())] == list(
                range(cloud.GetNumberOfPoints()))
            assert {cloud.GetCell(i).GetNumberOfPoints() for i in range(cloud.GetNumberOfCells())} == {1}
            coordinates = clouds[name]["coordinates"]
            shown = coordinates[:, :3]  # x,y,z,t: space only
            points = vtk_to_numpy(cloud.GetPoints().GetData())
            np.testing.assert_array_equal(points[:, : shown.shape[1]], shown)
            np.testing.assert_array_equal(points[:, shown.shape[1]:], 0.0)
            arrays = _arrays(cloud)
            assert sorted(arrays) == sorted(["pde", "other"] + (["t"] if timed else []))
            for value in ("pde", "other"):
                np.testing.assert_array_equal(arrays[value], clouds[name][value])
            if timed:
                np.testing.assert_array_equal(arrays["t"], coordinates[:, -1])


def test_version_1_file_gets_inline_points(tmp_path: Path) -> None:
    axes = {"x": np.array([0.0, 0.5, 2.0]), "y": np.array([1.0, 2.0])}
    written = _fields(tmp_path / "fields.h5", axes)
    with h5py.File(tmp_path / "fields.h5", "a") as f:  # make it look like a version 1 file
        for name in ("spatial_grid", "residual", "derivatives", "points"):
            del f[name]
        f.attrs["format_version"] = 1
    del written["residual_pde"], written["u_x"]
    xdmf = write_xdmf(tmp_path / "fields.h5")
    assert "spatial_grid" not in xdmf.read_text()
    reader = _reader(xdmf)
    reader.Update()
    _check(reader.GetOutputDataObject(0), list(axes.values()), written, ...)


def test_time_steps_sort_in_time_order(tmp_path: Path) -> None:
    t = np.linspace(0.0, 1.0, 11)
    _fields(tmp_path / "fields.h5", {"x": np.array([0.0, 1.0]), "t": t}, clouds={"walls": _cloud(2, 2, 1)})
    domain = ET.parse(write_xdmf(tmp_path / "fields.h5")).getroot().find("Domain")
    for collection, prefix in ((domain.find("Grid[@Name='fields']"), "fields"),
                               (domain.find("Grid[@Name='points_walls']"), "points_walls")):
        assert collection.get("CollectionType") == "Temporal"
        steps = collection.findall("Grid")
        names = [step.get("Name") for step in steps]
        assert names == [f"{prefix}_{k:02d}" for k in range(11)] == sorted(names)
        assert [float(step.find("Time").get("Value")) for step in steps] == t.tolist()


def _xdmf3_array(f: h5py.File, item: ET.Element) -> np.ndarray:
    """The values an XDMF3 item denotes: ``file:/dataset|start:stride:count:shape``, or inline XML."""
    if item.get("Format") == "XML":
        return np.array(item.text.split(), dtype=np.int64)
    location, slab = item.text.split("|")
    start, stride, count, shape = ([int(v) for v in part.split()] for part in slab.split(":"))
    dataset = f[location.split(":", 1)[1]]
    assert list(dataset.shape) == shape and stride == [1] * len(shape)
    assert np.prod(count) == np.prod([int(v) for v in item.get("Dimensions").split()])
    return dataset[tuple(slice(a, a + n) for a, n in zip(start, count))].reshape(-1)


def _xdmf2_array(f: h5py.File, item: ET.Element) -> np.ndarray:
    """The values an XDMF2 ``HyperSlab`` item denotes."""
    assert item.get("ItemType") == "HyperSlab"
    selection, source = item.findall("DataItem")
    rank = len(source.get("Dimensions").split())
    start, stride, count = np.array(selection.text.split(), dtype=int).reshape(3, rank)
    assert (stride == 1).all()
    dataset = f[source.text.split(":", 1)[1]]
    return dataset[tuple(slice(a, a + n) for a, n in zip(start, count))].reshape(-1)


@pytest.mark.parametrize("axes", [
    {"x": np.array([0.0, 0.5, 1.0]), "t": np.array([0.0, 0.4, 1.0])},
    {"x": np.array([0.0, 1.0]), "y": np.array([0.0, 2.0]), "z": np.array([0.0, 1.0, 3.0]), "t": np.array([0.0, 1.0])},
], ids=["x-t", "x-y-z-t"])
def test_xdmf3_and_xdmf2_spellings_agree(tmp_path: Path, axes: dict[str, np.ndarray]) -> None:
    """Each XDMF3-only item, reached by an x3:include, holds what the XDMF2 item beside it holds."""
    _fields(tmp_path / "fields.h5", axes, clouds={"interior": _cloud(6, len(axes), 1)})
    root = ET.parse(write_xdmf(tmp_path / "fields.h5")).getroot()
    items = root.find("Domain").findall("DataItem")
    include = f"{{{XDMF3_ONLY}}}include"
    used = []
    with h5py.File(tmp_path / "fields.h5") as f:
        for parent in root.iter():
            children = list(parent)
            for position, child in enumerate(children):
                if child.tag != include:
                    continue
                index = int(re.fullmatch(r"xpointer\(/Xdmf/Domain/DataItem\[(\d+)\]\)", child.get("xpointer"))[1])
                used.append(index)
                xdmf3 = _xdmf3_array(f, items[index - 1])
                if parent.tag == "Topology":  # a vertex per point
                    np.testing.assert_array_equal(xdmf3, np.arange(int(parent.get("NumberOfElements"))))
                else:
                    np.testing.assert_array_equal(xdmf3, _xdmf2_array(f, children[position + 1]))
    grid_slabs = len(axes["t"]) * 7  # u, v, u_reference, u_error, residual_pde, u_x, mask per step
    cloud_items = 1 + 1 + (len(axes) == 4)  # connectivity, t and, in x-y-z-t, the x, y, z columns
    assert sorted(used) == list(range(1, len(items) + 1)) and len(items) == grid_slabs + cloud_items


def test_rejects_other_files(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="not a pinnlab-fields file"):
        write_xdmf(tmp_path / "other.h5")
