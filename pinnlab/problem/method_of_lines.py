"""pinnlab's coarse solver for labels (pinnlab/problem/labels.py): the method of lines for one field
of a 1-D time-dependent problem, u_t = F(u, u_x, u_xx, x, t, constants).

Space: ``grid[0]`` nodes; u_xx by second-order central differences; u_x by ``scheme``:
``"central"`` (second order, but it oscillates and can blow up where a front is thinner than the
grid), ``"upwind"`` (first order, one-sided against the local velocity v = -dF/du_x, taken by a
finite difference of F: stable, a front smeared over a few nodes) or ``"hybrid"`` (the default:
central where the cell Peclet number P = |v| h / D is below 2, D = dF/du_xx likewise, elsewhere
the share 2 / P central and the rest upwind, which stays continuous in u); periodic walls (a ``Periodic``
condition in x: nodes x_0 .. x_{n-1} without the repeated end, which the labels then carry as a
copy) or Dirichlet walls (``Dirichlet`` conditions covering both walls, their values taken at each
time). Time: ``scipy.integrate.solve_ivp`` with the spec's ``method`` and ``rtol``, the solution
kept at ``grid[1]`` equally spaced times from t0 to t1 (t0 included). F is the spec's ``rhs``, or
is read off the problem's single residual R, which must be affine in u_t (checked at the initial
state): F = -R(u_t=0) / (R(u_t=1) - R(u_t=0)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from pinnlab.derivatives.derivative import Derivative
from pinnlab.problem.binding import BoundFunction, EquationError, as_column, bind
from pinnlab.problem.conditions import Dirichlet, Initial, Periodic, evaluate_value

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem
    from pinnlab.problem.labels import MethodOfLines

METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
OWNER = "labels: MethodOfLines"


def space_derivatives(field: str) -> dict[Derivative, str]:
    return {Derivative(field, ()): field, Derivative(field, (0,)): f"{field}_x",
            Derivative(field, (0, 0)): f"{field}_xx"}


def check_method_of_lines(spec: MethodOfLines, problem: Problem) -> None:
    """Everything the solver needs, checked at load: one field, inputs (x, t), the walls, the
    initial value, and a right-hand side (given, or readable from the residual)."""
    if problem.layout.time_index is None or len(problem.inputs) != 2:
        raise EquationError(f"{OWNER} solves 1-D time-dependent problems (inputs x, t); "
                            f"'{problem.name}' has inputs {', '.join(problem.inputs)} (give FunctionLabels or "
                            "Observations instead)")
    if len(problem.fields) != 1:
        raise EquationError(f"{OWNER} solves for one field; '{problem.name}' has {', '.join(problem.fields)}")
    if problem.unknowns:
        raise EquationError(f"{OWNER} cannot solve a problem with unknowns ({', '.join(problem.unknowns)})")
    grid = spec.grid
    if (not isinstance(grid, (tuple, list)) or len(grid) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 3 for n in grid)):
        raise EquationError(f"{OWNER}: grid must be (nodes in x, times kept), two integers >= 3, got {grid!r}")
    if spec.scheme not in ("hybrid", "upwind", "central"):
        raise EquationError(f"{OWNER}: scheme must be hybrid, upwind or central, got {spec.scheme!r}")
    if spec.method not in METHODS:
        raise EquationError(f"{OWNER}: method must be one of {', '.join(METHODS)}, got {spec.method!r}")
    if not (isinstance(spec.rtol, (int, float)) and 0 < spec.rtol < 1):
        raise EquationError(f"{OWNER}: rtol must lie in (0, 1), got {spec.rtol!r}")
    walls(problem)
    initial(problem)
    right_hand_side(spec, problem)


def walls(problem: Problem) -> tuple[str, dict[str, Any]]:
    """``("periodic", {})`` or ``("dirichlet", {"x_min": value, "x_max": value})``."""
    field, x = problem.fields[0], problem.inputs[0]
    found: dict[str, Any] = {}
    for condition in problem.conditions.values():
        if isinstance(condition, Periodic) and condition.input == x:
            return "periodic", {}
        if isinstance(condition, Dirichlet) and condition.field in (None, field):
            sides = (f"{x}_min", f"{x}_max") if condition.on in (None, "boundary") else (condition.on,)
            for side in sides:
                if side in (f"{x}_min", f"{x}_max"):
                    found.setdefault(side, condition.value)
    if len(found) < 2:
        raise EquationError(f"{OWNER} needs periodic walls (Periodic('{x}')) or Dirichlet values on both walls "
                            f"({x}_min and {x}_max, or on the whole boundary); '{problem.name}' has neither")
    return "dirichlet", found


def initial(problem: Problem) -> Any:
    field = problem.fields[0]
    for condition in problem.conditions.values():
        if isinstance(condition, Initial) and condition.field in (None, field):
            return condition.value
    raise EquationError(f"{OWNER} needs an Initial condition of '{field}'; '{problem.name}' has none")


def right_hand_side(spec: MethodOfLines, problem: Problem) -> tuple[BoundFunction, bool]:
    """F bound to the problem's names, and whether it is the residual (F read off it)."""
    field = problem.fields[0]
    allowed = space_derivatives(field)
    if spec.rhs is not None:
        bound = bind(spec.rhs, "labels: rhs", inputs=problem.inputs, fields=problem.fields,
                     constants=problem.constants, parameters=problem.parameters.names)
        extra = sorted(name for name, d in bound.derivatives_used if d not in allowed)
        if extra:
            raise EquationError(f"labels: rhs takes {', '.join(extra)}; it may take {', '.join(allowed.values())}, "
                                "the inputs, constants and parameters")
        return bound, False
    if len(problem.residuals) != 1:
        raise EquationError(f"{OWNER}: '{problem.name}' has {len(problem.residuals)} residuals; give rhs=F "
                            f"(u_t = F(u, u_x, u_xx, ...))")
    residual = next(iter(problem.residuals.values()))
    rate = Derivative(field, (1,))
    extra = sorted(name for name, d in residual.derivatives_used if d not in allowed and d != rate)
    if extra or rate not in residual.derivatives:
        what = f"takes {', '.join(extra)}" if extra else f"does not take {field}_t"
        raise EquationError(f"{OWNER}: the residual {what}, so it is not u_t - F(u, u_x, u_xx); give rhs=F")
    return residual, True


def solve_method_of_lines(spec: MethodOfLines, instance: Problem,
                          values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """One instance (its parameters already constants): label points (N, 2) and values (N,)."""
    from scipy.integrate import solve_ivp

    field, layout = instance.fields[0], instance.layout
    kind, sides = walls(instance)
    if spec.rhs is not None:
        function = bind(spec.rhs, "labels: rhs", inputs=instance.inputs, fields=instance.fields,
                        constants=instance.constants)
        from_residual = False
    else:
        function, from_residual = right_hand_side(spec, instance)
    (a, t0), (b, t1) = instance.domain.bounds()
    nx, nt = spec.grid
    periodic = kind == "periodic"
    x = a + (b - a) * np.arange(nx) / nx if periodic else np.linspace(a, b, nx)
    h = x[1] - x[0]
    inner = x if periodic else x[1:-1]
    at = f" at {', '.join(f'{k}={v:g}' for k, v in values.items())}" if values else ""

    wall_names = (f"{instance.inputs[0]}_min", f"{instance.inputs[0]}_max")
    constant_walls: tuple[float, float] | None = None  # Dirichlet numbers: evaluated (and checked) once

    def wall_values(t: float) -> tuple[float, float]:
        if constant_walls is not None:
            return constant_walls
        points = torch.tensor([[a, t], [b, t]], dtype=torch.float64)
        return tuple(float(evaluate_value(sides[s], f"labels: wall {s}", layout, points[k:k + 1])[0])
                     for k, s in enumerate(wall_names))

    if not periodic and all(isinstance(sides[s], (int, float)) for s in wall_names):
        constant_walls = wall_values(t0)

    nodes = torch.as_tensor(inner, dtype=torch.float64)
    repeated: dict[int, torch.Tensor] = {}  # the nodes stacked k times, by k

    def stencils(y: np.ndarray, walls_now: tuple[float, float] | None) -> list[torch.Tensor]:
        """u, central u_x and u_xx at the nodes; ``walls_now``: the Dirichlet values (None: periodic)."""
        if walls_now is None:
            right, left = np.roll(y, -1), np.roll(y, 1)
            parts = y, (right - left) / (2 * h), (right - 2 * y + left) / h**2
        else:
            full = np.concatenate([[walls_now[0]], y, [walls_now[1]]])
            parts = y, (full[2:] - full[:-2]) / (2 * h), (full[2:] - 2 * y + full[:-2]) / h**2
        return [torch.as_tensor(v, dtype=torch.float64) for v in parts]

    def evaluate_at(stencil: list[torch.Tensor], t: float, rates: torch.Tensor) -> torch.Tensor:
        """The user's function at stacked copies of the nodes, one value of u_t per row."""
        u, u_x, u_xx = stencil
        copies = len(u) // len(nodes)
        if copies not in repeated:
            repeated[copies] = nodes.repeat(copies)
        points = torch.stack([repeated[copies], torch.full_like(u, t)], dim=1)
        derivatives = {Derivative(field, ()): u, Derivative(field, (0,)): u_x, Derivative(field, (0, 0)): u_xx,
                       Derivative(field, (1,)): rates}
        with torch.no_grad():
            return as_column(function(points, derivatives), len(u), "labels: rhs", torch.float64, torch.device("cpu"))

    def evaluate(y: np.ndarray, t: float, rate: float) -> torch.Tensor:
        stencil = stencils(y, None if periodic else wall_values(t))
        return evaluate_at(stencil, t, torch.full_like(stencil[0], rate))

    def f(variants: list[list[torch.Tensor]], t: float) -> list[torch.Tensor]:
        """F at each variant of the stencil, all in one call of the user's function (calls, not
        arithmetic, are what an evaluation costs at these sizes)."""
        stacked = [torch.cat(parts) for parts in zip(*variants)]
        rows = len(stacked[0])
        if not from_residual:
            return list(evaluate_at(stacked, t, torch.zeros(rows, dtype=torch.float64)).split(len(nodes)))
        rates = torch.cat([torch.zeros(rows, dtype=torch.float64), torch.ones(rows, dtype=torch.float64)])
        r = evaluate_at([torch.cat([v, v]) for v in stacked], t, rates)
        r0, r1 = r[:rows], r[rows:]
        return list((-r0 / (r1 - r0)).split(len(nodes)))

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        walls_now = None if periodic else wall_values(t)
        u, u_x, u_xx = stencils(y, walls_now)
        if spec.scheme != "central":  # u_x one-sided against the local velocity v = -dF/du_x
            variants = [[u, u_x, u_xx], [u, u_x + 1e-6, u_xx]]
            if spec.scheme == "hybrid":
                variants.append([u, u_x, u_xx + 1e-6])
            values = f(variants, t)
            base = values[0]
            velocity = -(values[1] - base) / 1e-6
            full = torch.as_tensor(np.concatenate([[y[-1]], y, [y[0]]]) if periodic else
                                   np.concatenate([[walls_now[0]], y, [walls_now[1]]]))
            backward, forward = (full[1:-1] - full[:-2]) / h, (full[2:] - full[1:-1]) / h
            upwind = torch.where(velocity > 0, backward, forward)
            if spec.scheme == "hybrid":  # central where the cell Peclet number |v| h / D is below 2
                diffusion = (values[2] - base) / 1e-6
                share = torch.clamp(2 * diffusion / (velocity.abs() * h + 1e-300), 0.0, 1.0)
                upwind = share * u_x + (1 - share) * upwind
            u_x = upwind
        return f([[u, u_x, u_xx]], t)[0].numpy()

    start = torch.as_tensor(np.stack([inner, np.full_like(inner, t0)], axis=1))
    y0 = evaluate_value(initial(instance), "labels: initial value", layout, start).numpy().astype(np.float64)
    if from_residual:
        r0, r1, r2 = (evaluate(y0, t0, rate).numpy() for rate in (0.0, 1.0, 2.0))
        slope = r1 - r0
        if np.any(np.abs(slope) < 1e-12) or not np.allclose(r2 - r0, 2 * slope, rtol=1e-8, atol=1e-10):
            raise EquationError(f"{OWNER}: the residual is not affine in {field}_t with a nonzero coefficient{at}; "
                                "give rhs=F")
    times = np.linspace(t0, t1, nt)
    solution = solve_ivp(rhs, (t0, t1), y0, method=spec.method, t_eval=times, rtol=spec.rtol,
                         atol=spec.rtol * 1e-3 * max(float(np.abs(y0).max()), 1.0))
    if not solution.success or not np.all(np.isfinite(solution.y)):
        raise EquationError(f"{OWNER}: solve_ivp ({spec.method}) failed{at}: {solution.message}")
    u = solution.y  # (nodes, times)
    if periodic:
        x, u = np.append(x, b), np.vstack([u, u[:1]])
    else:
        ends = np.array([wall_values(t) for t in times]).T
        u = np.vstack([ends[:1], u, ends[1:]])
    mesh_x, mesh_t = np.meshgrid(x, times, indexing="ij")
    return np.stack([mesh_x.ravel(), mesh_t.ravel()], axis=1), u.ravel()
