"""Boundary and initial conditions.

Each condition names the field it constrains, where it applies (a boundary part of the domain
by name, or a predicate on the inputs) and its value (a constant or a function of the inputs).
A condition turns into a loss term: its pointwise residual on points sampled where it applies.
Values are evaluated once per point set, not at every step.

``exact=True`` marks a condition that the equation's ``output_transform`` already imposes: it is
still evaluated and reported (a check that the transform does what it claims) but not trained.
``constraint=True`` marks a condition that the augmented Lagrangian phase holds as a constraint
(pinnlab/training/phases/augmented_lagrangian.py); the other phases train it as a penalty term.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field as dataclass_field
from typing import Any, Callable, Mapping, Union

import numpy as np
import torch

from pinnlab.problem.binding import BoundFunction, EquationError, as_column, bind
from pinnlab.derivatives.derivative import Derivative
from pinnlab.geometry import Geometry, SpaceTime
from pinnlab.geometry.sampling import Sampler
from pinnlab.problem.parameters import ParameterBox

Value = Union[float, int, Callable[..., Any]]
Where = Union[str, Callable[..., Any], None]


@dataclass(frozen=True)
class Layout:
    """What a condition needs to know about the problem it belongs to."""

    domain: Geometry
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    constants: Mapping[str, Any]
    parameters: ParameterBox = ParameterBox()  # columns after the inputs (pinnlab/problem/parameters.py)

    @property
    def time_index(self) -> int | None:
        return len(self.inputs) - 1 if isinstance(self.domain, SpaceTime) else None

    @property
    def space_indices(self) -> tuple[int, ...]:
        n = len(self.inputs) - (1 if self.time_index is not None else 0)
        return tuple(range(n))


@dataclass(frozen=True)
class ConditionBatch:
    """Points where a condition applies, with what it needs there (targets, normals, partners)."""

    points: torch.Tensor
    target: torch.Tensor
    normals: torch.Tensor | None = None
    partners: torch.Tensor | None = None


@dataclass(frozen=True)
class Condition(ABC):
    """Base of all conditions: resolves the field and the place, samples, forms residuals."""

    field: str | None = dataclass_field(default=None, kw_only=True)
    exact: bool = dataclass_field(default=False, kw_only=True)
    constraint: bool = dataclass_field(default=False, kw_only=True)

    def resolve_field(self, name: str, layout: Layout) -> str:
        if self.field is None:
            if len(layout.fields) > 1:
                raise EquationError(
                    f"condition '{name}': the problem has fields {', '.join(layout.fields)}; "
                    f"say which one with field=..."
                )
            return layout.fields[0]
        if self.field not in layout.fields:
            raise EquationError(
                f"condition '{name}': '{self.field}' is not a field (fields: {', '.join(layout.fields)})"
            )
        return self.field

    @abstractmethod
    def derivatives(self, name: str, layout: Layout) -> set[Derivative]:
        """The field derivatives the residual of this condition needs at its points."""

    @abstractmethod
    def sample(self, name: str, layout: Layout, n: int, sampler: Sampler,
               dtype: torch.dtype, device: torch.device) -> ConditionBatch:
        """Draw ``n`` points where the condition applies and evaluate its target there."""

    @abstractmethod
    def residual(self, name: str, layout: Layout, batch: ConditionBatch,
                 values: Mapping[Derivative, torch.Tensor],
                 partner_values: Mapping[Derivative, torch.Tensor] | None) -> torch.Tensor:
        """Pointwise residual, zero where the condition holds."""


def bind_value(value: Value, owner: str, layout: Layout) -> BoundFunction | float:
    if callable(value):
        return bind(value, owner, inputs=layout.inputs, constants=layout.constants,
                    parameters=layout.parameters.names)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EquationError(f"{owner} must be a number or a function of the inputs, got {value!r}") from None


def evaluate_value(value: Value, owner: str, layout: Layout, points: torch.Tensor) -> torch.Tensor:
    """A condition's value at ``points`` as shape (n,), checked for shape and finiteness."""
    bound = bind_value(value, owner, layout)
    n = points.shape[0]
    if isinstance(bound, float):
        result = torch.full((n,), bound, dtype=points.dtype, device=points.device)
    else:
        with torch.no_grad():
            result = as_column(bound(points), n, owner, points.dtype, points.device)
    bad = int((~torch.isfinite(result)).sum())
    if bad:
        raise EquationError(f"{owner} is not finite at {bad} of {n} points")
    return result


def sample_where(where: Where, name: str, layout: Layout, n: int, sampler: Sampler,
                 time_part: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boundary points (and normals) on a named part, or on the part of the boundary where a
    predicate holds. ``time_part`` ("initial") overrides ``where`` for initial conditions."""
    domain = layout.domain
    if time_part is not None:
        return domain.sample_boundary(n, sampler, part=time_part)
    if where is None or isinstance(where, str):
        if where is not None and where not in ("boundary",) and where not in domain.boundary_parts():
            raise EquationError(
                f"condition '{name}': '{where}' is not a boundary part of the domain "
                f"(parts: {', '.join(domain.boundary_parts())}), nor a predicate function"
            )
        try:
            return domain.sample_boundary(n, sampler, part=where)
        except ValueError as error:
            raise EquationError(f"condition '{name}': {error}") from None
    predicate = bind(where, f"condition '{name}': predicate 'on'", inputs=layout.inputs,
                     constants=layout.constants)
    kept_points, kept_normals, found = [], [], 0
    for _ in range(50):
        points, normals = domain.sample_boundary(max(4 * n, 256), sampler)
        with torch.no_grad():
            mask = torch.as_tensor(predicate(torch.as_tensor(points)), dtype=torch.bool)
        if mask.shape != (points.shape[0],):
            raise EquationError(
                f"condition '{name}': predicate 'on' returned shape {tuple(mask.shape)}; "
                f"expected one boolean per point ({points.shape[0]},)"
            )
        mask_np = mask.cpu().numpy()
        kept_points.append(points[mask_np])
        kept_normals.append(normals[mask_np])
        found += int(mask_np.sum())
        if found >= n:
            break
    if found == 0:
        raise EquationError(
            f"condition '{name}': the boundary selection 'on' matches no point of the domain's boundary"
        )
    return np.concatenate(kept_points)[:n], np.concatenate(kept_normals)[:n]


def to_tensor(array: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


@dataclass(frozen=True)
class _PointCondition(Condition):
    """Shared machinery of conditions that compare a combination of derivatives with a value."""

    value: Value = 0.0
    on: Where = None

    def _part(self) -> str | None:
        return None

    def _check_where(self, name: str, layout: Layout) -> None:
        pass

    def sample(self, name, layout, n, sampler, dtype, device):
        self._check_where(name, layout)
        points, normals = layout.parameters.draw(
            lambda s: sample_where(self.on, name, layout, n, s, time_part=self._part()), sampler)
        x = to_tensor(points, dtype, device)
        target = evaluate_value(self.value, f"condition '{name}': value", layout, x)
        return ConditionBatch(x, target, to_tensor(normals, dtype, device))


def normal_derivative(field: str, layout: Layout, batch: ConditionBatch,
                      values: Mapping[Derivative, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros_like(batch.target)
    for i in layout.space_indices:
        total = total + batch.normals[:, i] * values[Derivative(field, (i,))]
    return total


def normal_derivatives(field: str, layout: Layout) -> set[Derivative]:
    return {Derivative(field, (i,)) for i in layout.space_indices}


@dataclass(frozen=True)
class Dirichlet(_PointCondition):
    """u = value on the selected boundary."""

    def derivatives(self, name, layout):
        return {Derivative(self.resolve_field(name, layout), ())}

    def residual(self, name, layout, batch, values, partner_values):
        return values[Derivative(self.resolve_field(name, layout), ())] - batch.target


@dataclass(frozen=True)
class Neumann(_PointCondition):
    """du/dn = value on the selected boundary (n the outward unit normal, space only)."""

    def derivatives(self, name, layout):
        return normal_derivatives(self.resolve_field(name, layout), layout)

    def residual(self, name, layout, batch, values, partner_values):
        return normal_derivative(self.resolve_field(name, layout), layout, batch, values) - batch.target


@dataclass(frozen=True)
class Robin(_PointCondition):
    """alpha * u + beta * du/dn = value on the selected boundary."""

    alpha: float = dataclass_field(default=1.0, kw_only=True)
    beta: float = dataclass_field(default=1.0, kw_only=True)

    def derivatives(self, name, layout):
        f = self.resolve_field(name, layout)
        return normal_derivatives(f, layout) | {Derivative(f, ())}

    def residual(self, name, layout, batch, values, partner_values):
        f = self.resolve_field(name, layout)
        dn = normal_derivative(f, layout, batch, values)
        return self.alpha * values[Derivative(f, ())] + self.beta * dn - batch.target


class _InitialMixin:
    def _part(self) -> str | None:
        return "initial"

    def _check_where(self, name: str, layout: Layout) -> None:
        if layout.time_index is None:
            raise EquationError(
                f"condition '{name}': an initial condition needs a time-dependent domain "
                f"(space * TimeInterval(t0, t1))"
            )
        if self.on is not None:  # type: ignore[attr-defined]
            raise EquationError(f"condition '{name}': initial conditions apply at t0; do not pass on=")


@dataclass(frozen=True)
class Initial(_InitialMixin, _PointCondition):
    """u(x, t0) = value(x)."""

    def derivatives(self, name, layout):
        return {Derivative(self.resolve_field(name, layout), ())}

    def residual(self, name, layout, batch, values, partner_values):
        return values[Derivative(self.resolve_field(name, layout), ())] - batch.target


@dataclass(frozen=True)
class InitialRate(_InitialMixin, _PointCondition):
    """du/dt(x, t0) = value(x), for second-order-in-time equations such as the wave equation."""

    def derivatives(self, name, layout):
        self._check_where(name, layout)
        return {Derivative(self.resolve_field(name, layout), (layout.time_index,))}

    def residual(self, name, layout, batch, values, partner_values):
        d = Derivative(self.resolve_field(name, layout), (layout.time_index,))
        return values[d] - batch.target


@dataclass(frozen=True)
class Periodic(Condition):
    """u and its derivatives in ``input`` up to ``order`` agree on the two opposite faces.

    Applies to domains whose extent in ``input`` is an interval face (intervals, rectangles,
    boxes, and their products with time).
    """

    input: str = "x"
    order: int = 1

    def _input_index(self, name: str, layout: Layout) -> int:
        if self.input not in layout.inputs:
            raise EquationError(
                f"condition '{name}': periodic input '{self.input}' is not an input "
                f"(inputs: {', '.join(layout.inputs)})"
            )
        if self.order < 0:
            raise EquationError(f"condition '{name}': order must be >= 0, got {self.order}")
        return layout.inputs.index(self.input)

    def derivatives(self, name, layout):
        i = self._input_index(name, layout)
        f = self.resolve_field(name, layout)
        return {Derivative(f, (i,) * k) for k in range(self.order + 1)}

    def sample(self, name, layout, n, sampler, dtype, device):
        i = self._input_index(name, layout)
        part = f"{self.input}_min"
        if part not in layout.domain.boundary_parts():
            raise EquationError(
                f"condition '{name}': periodic in '{self.input}' needs a domain with faces "
                f"'{self.input}_min' and '{self.input}_max' (an interval, rectangle or box)"
            )
        points, _ = layout.parameters.draw(lambda s: layout.domain.sample_boundary(n, s, part=part), sampler)
        partners = points.copy()
        partners[:, i] = layout.domain.bounds()[1][i]
        x = to_tensor(points, dtype, device)
        return ConditionBatch(x, torch.zeros(len(x), dtype=dtype, device=device),
                              partners=to_tensor(partners, dtype, device))

    def residual(self, name, layout, batch, values, partner_values):
        parts = [values[d] - partner_values[d] for d in sorted(self.derivatives(name, layout))]
        return torch.cat(parts)
