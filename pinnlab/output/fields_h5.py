"""Solution fields on a regular grid, stored in HDF5.

One file holds everything needed to plot or check a solved problem without
pinnlab: the grid, which grid points lie in the domain, the predicted fields,
the reference solution and error where one is known, the pointwise residual of
each equation, requested derivatives, the collocation points with their
residuals, and the loss history.  ``pinnlab solve`` writes one as
``fields.h5``; ``pinnlab export`` writes the same layout for any grid.  This module
holds the layout, its checks and the guarded HDF5 file both write through; the writer
is :mod:`pinnlab.output.fields_writer`, the reader :func:`pinnlab.output.io.read_fields`.

Layout (format ``pinnlab-fields``, version 2)::

    /                      attrs: format="pinnlab-fields", format_version=2,
                           equation (str), inputs (JSON list), fields (JSON list),
                           versions (JSON: pinnlab, torch, numpy, h5py, python that
                           wrote the file), plus any extra attrs given (strings and
                           numbers as they are; dicts, lists and arrays as JSON).
                           pinnlab solve and export add: settings (JSON, every
                           resolved setting), metrics (JSON), source (the equation
                           module's text), seed (int), gauges (JSON: per gauged
                           field its kind and the shift added to /prediction,
                           see pinnlab.problem.gauges; {} when none)
    /coordinates/<input>   1D float64 axis for each input, in the order of `inputs`
                           (e.g. x then t)
    /spatial_grid          float64 (P, k): the coordinates of every spatial grid
                           point (inputs other than a last input named "t"), C
                           order; P is the product of the spatial axis lengths,
                           k = 2 for one spatial input (a zero y column), else the
                           number of spatial inputs.  Only with 1 to 3 spatial
                           inputs.  It exists for XDMF/ParaView (see pinnlab.output.xdmf).
    /mask                  uint8 array of the grid shape: 1 where the point lies in
                           the domain
    /prediction/<field>    float array of the grid shape (indexing="ij": axis k runs
                           along inputs[k]); NaN outside the domain
    /reference/<field>     same, only for fields that have a reference
    /error/<field>         prediction - reference, same shape (a gauged field's
                           prediction is shifted by its gauge constant first)
    /residual/<name>       the pointwise residual of each equation (named as in the
                           equation module; "residual" for a single one), same shape,
                           NaN outside the domain
    /derivatives/<name>    requested derivatives by their parameter names (u_x, u_xt:
                           the field, "_", one input per differentiation in input
                           order), same shape, NaN outside the domain
    /points/<cloud>/coordinates   float64 (N, d): scattered points, columns in input
                           order (pinnlab solve: "interior", the final interior
                           collocation points, one cloud per condition,
                           "refinement_<k>", the interior points after the k-th
                           residual-based refinement, "window_<k>", the points
                           drawn for the k-th time window of a curriculum, and
                           "resample_<k>", the k-th ``resample_every`` draw, each
                           with "residual" = |r| when drawn; the steps are in
                           metrics["refinements"] and metrics["redraws"])
    /points/<cloud>/<value>       float64 (N,): values at those points (the interior
                           cloud: each equation's residual by name; a condition's
                           cloud: "residual")
    /loss_history/step     int64 (n,)
    /loss_history/<term>   float64 (n,), one per named loss term
    /unknowns_history/step, /unknowns_history/<name>   int64 / float64 (m,): each
                           unknown's value by step (only for a problem with unknowns;
                           pinnlab.problem.unknowns)

The groups ``/reference``, ``/error``, ``/residual``, ``/derivatives``,
``/points`` and ``/loss_history`` always exist and are empty when there is
nothing to store; groups keep the order their members were written in.
Arrays of 10,000 elements or more are gzip-compressed.  JSON strings never
contain NaN: non-finite numbers are written as ``null``.  Version 1 files (no
residual, derivatives, points, spatial_grid or versions) are still read.

Reading with plain h5py, e.g. in a notebook::

    with h5py.File("fields.h5") as f:
        inputs = json.loads(f.attrs["inputs"])
        x, t = (f["coordinates"][name][()] for name in inputs)
        u = f["prediction/u"][()]          # u[i, j] is u(x[i], t[j])
        r = f["residual/residual"][()]     # the PDE residual at the same points
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from pinnlab.runtime.atomic import jsonable
from pinnlab.output.grid_blocks import block_points, grid_blocks

__all__ = [
    "FORMAT", "FORMAT_VERSION", "GRID_GROUPS", "RESERVED_ATTRS", "TIME_INPUT", "WriteGuard", "check_axes",
    "check_history", "check_name", "check_points", "compression", "create_dataset", "decode_attr",
    "encode_attrs", "open_for_writing", "spatial_inputs", "write_header", "write_points",
]

FORMAT = "pinnlab-fields"
FORMAT_VERSION = 2
TIME_INPUT = "t"
GRID_GROUPS = ("prediction", "reference", "error", "residual", "derivatives")
"""Groups whose datasets have the grid shape."""

RESERVED_ATTRS = frozenset({"format", "format_version", "equation", "inputs", "fields", "versions"})
_COMPRESS_FROM = 10_000
_BLOCK = 65536


class WriteGuard:
    """A binary file for h5py that keeps the first write error instead of raising it.

    Why: when the disk fills up, an error raised into the HDF5 library leaves it in a state in
    which h5py prints pages of tracebacks and the process may die of a segmentation fault while
    the file is closed. Behind this guard HDF5 never sees an error: later writes are dropped,
    the file closes cleanly, and :func:`open_for_writing` raises the error afterwards (the file is
    then garbage, and ``atomic_path`` deletes it).
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.error: OSError | None = None

    def _guarded(self, call: Any, *args: Any) -> Any:
        if self.error is None:
            try:
                return call(*args)
            except OSError as error:
                self.error = error
        return None

    def write(self, data: Any) -> int:
        self._guarded(self.raw.write, data)
        return memoryview(data).nbytes

    def truncate(self, size: int | None = None) -> int:
        self._guarded(self.raw.truncate, size)
        return size if size is not None else self.raw.tell()

    def flush(self) -> None:
        self._guarded(self.raw.flush)

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def readinto(self, buffer: Any) -> int:
        return self.raw.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()  # unbuffered (see open_for_writing): closing writes nothing


@contextmanager
def open_for_writing(path: str | os.PathLike[str],
                     report_as: str | os.PathLike[str] | None = None) -> Iterator[tuple[h5py.File, WriteGuard]]:
    """A new HDF5 file at ``path`` written through a :class:`WriteGuard`, with the guard.

    A write error (a full disk) is raised once the file is closed, as ``OSError`` with its errno
    and ``report_as`` (default ``path``) as the file name; it takes precedence over an exception
    raised inside the block, which it most likely caused.
    """
    guard = WriteGuard(open(path, "w+b", buffering=0))  # every write reaches the guard
    try:
        with h5py.File(guard, "w") as f:
            yield f, guard
    finally:
        guard.close()
        if guard.error is not None:
            error = guard.error
            raise OSError(error.errno, error.strerror, os.fspath(report_as or path)) from None


def spatial_inputs(inputs: Sequence[str]) -> list[str]:
    """The inputs that span space: all but a last input named ``t``."""
    inputs = list(inputs)
    return inputs[:-1] if inputs and inputs[-1] == TIME_INPUT else inputs


def versions() -> dict[str, str]:
    """Versions of what wrote the file, so a result can be traced and reproduced."""
    import torch

    from pinnlab.runtime.version import __version__

    return {"pinnlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "h5py": h5py.__version__, "python": platform.python_version()}


def check_name(kind: str, name: str) -> None:
    """Names become HDF5 link names, which cannot contain '/' or be '.'/''."""
    if not isinstance(name, str) or not name or name == "." or "/" in name:
        raise ValueError(f"invalid {kind} name {name!r}: must be a non-empty string without '/'")


def create_dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """Create a dataset, gzip-compressed when it is large enough to matter."""
    if data.size >= _COMPRESS_FROM:
        group.create_dataset(name, data=data, compression="gzip", shuffle=True)
    else:
        group.create_dataset(name, data=data)


def compression(size: int) -> dict[str, Any]:
    """h5py dataset options: gzip for arrays large enough to matter."""
    return {"compression": "gzip", "shuffle": True} if size >= _COMPRESS_FROM else {}


def _encode_attr(name: str, value: Any) -> Any:
    """Strings and numbers are stored natively; containers as JSON strings."""
    if isinstance(value, (str, bool, int, float, np.number, np.bool_)):
        return value
    if isinstance(value, (Mapping, list, tuple, np.ndarray)):
        return json.dumps(jsonable(value), allow_nan=False)
    raise TypeError(
        f"attribute {name!r} has unsupported type {type(value).__name__}; "
        "use a string, a number, a dict or a list"
    )


def decode_attr(value: Any) -> Any:
    """Undo :func:`_encode_attr`: JSON objects/arrays are decoded, NumPy scalars unwrapped."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        if value[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_axes(axes: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The axes as 1D float64 arrays, or raise naming the bad one."""
    if not axes:
        raise ValueError("axes must name at least one input")
    coordinates: dict[str, np.ndarray] = {}
    for name, values in axes.items():
        check_name("input", name)
        axis = np.asarray(values, dtype=np.float64)
        if axis.ndim != 1 or axis.size == 0:
            raise ValueError(f"axis {name!r} must be a non-empty 1D array, got shape {axis.shape}")
        coordinates[name] = axis
    return coordinates


def encode_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Extra attributes ready to store; reserved names and unstorable values raise."""
    extra = dict(attrs or {})
    clash = RESERVED_ATTRS.intersection(extra)
    if clash:
        raise ValueError(f"attrs may not use the reserved names {sorted(clash)}")
    return {name: _encode_attr(name, value) for name, value in extra.items()}


def write_header(f: h5py.File, equation: str, coordinates: Mapping[str, np.ndarray],
                 fields: Sequence[str], encoded: Mapping[str, Any]) -> None:
    """Root attributes, coordinates, the spatial grid and the (empty) groups of the layout."""
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["equation"] = str(equation)
    f.attrs["inputs"] = json.dumps(list(coordinates))
    f.attrs["fields"] = json.dumps(list(fields))
    f.attrs["versions"] = json.dumps(versions())
    for name, value in encoded.items():
        f.attrs[name] = value
    group = f.create_group("coordinates", track_order=True)
    for name, axis in coordinates.items():
        group.create_dataset(name, data=axis)
    space = [coordinates[name] for name in spatial_inputs(list(coordinates))]
    if 1 <= len(space) <= 3:
        _write_spatial_grid(f, space)
    for name in (*GRID_GROUPS, "points", "loss_history"):
        f.create_group(name, track_order=True)


def _write_spatial_grid(f: h5py.File, space: list[np.ndarray]) -> None:
    """Every spatial grid point, written a block at a time (never all points in memory)."""
    shape = tuple(len(a) for a in space)
    count, width = int(np.prod(shape)), max(2, len(space))
    dataset = f.create_dataset("spatial_grid", shape=(count, width), dtype=np.float64,
                               chunks=(min(count, _BLOCK), width), **compression(count * width))
    for block in grid_blocks(shape, _BLOCK):
        points = block_points(space, block)
        if width > points.shape[1]:
            points = np.concatenate([points, np.zeros((len(points), 1))], axis=1)
        dataset[block.start:block.stop] = points


def check_points(points: Mapping[str, Mapping[str, np.ndarray]] | None,
                  dim: int) -> dict[str, dict[str, np.ndarray]]:
    """Point clouds as float64 arrays: coordinates (N, dim) and values (N,), or raise naming them."""
    clouds: dict[str, dict[str, np.ndarray]] = {}
    for cloud, arrays in (points or {}).items():
        check_name("point cloud", cloud)
        if "coordinates" not in arrays:
            raise ValueError(f"point cloud {cloud!r} has no 'coordinates' (got {list(arrays)})")
        coords = np.asarray(arrays["coordinates"], dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != dim:
            raise ValueError(
                f"point cloud {cloud!r}: coordinates have shape {coords.shape}, expected (N, {dim})"
            )
        clouds[cloud] = {"coordinates": coords}
        for name, values in arrays.items():
            if name == "coordinates":
                continue
            check_name(f"point cloud {cloud!r} value", name)
            column = np.asarray(values, dtype=np.float64)
            if column.shape != (len(coords),):
                raise ValueError(
                    f"point cloud {cloud!r}: {name!r} has shape {column.shape}, "
                    f"expected ({len(coords)},) like its coordinates"
                )
            clouds[cloud][name] = column
    return clouds


def check_history(loss_history: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    history: dict[str, np.ndarray] = {}
    if loss_history is None:
        return history
    if "step" not in loss_history:
        raise ValueError(f"loss_history must include 'step', got keys {list(loss_history)}")
    steps = np.asarray(loss_history["step"])
    if steps.ndim != 1:
        raise ValueError(f"loss_history['step'] must be 1D, got shape {steps.shape}")
    history["step"] = steps.astype(np.int64)
    for term, values in loss_history.items():
        if term == "step":
            continue
        check_name("loss term", term)
        column = np.asarray(values, dtype=np.float64)
        if column.shape != steps.shape:
            raise ValueError(
                f"loss term {term!r} has shape {column.shape}, expected {steps.shape} like 'step'"
            )
        history[term] = column
    return history


def write_points(f: h5py.File, clouds: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write checked point clouds under ``/points``."""
    for cloud, arrays in clouds.items():
        group = f["points"].create_group(cloud, track_order=True)
        for name, values in arrays.items():
            create_dataset(group, name, values)
