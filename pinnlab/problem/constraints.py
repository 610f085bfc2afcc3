"""Inequality constraints on a field: ``Bound("u", lower=0.0)``, ``Bound("u", upper=0.5, integral=True)``.

An equation module declares them in a dict ``constraints = {"nonnegative": Bound("u", lower=0.0)}``.
A bound asks lower <= field <= upper pointwise, at the run's interior collocation points
(``points=None``) or at ``points`` points of its own, drawn once from the domain's interior
(a Sobol sequence of seed 0, so every run holds the same points). With ``integral=True`` it asks
lower <= the field's integral over the domain <= upper instead, the integral estimated as the
domain's measure times the field's mean at those points (quasi-Monte Carlo). The ``trust_constr`` phase
holds bounds as inequality constraints (pinnlab/training/phases/trust_constr.py); the penalty
phases (Adam, L-BFGS, the dense methods) do not see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from pinnlab.problem.binding import EquationError
from pinnlab.problem.conditions import Layout


@dataclass(frozen=True)
class Bound:
    """lower <= ``field`` <= upper at the interior collocation points, or at ``points`` points of
    its own (or its integral over the domain, ``integral=True``); either bound may be left out
    (None), not both."""

    field: str
    lower: float | None = None
    upper: float | None = None
    points: int | None = None
    integral: bool = False

    def check(self, name: str, layout: Layout) -> None:
        """One line naming the constraint and what is wrong with it."""
        owner = f"constraint '{name}'"
        if self.field not in layout.fields:
            raise EquationError(f"{owner}: '{self.field}' is not a field (fields: {', '.join(layout.fields)})")
        if self.lower is None and self.upper is None:
            raise EquationError(f"{owner}: Bound needs lower=..., upper=... or both")
        for side in ("lower", "upper"):
            value = getattr(self, side)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise EquationError(f"{owner}: {side} must be a finite number, got {value!r}")
        if self.lower is not None and self.upper is not None and not self.lower <= self.upper:
            raise EquationError(f"{owner}: lower {self.lower} > upper {self.upper}")
        if self.points is not None and not (isinstance(self.points, int) and self.points >= 1):
            raise EquationError(f"{owner}: points must be a whole number >= 1 or None (the collocation "
                                f"points), got {self.points!r}")
        if not isinstance(self.integral, bool):
            raise EquationError(f"{owner}: integral must be True or False, got {self.integral!r}")

    @property
    def limits(self) -> tuple[float, float]:
        """(lower, upper) with a missing side as -inf / inf."""
        return (-math.inf if self.lower is None else float(self.lower),
                math.inf if self.upper is None else float(self.upper))

    def held_values(self, values: torch.Tensor, measure: float) -> torch.Tensor:
        """What the bound holds, from the field's ``values`` at its points (along the first axis):
        those values, or the integral's estimate measure x their mean, as one row."""
        return measure * values.mean(dim=0, keepdim=True) if self.integral else values

    def violation(self, values: torch.Tensor) -> torch.Tensor:
        """How far each value lies outside [lower, upper] (0 inside)."""
        lower, upper = self.limits
        return torch.clamp(torch.maximum(lower - values, values - upper), min=0.0)


def check_constraints(constraints: Any, layout: Layout, term_names: set[str]) -> dict[str, Bound]:
    """The module's ``constraints`` dict, each entry checked; names must differ from the loss
    terms' (metrics.json reports both by name)."""
    if constraints is None:
        return {}
    if not isinstance(constraints, Mapping):
        raise EquationError(f"'constraints' must be a dict {{name: Bound(...)}}, got {type(constraints).__name__}")
    for name, bound in constraints.items():
        if not isinstance(bound, Bound):
            raise EquationError(f"constraint '{name}' must be Bound(field, lower=..., upper=...), "
                                f"got {type(bound).__name__}")
        if name in term_names:
            raise EquationError(f"constraint '{name}' has the name of a loss term; give it another")
        bound.check(str(name), layout)
    return {str(name): bound for name, bound in constraints.items()}
