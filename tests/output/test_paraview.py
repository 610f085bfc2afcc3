"""ParaView's XDMF readers read a solve's fields.xdmf point for point (runs pvpython).

Each test runs pvpython (ParaView 5.11 from Debian: ``apt-get install paraview``) in a
subprocess on the ``fields.xdmf`` of a small space-time solve, with one of the reader
proxies ``XDMFReader`` (XDMF2), ``Xdmf3ReaderS``, ``Xdmf3ReaderT`` or whatever
``OpenDataFile()`` picks, and compares every grid array at the first, a middle and the last
time step, and every point cloud, with the values h5py reads from ``fields.h5``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pinnlab import Dirichlet, Disk, Exact, Initial, Interval, Problem, TimeInterval, resolve_settings, solve
from pinnlab.output.fields_writer import write_fields
from pinnlab.output.xdmf import write_xdmf

PVPYTHON = shutil.which("pvpython")
pytestmark = pytest.mark.skipif(PVPYTHON is None, reason="pvpython not installed (apt-get install paraview)")

READERS = ["XDMFReader", "Xdmf3ReaderS", "Xdmf3ReaderT", "OpenDataFile"]
XDMF3_READERS = {"Xdmf3ReaderS", "Xdmf3ReaderT"}
QUICK = {"output.progress": False, "adam.steps": 5, "lbfgs.steps": 0, "sampling.points": 60,
         "sampling.boundary_points": 12,
         "network.width": 8, "network.depth": 2, "numerics.threads": 1}

# Run by pvpython: open argv[1] with reader argv[2], write what it reads at the first, a
# middle and the last time step to the JSON file argv[3]: every leaf block in order, with its
# name ('' where the reader gives none), points, cell count and point arrays.
PROBE = r'''
import json
import sys

from paraview import servermanager, simple
from vtkmodules.util.numpy_support import vtk_to_numpy

path, reader, out = sys.argv[1:4]
if reader == "OpenDataFile":
    source = simple.OpenDataFile(path)
elif reader == "XDMFReader":
    source = simple.XDMFReader(FileNames=[path])
else:
    source = getattr(simple, reader)(FileName=path)
source.UpdatePipelineInformation()
times = [float(t) for t in source.TimestepValues] if source.TimestepValues else []
picked = sorted({0, len(times) // 2, len(times) - 1}) if times else [None]


def leaves(data, name, found):
    if data is None:
        return found
    if data.IsA("vtkMultiBlockDataSet") or data.IsA("vtkMultiPieceDataSet"):
        multiblock = data.IsA("vtkMultiBlockDataSet")
        for i in range(data.GetNumberOfBlocks() if multiblock else data.GetNumberOfPieces()):
            meta = data.GetMetaData(i) if data.HasMetaData(i) else None
            child = meta.Get(data.NAME()) if meta is not None and meta.Has(data.NAME()) else ""
            leaves(data.GetBlock(i) if multiblock else data.GetPiece(i), child, found)
        return found
    found.append((name, data))
    return found


steps = []
for index in picked:
    if index is None:
        source.UpdatePipeline()
    else:
        source.UpdatePipeline(times[index])
    blocks = []
    for name, data in leaves(servermanager.Fetch(source), "", []):
        arrays = data.GetPointData()
        blocks.append({
            "name": name, "class": data.GetClassName(), "points": data.GetNumberOfPoints(),
            "cells": data.GetNumberOfCells(),
            "xyz": vtk_to_numpy(data.GetPoints().GetData()).tolist() if data.GetNumberOfPoints() else [],
            "arrays": {arrays.GetArrayName(i): vtk_to_numpy(arrays.GetArray(i)).tolist()
                       for i in range(arrays.GetNumberOfArrays())},
            "types": {arrays.GetArrayName(i): arrays.GetArray(i).GetDataTypeAsString()
                      for i in range(arrays.GetNumberOfArrays())},
        })
    steps.append({"index": index, "blocks": blocks})
with open(out, "w") as handle:
    json.dump({"proxy": source.GetXMLName(), "times": times, "steps": steps}, handle)
'''

KAPPA = 0.1


def heat_residual(u_t, u_xx):
    return u_t - KAPPA * u_xx


def heat_exact(x, t):
    return torch.exp(-KAPPA * math.pi**2 * t) * torch.sin(math.pi * x)


def disk_residual(u_t, u_xx, u_yy):
    return u_t - u_xx - u_yy


def _solve(problem: Problem, out: Path, grid: tuple[int, ...]) -> Path:
    solve(problem, resolve_settings(problem, {**QUICK, "output.grid": grid}), out)
    return out / "fields.xdmf"


@pytest.fixture(scope="module")
def x_t(tmp_path_factory) -> Path:
    """1D heat equation on an x, t grid of 9 x 7 (every point in the domain)."""
    problem = Problem.define(
        "heat1d", domain=Interval(0.0, 1.0) * TimeInterval(0.0, 1.0), residual=heat_residual,
        conditions={"initial": Initial(lambda x: torch.sin(math.pi * x)), "walls": Dirichlet(0.0)},
        reference=Exact(heat_exact))
    return _solve(problem, tmp_path_factory.mktemp("x_t"), (9, 7))


@pytest.fixture(scope="module")
def x_y_t(tmp_path_factory) -> Path:
    """Heat equation on a disk: an x, y, t grid of 7 x 6 x 5, NaN outside the disk."""
    problem = Problem.define(
        "heat_disk", domain=Disk((0.0, 0.0), 1.0) * TimeInterval(0.0, 1.0), residual=disk_residual,
        conditions={"initial": Initial(lambda x, y: 1.0 - x**2 - y**2), "rim": Dirichlet(0.0)},
        reference=Exact(lambda x, y, t: (1.0 - x**2 - y**2) * torch.exp(-t)))
    return _solve(problem, tmp_path_factory.mktemp("x_y_t"), (7, 6, 5))


def _read_with(xdmf: Path, reader: str, out: Path) -> dict:
    """What pvpython's ``reader`` reads from ``xdmf``; fails if it aborts or complains."""
    (out.parent / "probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([PVPYTHON, "--force-offscreen-rendering", str(out.parent / "probe.py"), str(xdmf),
                           reader, str(out)], capture_output=True, text=True, timeout=300, env=env)
    log = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0 and out.is_file(), f"pvpython with {reader} failed ({done.returncode}):\n{log}"
    for complaint in ("Skipping unrecognized array type", " ERR| ", "XDMF Error", "Signal:"):
        assert complaint not in log, f"{reader}: {complaint!r} in pvpython's output:\n{log}"
    return json.loads(out.read_text())


def _expected(h5: Path) -> tuple[dict, dict, dict]:
    """Axes, grid arrays (by the names the XDMF gives them) and clouds, read with h5py."""
    with h5py.File(h5) as f:
        fields = json.loads(f.attrs["fields"])
        axes = {name: f["coordinates"][name][()] for name in json.loads(f.attrs["inputs"])}
        grid = {name: f["prediction"][name][()] for name in fields}
        grid |= {f"{name}_reference": f["reference"][name][()] for name in f["reference"]}
        grid |= {f"{name}_error": f["error"][name][()] for name in f["error"]}
        grid |= {f"residual_{name}": f["residual"][name][()] for name in f["residual"]}
        grid |= {name: f["derivatives"][name][()] for name in f["derivatives"]}
        grid["mask"] = f["mask"][()]
        clouds = {name: {key: group[key][()] for key in group}
                  for name, group in f["points"].items() if len(group["coordinates"])}
    return axes, grid, clouds


def _check_grid(block: dict, axes: dict, grid: dict, k) -> None:
    """The fields grid at time index ``k`` (``...`` without time steps)."""
    space = [a for name, a in axes.items() if name != "t"]
    points = np.stack(np.meshgrid(*space, indexing="ij"), axis=-1).reshape(-1, len(space))
    xyz = np.array(block["xyz"])
    assert xyz.shape == (len(points), 3)
    np.testing.assert_array_equal(xyz[:, : len(space)], points)
    np.testing.assert_array_equal(xyz[:, len(space):], 0.0)
    assert sorted(block["arrays"]) == sorted(grid)
    for name, values in grid.items():
        want = (values if k is ... else values[..., k]).reshape(-1)
        assert block["types"][name] == ("unsigned char" if want.dtype == np.uint8 else "double"), name
        np.testing.assert_array_equal(np.array(block["arrays"][name], dtype=np.float64), want,
                                      err_msg=f"{name} at time index {k}")


def _check_cloud(block: dict, name: str, cloud: dict, timed: bool) -> None:
    coordinates = cloud["coordinates"]
    n, d = coordinates.shape
    assert block["points"] == n and block["cells"] == n, name  # one vertex per point, so all are drawn
    xyz = np.array(block["xyz"])
    np.testing.assert_array_equal(xyz[:, :d], coordinates[:, :3], err_msg=name)
    np.testing.assert_array_equal(xyz[:, d:], 0.0, err_msg=name)
    want = {key: values for key, values in cloud.items() if key != "coordinates"}
    if timed:
        want["t"] = coordinates[:, -1]
    assert sorted(block["arrays"]) == sorted(want), name
    for key, values in want.items():
        np.testing.assert_array_equal(block["arrays"][key], values, err_msg=f"{name}: {key}")


def _check(read: dict, reader: str, h5: Path) -> None:
    """Every array and block that ``reader`` read matches ``h5`` at each step it was read."""
    axes, grid, clouds = _expected(h5)
    proxy = read["proxy"]
    assert proxy == {"OpenDataFile": "Xdmf3ReaderS", "XDMFReader": "XdmfReader"}.get(reader, reader)
    timed = "t" in axes
    if timed:
        times = axes["t"]
        assert read["times"] == times.tolist()
        assert [step["index"] for step in read["steps"]] == sorted({0, len(times) // 2, len(times) - 1})
    else:
        assert read["times"] == [] and [step["index"] for step in read["steps"]] == [None]
    # The XDMF2 reader names the blocks fields, points_<cloud>.  ParaView 5.11's XDMF3 readers
    # put the clouds first in a file without time steps, and name the blocks only there and only
    # in Xdmf3ReaderT (Xdmf3ReaderS flattens them into one multi-piece data set).
    cloud_names = [f"points_{name}" for name in clouds]
    names = ["fields"] + cloud_names if proxy == "XdmfReader" or timed else cloud_names + ["fields"]
    if proxy != "XdmfReader" and (timed or proxy == "Xdmf3ReaderS"):
        names = [""] * len(names)
    for step in read["steps"]:
        blocks = step["blocks"]
        assert [block["name"] for block in blocks] == names
        fields_at = 0 if proxy == "XdmfReader" or timed else len(clouds)
        assert [block["class"] for block in blocks] == [
            "vtkStructuredGrid" if i == fields_at else "vtkUnstructuredGrid" for i in range(len(blocks))]
        _check_grid(blocks[fields_at], axes, grid, ... if step["index"] is None else step["index"])
        for block, (name, cloud) in zip(blocks[:fields_at] + blocks[fields_at + 1:], clouds.items()):
            _check_cloud(block, name, cloud, timed)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("run", ["x_t", "x_y_t"])
def test_solve_results(run: str, reader: str, request, tmp_path: Path) -> None:
    xdmf = request.getfixturevalue(run)
    axes, grid, clouds = _expected(xdmf.with_suffix(".h5"))
    assert {"interior", "initial"} <= set(clouds) and len(grid) == 5  # u, reference, error, residual, mask
    _check(_read_with(xdmf, reader, tmp_path / "read.json"), reader, xdmf.with_suffix(".h5"))


def _synthetic(path: Path, axes: dict[str, np.ndarray]) -> Path:
    """A fields file whose values differ at every point, with two point clouds; returns its XDMF."""
    rng = np.random.default_rng(1)
    shape = tuple(len(a) for a in axes.values())
    clouds = {name: {"coordinates": rng.random((n, len(axes))), "residual": rng.random(n)}
              for name, n in (("interior", 30), ("walls", 7))}
    write_fields(path, equation="synthetic", axes=axes, mask=rng.random(shape) > 0.2,
                 prediction={"u": rng.random(shape)}, derivatives={"u_x": rng.random(shape)},
                 points=clouds)
    return write_xdmf(path)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("inputs", ["x", "x-y-z-t"])
def test_other_layouts(inputs: str, reader: str, tmp_path: Path) -> None:
    """No time steps and 1D clouds (drawn at y = 0); 3D space and time, clouds drawn in x, y, z."""
    sizes = {"x": 5, "y": 3, "z": 4, "t": 3}
    axes = {name: np.sort(np.random.default_rng(k).random(sizes[name])) for k, name in enumerate(inputs.split("-"))}
    xdmf = _synthetic(tmp_path / "fields.h5", axes)
    _check(_read_with(xdmf, reader, tmp_path / "read.json"), reader, tmp_path / "fields.h5")
