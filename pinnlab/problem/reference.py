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
``Spectral(...)`` is a periodic 1D equation u_t = L u + N(u, u_x, ...) that pinnlab solves itself
(``pinnlab.problem.spectral``) and caches; docs/references.md describes all five.
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
    """A closed-form solution; parameters named by inputs (and constants)."""

    function: Callable[..., Any]

    def check(self, layout, base_dir):
        bind(self.function, "reference", inputs=layout.inputs, constants=layout.constants)

    def on_grid(self, layout, base_dir, default_axes):
        shape = tuple(len(a) for a in default_axes.values())
        values = self.at_points(layout, grid_points(default_axes))
        return ReferenceGrid(dict(default_axes), {f: v.reshape(shape) for f, v in values.items()})

    def at_points(self, layout: Layout, points: np.ndarray) -> dict[str, np.ndarray]:
        """The solution at any points (N, d) as float64 (N,) per field, e.g. one chunk of a grid."""
        bound = bind(self.function, "reference", inputs=layout.inputs, constants=layout.constants)
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


@dataclass(frozen=True)
class SpectralSetup:
    """A checked ``Spectral`` declaration, as the solver takes it."""

    grid: Any  # pinnlab.problem.spectral.PeriodicGrid
    t0: float
    times: np.ndarray
    points: int
    initial: np.ndarray
    linear: dict[int, complex]
    orders: list[int]
    nonlinear: Callable[[dict[int, np.ndarray], float], np.ndarray] | None
    probe: np.ndarray  # the nonlinear term at the initial state (part of the cache key)


@dataclass(frozen=True)
class Spectral(Reference):
    """A periodic 1D equation u_t = L u + N solved by pinnlab itself (``pinnlab.problem.spectral``:
    Fourier in x, ETDRK4 in t), cached in the user's cache folder.

    ``linear`` maps derivative names of ``variable`` to coefficients ({"u_xx": 1e-4},
    {"h_xx": 0.5j}; "u" itself is the zeroth derivative). ``nonlinear`` is a numpy function whose
    parameters name what it needs: ``variable`` and its x-derivatives (``u``, ``u_x``...), the space
    input, ``t``, constants; None for a linear equation. ``initial`` is a numpy function of x.
    ``modes`` Fourier modes on the domain's interval (the period), time steps at most ``dt``, output
    at ``times`` (the first is the time of ``initial``; they may reach beyond the domain's time
    interval, as a data file's may) on ``points`` of the periodic grid (default ``modes``; it must
    divide ``modes``).
    Without ``parts`` the unknown is real and ``variable`` is a field; with
    ``parts={"u": "real", "v": "imag"}`` it is complex and those fields are its parts."""

    linear: Mapping[str, complex]
    nonlinear: Callable[..., Any] | None
    initial: Callable[..., Any]
    modes: int
    dt: float
    times: Any
    points: int | None = None
    variable: str = "u"
    parts: Mapping[str, str] = field(default_factory=dict)
    dealias: bool = False

    def check(self, layout, base_dir):
        self.setup(layout)

    def on_grid(self, layout, base_dir, default_axes):
        from pinnlab.problem.spectral import cache_key, cached, function_fingerprint, solve

        s = self.setup(layout)
        stride = s.grid.modes // s.points
        description = {
            "interval": [s.grid.a, s.grid.b], "t0": s.t0, "modes": s.grid.modes, "points": s.points,
            "dt": float(self.dt), "complex": s.grid.complex_field, "dealias": bool(self.dealias),
            "linear": {str(n): [c.real, c.imag] for n, c in sorted(s.linear.items())},
            "orders": s.orders, "nonlinear": function_fingerprint(self.nonlinear),
        }
        key = cache_key(description, [s.times, s.initial, s.probe])

        def compute() -> np.ndarray:
            u = solve(s.grid, s.initial, s.linear, s.nonlinear, s.orders, s.times, s.t0, float(self.dt),
                      bool(self.dealias))
            return u[::stride]

        values = cached(key, (s.points, len(s.times)), compute)
        if self.parts:
            fields = {f: np.ascontiguousarray(getattr(values, part)) for f, part in self.parts.items()}
        else:
            fields = {self.variable: np.ascontiguousarray(values.real)}
        return ReferenceGrid({layout.inputs[0]: s.grid.x[::stride], layout.inputs[-1]: s.times}, fields)

    def fail(self, message: str) -> EquationError:
        return EquationError(f"Spectral reference: {message}")

    def setup(self, layout: Layout) -> SpectralSetup:
        """Check every argument against the problem (one clear line on the first mistake)."""
        from pinnlab.geometry import Interval, SpaceTime
        from pinnlab.problem.spectral import PeriodicGrid

        domain = layout.domain
        if not isinstance(domain, SpaceTime) or not isinstance(domain.space, Interval):
            raise self.fail(f"needs a domain Interval(a, b) * TimeInterval(t0, t1), periodic in x; got {domain!r}")
        (a, _), (b, _) = domain.bounds()
        if not isinstance(self.modes, (int, np.integer)) or self.modes < 4 or self.modes % 2:
            raise self.fail(f"modes must be an even integer >= 4, got {self.modes!r}")
        points = self.modes if self.points is None else self.points
        if not isinstance(points, (int, np.integer)) or points < 1 or self.modes % points:
            raise self.fail(f"points ({points!r}) must divide modes ({self.modes})")
        if not isinstance(self.dt, (int, float)) or not np.isfinite(self.dt) or self.dt <= 0:
            raise self.fail(f"dt must be a positive number, got {self.dt!r}")
        times = np.asarray(self.times, dtype=np.float64).ravel()
        if len(times) < 2 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise self.fail(f"times must be 2 or more increasing numbers (the first is the initial time), "
                            f"got {len(times)}")
        for f, part in self.parts.items():
            if f not in layout.fields or part not in ("real", "imag"):
                raise self.fail(f"parts must map fields ({', '.join(layout.fields)}) to 'real' or 'imag', "
                                f"got {f!r}: {part!r}")
        if not self.parts and self.variable not in layout.fields:
            raise self.fail(f"variable '{self.variable}' is not a field ({', '.join(layout.fields)}); for a "
                            f"complex unknown, name its real and imaginary fields with parts=...")
        grid = PeriodicGrid(float(a), float(b), int(self.modes), bool(self.parts))
        initial = self.initial_values(layout, grid)
        nonlinear, orders, probe = self.nonlinear_term(layout, grid, initial, float(times[0]))
        return SpectralSetup(grid, float(times[0]), times, int(points), initial, self.linear_operator(layout),
                             orders, nonlinear, probe)

    def order(self, name: str, layout: Layout) -> int | None:
        """The x-derivative of ``variable`` that ``name`` means (``u`` 0, ``u_xx`` 2), else None."""
        space = layout.inputs[0]
        if name == self.variable:
            return 0
        prefix = f"{self.variable}_"
        tail = name[len(prefix):] if name.startswith(prefix) else ""
        if tail and tail == space * (len(tail) // len(space)):
            return len(tail) // len(space)
        return None

    def linear_operator(self, layout: Layout) -> dict[int, complex]:
        """``linear`` as {derivative order: coefficient}."""
        space, operator = layout.inputs[0], {}
        for name, c in self.linear.items():
            order = self.order(name, layout)
            if order is None:
                raise self.fail(f"linear: '{name}' is not {self.variable} or one of its x-derivatives "
                                f"({self.variable}_{space}, {self.variable}_{space * 2}, ...)")
            if not isinstance(c, (int, float, complex, np.number)) or isinstance(c, bool):
                raise self.fail(f"linear: the coefficient of '{name}' must be a number, got {c!r}")
            if complex(c).imag and not self.parts:
                raise self.fail(f"linear: '{name}' has a complex coefficient, so the unknown is complex: "
                                "name its real and imaginary fields with parts=...")
            operator[order] = operator.get(order, 0) + complex(c)
        return operator

    def evaluate(self, function: Callable[..., Any], owner: str, kwargs: dict[str, Any], n: int) -> np.ndarray:
        """``function(**kwargs)`` as n finite numbers (real for a real unknown), or one clear error."""
        from pinnlab.problem.binding import user_code_error

        try:
            value = np.asarray(function(**kwargs))
        except EquationError:
            raise
        except Exception as error:  # noqa: BLE001 - the equation module's function failed
            raise user_code_error(function, f"Spectral reference {owner}", error) from error
        try:
            value = np.array(np.broadcast_to(value, (n,)))
        except ValueError:
            raise self.fail(f"{owner} returned shape {value.shape}; expected ({n},) or a scalar") from None
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise self.fail(f"{owner} returned values that are not finite numbers")
        if np.iscomplexobj(value) and not self.parts:
            if np.any(value.imag):
                raise self.fail(f"{owner} returned complex values for the real unknown '{self.variable}'")
            value = value.real
        return value

    def initial_values(self, layout: Layout, grid: Any) -> np.ndarray:
        """The initial condition on the grid; it must take the same value at both ends."""
        from pinnlab.problem.binding import parameter_names

        space = layout.inputs[0]
        kwargs: dict[str, Any] = {}
        for name in parameter_names(self.initial, "Spectral reference initial"):
            if name not in (space, *layout.constants):
                raise self.fail(f"initial: unknown parameter '{name}' (it may use: {space}, constants)")
            kwargs[name] = layout.constants.get(name)
        at = lambda x: {**kwargs, space: x} if space in kwargs else kwargs  # noqa: E731
        values = self.evaluate(self.initial, "initial", at(grid.x), grid.modes)
        ends = self.evaluate(self.initial, "initial", at(np.array([grid.a, grid.b])), 2)
        if abs(ends[0] - ends[1]) > 1e-6 * max(1.0, float(np.abs(values).max())):
            raise self.fail(f"the initial condition is not periodic on [{grid.a:g}, {grid.b:g}]: {ends[0]:.6g} "
                            f"at {space} = {grid.a:g}, {ends[1]:.6g} at {space} = {grid.b:g}")
        return values.astype(complex) if self.parts else values

    def nonlinear_term(self, layout: Layout, grid: Any, initial: np.ndarray, t0: float):
        """N as the solver calls it ({order: derivative}, t), the orders it needs, N at t0."""
        from pinnlab.problem.binding import parameter_names, user_code_error

        if self.nonlinear is None:
            return None, [], np.zeros(0)
        space, time, function = layout.inputs[0], layout.inputs[-1], self.nonlinear
        orders, fixed = {}, {}
        for name in parameter_names(function, "Spectral reference nonlinear"):
            order = self.order(name, layout)
            if order is not None:
                orders[name] = order
            elif name == space:
                fixed[name] = grid.x
            elif name in layout.constants:
                fixed[name] = layout.constants[name]
            elif name != time:
                raise self.fail(f"nonlinear: unknown parameter '{name}' (it may use: {self.variable}, "
                                f"{self.variable}_{space}, {self.variable}_{space * 2}, ..., {space}, {time}, constants)")
        takes_time = time in parameter_names(function, "Spectral reference nonlinear")
        real = not self.parts

        def call(derivatives: dict[int, np.ndarray], t: float) -> np.ndarray:
            kwargs = {**fixed, **{name: derivatives[n] for name, n in orders.items()}}
            if takes_time:
                kwargs[time] = t
            try:
                value = function(**kwargs)
            except Exception as error:  # noqa: BLE001 - the equation module's function failed
                raise user_code_error(function, "Spectral reference nonlinear", error) from error
            return np.real(value) if real and np.iscomplexobj(value) else value

        spectrum = grid.forward(initial)
        first = {n: grid.inverse(grid.derivative(n) * spectrum) for n in set(orders.values())}
        kwargs = {**fixed, **{name: first[n] for name, n in orders.items()}, **({time: t0} if takes_time else {})}
        probe = self.evaluate(function, "nonlinear", kwargs, grid.modes)
        return call, sorted(set(orders.values())), probe
