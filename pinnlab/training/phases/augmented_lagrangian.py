"""Training as constrained optimization: an augmented Lagrangian phase.

The condition terms named as constraints (``augmented_lagrangian.constraints``, or the conditions
marked ``constraint=True``, or else every trained condition) are held as equations c(theta) = 0
rather than penalties; the other terms, weighted as usual, make the objective f. Each outer
iteration minimises

    L(theta) = f(theta) + sum over constraint terms of (1/n) sum_i (lambda_i c_i + mu/2 c_i^2)

for ``inner`` iterations of L-BFGS, Adam or Levenberg-Marquardt (L is a sum of squares up to a
constant). When the largest violation max_i |c_i| fell below ``progress`` times its value
after the outer iteration before, the multipliers are updated, lambda += mu c; else mu is
multiplied by ``mu_factor`` (at most ``mu_max``) and the multipliers are kept (with
``multiplier_update=always`` they are updated then too). Keeping them matters once the inner optimizer
solves its subproblem only roughly: mu c is then mostly the inner run's error, and adding it
at a large mu sends the multipliers away from the optimal ones. With
``multipliers=point`` c_i is the condition's residual at point i (one multiplier per point and
component); with ``multipliers=term`` c is the term's mean square (one multiplier per term, which
then acts as a weight that grows while the condition is violated).

The points stay as they are during the phase: it raises no event that moves them (resampling,
refinement and time windows happen in the phases before), as per-point multipliers belong to
their points. Each outer iteration's largest violation, multipliers' norm and mu go into the
run's result (``TrainingResult.constraints``, metrics.json's ``constraints``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import torch

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.training.context import check_finite
from pinnlab.training.gauss_newton import LevenbergMarquardt
from pinnlab.training.losses import condition_residual
from pinnlab.training.phases.held_conditions import check_fixed_loss_phase, held_condition_names
from pinnlab.training.phases.lbfgs import LBFGSSettings, lbfgs_chunk, make_lbfgs
from pinnlab.training.residual_vector import residual_jacobian, residual_vector

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem
    from pinnlab.solver.settings import Settings
    from pinnlab.training.context import Context

NAME = "augmented_lagrangian"
OPTIMIZERS = ("lbfgs", "adam", "lm")
MULTIPLIERS = ("point", "term")
UPDATES = ("progress", "always")


@dataclass(frozen=True)
class AugmentedLagrangianSettings:
    """``augmented_lagrangian.*``: inner iterations in all (``steps``) and per outer iteration
    (``inner``), the inner optimizer and Adam's learning rate, the constraint terms (comma
    separated; empty: those marked ``constraint=True``, else every trained condition), one
    multiplier per point or per term, the penalty mu (start, growth factor, cap), the fraction
    the largest violation must fall to in one outer iteration for mu to stay, the violation
    at which the phase stops (0: run the whole budget), and when the multipliers are updated
    (``progress``: only after an outer iteration that made that progress; ``always``)."""

    steps: int = 1000
    inner: int = 100
    optimizer: str = "lbfgs"
    lr: float = 1e-3
    constraints: str = ""
    multipliers: str = "point"
    mu: float = 100.0
    mu_factor: float = 10.0
    mu_max: float = 1e8
    progress: float = 0.25
    tolerance: float = 0.0
    multiplier_update: str = "progress"
    name = NAME

    def problems(self) -> list[str]:
        found = []
        if self.steps < 0:
            found.append(f"{NAME}.steps must be >= 0, got {self.steps}")
        if self.inner < 1:
            found.append(f"{NAME}.inner must be >= 1, got {self.inner}")
        if self.optimizer not in OPTIMIZERS:
            found.append(f"{NAME}.optimizer must be one of {', '.join(OPTIMIZERS)}, got '{self.optimizer}'")
        if self.multipliers not in MULTIPLIERS:
            found.append(f"{NAME}.multipliers must be one of {', '.join(MULTIPLIERS)}, got '{self.multipliers}'")
        for field in ("lr", "mu", "mu_max"):
            if not getattr(self, field) > 0:
                found.append(f"{NAME}.{field} must be > 0, got {getattr(self, field)}")
        if not self.mu_factor >= 1:
            found.append(f"{NAME}.mu_factor must be >= 1, got {self.mu_factor}")
        if not 0 < self.progress <= 1:
            found.append(f"{NAME}.progress must be in (0, 1], got {self.progress}")
        if self.optimizer == "lm" and self.multipliers != "point":
            found.append(f"{NAME}.optimizer=lm needs {NAME}.multipliers=point (a sum of squares), "
                         f"got '{self.multipliers}'")
        if self.multiplier_update not in UPDATES:
            found.append(f"{NAME}.multiplier_update must be one of {', '.join(UPDATES)}, got '{self.multiplier_update}'")
        if not self.tolerance >= 0:
            found.append(f"{NAME}.tolerance must be >= 0, got {self.tolerance}")
        return found

    @property
    def outer(self) -> int:
        """Outer iterations: ``steps`` in runs of ``inner`` (the last one may be shorter)."""
        return math.ceil(self.steps / self.inner)


def constraint_names(problem: Problem, settings: AugmentedLagrangianSettings) -> list[str]:
    """The condition terms held as constraints (pinnlab/training/phases/held_conditions.py)."""
    return held_condition_names(problem, NAME, settings.constraints)


def check_constraints(problem: Problem, settings: Settings) -> None:
    """Refuse, before any training, what the phase cannot honour: unknown constraint terms,
    torchrun, and a loss that changes under it (time windows, causal weights)."""
    phase = settings.phase(NAME)
    if phase is None or not phase.steps:
        return
    constraint_names(problem, phase)
    check_fixed_loss_phase(settings, NAME)


@final
class AugmentedLagrangian:
    """The outer loop of multiplier and penalty updates around an inner optimizer; see the
    module's docstring. A fresh L-BFGS starts every outer iteration (the objective has changed);
    Adam keeps its moments and Levenberg-Marquardt its damping throughout."""

    name = NAME
    restarts_refinement_clock = False

    def __init__(self, settings: AugmentedLagrangianSettings, model: torch.nn.Module, log_every: int,
                 float64: bool) -> None:
        self.settings, self.model, self.log_every, self.float64 = settings, model, log_every, float64
        self.names: list[str] = []
        self.multipliers: dict[str, torch.Tensor] | None = None  # None: the phase has not started
        self.mu = settings.mu
        self.optimizer: torch.optim.Optimizer | LevenbergMarquardt | None = None
        self.done = self.outer = self.inner_done = 0
        self.lr_scale = 1.0
        self.history: dict[str, list[float]] = {"step": [], "max_violation": [], "multiplier_norm": [],
                                                "mu": []}
        self.stop, self.reopened = "not run", False

    @property
    def steps(self) -> int:
        return self.settings.steps

    # --- the objective --------------------------------------------------------------------------
    def violations(self, context: Context) -> dict[str, torch.Tensor]:
        """Each constraint term's residual at its points, flattened (points x components)."""
        batches = context.collocation.conditions
        return {name: condition_residual(context.problem, self.model, name, batches[name],
                                         engine=context.engine).reshape(-1) for name in self.names}

    def objective(self, context: Context, check: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss terms (for the log) and the augmented Lagrangian L; ``check``: raise
        NonFiniteLossError on a term that is not finite."""
        terms, _ = context.evaluate()
        if check:
            check_finite(terms, context.step, self.name)
        weights = context.weights
        total = sum((weights[n] * v for n, v in terms.items() if n not in self.names and weights[n] != 0.0),
                    start=torch.zeros((), dtype=context.dtype, device=context.device))
        batches = context.collocation.conditions
        for name, c in self.violations(context).items():
            multiplier = self.multipliers[name]
            if self.settings.multipliers == "point":
                points = batches[name].points.shape[0]
                total = total + (multiplier * c + 0.5 * self.mu * c.square()).sum() / points
            else:
                square = c.square().mean()
                total = total + multiplier[0] * square + 0.5 * self.mu * square.square()
        return terms, total

    def max_violation(self, found: dict[str, torch.Tensor]) -> float:
        return max(float(c.detach().abs().max()) for c in found.values())

    def multiplier_norm(self) -> float:
        return math.sqrt(sum(float(m.square().sum()) for m in self.multipliers.values()))

    # --- the run --------------------------------------------------------------------------------
    def new_optimizer(self) -> torch.optim.Optimizer | LevenbergMarquardt:
        if self.settings.optimizer == "lm":
            return LevenbergMarquardt([p for p in self.model.parameters() if p.requires_grad])
        if self.settings.optimizer == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.settings.lr * self.lr_scale)
        return make_lbfgs(self.model, LBFGSSettings(), self.log_every, self.float64, lr=self.lr_scale)

    def run(self, context: Context) -> None:
        settings = self.settings
        if self.outer >= settings.outer or self.stop.startswith("converged"):
            return
        if self.multipliers is None:
            context.phase_started(self)
            self.names = constraint_names(context.problem, settings)
            self.lr_scale = context.lr_scale
            with torch.enable_grad():
                found = self.violations(context)
            size = {"point": lambda c: c.numel(), "term": lambda c: 1}[settings.multipliers]
            self.multipliers = {n: torch.zeros(size(c), dtype=context.dtype, device=context.device)
                                for n, c in found.items()}
            self.note(context.step, self.max_violation(found))
            self.stop = f"reached {NAME}.steps={settings.steps}"
            if context.step == 0:  # nothing before: record where the phase starts from
                context.record(self.name)
        while self.outer < settings.outer:
            planned = min(settings.inner, settings.steps - self.outer * settings.inner)
            if self.optimizer is None:
                self.optimizer = self.new_optimizer()
            if settings.optimizer == "adam":
                self.adam_steps(context, planned)
            elif settings.optimizer == "lm":
                self.lm_iterations(context, planned)
            else:
                self.lbfgs_chunks(context, planned)
            violation = self.update(context)
            context.good_state()
            context.save_if_due(lambda: float(self.objective(context)[1].detach()))
            if violation <= settings.tolerance:
                self.stop = (f"converged: max violation {violation:.2e} <= {NAME}.tolerance "
                             f"{settings.tolerance:.0e} after {self.outer} outer iterations")
                break

    def adam_steps(self, context: Context, planned: int) -> None:
        optimizer = self.optimizer
        while self.inner_done < planned:
            optimizer.zero_grad(set_to_none=True)
            terms, total = self.objective(context)
            context.log(terms, total)
            context.backward(total)
            optimizer.step()
            self.inner_done += 1
            self.done += 1
            context.advance(1)
            if context.step % context.log_every == 0:
                context.show(self.name, total)
                context.good_state()
            context.save_if_due(lambda: float(total.detach()))

    def lbfgs_chunks(self, context: Context, planned: int) -> None:
        """L-BFGS in chunks of ``log_every`` iterations (as the lbfgs phase runs); an inner run
        that L-BFGS ends itself (converged or stalled) ends the outer iteration."""
        optimizer = self.optimizer

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            _, total = self.objective(context, check=False)
            if torch.isfinite(total):
                context.backward(total)
            else:  # let the line search shrink its step instead of differentiating through NaN
                total = total.detach().new_tensor(float("inf"))
            return total

        while self.inner_done < planned:
            chunk = min(self.log_every, planned - self.inner_done)
            _, iterations, stopped = lbfgs_chunk(optimizer, closure, chunk)
            self.inner_done += iterations
            self.done += iterations
            context.advance(iterations)
            terms, total = self.objective(context)
            context.log(terms, total, force=True)
            context.show(self.name, total)
            context.good_state()
            if stopped:
                break
            context.save_if_due(lambda: float(total.detach()))

    def lm_iterations(self, context: Context, planned: int) -> None:
        """Levenberg-Marquardt on L as a sum of squares: the objective's weighted residuals, then
        sqrt(mu / 2 n) (c_i + lambda_i / mu) for the n points of each constraint term (L up to a
        constant); the damping carries over between outer iterations."""
        problem, model, collocation = context.problem, self.model, context.collocation
        objective = {n: 0.0 if n in self.names else w for n, w in context.weights.items()}
        held = {n: 0.5 * self.mu if n in self.names else 0.0 for n in context.weights}
        order = [n for n in collocation.conditions if n in self.names]  # the rows' order in the Jacobian

        def residuals() -> torch.Tensor:
            with torch.enable_grad():
                found = {n: c.detach() for n, c in self.violations(context).items()}
            shifted = [math.sqrt(0.5 * self.mu / collocation.conditions[n].points.shape[0])
                       * (found[n] + self.multipliers[n] / self.mu) for n in order]
            return torch.cat([residual_vector(problem, model, collocation, objective, engine=context.engine),
                              *shifted])

        def jacobian() -> torch.Tensor:  # torch.func's vmap of jacrev needs forward-mode derivatives
            return torch.cat([residual_jacobian(problem, model, collocation, objective, engine=ForwardMode()),
                              residual_jacobian(problem, model, collocation, held, engine=ForwardMode())])

        def after_iteration(_k: int, loss: float) -> None:
            self.inner_done += 1
            self.done += 1
            context.advance(1)
            if context.step % context.log_every == 0:
                terms, total = self.objective(context)
                context.log(terms, total, force=True)
                context.show(self.name, total)
                context.good_state()
            context.save_if_due(lambda: loss)

        self.optimizer.run(residuals, jacobian, planned - self.inner_done, after_iteration)

    def update(self, context: Context) -> float:
        """End an outer iteration: lambda += mu c where the violation fell to ``progress`` times
        its value before (always, with ``multiplier_update=always``), else mu grows; returns the largest
        violation."""
        with torch.enable_grad():  # derivatives of the network's inputs
            found = {n: c.detach() for n, c in self.violations(context).items()}
        violation = self.max_violation(found)
        progressed = violation <= self.settings.progress * self.history["max_violation"][-1]
        if progressed or self.settings.multiplier_update == "always":
            for name, c in found.items():
                step = c if self.settings.multipliers == "point" else c.square().mean().reshape(1)
                self.multipliers[name] = self.multipliers[name] + self.mu * step
        if not progressed:
            self.mu = min(self.mu * self.settings.mu_factor, self.settings.mu_max)
        self.outer += 1
        self.inner_done = 0
        if self.settings.optimizer == "lbfgs":
            self.optimizer = None  # the next outer iteration's objective is a new one
        self.note(context.step, violation)
        return violation

    def note(self, step: int, violation: float) -> None:
        for key, value in (("step", step), ("max_violation", violation),
                           ("multiplier_norm", self.multiplier_norm()), ("mu", self.mu)):
            self.history[key].append(value)

    # --- the Phase protocol ---------------------------------------------------------------------
    def scale_learning_rate(self, factor: float) -> None:
        self.lr_scale *= factor
        for group in getattr(self.optimizer, "param_groups", ()):  # lm has no learning rate
            group["lr"] *= factor

    def result_fields(self) -> dict[str, Any]:
        if self.multipliers is None:
            return {}
        return {"constraints": {
            "terms": list(self.names), "multipliers": self.settings.multipliers,
            "outer_iterations": self.outer, "inner_iterations": self.done, "stop": self.stop,
            "max_violation": self.history["max_violation"][-1], "mu": self.mu,
            "history": {k: list(v) for k, v in self.history.items()},
        }}

    def state_dict(self) -> dict[str, Any]:
        return {"multipliers": None if self.multipliers is None else dict(self.multipliers),
                "names": list(self.names), "mu": self.mu, "lr_scale": self.lr_scale,
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
                "done": self.done, "outer": self.outer, "inner_done": self.inner_done,
                "history": {k: list(v) for k, v in self.history.items()}, "stop": self.stop,
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.multipliers = None if state["multipliers"] is None else dict(state["multipliers"])
        self.names, self.mu, self.lr_scale = list(state["names"]), state["mu"], state["lr_scale"]
        self.done, self.outer, self.inner_done = state["done"], state["outer"], state["inner_done"]
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.stop = state["stop"]
        self.optimizer = None
        if state["optimizer"] is not None:
            self.optimizer = self.new_optimizer()
            self.optimizer.load_state_dict(state["optimizer"])
        changed = state["steps"] != self.steps  # a changed budget applies from here on
        self.reopened = changed and self.outer < self.settings.outer
        if changed and self.stop.startswith(f"reached {NAME}.steps="):
            self.stop = f"reached {NAME}.steps={self.steps}"
