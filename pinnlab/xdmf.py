"""An XDMF file beside a fields file, so ParaView and VisIt open it directly.

:func:`write_xdmf` reads the layout of a ``pinnlab-fields`` HDF5 file (see
:mod:`pinnlab.fields_h5`) and writes a small XDMF text file that points at its
datasets by relative file name (``fields.h5:/prediction/u``); the HDF5 file is
never modified.

How the grid is represented, and why
------------------------------------
Our arrays are indexed ``[i0, i1, ...]`` in input order (x slowest, the last
input fastest; ``indexing="ij"``).  XDMF lists dimensions slowest first, and
VTK lays a structured grid's points out with its ``i`` index fastest.  A
``2DRectMesh``/``3DRectMesh`` with ``VXVY(VZ)`` geometry ties VTK's first
coordinate component to the *fastest* array axis, so it would show x and y
(and z) swapped.  XDMF has no transpose, and the expression language of
``Function`` items in VTK's XDMF2 reader (the one in the ``vtk`` wheel) has
no repeat or interlace to build point coordinates from the 1D axes.

So every grid is a curvilinear mesh (``2DSMesh``/``3DSMesh``) whose topology
``Dimensions`` are the spatial array shape in our order, and whose
``XY``/``XYZ`` geometry lists each point's true coordinates.  VTK's ``i``
index then runs along the last spatial input and its ``k`` (or ``j``) along
x, which is a valid structured grid with correct coordinates and values at
every point (its cells are mirrored in index space, which only flips the sign
of a 2D cell normal).  The point coordinates are the file's
``/spatial_grid`` dataset (format version 2), declared once as a ``DataItem``
named ``points`` directly under ``Domain``; every grid's geometry refers to it
with ``Reference="XML"``.  Version 1 files have no ``/spatial_grid``, so for
them the coordinates are written inline in the XDMF (``Format="XML"``, about
20 bytes per coordinate).

* 1 spatial input: a ``2DSMesh`` of shape ``(n, 1)``, points ``(x, 0)``.
* 2 spatial inputs: a ``2DSMesh`` of shape ``(nx, ny)``, points ``(x, y)``.
* 3 spatial inputs: a ``3DSMesh`` of shape ``(nx, ny, nz)``.

Time: an input named ``t`` (always the last input) makes a temporal
collection (``GridType="Collection" CollectionType="Temporal"``) with one
``Uniform`` grid per time index ``k`` and ``<Time Value="t[k]"/>``.  Each step
shares the geometry and reads its attributes as a ``HyperSlab`` of the full
dataset: start ``(0, ..., 0, k)``, stride 1, count ``(n0, ..., 1)``.  The
hyperslab item's own ``Dimensions`` are the spatial grid shape (time axis
dropped): VTK's XDMF reader applies the structured extent to that item, and
with the rank-(d+1) count shape it silently reads the whole dataset instead.

Attributes of the grid: every dataset under ``/prediction`` (named as the
field, e.g. ``u``), ``/reference`` (``u_reference``), ``/error``
(``u_error``), ``/residual`` (``residual_<name>``), ``/derivatives`` (as
stored, e.g. ``u_x``) and ``/mask`` (``mask``), node-centred, with
``NumberType``/``Precision`` taken from the HDF5 dtype (``Float`` 4/8,
``Int``/``UInt`` 4/8, and ``Char``/``UChar`` for 1-byte integers, which XDMF2
readers need for ``uint8``).

Point clouds
------------
Each non-empty ``/points/<cloud>`` becomes one more top-level ``Grid`` named
``points_<cloud>`` with ``TopologyType="Polyvertex"`` (one vertex cell per
point), beside the ``fields`` grid; readers then show a multiblock data set
whose blocks can be toggled.  Clouds have no time steps, so they show at every
time.  Their geometry is the point coordinates as stored, input by input:

* (x): ``X_Y`` with y = 0 (a ``Function`` ``0 * $0`` of x);
* (x, y), (x, t): ``XY``, so a space-time cloud of a 1D problem is drawn in the
  (x, t) plane;
* (x, y, z), (x, y, t): ``XYZ``, time as the third axis for 2D problems;
* (x, y, z, t): ``XYZ`` from the first three columns (a ``HyperSlab``).

Every value dataset of the cloud is a node attribute, and clouds of
space-time problems also carry their time coordinate as an attribute ``t`` (a
``HyperSlab`` of the last column), to colour or threshold by time.

Verified with VTK's ``vtkXdmfReader`` (the XDMF2 reader in the ``vtk`` wheel,
which has no ``vtkXdmf3Reader``); see ``tests/test_xdmf.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import h5py
import numpy as np

from pinnlab.atomic import write_text
from pinnlab.fields_h5 import FORMAT, TIME_INPUT, spatial_inputs

__all__ = ["write_xdmf"]

_POINTS = "points"
_GRID_ATTRIBUTES = (("prediction", "{}"), ("reference", "{}_reference"), ("error", "{}_error"),
                    ("residual", "residual_{}"), ("derivatives", "{}"))


def _number_type(dtype: np.dtype) -> tuple[str, int]:
    """Return XDMF ``(NumberType, Precision)`` for an HDF5 dtype, or raise."""
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    if dtype.kind == "f" and size in (4, 8):
        return "Float", size
    if dtype.kind in ("i", "u", "b") and size == 1:
        return ("Char" if dtype.kind == "i" else "UChar"), 1
    if dtype.kind == "i" and size in (2, 4, 8):
        return "Int", size
    if dtype.kind == "u" and size in (2, 4, 8):
        return "UInt", size
    raise ValueError(f"dtype {dtype} has no XDMF number type")


def _dims(shape: tuple[int, ...]) -> str:
    return " ".join(str(n) for n in shape)


def _number(value: float) -> str:
    return repr(float(value))


def _hdf_item(h5_name: str, dataset: h5py.Dataset, indent: str, name: str = "") -> str:
    kind, precision = _number_type(dataset.dtype)
    named = f"Name={quoteattr(name)} " if name else ""
    return (
        f'{indent}<DataItem {named}Dimensions="{_dims(dataset.shape)}" NumberType="{kind}" '
        f'Precision="{precision}" Format="HDF">{h5_name}:{dataset.name}</DataItem>\n'
    )


def _hyperslab(h5_name: str, dataset: h5py.Dataset, start: tuple[int, ...],
               count: tuple[int, ...], dims: tuple[int, ...], indent: str) -> str:
    """A ``HyperSlab`` item of ``dataset`` (stride 1) whose own ``Dimensions`` are ``dims``."""
    rank = len(dataset.shape)
    inner = indent + "  "
    return (
        f'{indent}<DataItem ItemType="HyperSlab" Dimensions="{_dims(dims)}" Type="HyperSlab">\n'
        f'{inner}<DataItem Dimensions="3 {rank}" NumberType="Int" Format="XML">'
        f"{_dims(start)} {_dims((1,) * rank)} {_dims(count)}</DataItem>\n"
        + _hdf_item(h5_name, dataset, inner)
        + f"{indent}</DataItem>\n"
    )


def _attribute(
    name: str,
    dataset: h5py.Dataset,
    h5_name: str,
    time_index: int | None,
    grid_shape: tuple[int, ...],
    indent: str,
) -> str:
    """An ``<Attribute>`` over the whole dataset, or over its slice at ``time_index``.

    The hyperslab's own ``Dimensions`` must be the grid's shape (without the
    time axis of length 1): VTK's XDMF reader applies its structured extent to
    it, and a rank mismatch there makes it read the whole dataset.
    """
    inner = indent + "  "
    text = f'{indent}<Attribute Name={quoteattr(name)} AttributeType="Scalar" Center="Node">\n'
    if time_index is None:
        text += _hdf_item(h5_name, dataset, inner)
    else:
        rank = len(dataset.shape)
        start = (0,) * (rank - 1) + (time_index,)
        text += _hyperslab(h5_name, dataset, start, dataset.shape[:-1] + (1,), grid_shape, inner)
    return text + f"{indent}</Attribute>\n"


def _inline_points(axes: list[np.ndarray], indent: str) -> str:
    """A named ``<DataItem>`` listing every point's coordinates (version 1 files)."""
    if len(axes) == 1:
        axes = [axes[0], np.zeros(1)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    rows = "\n".join(" ".join(_number(v) for v in row) for row in points)
    return (
        f'{indent}<DataItem Name="{_POINTS}" Dimensions="{points.shape[0]} {points.shape[1]}" '
        f'NumberType="Float" Precision="8" Format="XML">\n{rows}\n{indent}</DataItem>\n'
    )


def _cloud(name: str, group: h5py.Group, h5_name: str, timed: bool, indent: str) -> str:
    """A ``Polyvertex`` grid for one point cloud (see "Point clouds" in the module docstring)."""
    coordinates = group["coordinates"]
    n, d = coordinates.shape
    inner, deep = indent + "  ", indent + "    "
    text = (
        f'{indent}<Grid Name={quoteattr("points_" + name)} GridType="Uniform">\n'
        f'{inner}<Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1"/>\n'
    )
    if d == 1:
        text += (
            f'{inner}<Geometry GeometryType="X_Y">\n' + _hdf_item(h5_name, coordinates, deep)
            + f'{deep}<DataItem ItemType="Function" Function="0 * $0" Dimensions="{n} 1">\n'
            + _hdf_item(h5_name, coordinates, deep + "  ") + f"{deep}</DataItem>\n"
        )
    elif d in (2, 3):
        text += (f'{inner}<Geometry GeometryType="{"XY" if d == 2 else "XYZ"}">\n'
                 + _hdf_item(h5_name, coordinates, deep))
    else:
        text += (f'{inner}<Geometry GeometryType="XYZ">\n'
                 + _hyperslab(h5_name, coordinates, (0, 0), (n, 3), (n, 3), deep))
    text += f"{inner}</Geometry>\n"
    values = [key for key in group if key != "coordinates"]
    for key in values:
        text += (f'{inner}<Attribute Name={quoteattr(key)} AttributeType="Scalar" Center="Node">\n'
                 + _hdf_item(h5_name, group[key], deep) + f"{inner}</Attribute>\n")
    if timed and TIME_INPUT not in values:
        text += (f'{inner}<Attribute Name="{TIME_INPUT}" AttributeType="Scalar" Center="Node">\n'
                 + _hyperslab(h5_name, coordinates, (0, d - 1), (n, 1), (n, 1), deep)
                 + f"{inner}</Attribute>\n")
    return text + f"{indent}</Grid>\n"


def write_xdmf(
    h5_path: str | os.PathLike[str], xdmf_path: str | os.PathLike[str] | None = None
) -> Path:
    """Atomically write an XDMF file describing the fields file ``h5_path``.

    ``xdmf_path`` defaults to ``h5_path`` with the suffix ``.xdmf``.  The XDMF
    refers to the HDF5 file by its path relative to the XDMF file's directory,
    so the two can be moved together.  See the module docstring for how the
    grid, time, attributes and point clouds are represented.  Returns the XDMF
    path.

    Raises ``ValueError`` if ``h5_path`` is not a ``pinnlab-fields`` file, has
    no spatial input or more than three.
    """
    h5_path = Path(h5_path)
    target = Path(xdmf_path) if xdmf_path is not None else h5_path.with_suffix(".xdmf")
    h5_name = Path(os.path.relpath(h5_path.resolve(), target.resolve().parent)).as_posix()

    with h5py.File(h5_path, "r") as f:
        found = f.attrs.get("format")
        if isinstance(found, bytes):
            found = found.decode("utf-8")
        if found != FORMAT:
            raise ValueError(f"{h5_path} is not a {FORMAT} file (format attribute: {found!r})")
        inputs = json.loads(f.attrs["inputs"])
        fields = json.loads(f.attrs["fields"])
        space = spatial_inputs(inputs)
        timed = len(space) < len(inputs)
        if not 1 <= len(space) <= 3:
            raise ValueError(
                f"{h5_path}: XDMF grids need 1 to 3 spatial inputs, got {len(space)} (inputs: {inputs})"
            )
        axes = [f["coordinates"][name][()] for name in space]
        times = f["coordinates"][TIME_INPUT][()] if timed else None

        datasets: list[tuple[str, h5py.Dataset]] = []
        for group, pattern in _GRID_ATTRIBUTES:
            names = fields if group in ("prediction", "reference", "error") else list(f.get(group, ()))
            for name in names:
                if name in f.get(group, ()):
                    datasets.append((pattern.format(name), f[group][name]))
        datasets.append(("mask", f["mask"]))

        grid_shape = tuple(len(a) for a in axes) + ((1,) if len(axes) == 1 else ())
        if "spatial_grid" in f:
            points = _hdf_item(h5_name, f["spatial_grid"], "    ", name=_POINTS)
        else:
            points = _inline_points(axes, "    ")
        mesh = "2DSMesh" if len(grid_shape) == 2 else "3DSMesh"

        def grid(name: str, indent: str, time_index: int | None) -> str:
            inner = indent + "  "
            text = f'{indent}<Grid Name={quoteattr(name)} GridType="Uniform">\n'
            if time_index is not None:
                text += f'{inner}<Time Value="{_number(times[time_index])}"/>\n'
            text += (
                f'{inner}<Topology TopologyType="{mesh}" Dimensions="{_dims(grid_shape)}"/>\n'
                f'{inner}<Geometry GeometryType="{"XY" if len(grid_shape) == 2 else "XYZ"}">\n'
                f'{inner}  <DataItem Reference="XML">/Xdmf/Domain/DataItem[@Name="{_POINTS}"]'
                f"</DataItem>\n{inner}</Geometry>\n"
            )
            for attr_name, dataset in datasets:
                text += _attribute(attr_name, dataset, h5_name, time_index, grid_shape, inner)
            return text + f"{indent}</Grid>\n"

        parts = [('<?xml version="1.0" ?>\n<Xdmf Version="3.0" xmlns:xi="http://www.w3.org/2001/XInclude">\n'
                  "  <Domain>\n"), points]
        if times is None:
            parts.append(grid("fields", "    ", None))
        else:
            parts.append('    <Grid Name="fields" GridType="Collection" CollectionType="Temporal">\n')
            parts += [grid(f"fields_{k}", "      ", k) for k in range(len(times))]
            parts.append("    </Grid>\n")
        for name, group in f.get("points", {}).items():
            if group["coordinates"].shape[0] > 0:
                parts.append(_cloud(name, group, h5_name, timed, "    "))
        parts.append("  </Domain>\n</Xdmf>\n")

    write_text(target, "".join(parts))
    return target
