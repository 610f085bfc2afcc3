"""Fields known only up to an additive constant, and how their errors are measured.

In incompressible flow the pressure enters the equations only through its gradient: p and
p + c solve them equally well, so a network settles on any level, and its error against a
reference is dominated by that meaningless constant. An equation module says so with

    gauges = {"p": Mean()}                 # the mean of p is free
    gauges = {"p": PinnedAt(x=0, y=0)}     # p is compared through its value at a point

Training is unchanged. Before errors are taken (``metrics.json``, the plots, ``fields.h5``,
``pinnlab export``), the prediction of a gauged field is shifted by the constant that makes it
agree with the reference under the gauge: the same mean over the reference's points, or the same
value at the pin. The constant is recorded (``metrics["gauges"]``), so the network's own output
is the stored prediction less the shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from pinnlab.problem.binding import BoundFunction, EquationError
from pinnlab.problem.conditions import Condition, Dirichlet, Initial, Layout, Robin
from pinnlab.derivatives.derivative import Derivative
from pinnlab.problem.reference import Exact, Reference, ReferenceGrid, grid_points

__all__ = ["Gauge", "GaugeShift", "Mean", "PinnedAt", "apply_shifts", "check_gauges", "measure_shifts",
           "pin_shift"]

Predict = Callable[[np.ndarray], Mapping[str, np.ndarray]]
"""The trained model at points (N, d): {field: (N,)}."""


class Gauge:
    """Base of the gauges: how the free constant of a field is chosen before comparing."""

    kind = ""

    def check(self, field: str, layout: Layout) -> None:
        """Fail, naming the field, if this gauge cannot be used in ``layout``."""

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class Mean(Gauge):
    """The field's mean is free: compare after matching the reference's mean over its points."""

    kind = "mean"

    def __repr__(self) -> str:
        return "Mean()"


class PinnedAt(Gauge):
    """The field is compared through its value at one point: ``PinnedAt(x=0, y=0)``, one
    coordinate per input (``t`` too for a space-time problem), the point inside the domain."""

    kind = "pinned"

    def __init__(self, **point: float) -> None:
        self._point = tuple(point.items())  # checked at load, where errors can name the module

    @property
    def point(self) -> dict[str, float]:
        return {name: float(value) for name, value in self._point}

    def coordinates(self, inputs: tuple[str, ...]) -> np.ndarray:
        """The point as (1, d), columns in input order."""
        point = self.point
        return np.array([[point[name] for name in inputs]], dtype=np.float64)

    def check(self, field: str, layout: Layout) -> None:
        names = [name for name, _ in self._point]
        if sorted(names) != sorted(layout.inputs):
            raise EquationError(
                f"gauge on '{field}': PinnedAt needs one coordinate per input ({', '.join(layout.inputs)}), "
                f"got {', '.join(names) or 'none'}; e.g. PinnedAt({', '.join(f'{n}=0' for n in layout.inputs)})"
            )
        for name, value in self._point:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise EquationError(f"gauge on '{field}': PinnedAt {name}={value!r} is not a finite number")
        if not layout.domain.contains(self.coordinates(layout.inputs))[0]:
            lower, upper = layout.domain.bounds()
            box = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(lower, upper))
            raise EquationError(f"gauge on '{field}': {self!r} lies outside the domain (bounding box {box})")

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "point": self.point}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PinnedAt) and self._point == other._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"PinnedAt({', '.join(f'{name}={value!r}' for name, value in self._point)})"


LEVEL_FIXING = (Dirichlet, Initial, Robin)
"""Conditions that prescribe a field's value, and with it its level."""


def check_gauges(gauges: Any, layout: Layout, residuals: Mapping[str, BoundFunction],
                 conditions: Mapping[str, Condition]) -> dict[str, Gauge]:
    """Validate an equation module's ``gauges``: known fields, usable gauges, and no condition or
    residual that already fixes the field's level (then the constant is not free)."""
    if not gauges:
        return {}
    if not isinstance(gauges, Mapping):
        raise EquationError(f"'gauges' must be a dict {{field: Mean() or PinnedAt(...)}}, got {type(gauges).__name__}")
    for field, gauge in gauges.items():
        if field not in layout.fields:
            raise EquationError(f"gauges: '{field}' is not a field (fields: {', '.join(layout.fields)})")
        if not isinstance(gauge, Gauge):
            raise EquationError(
                f"gauges['{field}'] must be Mean() or PinnedAt(...), got {gauge!r} ({type(gauge).__name__})"
            )
        gauge.check(field, layout)
        for name, condition in conditions.items():
            fixes = isinstance(condition, LEVEL_FIXING) and getattr(condition, "alpha", 1.0) != 0
            if fixes and condition.resolve_field(name, layout) == field:
                raise EquationError(
                    f"gauge on '{field}': condition '{name}' ({type(condition).__name__}) already fixes the "
                    f"level of {field}, so it is not free; drop the gauge or the condition"
                )
        for name, residual in residuals.items():
            if Derivative(field, ()) in residual.derivatives:
                raise EquationError(
                    f"gauge on '{field}': residual '{name}' uses {field} itself, not only its derivatives, "
                    f"so the equations fix its level; a gauge is only for a field defined up to a constant"
                )
    return dict(gauges)


@dataclass(frozen=True)
class GaugeShift:
    """The constant added to a gauged field's prediction before it is compared with the reference.

    ``shift`` is None when the field has no reference to match (then nothing is shifted);
    ``at`` is the point whose values fixed a pin (the pin itself, or the reference point nearest it)."""

    gauge: Gauge
    shift: float | None
    at: dict[str, float] | None = None

    def record(self) -> dict[str, Any]:
        record = {**self.gauge.record(), "shift": self.shift}
        if self.at is not None:
            record["at"] = self.at
        return record


def measure_shifts(gauges: Mapping[str, Gauge], layout: Layout, reference: Reference | None,
                   grid: ReferenceGrid, prediction: Mapping[str, np.ndarray],
                   at_points: Mapping[str, np.ndarray], predict: Predict) -> dict[str, GaugeShift]:
    """The shift of each gauged field, from the reference the errors are measured against: its
    grid (``prediction`` there, NaN outside the domain) or its scattered points (``at_points``)."""
    shifts = {}
    for field, gauge in gauges.items():
        if field in grid.values:
            shifts[field] = grid_shift(field, gauge, layout, reference, grid, prediction[field], predict)
        elif grid.scattered is not None and field in grid.scattered.values:
            shifts[field] = nearest_or_mean_shift(gauge, layout.inputs, grid.scattered.points,
                                                  grid.scattered.values[field], at_points[field])
        else:
            shifts[field] = GaugeShift(gauge, None)
    return shifts


def grid_shift(field: str, gauge: Gauge, layout: Layout, reference: Reference | None, grid: ReferenceGrid,
               predicted: np.ndarray, predict: Predict) -> GaugeShift:
    """A shift from reference values on a grid; an exact reference is evaluated at the pin itself."""
    if isinstance(gauge, PinnedAt) and isinstance(reference, Exact):
        return pin_shift(field, gauge, layout, reference, predict)
    known = (np.isfinite(predicted) & np.isfinite(grid.values[field])).ravel()
    points = grid_points(grid.axes)[known]
    return nearest_or_mean_shift(gauge, layout.inputs, points, grid.values[field].ravel()[known],
                                 predicted.ravel()[known])


def pin_shift(field: str, gauge: PinnedAt, layout: Layout, reference: Exact, predict: Predict) -> GaugeShift:
    """Reference minus prediction at the pin, the reference in closed form."""
    pin = gauge.coordinates(layout.inputs)
    exact = reference.at_points(layout, pin)[field][0]
    return GaugeShift(gauge, float(exact - predict(pin)[field][0]), gauge.point)


def nearest_or_mean_shift(gauge: Gauge, inputs: tuple[str, ...], points: np.ndarray,
                          reference: np.ndarray, predicted: np.ndarray) -> GaugeShift:
    """From values at the same points: the mean difference (Mean), or the difference at the
    point nearest the pin (PinnedAt on tabulated data, compared where the data is known)."""
    if len(points) == 0:
        return GaugeShift(gauge, None)
    if isinstance(gauge, PinnedAt):
        nearest = int(np.argmin(np.sum((points - gauge.coordinates(inputs)) ** 2, axis=1)))
        at = {name: float(c) for name, c in zip(inputs, points[nearest])}
        return GaugeShift(gauge, float(reference[nearest] - predicted[nearest]), at)
    return GaugeShift(gauge, float(np.mean(reference - predicted)))


def apply_shifts(values: Mapping[str, np.ndarray], shifts: Mapping[str, GaugeShift]) -> dict[str, np.ndarray]:
    """``values`` with each gauged field's shift added (new arrays; the others as they are)."""
    shifted = dict(values)
    for field, shift in shifts.items():
        if field in shifted and shift.shift is not None:
            shifted[field] = shifted[field] + shift.shift
    return shifted


def records(shifts: Mapping[str, GaugeShift]) -> dict[str, dict[str, Any]]:
    """What ``metrics["gauges"]`` and the ``gauges`` attribute of a fields file hold."""
    return {field: shift.record() for field, shift in shifts.items()}
