"""Parameters: a family of problems solved at once by one network.

An equation module declares ``parameters = {"nu": (0.003, 0.03)}``: each parameter is a box
``[lower, upper]`` and becomes an extra input of the network, placed after the physical inputs
(points are ``(x, t, nu)``). Residuals, condition values, output transforms and references take
a parameter by name, as they take a constant, but its value varies from point to point:
collocation draws it with the point (one joint Sobol point over space, time and parameters).
Derivative names stay over the physical inputs: ``u_x`` and ``u_laplacian`` never involve a
parameter.

``held_out = {"nu": [...]}`` lists the instances the solve is judged on (equal-length lists,
values inside the box); without it, :func:`default_held_out` spreads 8 over the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pinnlab.problem.binding import EquationError

DEFAULT_HELD_OUT = 8
"""Instances a solve is judged on when the module lists none."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


@dataclass(frozen=True)
class ParameterBox:
    """The parameters' names (in input order, after the physical inputs) and their bounds."""

    names: tuple[str, ...] = ()
    lower: tuple[float, ...] = ()
    upper: tuple[float, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def scale(self, unit: np.ndarray) -> np.ndarray:
        """Points of the unit cube ``(N, p)`` mapped into the box."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        return lower + (upper - lower) * unit

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Which rows ``(N, p)`` lie in the box (bounds included, to rounding)."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        slack = 1e-12 * (upper - lower)
        return np.all((values >= lower - slack) & (values <= upper + slack), axis=1)

    def draw(self, sample: Callable[[Any], tuple[np.ndarray, ...] | np.ndarray], sampler: Any) -> Any:
        """Run ``sample(sampler)`` (a domain's draw of physical points) and append parameter
        columns to the points it returns (the first array of a tuple: normals stay as they are).

        When the domain takes its points in one call of the sampler, the parameters come from the
        same unit point, so a Sobol sampler stays low-discrepancy over space, time and parameters
        together; a domain that rejects or combines draws gets them from the sampler's own
        ``p``-dimensional stream."""
        if not self:
            return sample(sampler)
        if sampler.is_grid:
            raise ValueError("sampling.sampler=grid cannot draw a parameter box (its points would repeat "
                             "the same few parameter values); use sobol, uniform or lhs")
        joint = JointDraw(sampler, len(self))
        drawn = sample(joint)
        points = drawn[0] if isinstance(drawn, tuple) else drawn
        unit = joint.parameters(len(points))
        extended = np.column_stack([points, self.scale(unit)])
        return (extended, *drawn[1:]) if isinstance(drawn, tuple) else extended

    def columns(self, values: Mapping[str, float], n: int) -> np.ndarray:
        """``(n, p)`` columns holding one instance's values."""
        return np.tile(np.array([float(values[name]) for name in self.names]), (n, 1))

    def instance_values(self, given: Mapping[str, Any], owner: str) -> dict[str, float]:
        """One instance ``{name: value}``, checked: every parameter once, numbers inside the box."""
        unknown = [k for k in given if k not in self.names]
        missing = [k for k in self.names if k not in given]
        if unknown or missing:
            what = (f"'{unknown[0]}' is not a parameter" if unknown else f"no value for '{missing[0]}'")
            raise EquationError(f"{owner}: {what} (parameters: {', '.join(self.names) or 'none'})")
        values = {}
        for name, lo, hi in zip(self.names, self.lower, self.upper):
            value = given[name]
            if not _number(value):
                raise EquationError(f"{owner}: {name}={value!r} is not a finite number")
            if not lo <= float(value) <= hi:
                raise EquationError(f"{owner}: {name}={float(value):g} lies outside the trained box "
                                    f"[{lo:g}, {hi:g}]")
            values[name] = float(value)
        return values


class JointDraw:
    """A sampler seen by a domain: each request for ``dim`` unit coordinates draws ``dim + p`` from
    ``inner`` and keeps the last ``p`` for the parameters (see :meth:`ParameterBox.draw`)."""

    is_grid = False

    def __init__(self, inner: Any, p: int) -> None:
        self.inner, self.p = inner, p
        self.kept: list[np.ndarray] = []

    def unit(self, n: int, dim: int) -> np.ndarray:
        u = self.inner.unit(n, dim + self.p)
        self.kept.append(u[:, dim:])
        return u[:, :dim]

    def parameters(self, n: int) -> np.ndarray:
        """The parameter coordinates of the ``n`` points the domain returned."""
        if len(self.kept) == 1 and len(self.kept[0]) == n:
            return self.kept[0]
        return self.inner.unit(n, self.p) if n else np.empty((0, self.p))


def check_parameters(given: Any, taken: Mapping[str, str], fail: Callable[[str], EquationError]) -> ParameterBox:
    """The module's ``parameters`` dict {name: (lower, upper)}, checked; ``taken`` maps the names
    already in use (inputs, fields, constants, unknowns) to what they are."""
    if given is None:
        return ParameterBox()
    if not isinstance(given, Mapping) or not given:
        raise fail(f"'parameters' must be a non-empty dict {{name: (lower, upper)}}, got {given!r:.60}")
    names, lower, upper = [], [], []
    for name, bounds in given.items():
        if isinstance(name, str) and name in taken:
            raise fail(f"parameter '{name}': the name is {taken[name]}; choose another")
        if not isinstance(name, str) or not name.isidentifier() or taken.get(name.split("_")[0]) == "a field":
            raise fail(f"parameters: names must be identifiers not read as a derivative, got {name!r}")
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2 or not all(_number(b) for b in bounds):
            raise fail(f"parameter '{name}': expected a box (lower, upper) of two finite numbers, got {bounds!r}")
        lo, hi = float(bounds[0]), float(bounds[1])
        if not lo < hi:
            raise fail(f"parameter '{name}': the box ({lo:g}, {hi:g}) is empty; needs lower < upper")
        names.append(name)
        lower.append(lo)
        upper.append(hi)
    return ParameterBox(tuple(names), tuple(lower), tuple(upper))


def default_held_out(box: ParameterBox, count: int = DEFAULT_HELD_OUT) -> tuple[dict[str, float], ...]:
    """``count`` instances spread over the box: the cell midpoints of one parameter's range, or a
    fixed scrambled Sobol set for several."""
    if not box:
        return ()
    if len(box) == 1:
        unit = ((np.arange(count) + 0.5) / count)[:, None]
    else:
        from scipy.stats import qmc

        unit = qmc.Sobol(d=len(box), scramble=True, seed=20261207).random(count)
    values = box.scale(unit)
    return tuple({name: float(v) for name, v in zip(box.names, row)} for row in values)


def check_held_out(given: Any, box: ParameterBox, fail: Callable[[str], EquationError]) -> tuple[dict[str, float], ...]:
    """The module's ``held_out`` dict {name: [values]} as instances, or the default set."""
    if given is None:
        return default_held_out(box)
    if not box:
        raise fail("'held_out' lists parameter values, but the module declares no 'parameters'")
    if not isinstance(given, Mapping):
        raise fail(f"'held_out' must be a dict {{parameter: [values]}}, got {type(given).__name__}")
    lists: dict[str, Sequence[Any]] = {}
    for name, values in given.items():
        values = [values] if _number(values) else values
        if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
            raise fail(f"held_out '{name}': expected a non-empty list of values, got {values!r:.60}")
        lists[name] = list(values)
    lengths = {len(v) for v in lists.values()}
    if len(lengths) > 1:
        raise fail(f"held_out: the lists differ in length ({', '.join(f'{k}: {len(v)}' for k, v in lists.items())})")
    count = lengths.pop()
    try:
        return tuple(box.instance_values({k: v[i] for k, v in lists.items()}, "held_out") for i in range(count))
    except EquationError as error:
        raise fail(str(error)) from None


def parse_instance(text: str, box: ParameterBox, owner: str = "--at") -> dict[str, float]:
    """``"nu=0.01"`` or ``"nu=0.01,k=2"`` as one checked instance."""
    given: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        try:
            given[key.strip()] = float(value) if sep else None
        except ValueError:
            given[key.strip()] = value
        if not sep:
            raise EquationError(f"{owner} expects NAME=VALUE pairs such as "
                                f"{box.names[0] if box else 'nu'}=0.01, got '{item}'")
    return box.instance_values(given, owner)
