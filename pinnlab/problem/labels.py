"""Cheap labels: inexact solutions a network is first fitted to (the ``pretrain`` phase).

An equation module declares ``labels = ...``, one of:

- ``Observations(...)`` (pinnlab/problem/observations.py): the user's own data, read and checked
  like ``data``;
- ``FunctionLabels(fn, grid=(64, 51), instances=4)``: the user's own approximate solution, a
  function of the inputs (and constants, and parameters) sampled on a grid;
- ``MethodOfLines(rhs=None, grid=(64, 51), instances=4)``: pinnlab's coarse solver for one field
  of a 1-D time-dependent problem, u_t = F(u, u_x, u_xx, x, t, ...), on ``grid[0]`` nodes with
  second-order central differences, integrated by ``scipy.integrate.solve_ivp`` and kept at
  ``grid[1]`` times. ``rhs`` is F, taking names as a residual does; without it F is read off the
  residual, which must be affine in u_t: F = -R(u_t=0) / (R(u_t=1) - R(u_t=0)). The initial value
  comes from the problem's ``Initial`` condition, the walls from its ``Periodic`` condition in x or
  its ``Dirichlet`` condition(s) on both walls.

Labels ARE observations: :func:`attach_labels` turns them into one data set named ``labels``
(an :class:`ObservationSet`, one loss term), which the ``pretrain`` phase fits alone before the
physics phases. For a family, ``instances`` parameter values are labelled (a count spread over the
box, endpoints included, or a dict of value lists). The labels' own relative L2 error against the
module's closed-form reference is measured per instance (:class:`LabelReport`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from pinnlab.problem.binding import EquationError, bind
from pinnlab.problem.observations import ObservationSet, Observations, load_observations
from pinnlab.problem.parameters import ParameterBox
from pinnlab.problem.reference import Exact

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem

LABELS = "labels"
"""The name of the labels' data set and loss term."""


@dataclass(frozen=True)
class FunctionLabels:
    """The user's approximate solution ``function`` (parameters named as in a reference) sampled
    on ``grid`` points per input (the domain's bounding box, points outside the domain dropped)
    for ``instances`` parameter values; ``points`` keeps a random subset of the rows."""

    function: Callable[..., Any]
    grid: tuple[int, ...] = (64, 51)
    instances: int | Mapping[str, Sequence[float]] = 4
    points: int | None = None
    weight: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class MethodOfLines:
    """pinnlab's coarse solver (pinnlab/problem/method_of_lines.py): ``grid = (nodes in x, times
    kept)``, ``scheme`` of u_x (hybrid, upwind or central), ``method`` and ``rtol`` of ``solve_ivp``, ``instances`` and ``points`` as in FunctionLabels."""

    rhs: Callable[..., Any] | None = None
    grid: tuple[int, int] = (64, 51)
    instances: int | Mapping[str, Sequence[float]] = 4
    scheme: str = "hybrid"
    method: str = "RK45"
    rtol: float = 1e-5
    points: int | None = None
    weight: float = 1.0
    seed: int = 0


LabelSpec = FunctionLabels | MethodOfLines | ObservationSet


@dataclass(frozen=True)
class LabelReport:
    """What the labels are and how good: per instance the values and the relative L2 error
    against the reference (None without a closed-form reference)."""

    source: str
    instances: tuple[dict[str, float], ...]
    rel_l2: tuple[float | None, ...]
    rows: int
    seconds: float

    @property
    def mean(self) -> float | None:
        known = [e for e in self.rel_l2 if e is not None]
        return float(np.mean(known)) if known else None

    @property
    def max(self) -> float | None:
        known = [e for e in self.rel_l2 if e is not None]
        return float(np.max(known)) if known else None

    def metrics(self) -> dict[str, Any]:
        """metrics.json's ``labels`` entry."""
        return {"source": self.source, "rows": self.rows, "seconds": round(self.seconds, 3),
                "instances": [{"values": v, "rel_l2": e} for v, e in zip(self.instances, self.rel_l2)],
                "rel_l2_mean": self.mean, "rel_l2_max": self.max}

    def line(self, name: str) -> str:
        error = (f"relative L2 against the reference mean {self.mean:.2e}, max {self.max:.2e}"
                 if self.mean is not None else "no closed-form reference to measure them against")
        return (f"{name}: labels: {self.source}, {len(self.instances)} instance(s), {self.rows} rows, "
                f"{self.seconds:.2f} s; {error}")


def label_instances(given: int | Mapping[str, Sequence[float]], box: ParameterBox, owner: str) -> tuple[dict[str, float], ...]:
    """The parameter values labelled: ``n`` spread over the box (one parameter: n equal steps from
    lower to upper; several: a fixed Sobol set), or the lists given, checked against the box."""
    if not box:
        if isinstance(given, Mapping) and given:  # a count means one instance: the problem itself
            raise EquationError(f"{owner}: instances={dict(given)!r}, but the problem declares no parameters")
        return ({},)
    if isinstance(given, Mapping):
        lengths = {len(list(v)) for v in given.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise EquationError(f"{owner}: instances must map each parameter to a list of values, all of one length")
        count = lengths.pop()
        return tuple(box.instance_values({k: list(v)[i] for k, v in given.items()}, f"{owner}: instances")
                     for i in range(count))
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise EquationError(f"{owner}: instances must be a count >= 1 or a dict of value lists, got {given!r}")
    if len(box) == 1:
        unit = (np.array([0.5]) if given == 1 else np.linspace(0, 1, given))[:, None]
    else:
        from scipy.stats import qmc

        unit = qmc.Sobol(d=len(box), scramble=True, seed=7).random(given)
    return tuple({name: float(v) for name, v in zip(box.names, row)} for row in box.scale(unit))


def check_grid(grid: Any, dim: int, owner: str) -> tuple[int, ...]:
    if (not isinstance(grid, (tuple, list)) or len(grid) != dim
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 3 for n in grid)):
        raise EquationError(f"{owner}: grid must be {dim} integers >= 3 (points per input), got {grid!r}")
    return tuple(grid)


def check_labels(given: Any, problem: Problem) -> LabelSpec | None:
    """The module's ``labels``, checked at load (a solver's labels are computed when training
    needs them, by :func:`attach_labels`); ``Observations`` are read now, like ``data``."""
    if given is None:
        return None
    owner = "labels"
    if isinstance(given, Observations):
        return load_observations(LABELS, given, problem.domain, problem.inputs, problem.fields,
                                 problem.base_dir, problem.parameters)
    if not isinstance(given, (FunctionLabels, MethodOfLines)):
        raise EquationError(f"{owner} must be Observations(...), FunctionLabels(fn, ...) or MethodOfLines(...), "
                            f"got {type(given).__name__}")
    label_instances(given.instances, problem.parameters, owner)
    if given.points is not None and (not isinstance(given.points, int) or given.points < 1):
        raise EquationError(f"{owner}: points must be a count >= 1 or None, got {given.points!r}")
    if not (isinstance(given.weight, (int, float)) and given.weight >= 0):
        raise EquationError(f"{owner}: weight must be a number >= 0, got {given.weight!r}")
    if isinstance(given, FunctionLabels):
        check_grid(given.grid, len(problem.inputs), owner)
        bind(given.function, f"{owner}: function", inputs=problem.inputs, constants=problem.constants,
             parameters=problem.parameters.names)
        return given
    from pinnlab.problem.method_of_lines import check_method_of_lines

    check_method_of_lines(given, problem)
    return given


def attach_labels(problem: Problem) -> tuple[Problem, LabelReport | None]:
    """``problem`` with its labels as the data set ``labels`` (computed now for a solver), and
    their report; unchanged, with None, for a problem without labels."""
    if problem.labels is None:
        return problem, None
    try:
        return make_labels(problem)
    except EquationError as error:
        raise EquationError(f"{problem.origin}: {error}") from None


def make_labels(problem: Problem) -> tuple[Problem, LabelReport]:
    spec = problem.labels
    started = time.perf_counter()
    if isinstance(spec, ObservationSet):
        observed, instances, blocks = spec, *observed_instances(spec, problem)
        source = f"observations from {spec.origin}"
    else:
        instances = label_instances(spec.instances, problem.parameters, "labels")
        blocks = [label_block(spec, problem, values) for values in instances]
        rows = np.concatenate([points for points, _ in blocks])
        values = np.concatenate([v for _, v in blocks])
        arrays = {**{n: rows[:, i] for i, n in enumerate(problem.point_names)}, problem.fields[0]: values}
        observed = load_observations(
            LABELS, Observations(arrays, inputs=list(problem.point_names), fields=[problem.fields[0]],
                                 points=min(spec.points, len(rows)) if spec.points else None,
                                 seed=spec.seed, weight=spec.weight),
            problem.domain, problem.inputs, problem.fields, problem.base_dir, problem.parameters)
        source = describe(spec)
    errors = tuple(reference_error(problem, values, points, found) for values, (points, found) in zip(instances, blocks))
    report = LabelReport(source, tuple(instances), errors, len(observed.points), time.perf_counter() - started)
    return dataclasses.replace(problem, data={**problem.data, LABELS: observed}), report


def describe(spec: FunctionLabels | MethodOfLines) -> str:
    grid = "x".join(str(n) for n in spec.grid)
    if isinstance(spec, FunctionLabels):
        return f"function {getattr(spec.function, '__name__', 'labels')} on a {grid} grid"
    return f"method of lines on {grid} ({spec.scheme}, {spec.method})"


def label_block(spec: FunctionLabels | MethodOfLines, problem: Problem,
                values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """One instance's label points (N, inputs + parameters) and values (N,)."""
    instance = problem.instance(values) if problem.parameters else problem
    if isinstance(spec, MethodOfLines):
        from pinnlab.problem.method_of_lines import solve_method_of_lines

        points, found = solve_method_of_lines(spec, instance, values)
    else:
        lower, upper = problem.domain.bounds()
        axes = [np.linspace(lo, hi, n) for lo, hi, n in zip(lower, upper, spec.grid)]
        points = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
        points = points[problem.domain.contains(points)]
        bound = bind(spec.function, "labels: function", inputs=instance.inputs, constants=instance.constants)
        with torch.no_grad():
            result = bound(torch.as_tensor(points, dtype=torch.float64))
        found = np.asarray(torch.as_tensor(result, dtype=torch.float64).reshape(-1).numpy())
        if found.shape != (len(points),):
            raise EquationError(f"labels: function returned {found.size} values for {len(points)} points")
    columns = problem.parameters.columns(values, len(points)) if problem.parameters else np.empty((len(points), 0))
    return np.column_stack([points, columns]), found


def observed_instances(spec: ObservationSet, problem: Problem) -> tuple[list[dict[str, float]], list]:
    """Observed labels grouped by their parameter values (one group without parameters); only the
    first field column is judged."""
    d, names = len(problem.inputs), problem.parameters.names
    if not names:
        return [{}], [(spec.points, spec.values[:, 0])]
    unique, inverse = np.unique(spec.points[:, d:], axis=0, return_inverse=True)
    groups = [{n: float(v) for n, v in zip(names, row)} for row in unique]
    return groups, [(spec.points[inverse.ravel() == k], spec.values[inverse.ravel() == k, 0]) for k in range(len(unique))]


def reference_error(problem: Problem, values: Mapping[str, float], points: np.ndarray,
                    found: np.ndarray) -> float | None:
    """Relative L2 of labels ``found`` at ``points`` against a closed-form reference (else None)."""
    if not isinstance(problem.reference, Exact) or len(points) == 0:
        return None
    instance = problem.instance(values) if problem.parameters else problem
    exact = problem.reference.at_points(instance.layout, points[:, :len(problem.inputs)])[problem.fields[0]]
    return float(np.linalg.norm(found - exact) / max(np.linalg.norm(exact), 1e-300))

