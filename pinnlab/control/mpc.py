"""The model predictive control baseline: CasADi with IPOPT, solved at every sampling instant.

At state x the controller solves, by multiple shooting over the module's horizon N,

    min  sum_{k<N} stage_cost(x_k, u_k) + terminal_cost(x_N)
    s.t. x_0 = x,  x_{k+1} = F(x_k, u_k),  input bounds on u_k,  state bounds on x_1..x_N

with F the same RK4 step (3/8 rule, ``substeps`` per interval) as the simulation in
:mod:`pinnlab.control.rollout`, applies u_0 and solves again at the next state. As practitioners
do, each solve is warm-started from the previous one shifted by one step (states, inputs and the
multipliers, with IPOPT's ``warm_start_init_point``). The problem is built once; a solve is one
call of the compiled ``nlpsol`` function.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from pinnlab.control.problem import ControlProblem, casadi_math
from pinnlab.control.rollout import Integrator, Trajectory, evaluate_cost, plant_step
from pinnlab.runtime.progress import progress

__all__ = ["MPC", "mpc_closed_loop"]


def _row(parts: list) -> object:
    import casadi

    return casadi.horzcat(*parts)


@dataclass
class MPC:
    """A receding-horizon controller for ``problem``; call :meth:`control` at each state."""

    problem: ControlProblem
    substeps: int = 1
    tolerance: float = 1e-8
    warm_start: bool = True
    solve_times: list[float] = field(default_factory=list)
    failures: int = 0

    def __post_init__(self) -> None:
        import casadi

        p, nx, nu, n = self.problem, len(self.problem.states), len(self.problem.inputs), self.problem.horizon
        dynamics, stage, terminal = p.functions(casadi_math())
        x, u = casadi.SX.sym("x", nx), casadi.SX.sym("u", nu)

        def rate(state: object) -> object:
            result = dynamics(_row([state[i] for i in range(nx)] + [u[j] for j in range(nu)]))
            return casadi.vertcat(*[result[s] for s in p.states])

        h, y = p.dt / self.substeps, x
        for _ in range(self.substeps):  # torchdiffeq's rk4 (3/8 rule)
            k1 = rate(y)
            k2 = rate(y + h * k1 / 3)
            k3 = rate(y + h * (k2 - k1 / 3))
            k4 = rate(y + h * (k1 - k2 + k3))
            y = y + (k1 + 3 * (k2 + k3) + k4) * h / 8
        step = casadi.Function("step", [x, u], [y])
        X, U, x_init = casadi.SX.sym("X", nx, n + 1), casadi.SX.sym("U", nu, n), casadi.SX.sym("x_init", nx)
        cost, gaps = 0, [X[:, 0] - x_init]
        for k in range(n):
            cost += stage(_row([X[i, k] for i in range(nx)] + [U[j, k] for j in range(nu)]))
            gaps.append(X[:, k + 1] - step(X[:, k], U[:, k]))
        if terminal is not None:
            cost += terminal(_row([X[i, n] for i in range(nx)]))
        w = casadi.vertcat(casadi.vec(X), casadi.vec(U))
        options = {"ipopt.print_level": 0, "print_time": False, "ipopt.sb": "yes", "ipopt.tol": self.tolerance}
        if self.warm_start:
            options.update({"ipopt.warm_start_init_point": "yes", "ipopt.warm_start_bound_push": 1e-9,
                            "ipopt.warm_start_mult_bound_push": 1e-9, "ipopt.mu_init": 1e-4})
        self.solver = casadi.nlpsol("mpc", "ipopt", {"x": w, "p": x_init, "f": cost, "g": casadi.vertcat(*gaps)},
                                    options)
        big = 1e20  # IPOPT's infinity
        state_lo = [lo if math.isfinite(lo) else -big for lo, _ in p.state_bounds]
        state_hi = [hi if math.isfinite(hi) else big for _, hi in p.state_bounds]
        self.lbw = np.concatenate([[-big] * nx, np.tile(state_lo, n), np.tile([b[0] for b in p.input_bounds], n)])
        self.ubw = np.concatenate([[big] * nx, np.tile(state_hi, n), np.tile([b[1] for b in p.input_bounds], n)])
        self.nx, self.nu, self.n = nx, nu, n
        self.reset()

    def reset(self) -> None:
        """Forget the previous solution (the next solve starts cold, from zero inputs)."""
        self.previous: dict[str, np.ndarray] | None = None

    def _shifted(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        nx, nu, n = self.nx, self.nu, self.n
        X = values[: nx * (n + 1)].reshape(n + 1, nx)
        U = values[nx * (n + 1):].reshape(n, nu)
        X = np.vstack([x[None], X[2:], X[-1:]])
        U = np.vstack([U[1:], U[-1:]])
        return np.concatenate([X.ravel(), U.ravel()])

    def solve(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The full plan at state ``x``: {'X': (N+1, states), 'U': (N, inputs)}."""
        x = np.asarray(x, dtype=float)
        args = {"p": x, "lbx": self.lbw, "ubx": self.ubw, "lbg": 0.0, "ubg": 0.0}
        if self.warm_start and self.previous is not None:
            args["x0"] = self._shifted(self.previous["x"], x)
            args["lam_x0"] = self._shifted(self.previous["lam_x"], np.zeros(self.nx))
            gaps = self.previous["lam_g"].reshape(self.n + 1, self.nx)
            args["lam_g0"] = np.vstack([gaps[1:], gaps[-1:]]).ravel()
        else:
            args["x0"] = np.concatenate([np.tile(x, self.n + 1), np.zeros(self.nu * self.n)])
        started = time.perf_counter()
        result = self.solver(**args)
        self.solve_times.append(time.perf_counter() - started)
        if not self.solver.stats()["success"]:
            self.failures += 1
        self.previous = {k: np.asarray(result[k]).ravel() for k in ("x", "lam_x", "lam_g")}
        w = self.previous["x"]
        return {"X": w[: self.nx * (self.n + 1)].reshape(self.n + 1, self.nx),
                "U": w[self.nx * (self.n + 1):].reshape(self.n, self.nu)}

    def control(self, x: np.ndarray) -> np.ndarray:
        """The first input of the plan at ``x``, clipped to the input bounds (IPOPT may step
        outside them by its tolerance)."""
        u = self.solve(x)["U"][0]
        lo, hi = np.array(self.problem.input_bounds).T
        return np.clip(u, lo, hi)


def mpc_closed_loop(mpc: MPC, x0: torch.Tensor, integrator: Integrator = Integrator(),
                    show_progress: bool = False) -> Trajectory:
    """Closed-loop runs of ``mpc`` from each row of ``x0`` (cold start at each), simulated by the
    same plant as the policy's (:func:`pinnlab.control.rollout.plant_step`)."""
    problem = mpc.problem
    _, stage, terminal = problem.functions()
    runs_x, runs_u = [], []
    with progress(len(x0) * problem.horizon, f"MPC {problem.name}", show_progress) as bar:
        for start in x0:
            mpc.reset()
            xs, us = [start[None]], []
            for _ in range(problem.horizon):
                u = torch.as_tensor(mpc.control(xs[-1][0].numpy()), dtype=x0.dtype)[None]
                us.append(u)
                xs.append(plant_step(problem, xs[-1], u, integrator))
                bar.update()
            runs_x.append(torch.cat(xs))
            runs_u.append(torch.cat(us))
    states, inputs = torch.stack(runs_x, 1), torch.stack(runs_u, 1)
    cost = sum(evaluate_cost(stage, "stage_cost", torch.cat([states[k], inputs[k]], 1)) for k in range(problem.horizon))
    if terminal is not None:
        cost = cost + evaluate_cost(terminal, "terminal_cost", states[-1])
    return Trajectory(states, inputs, cost)
