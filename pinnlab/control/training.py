"""Differentiable predictive control: a policy trained with no labels on the closed-loop cost.

The decision variables are the policy's parameters; the objective is the mean closed-loop cost
J(x_0) over ``samples`` initial states drawn once (seeded) from the module's initial-state box,
through the dynamics (:mod:`pinnlab.control.rollout`); the state bounds, tightened by
``backoff``, are constraints held by the augmented Lagrangian (:mod:`pinnlab.control.lagrangian`):
``steps`` iterations in outer iterations of ``inner`` each, of L-BFGS (``optimizer=lbfgs``, strong
Wolfe line search, restarted at each outer iteration since the objective changed) or Adam
(``optimizer=adam``, the learning rate decaying geometrically from ``lr`` to ``lr * lr_final``). The input bounds hold by construction
(:mod:`pinnlab.control.policy`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from pinnlab.control.lagrangian import Penalty, lagrangian_term, update
from pinnlab.control.policy import Policy
from pinnlab.control.problem import ControlProblem
from pinnlab.control.rollout import Integrator, closed_loop, margins
from pinnlab.problem.binding import EquationError
from pinnlab.runtime.progress import progress

__all__ = ["ControlSettings", "TrainedPolicy", "resolve_settings", "train_policy"]


@dataclass(frozen=True)
class ControlSettings:
    """Every setting of ``pinnlab control`` (``--set NAME=VALUE`` takes these names)."""

    width: int = 32
    depth: int = 2
    samples: int = 512
    steps: int = 800
    inner: int = 100
    optimizer: str = "lbfgs"
    lr: float = 1e-2
    lr_final: float = 0.02
    mu: float = 10.0
    mu_factor: float = 4.0
    mu_max: float = 1e6
    progress: float = 0.25
    backoff: float = 0.0
    method: str = "rk4"
    substeps: int = 1
    rtol: float = 1e-7
    atol: float = 1e-9
    seed: int = 0
    evaluate: int = 64

    @property
    def integrator(self) -> Integrator:
        return Integrator(self.method, self.substeps, self.rtol, self.atol)

    @property
    def penalty(self) -> Penalty:
        return Penalty(self.mu, self.mu_factor, self.mu_max, self.progress)

    def problems(self) -> list[str]:
        found = [f"{name} must be >= 1, got {getattr(self, name)}"
                 for name in ("width", "depth", "samples", "inner", "evaluate") if getattr(self, name) < 1]
        if self.steps < 0:
            found.append(f"steps must be >= 0, got {self.steps}")
        if not (self.lr > 0 and 0 < self.lr_final <= 1):
            found.append(f"lr must be > 0 and lr_final in (0, 1], got {self.lr}, {self.lr_final}")
        if self.optimizer not in ("lbfgs", "adam"):
            found.append(f"optimizer must be lbfgs or adam, got '{self.optimizer}'")
        if not self.backoff >= 0:
            found.append(f"backoff must be >= 0, got {self.backoff}")
        return found + self.integrator.problems() + self.penalty.problems()


def _convert(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            return kind(text)
        except ValueError:
            raise EquationError(f"setting '{name}' expects {kind.__name__}, got '{value}'") from None
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EquationError(f"setting '{name}' expects {kind.__name__}, got {value!r}")
    return value


def resolve_settings(defaults: Mapping[str, Any] = (), overrides: Mapping[str, Any] = ()) -> ControlSettings:
    """pinnlab's defaults, then the module's ``defaults``, then ``overrides`` (e.g. from ``--set``);
    an unknown name or a value out of range fails with one line."""
    kinds = {f.name: type(f.default) for f in dataclasses.fields(ControlSettings)}
    values: dict[str, Any] = {}
    for origin, given in (("defaults", dict(defaults)), ("--set", dict(overrides))):
        for name, value in given.items():
            if name not in kinds:
                raise EquationError(f"{origin}: unknown setting '{name}' (settings: {', '.join(kinds)})")
            values[name] = _convert(name, value, kinds[name])
    settings = ControlSettings(**values)
    found = settings.problems()
    if found:
        raise EquationError("settings: " + "; ".join(found))
    return settings


@dataclass
class TrainedPolicy:
    """The trained policy and what training recorded, one entry per outer iteration."""

    policy: Policy
    settings: ControlSettings
    history: dict[str, list[float]] = field(default_factory=dict)
    wall_time_s: float = 0.0


def constraint_values(problem: ControlProblem, states: torch.Tensor, backoff: float) -> torch.Tensor:
    """c = backoff - margin at every step, initial state and bounded state (<= 0: satisfied)."""
    return backoff - margins(problem, states)


def train_policy(problem: ControlProblem, settings: ControlSettings = ControlSettings(),
                 show_progress: bool = False) -> TrainedPolicy:
    """Train a policy for ``problem`` (see the module docstring)."""
    started = time.perf_counter()
    policy = Policy(problem, settings.width, settings.depth, seed=settings.seed)
    x0 = problem.sample_initial(settings.samples, torch.Generator().manual_seed(settings.seed))
    adam = torch.optim.Adam(policy.parameters(), lr=settings.lr)
    decay = settings.lr_final ** (1.0 / max(settings.steps, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(adam, decay)
    shape = (problem.horizon, settings.samples, len(problem.bounded_states))
    multipliers, mu, previous = torch.zeros(shape, dtype=torch.float64), settings.mu, None
    history: dict[str, list[float]] = {"step": [], "iterations": [], "cost": [], "max_violation": [], "mu": [],
                                       "multiplier_norm": []}
    done, outer = 0, math.ceil(settings.steps / settings.inner)

    def objective() -> torch.Tensor:
        run = closed_loop(problem, policy, x0, settings.integrator)
        c = constraint_values(problem, run.states, settings.backoff)
        loss = run.cost.mean() + lagrangian_term(c, multipliers, mu, settings.samples)
        if not torch.isfinite(loss):
            raise ValueError(f"control {problem.name}: the closed-loop cost is not finite at iteration {done} "
                             "(lower lr, or check the dynamics)")
        return loss

    with progress(settings.steps, f"control {problem.name}", show_progress) as bar:
        for _ in range(outer):
            planned = min(settings.inner, settings.steps - done)
            if settings.optimizer == "lbfgs":
                lbfgs = torch.optim.LBFGS(policy.parameters(), max_iter=planned, history_size=50,
                                          line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)

                def closure() -> torch.Tensor:
                    lbfgs.zero_grad(set_to_none=True)
                    loss = objective()
                    loss.backward()
                    return loss

                lbfgs.step(closure)
                ran = lbfgs.state[lbfgs.param_groups[0]["params"][0]].get("n_iter", planned)
            else:
                for _ in range(planned):
                    adam.zero_grad(set_to_none=True)
                    objective().backward()
                    adam.step()
                    scheduler.step()
                ran = planned
            done += planned
            bar.update(planned)
            history["iterations"].append(ran)
            with torch.no_grad():
                run = closed_loop(problem, policy, x0, settings.integrator)
                c = constraint_values(problem, run.states, settings.backoff)
            multipliers, mu, violation = update(c, multipliers, mu, previous, settings.penalty)
            previous = violation
            for key, value in (("step", done), ("cost", float(run.cost.mean())), ("max_violation", violation),
                               ("mu", mu), ("multiplier_norm", float(multipliers.norm()))):
                history[key].append(value)
            bar.set_postfix({"cost": f"{history['cost'][-1]:.4g}", "violation": f"{violation:.1e}"})
    return TrainedPolicy(policy, settings, history, time.perf_counter() - started)
