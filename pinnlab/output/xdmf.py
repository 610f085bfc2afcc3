"""An XDMF file beside a fields file, so ParaView opens it directly.

:func:`write_xdmf` reads the layout of a ``pinnlab-fields`` HDF5 file (see
:mod:`pinnlab.output.fields_h5`) and writes a small XDMF text file that points at its
datasets by relative file name (``fields.h5:/prediction/u``); the HDF5 file is
never modified.  The file is read point for point by both XDMF reader
families: VTK's XDMF2 reader (``vtkXdmfReader``: ParaView's *Xdmf Reader*,
and the one in the ``vtk`` wheel) and the XDMF3 readers (ParaView's
``Xdmf3ReaderS``/``Xdmf3ReaderT``, which ``OpenDataFile`` picks), see
``docs/paraview.md`` and ``tests/output/test_paraview.py``.

How the grid is represented, and why
------------------------------------
Our arrays are indexed ``[i0, i1, ...]`` in input order (x slowest, the last
input fastest; ``indexing="ij"``).  XDMF lists dimensions slowest first, and
VTK lays a structured grid's points out with its ``i`` index fastest.  A
``2DRectMesh``/``3DRectMesh`` with ``VXVY(VZ)`` geometry ties VTK's first
coordinate component to the *fastest* array axis, so it would show x and y
(and z) swapped, and XDMF has no transpose.

So every grid is a curvilinear mesh (``2DSMesh``/``3DSMesh``) whose topology
``Dimensions`` are the spatial array shape in our order, and whose
``XY``/``XYZ`` geometry lists each point's true coordinates.  VTK's ``i``
index then runs along the last spatial input and its ``k`` (or ``j``) along
x, which is a valid structured grid with correct coordinates and values at
every point (its cells are mirrored in index space, which only flips the sign
of a 2D cell normal).  The point coordinates are the file's
``/spatial_grid`` dataset (format version 2).  Version 1 files have no
``/spatial_grid``, so for them the coordinates are written inline in the XDMF
(``Format="XML"``, about 20 bytes per coordinate).

* 1 spatial input: a ``2DSMesh`` of shape ``(n, 1)``, points ``(x, 0)``.
* 2 spatial inputs: a ``2DSMesh`` of shape ``(nx, ny)``, points ``(x, y)``.
* 3 spatial inputs: a ``3DSMesh`` of shape ``(nx, ny, nz)``.

Time: an input named ``t`` (always the last input) makes a temporal
collection ``fields`` (``GridType="Collection" CollectionType="Temporal"``)
with one ``Uniform`` grid per time index ``k``, named ``fields_000``,
``fields_001``, ... (zero-padded to the width of the step count, so names
sort in time order), with ``<Time Value="t[k]"/>``.  The first step holds the
geometry; the others take it with ``xi:include`` (both reader families
resolve XInclude; XDMF3 readers abort on XDMF2's ``Reference="XML"``, and
they empty a ``DataItem`` shared by several parents, so the whole
``Geometry`` element is shared).  Each step reads its attributes as a
hyperslab of the full dataset: start ``(0, ..., 0, k)``, stride 1, count
``(n0, ..., 1)``, see "Hyperslabs".

Attributes of the grid: every dataset under ``/prediction`` (named as the
field, e.g. ``u``), ``/reference`` (``u_reference``), ``/error``
(``u_error``), ``/residual`` (``residual_<name>``), ``/derivatives`` (as
stored, e.g. ``u_x``) and ``/mask`` (``mask``), node-centred, with
``NumberType``/``Precision`` taken from the HDF5 dtype (``Float`` 4/8,
``Int``/``UInt`` 4/8, and ``Char``/``UChar`` for 1-byte integers, which XDMF2
readers need for ``uint8``).

Hyperslabs
----------
The two reader families need different spellings of "part of a dataset":

* XDMF2 reads ``<DataItem ItemType="HyperSlab">`` with two children (start,
  stride and count as an XML item; the HDF5 item).  Its own ``Dimensions``
  are the spatial grid shape (time axis dropped): the XDMF2 reader applies
  the structured extent to it, and with the rank-(d+1) count shape it
  silently reads the whole dataset instead.
* VTK's XDMF3 reader parses that form but cannot take its number type before
  reading it (``Skipping unrecognized array type [None]``).  It reads the
  XDMF3 form, an HDF5 item whose text is
  ``file:/dataset|start:stride:count:dataset shape``, which XDMF2 cannot open.

So each hyperslab is written twice.  The XDMF3 form is a ``DataItem`` directly
under ``Domain`` (XDMF2 ignores items there); where the slab is used, an
``<x3:include xpointer="..."/>`` comes first and the XDMF2 ``HyperSlab`` item
second.  Both readers use the first data child of an ``Attribute`` or
``Geometry``: the XDMF3 library follows any element named ``include``
whatever its namespace, so it takes the XDMF3 form; the XDMF2 reader resolves
only real XInclude elements (the namespace ``x3`` is not XInclude's), skips
the unknown element and takes the ``HyperSlab``.

Point clouds
------------
Each non-empty ``/points/<cloud>`` becomes one more top-level ``Grid`` named
``points_<cloud>`` with ``TopologyType="Polyvertex"`` (one vertex cell per
point), beside the ``fields`` grid; readers then show a multiblock data set
whose blocks can be toggled.  Clouds have no time steps and show at every
time.  In a file with time steps, ``points_<cloud>`` is a temporal collection
with one grid per time step (``points_<cloud>_000``, ...), the first holding
the cloud and the others taking its contents with ``xi:include``: XDMF3
readers drop a grid without a ``Time`` from a file with time steps, and show
a file holding a single temporal collection as that grid alone.  The
connectivity ``0 .. N-1`` is written inline for XDMF3 readers only (through
``x3:include``, see "Hyperslabs"), about 6 bytes a point: without it they make
no cells and draw nothing, while the XDMF2 reader makes the vertices itself.
The geometry is the point coordinates as stored, input by input:

* (x): ``XY``, written inline as ``(x, 0)`` pairs: XDMF3 readers read neither
  ``X_Y`` geometry nor ``Function`` items;
* (x, y), (x, t): ``XY``, so a space-time cloud of a 1D problem is drawn in the
  (x, t) plane;
* (x, y, z), (x, y, t): ``XYZ``, time as the third axis for 2D problems;
* (x, y, z, t): ``XYZ`` from the first three columns (a hyperslab).

Every value dataset of the cloud is a node attribute, and clouds of
space-time problems also carry their time coordinate as an attribute ``t`` (a
hyperslab of the last column), to colour or threshold by time.

Block names: the XDMF2 reader names the blocks ``fields``,
``points_<cloud>``.  ParaView 5.11's XDMF3 readers name the blocks of a file
without time steps by their grids (clouds first), and leave the blocks of a
file with time steps unnamed, in file order (``fields``, then the clouds);
``Xdmf3ReaderS`` returns them as the pieces of one multi-piece data set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import h5py
import numpy as np

from pinnlab.runtime.atomic import write_text
from pinnlab.output.fields_h5 import FORMAT, TIME_INPUT, spatial_inputs

__all__ = ["write_xdmf"]

XDMF3_ONLY = "urn:pinnlab:xdmf3-only"
"""Namespace of the ``x3:include`` elements that only XDMF3 readers follow."""

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


def _inline(points: np.ndarray, indent: str) -> str:
    """A ``Format="XML"`` item listing ``points`` (N, k) row by row, digits that round-trip."""
    rows = "\n".join(" ".join(_number(v) for v in row) for row in points)
    return (f'{indent}<DataItem Dimensions="{_dims(points.shape)}" NumberType="Float" Precision="8" '
            f'Format="XML">\n{rows}\n{indent}</DataItem>\n')


class _Items:
    """Writes ``DataItem`` elements for one HDF5 file and gathers the items only XDMF3 readers use."""

    def __init__(self, h5_name: str) -> None:
        self.h5_name = h5_name
        self.xdmf3_items: list[str] = []  # written under Domain in this order

    def whole(self, dataset: h5py.Dataset, indent: str) -> str:
        """An item reading all of ``dataset``."""
        kind, precision = _number_type(dataset.dtype)
        return (f'{indent}<DataItem Dimensions="{_dims(dataset.shape)}" NumberType="{kind}" '
                f'Precision="{precision}" Format="HDF">{escape(self.h5_name)}:{escape(dataset.name)}'
                "</DataItem>\n")

    def xdmf3_only(self, item: str, indent: str) -> str:
        """An ``x3:include`` of ``item`` (one line of XDMF), which is written under ``Domain``."""
        self.xdmf3_items.append(f"    {item}\n")
        return f'{indent}<x3:include xpointer="xpointer(/Xdmf/Domain/DataItem[{len(self.xdmf3_items)}])"/>\n'

    def slab(self, dataset: h5py.Dataset, start: tuple[int, ...], count: tuple[int, ...],
             dims: tuple[int, ...], indent: str) -> str:
        """The block ``start`` + ``count`` (stride 1) of ``dataset``, as an item of shape ``dims``.

        Writes both spellings (see "Hyperslabs" in the module docstring): the
        ``x3:include`` of the XDMF3 form, then the XDMF2 ``HyperSlab`` item.
        """
        rank = len(dataset.shape)
        kind, precision = _number_type(dataset.dtype)
        ones = _dims((1,) * rank)
        inner = indent + "  "
        return (
            self.xdmf3_only(
                f'<DataItem Dimensions="{_dims(dims)}" NumberType="{kind}" Precision="{precision}" '
                f'Format="HDF">{escape(self.h5_name)}:{escape(dataset.name)}|{_dims(start)}:{ones}:'
                f"{_dims(count)}:{_dims(dataset.shape)}</DataItem>", indent)
            + f'{indent}<DataItem ItemType="HyperSlab" Dimensions="{_dims(dims)}" Type="HyperSlab">\n'
            f'{inner}<DataItem Dimensions="3 {rank}" NumberType="Int" Format="XML">'
            f"{_dims(start)} {ones} {_dims(count)}</DataItem>\n"
            + self.whole(dataset, inner)
            + f"{indent}</DataItem>\n"
        )


def _attribute(name: str, body: str, indent: str) -> str:
    return (f'{indent}<Attribute Name={quoteattr(name)} AttributeType="Scalar" Center="Node">\n'
            f"{body}{indent}</Attribute>\n")


def _include(xpointer: str, indent: str) -> str:
    return f'{indent}<xi:include xpointer="xpointer({xpointer})"/>\n'


def _cloud_body(group: h5py.Group, items: _Items, timed: bool, indent: str) -> str:
    """Topology, geometry and attributes of one point cloud (see "Point clouds" above)."""
    coordinates = group["coordinates"]
    n, d = coordinates.shape
    inner = indent + "  "
    # XDMF3 readers make no cells without the connectivity (and then draw nothing); XDMF2
    # readers make one vertex per point themselves and cache no grid with it
    connectivity = (f'<DataItem Dimensions="{n}" NumberType="Int" Precision="4" Format="XML">'
                    f"{_dims(tuple(range(n)))}</DataItem>")
    text = (f'{indent}<Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1">\n'
            + items.xdmf3_only(connectivity, inner) + f"{indent}</Topology>\n")
    if d == 1:
        points = np.concatenate([coordinates[()], np.zeros((n, 1))], axis=1)
        text += f'{indent}<Geometry GeometryType="XY">\n' + _inline(points, inner)
    elif d in (2, 3):
        text += (f'{indent}<Geometry GeometryType="{"XY" if d == 2 else "XYZ"}">\n'
                 + items.whole(coordinates, inner))
    else:
        text += (f'{indent}<Geometry GeometryType="XYZ">\n'
                 + items.slab(coordinates, (0, 0), (n, 3), (n, 3), inner))
    text += f"{indent}</Geometry>\n"
    values = [key for key in group if key != "coordinates"]
    for key in values:
        text += _attribute(key, items.whole(group[key], inner), indent)
    if timed and TIME_INPUT not in values:
        text += _attribute(TIME_INPUT, items.slab(coordinates, (0, d - 1), (n, 1), (n, 1), inner), indent)
    return text


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
    items = _Items(Path(os.path.relpath(h5_path.resolve(), target.resolve().parent)).as_posix())

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
        mesh = "2DSMesh" if len(grid_shape) == 2 else "3DSMesh"

        def geometry(indent: str) -> str:
            if "spatial_grid" in f:
                points = items.whole(f["spatial_grid"], indent + "  ")
            else:  # version 1: every point's coordinates inline
                grid_axes = axes if len(axes) > 1 else [axes[0], np.zeros(1)]
                coordinates = np.stack(np.meshgrid(*grid_axes, indexing="ij"), axis=-1)
                points = _inline(coordinates.reshape(-1, len(grid_axes)), indent + "  ")
            return (f'{indent}<Geometry GeometryType="{"XY" if len(grid_shape) == 2 else "XYZ"}">\n'
                    f"{points}{indent}</Geometry>\n")

        def grid(name: str, indent: str, time_index: int | None) -> str:
            inner = indent + "  "
            text = f'{indent}<Grid Name={quoteattr(name)} GridType="Uniform">\n'
            if time_index is not None:
                text += f'{inner}<Time Value="{_number(times[time_index])}"/>\n'
            text += f'{inner}<Topology TopologyType="{mesh}" Dimensions="{_dims(grid_shape)}"/>\n'
            if time_index in (None, 0):
                text += geometry(inner)
            else:  # the first step's geometry
                text += _include("/Xdmf/Domain/Grid[1]/Grid[1]/Geometry", inner)
            for attr_name, dataset in datasets:
                if time_index is None:
                    body = items.whole(dataset, inner + "  ")
                else:
                    start = (0,) * (dataset.ndim - 1) + (time_index,)
                    body = items.slab(dataset, start, dataset.shape[:-1] + (1,), grid_shape, inner + "  ")
                text += _attribute(attr_name, body, inner)
            return text + f"{indent}</Grid>\n"

        if times is None:
            grids = [grid("fields", "    ", None)]
        else:
            width = len(str(len(times)))
            steps = [f"_{k:0{width}d}" for k in range(len(times))]
            grids = ['    <Grid Name="fields" GridType="Collection" CollectionType="Temporal">\n'
                     + "".join(grid("fields" + step, "      ", k) for k, step in enumerate(steps))
                     + "    </Grid>\n"]
        for name, group in f.get("points", {}).items():
            if group["coordinates"].shape[0] == 0:
                continue
            grid_name = "points_" + name
            if times is None:
                grids.append(f'    <Grid Name={quoteattr(grid_name)} GridType="Uniform">\n'
                             + _cloud_body(group, items, timed, "      ") + "    </Grid>\n")
                continue
            first = f"/Xdmf/Domain/Grid[{len(grids) + 1}]/Grid[1]/*[not(self::Time)]"
            text = f'    <Grid Name={quoteattr(grid_name)} GridType="Collection" CollectionType="Temporal">\n'
            for k, step in enumerate(steps):
                text += (f'      <Grid Name={quoteattr(grid_name + step)} GridType="Uniform">\n'
                         f'        <Time Value="{_number(times[k])}"/>\n'
                         + (_cloud_body(group, items, timed, "        ") if k == 0 else _include(first, "        "))
                         + "      </Grid>\n")
            grids.append(text + "    </Grid>\n")

    header = ('<?xml version="1.0" ?>\n'
              f'<Xdmf Version="3.0" xmlns:xi="http://www.w3.org/2001/XInclude" xmlns:x3="{XDMF3_ONLY}">\n'
              "  <Domain>\n")
    write_text(target, header + "".join(items.xdmf3_items) + "".join(grids) + "  </Domain>\n</Xdmf>\n")
    return target
