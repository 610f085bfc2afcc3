"""Closed-loop simulation through the dynamics with torchdiffeq, differentiable end to end.

Each sampling interval holds the input u_k = pi(x_k) and integrates dx/dt = f(x, u_k) over
[0, dt] with ``torchdiffeq.odeint``: fixed-step RK4 (``rk4``, the 3/8 rule, ``substeps`` steps
per interval) or an adaptive method (``dopri5``, ``bosh3``, with ``rtol``/``atol``). The
closed-loop cost of a run of K = horizon steps is

    J(x_0) = sum_{k<K} stage_cost(x_k, u_k) + terminal_cost(x_K)

and a bounded state's margin at step k (k = 1..K) is min(x_k - lower, upper - x_k): negative
when the bound is violated. Bounds are held at the sampling instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torchdiffeq import odeint

from pinnlab.control.problem import ControlProblem
from pinnlab.problem.binding import BoundFunction, EquationError, as_column

__all__ = ["FIXED", "Integrator", "Trajectory", "closed_loop", "evaluate_cost", "evaluate_dynamics", "margins",
           "plant_step"]

FIXED = ("rk4",)
ADAPTIVE = ("dopri5", "bosh3", "dopri8")


@dataclass(frozen=True)
class Integrator:
    """How one sampling interval is integrated: ``rk4`` with ``substeps`` steps, or an adaptive
    torchdiffeq method with tolerances ``rtol`` and ``atol``."""

    method: str = "rk4"
    substeps: int = 1
    rtol: float = 1e-7
    atol: float = 1e-9

    def problems(self) -> list[str]:
        found = []
        if self.method not in FIXED + ADAPTIVE:
            found.append(f"method must be one of {', '.join(FIXED + ADAPTIVE)}, got '{self.method}'")
        if self.substeps < 1:
            found.append(f"substeps must be >= 1, got {self.substeps}")
        if not (self.rtol > 0 and self.atol > 0):
            found.append(f"rtol and atol must be > 0, got {self.rtol}, {self.atol}")
        return found


def evaluate_dynamics(dynamics: BoundFunction, states: tuple[str, ...], x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """dx/dt at states ``x`` (n, states) and inputs ``u`` (n, inputs), shape (n, states)."""
    result = dynamics(torch.cat([x, u], 1))
    if not isinstance(result, dict):
        raise EquationError(f"dynamics returned {type(result).__name__}; expected a dict {{state: dx/dt}}")
    unknown = [k for k in result if k not in states]
    missing = [s for s in states if s not in result]
    if unknown or missing:
        raise EquationError(f"dynamics must return dx/dt for exactly the states {', '.join(states)}"
                            + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                            + (f"; missing: {', '.join(missing)}" if missing else ""))
    n = x.shape[0]
    return torch.stack([as_column(result[s], n, f"dynamics['{s}']", x.dtype, x.device) for s in states], 1)


def evaluate_cost(cost: BoundFunction, owner: str, points: torch.Tensor) -> torch.Tensor:
    """A stage or terminal cost at ``points`` (n, names), shape (n,)."""
    return as_column(cost(points), points.shape[0], owner, points.dtype, points.device)


def plant_step(problem: ControlProblem, x: torch.Tensor, u: torch.Tensor, integrator: Integrator = Integrator(),
               dynamics: BoundFunction | None = None) -> torch.Tensor:
    """The state one sampling interval after ``x`` with the input ``u`` held."""
    dynamics = dynamics or problem.functions()[0]
    times = torch.tensor([0.0, problem.dt], dtype=x.dtype, device=x.device)

    def rate(t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return evaluate_dynamics(dynamics, problem.states, state, u)

    if integrator.method in FIXED:
        options = {"step_size": problem.dt / integrator.substeps}
        return odeint(rate, x, times, method=integrator.method, options=options)[-1]
    return odeint(rate, x, times, method=integrator.method, rtol=integrator.rtol, atol=integrator.atol)[-1]


@dataclass(frozen=True)
class Trajectory:
    """A batch of closed-loop runs: states (K+1, n, states), inputs (K, n, inputs), cost (n,)."""

    states: torch.Tensor
    inputs: torch.Tensor
    cost: torch.Tensor


def closed_loop(problem: ControlProblem, policy: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor,
                integrator: Integrator = Integrator(), steps: int | None = None) -> Trajectory:
    """Run ``policy`` (states (n, states) -> inputs (n, inputs)) from ``x0`` for ``steps``
    (default: the horizon) sampling intervals; differentiable with respect to the policy."""
    dynamics, stage, terminal = problem.functions()
    xs, us = [x0], []
    cost = torch.zeros(x0.shape[0], dtype=x0.dtype, device=x0.device)
    for _ in range(problem.horizon if steps is None else steps):
        x = xs[-1]
        u = policy(x)
        cost = cost + evaluate_cost(stage, "stage_cost", torch.cat([x, u], 1))
        us.append(u)
        xs.append(plant_step(problem, x, u, integrator, dynamics))
    if terminal is not None:
        cost = cost + evaluate_cost(terminal, "terminal_cost", xs[-1])
    return Trajectory(torch.stack(xs), torch.stack(us), cost)


def margins(problem: ControlProblem, states: torch.Tensor) -> torch.Tensor:
    """Each bounded state's margin to its bounds at steps 1..K, shape (K, n, bounded states):
    min(x - lower, upper - x), negative where a bound is violated."""
    index = problem.bounded_states
    lo = torch.tensor([problem.state_bounds[i][0] for i in index], dtype=states.dtype, device=states.device)
    hi = torch.tensor([problem.state_bounds[i][1] for i in index], dtype=states.dtype, device=states.device)
    x = states[1:, :, index]
    return torch.minimum(x - lo, hi - x)
