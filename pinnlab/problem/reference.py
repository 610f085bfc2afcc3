"""Reference solutions an equation module may declare, for error reporting.

``Exact(fn)`` is a closed-form solution: ``fn``'s parameters are inputs, it returns the field (one
field) or a dict of fields. ``GridData(path, axes=..., fields=...)`` is tabulated data on a tensor
grid in ``.npz`` or ``.mat`` (MATLAB v5) form; a relative path is taken from the equation module's
folder. Both give values on a grid, which is where pinnlab measures the error and writes fields.

``TableData(path, inputs=..., fields=...)`` reads a text table (COMSOL exports: ``%`` header
lines, whitespace-separated columns). Points that form a tensor grid, even non-uniform and in any
row order, become a grid like ``GridData``'s. Scattered points (mesh nodes) are kept as they are,
in ``ReferenceGrid.scattered``: the error is measured at those points, because interpolating them
onto a grid would add an interpolation error larger than a good solution's own.

``ExactOnGrid(fn, axes=...)`` is a closed form evaluated on a grid of its own (a data set's grid).
``Spectral(...)`` (:mod:`pinnlab.problem.spectral_reference`) is a periodic 1D equation that
pinnlab solves itself; docs/references.md describes all five.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch

from pinnlab.problem.binding import EquationError, as_column, bind
from pinnlab.problem.conditions import Layout


@dataclass(frozen=True)
class ScatteredValues:
    """Reference values at scattered points ``(N, d)`` (columns in input order), each field (N,)."""

    points: np.ndarray
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class ReferenceGrid:
    """Reference values on a tensor grid: one 1D axis per input, in the problem's input order.

    ``scattered`` holds a reference known only at scattered points; ``values`` is then empty and
    the grid (``default_axes``) only serves the pictures and ``fields.h5``."""

    axes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    scattered: ScatteredValues | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes.values())


def grid_points(axes: Mapping[str, np.ndarray]) -> np.ndarray:
    """Flattened points (prod(shape), d) of the tensor grid, C order with indexing='ij'."""
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def split_fields(result: Any, fields: tuple[str, ...], owner: str) -> dict[str, Any]:
    """A user function's result as {field: value}: a dict, a tuple in field order, or one value."""
    if isinstance(result, Mapping):
        missing = [f for f in fields if f not in result]
        if missing:
            raise EquationError(f"{owner} returned no value for field(s) {', '.join(missing)}")
        return {f: result[f] for f in fields}
    if isinstance(result, (tuple, list)):
        if len(result) != len(fields):
            raise EquationError(
                f"{owner} returned {len(result)} values; expected one per field ({', '.join(fields)})"
            )
        return dict(zip(fields, result))
    if len(fields) != 1:
        raise EquationError(f"{owner} returned one value; expected a dict with fields {', '.join(fields)}")
    return {fields[0]: result}


class Reference(ABC):
    @abstractmethod
    def check(self, layout: Layout, base_dir: Path | None) -> None:
        """Fail now, before training, if this reference cannot be used."""

    @abstractmethod
    def on_grid(self, layout: Layout, base_dir: Path | None,
                default_axes: dict[str, np.ndarray]) -> ReferenceGrid:
        """Reference values on its own grid, or on ``default_axes`` if it has none; a reference
        known at scattered points returns ``default_axes`` with no values and ``scattered`` set."""


@dataclass(frozen=True)
class Exact(Reference):
    """A closed-form solution; parameters named by inputs (and constants, and the problem's
    parameters: a family's reference is evaluated one instance at a time, the instance's values
    then being constants, see pinnlab/problem/parameters.py)."""

    function: Callable[..., Any]

    def check(self, layout, base_dir):
        bind(self.function, "reference", inputs=layout.inputs, constants=layout.constants,
             parameters=layout.parameters.names)

    def on_grid(self, layout, base_dir, default_axes):
        shape = tuple(len(a) for a in default_axes.values())
        values = self.at_points(layout, grid_points(default_axes))
        return ReferenceGrid(dict(default_axes), {f: v.reshape(shape) for f, v in values.items()})

    def at_points(self, layout: Layout, points: np.ndarray) -> dict[str, np.ndarray]:
        """The solution at any points (N, d) as float64 (N,) per field, e.g. one chunk of a grid."""
        bound = bind(self.function, "reference", inputs=layout.inputs, constants=layout.constants,
                     parameters=layout.parameters.names)
        x = torch.as_tensor(points, dtype=torch.float64)
        with torch.no_grad():
            parts = split_fields(bound(x), layout.fields, "reference")
        return {
            f: as_column(v, len(x), f"reference field '{f}'", torch.float64, torch.device("cpu")).numpy()
            for f, v in parts.items()
        }


def resolve(path: str | Path, base_dir: Path | None) -> Path:
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def load_arrays(path: Path) -> Mapping[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    if path.suffix == ".mat":
        from scipy.io import loadmat

        return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    raise EquationError(f"reference file {path}: expected a .npz or .mat file")


def check_declared(path: Path, declared: str, layout: Layout, inputs_word: str,
                   inputs: Iterable[str] | None, fields: Iterable[str]) -> None:
    """A file reference's file exists, its ``inputs`` (unless None: the table's default order)
    name every input once, and its ``fields`` are fields; ``declared`` says how it was written."""
    if not path.is_file():
        raise EquationError(
            f"reference file {path} does not exist (declared as {declared}; relative "
            f"paths start at the equation module's folder). Pass --no-reference to solve without it."
        )
    if inputs is not None and set(inputs) != set(layout.inputs):
        raise EquationError(
            f"reference {path.name}: {inputs_word} {list(inputs)} must name every input exactly once "
            f"({', '.join(layout.inputs)})"
        )
    unknown = [f for f in fields if f not in layout.fields]
    if unknown:
        raise EquationError(f"reference {path.name}: {', '.join(unknown)} is not a field")


@dataclass(frozen=True)
class GridData(Reference):
    """Tabulated reference on a tensor grid.

    ``axes`` maps each input to the array holding its 1D coordinates, **in the order of the data
    array's axes** (e.g. ``{"x": "x", "t": "t"}`` when ``usol[i, j] = u(x_i, t_j)``).
    ``fields`` maps each field to its data array; ``part`` picks "real" or "imag" of complex data.
    """

    path: str | Path
    axes: Mapping[str, str]
    fields: Mapping[str, str]
    parts: Mapping[str, str] = field(default_factory=dict)

    def _path(self, base_dir: Path | None) -> Path:
        return resolve(self.path, base_dir)

    def check(self, layout, base_dir):
        check_declared(self._path(base_dir), f"GridData('{self.path}')", layout, "axes", self.axes, self.fields)

    def on_grid(self, layout, base_dir, default_axes):
        self.check(layout, base_dir)
        path = self._path(base_dir)
        arrays = load_arrays(path)
        for key in list(self.axes.values()) + list(self.fields.values()):
            if key not in arrays:
                raise EquationError(f"reference {path.name}: no array '{key}' (has: {', '.join(arrays)})")
        data_axes = {name: np.asarray(arrays[key], dtype=np.float64).ravel() for name, key in self.axes.items()}
        shape = tuple(len(a) for a in data_axes.values())
        order = [list(self.axes).index(name) for name in layout.inputs]
        values = {}
        for f, key in self.fields.items():
            array = np.asarray(arrays[key])
            if array.shape != shape:
                raise EquationError(
                    f"reference {path.name}: '{key}' has shape {array.shape}, but the axes "
                    f"{list(self.axes)} give {shape}"
                )
            part = self.parts.get(f)
            array = getattr(array, part) if part in ("real", "imag") else np.real_if_close(array)
            values[f] = np.transpose(np.asarray(array, dtype=np.float64), order)
        return ReferenceGrid({name: data_axes[name] for name in layout.inputs}, values)


def header_labels(path: Path) -> list[str]:
    """Column labels from the last ``%`` line before the data (COMSOL separates them by 2+ spaces)."""
    last = ""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.lstrip().startswith("%"):
                break
            last = line.lstrip()[1:]
    return [label.strip() for label in re.split(r"\s{2,}", last.strip()) if label.strip()]


@dataclass(frozen=True)
class TableData(Reference):
    """A text table of points and values, such as a COMSOL export (``%`` header lines).

    ``inputs`` and ``fields`` map each input and field to a column: an index from 0, or a name
    matching the first word of a label in the last header line (``"u"`` matches ``u (1) @ t=0``,
    case-insensitively). Left out, the inputs are the first columns in input order and the fields
    the next ones in field order. Rows on a tensor grid (any order, any spacing) give that grid;
    other rows are scattered points, where the error is then measured.
    """

    path: str | Path
    inputs: Mapping[str, int | str] | None = None
    fields: Mapping[str, int | str] | None = None
    decimals: int = 9  # coordinates are rounded to this many decimals to recognise a grid

    def _path(self, base_dir: Path | None) -> Path:
        return resolve(self.path, base_dir)

    def check(self, layout, base_dir):
        check_declared(self._path(base_dir), f"TableData('{self.path}')", layout, "inputs", self.inputs,
                       self.fields or {})

    def columns(self, layout: Layout, path: Path, width: int) -> tuple[list[int], dict[str, int]]:
        """Column index of each input (in input order) and of each field."""
        inputs = self.inputs if self.inputs is not None else {n: k for k, n in enumerate(layout.inputs)}
        d = len(layout.inputs)
        fields = self.fields if self.fields is not None else {f: d + k for k, f in enumerate(layout.fields)}
        labels = header_labels(path) if any(isinstance(c, str) for c in [*inputs.values(), *fields.values()]) else []

        def index(name: str, column: int | str) -> int:
            if isinstance(column, str):
                found = [k for k, label in enumerate(labels) if label.split()[0].lower() == column.lower()]
                if len(found) != 1:
                    raise EquationError(
                        f"reference {path}: {'no' if not found else 'more than one'} column named "
                        f"'{column}' for '{name}' (header labels: {', '.join(labels) or 'none'})"
                    )
                column = found[0]
            if not 0 <= column < width:
                raise EquationError(
                    f"reference {path}: column {column} for '{name}' does not exist; the table has {width} columns"
                )
            return int(column)

        return [index(n, inputs[n]) for n in layout.inputs], {f: index(f, c) for f, c in fields.items()}

    def load(self, path: Path) -> np.ndarray:
        """The table as float64 (rows, columns); fails naming the file on ragged or non-numeric rows."""
        try:
            table = np.loadtxt(path, comments="%", dtype=np.float64, ndmin=2)
        except ValueError as error:
            raise EquationError(
                f"reference {path}: expected a table of numbers, the same count on every row, "
                f"after '%' header lines ({error})"
            ) from None
        if table.size == 0:
            raise EquationError(f"reference {path}: no data rows (expected whitespace-separated numbers)")
        return table

    def on_grid(self, layout, base_dir, default_axes):
        self.check(layout, base_dir)
        path = self._path(base_dir)
        table = self.load(path)
        input_columns, field_columns = self.columns(layout, path, table.shape[1])
        points = table[:, input_columns]
        values = {f: table[:, k] for f, k in field_columns.items()}
        grid = tensor_grid(points, values, layout.inputs, self.decimals)
        if grid is not None:
            return grid
        return ReferenceGrid(dict(default_axes), {}, ScatteredValues(points, values))


def tensor_grid(points: np.ndarray, values: dict[str, np.ndarray], inputs: tuple[str, ...],
                decimals: int) -> ReferenceGrid | None:
    """The rows as a ReferenceGrid if they fill a tensor grid exactly once, else None."""
    rounded = np.round(points, decimals)
    axes, where = [], []
    for k in range(points.shape[1]):
        axis, index = np.unique(rounded[:, k], return_inverse=True)
        axes.append(axis)
        where.append(index.ravel())
    shape = tuple(len(a) for a in axes)
    if int(np.prod(shape)) != len(points) or len(points) < 2 ** points.shape[1]:
        return None
    flat = np.ravel_multi_index(tuple(where), shape)
    if len(np.unique(flat)) != len(points):
        return None
    order = np.argsort(flat)
    return ReferenceGrid(
        {name: axis for name, axis in zip(inputs, axes)},
        {f: v[order].reshape(shape) for f, v in values.items()},
    )


@dataclass(frozen=True)
class ExactOnGrid(Exact):
    """A closed-form solution evaluated on its own tensor grid ``axes`` ({input: 1D coordinates},
    every input once), e.g. the grid of a published data set, so errors compare with it."""

    axes: Mapping[str, Any] = field(default_factory=dict)

    def check(self, layout, base_dir):
        super().check(layout, base_dir)
        if set(self.axes) != set(layout.inputs):
            raise EquationError(
                f"ExactOnGrid: axes {list(self.axes)} must name every input exactly once ({', '.join(layout.inputs)})"
            )
        for name, axis in self.axes.items():
            axis = np.asarray(axis, dtype=np.float64)
            if axis.ndim != 1 or len(axis) < 2 or not np.all(np.diff(axis) > 0):
                raise EquationError(f"ExactOnGrid: axis '{name}' must be increasing 1D coordinates (2 or more)")

    def on_grid(self, layout, base_dir, default_axes):
        self.check(layout, base_dir)
        axes = {name: np.asarray(self.axes[name], dtype=np.float64) for name in layout.inputs}
        return super().on_grid(layout, base_dir, axes)
