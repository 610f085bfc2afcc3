"""Measured data: points where a field (or a derivative of one) was observed, with its values.

An equation module declares ``data = {"sensors": Observations("sensors.csv", fields={"u": "u"})}``;
each set becomes one loss term named like the set, the mean square of the misfit between the
model and the measured values over its points and columns, with the set's ``weight`` (overridden
by the ``weights`` setting, ``--set weights=sensors:10``). Everything is read and checked once,
when the module is loaded, so a missing column or a NaN stops the run before training.

Sources (a relative path starts at the equation module's folder):

- ``.npz`` (numpy), ``.mat`` (MATLAB up to v7, via ``scipy.io.loadmat``), ``.h5``/``.hdf5``
  (datasets by path, e.g. ``"run1/u"``), ``.csv`` (a header line of column names, then numbers
  separated by commas);
- or a dict of arrays, ``{"t": t, "x": x, ...}``.

Shapes: either every named array has the same number of elements (one row per point: columns,
any shape, flattened), or the inputs are 1-D axes and every field array is shaped like the grid
they span, ``(len(first input), len(second input), ...)`` in the order ``inputs`` lists them
(as Raissi's ``burgers_shock.mat``: x (256, 1), t (100, 1), usol (256, 100)); the grid is then
flattened to its points.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from pinnlab.derivatives.derivative import Derivative, DerivativeNameError, parse_derivative
from pinnlab.problem.binding import EquationError
from pinnlab.problem.parameters import ParameterBox

@dataclass(frozen=True, eq=False)
class Observations:
    """Measured values of fields (or derivatives, ``{"u_x": "ux"}``) at points.

    ``inputs`` and ``fields`` map pinnlab's names to the source's array or column names (a list
    means the same names; None: the problem's inputs, or its fields). ``points`` keeps a random
    subset of that many rows; ``noise`` adds relative Gaussian noise, value + noise * std(value)
    * N(0, 1) per column, as Raissi et al. (2019) do; both draw from ``seed``."""

    source: Any
    inputs: Sequence[str] | Mapping[str, str] | None = None
    fields: Sequence[str] | Mapping[str, str] | None = None
    noise: float = 0.0
    seed: int = 0
    weight: float = 1.0
    points: int | None = None


@dataclass(frozen=True, eq=False)
class ObservationSet:
    """One loaded, checked data set: ``points`` (N, d) in the problem's input order, ``values``
    (N, K), column k the measured ``names[k]`` (a field or derivative, ``derivatives[k]``)."""

    name: str
    points: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    derivatives: tuple[Derivative, ...]
    weight: float
    origin: str
    _tensors: dict = field(default_factory=dict, repr=False)

    def tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Points and values as tensors, made once per dtype and device."""
        key = (dtype, str(device))
        if key not in self._tensors:
            self._tensors[key] = (torch.as_tensor(self.points, dtype=dtype, device=device),
                                  torch.as_tensor(self.values, dtype=dtype, device=device))
        return self._tensors[key]


def as_mapping(names: Sequence[str] | Mapping[str, str] | None, default: Sequence[str], what: str,
               owner: str) -> dict[str, str]:
    """``inputs``/``fields`` as {pinnlab name: source name}."""
    if names is None:
        names = default
    if isinstance(names, str):
        names = (names,)
    if isinstance(names, Mapping):
        mapping = dict(names)
    else:
        mapping = {n: n for n in names}
    bad = [n for n in list(mapping) + list(mapping.values()) if not isinstance(n, str)]
    if bad or not mapping:
        raise EquationError(f"{owner}: '{what}' must be a non-empty list of names or a dict "
                            f"{{pinnlab name: column}}, got {names!r}")
    return mapping


def read_source(source: Any, base_dir: Path | None, owner: str) -> tuple[dict[str, np.ndarray], str]:
    """Every array of ``source`` by name, and how to name the source in messages."""
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}, "the arrays given"
    if not isinstance(source, (str, os.PathLike)):
        raise EquationError(f"{owner}: the source must be a file path or a dict of arrays, got {type(source).__name__}")
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise EquationError(f"{owner}: data file {path} does not exist")
    suffix = path.suffix.lower()
    readers = {".npz": read_npz, ".mat": read_mat, ".csv": read_csv, ".h5": read_h5, ".hdf5": read_h5}
    if suffix not in readers:
        raise EquationError(f"{owner}: {path.name}: unknown format '{suffix}' (use .npz, .mat, .csv, .h5 or .hdf5)")
    try:
        return readers[suffix](path), path.name
    except EquationError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged or foreign file, named with the reader's words
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EquationError(f"{owner}: cannot read {path}: {message}") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def read_mat(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    try:
        contents = loadmat(path)
    except NotImplementedError:
        raise EquationError(f"{path}: a MATLAB v7.3 file; save it with -v7, or as .h5") from None
    return {k: np.asarray(v) for k, v in contents.items() if not k.startswith("__")}


def read_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as file:
        header = next(csv.reader(file), None)
    if not header:
        raise EquationError(f"{path}: empty; a .csv needs a header line of column names")
    names = [n.strip() for n in header]
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    if table.shape[1] != len(names):
        raise EquationError(f"{path}: {table.shape[1]} columns of numbers under {len(names)} header names")
    return {name: table[:, k] for k, name in enumerate(names)}


def read_h5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def pick(arrays: Mapping[str, np.ndarray], column: str, where: str, owner: str) -> np.ndarray:
    if column not in arrays:
        raise EquationError(f"{owner}: no column '{column}' in {where} (it has: {', '.join(sorted(arrays)) or 'none'})")
    array = np.asarray(arrays[column])
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise EquationError(f"{owner}: column '{column}' holds {array.dtype} values, not real numbers")
    return array.astype(np.float64)


def as_rows(inputs: dict[str, np.ndarray], fields: dict[str, np.ndarray],
            owner: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Flatten to one row per point: equal sizes are columns; 1-D inputs with fields of the
    grid's shape are a grid (indexing "ij", inputs in the order given)."""
    sizes = {name: a.size for name, a in {**inputs, **fields}.items()}
    if len(set(sizes.values())) == 1:
        return ({n: a.ravel() for n, a in inputs.items()}, {n: a.ravel() for n, a in fields.items()})
    axes = [a.squeeze() if a.size > 1 else a.ravel() for a in inputs.values()]
    shape = tuple(a.size for a in axes)
    grid_shape = tuple(s for s in shape if s > 1)  # axes of length 1 may be left out
    if all(a.ndim == 1 for a in axes) and all(np.squeeze(a).shape == grid_shape for a in fields.values()):
        mesh = np.meshgrid(*axes, indexing="ij")
        return ({n: m.ravel() for n, m in zip(inputs, mesh)},
                {n: np.reshape(a, shape).ravel() for n, a in fields.items()})
    shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in {**inputs, **fields}.items())
    raise EquationError(
        f"{owner}: the arrays neither have one length (one row per point) nor form a grid (1-D "
        f"inputs, fields shaped (len of each input, in the order of 'inputs')): {shapes}"
    )


def load_observations(name: str, spec: Observations, domain: Any, inputs: tuple[str, ...],
                      fields: tuple[str, ...], base_dir: Path | None,
                      parameters: ParameterBox = ParameterBox()) -> ObservationSet:
    """Read, check, subsample and perturb one data set; every mistake is one EquationError line.
    A family's data (``parameters``: pinnlab/problem/parameters.py) name the parameters as inputs
    too: its points are (inputs, parameters), inside the domain and the box."""
    owner = f"data '{name}'"
    physical, inputs = inputs, inputs + parameters.names
    if not isinstance(spec, Observations):
        raise EquationError(f"{owner} must be Observations(source, ...), got {type(spec).__name__}")
    input_map = as_mapping(spec.inputs, inputs, "inputs", owner)
    field_map = as_mapping(spec.fields, fields, "fields", owner)
    missing = [n for n in inputs if n not in input_map]
    extra = [n for n in input_map if n not in inputs]
    if missing or extra:
        raise EquationError(f"{owner}: 'inputs' must name every input of the problem ({', '.join(inputs)}) "
                            f"and only those; got {', '.join(input_map)}")
    try:
        derivatives = tuple(parse_derivative(n, fields, physical) for n in field_map)
    except DerivativeNameError as error:
        raise EquationError(f"{owner}: {error}") from None
    for what, value, ok in (("noise", spec.noise, spec.noise >= 0), ("weight", spec.weight, spec.weight >= 0)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and ok):
            raise EquationError(f"{owner}: {what} must be a finite number >= 0, got {value!r}")
    arrays, where = read_source(spec.source, base_dir, owner)
    columns_in = {n: pick(arrays, input_map[n], where, owner) for n in input_map}
    columns_out = {n: pick(arrays, c, where, owner) for n, c in field_map.items()}
    columns_in, columns_out = as_rows(columns_in, columns_out, owner)
    for pinnlab_name, column in {**columns_in, **columns_out}.items():
        bad = int((~np.isfinite(column)).sum())
        if bad:
            source_name = input_map.get(pinnlab_name) or field_map[pinnlab_name]
            raise EquationError(f"{owner}: column '{source_name}' has {bad} non-finite value(s) "
                                f"(NaN or inf) of {column.size}")
    points = np.stack([columns_in[n] for n in inputs], axis=1)
    values = np.stack([columns_out[n] for n in field_map], axis=1)
    if len(points) == 0:
        raise EquationError(f"{owner}: {where} holds no rows")
    outside = ~domain.contains(points[:, :len(physical)])
    if parameters:
        outside |= ~parameters.contains(points[:, len(physical):])
    if outside.any():
        first = points[np.argmax(outside)]
        at = ", ".join(f"{n}={v:.6g}" for n, v in zip(inputs, first))
        raise EquationError(f"{owner}: {int(outside.sum())} of {len(points)} points lie outside the domain"
                            f"{' or the parameter box' if parameters else ''}, "
                            f"the first at {at}")
    rng = np.random.default_rng(spec.seed)
    if spec.points is not None:
        if not isinstance(spec.points, int) or not 0 < spec.points <= len(points):
            raise EquationError(f"{owner}: points must be an integer from 1 to the {len(points)} rows, got {spec.points!r}")
        keep = rng.choice(len(points), spec.points, replace=False)
        points, values = points[keep], values[keep]
    if spec.noise:
        values = values + spec.noise * values.std(axis=0) * rng.standard_normal(values.shape)
    return ObservationSet(name, points, values, tuple(field_map), derivatives, float(spec.weight), where)


def load_data(given: Any, domain: Any, inputs: tuple[str, ...], fields: tuple[str, ...],
              base_dir: Path | None, parameters: ParameterBox = ParameterBox()) -> dict[str, ObservationSet]:
    """The module's ``data`` dict, each set loaded and checked."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise EquationError(f"'data' must be a dict {{name: Observations(...)}}, got {type(given).__name__}")
    loaded = {}
    for name, spec in given.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise EquationError(f"data: set names must be identifiers, got {name!r}")
        loaded[name] = load_observations(name, spec, domain, inputs, fields, base_dir, parameters)
    return loaded
