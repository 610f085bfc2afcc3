"""Constrained training with scipy's trust-region SQP / interior-point method (``trust-constr``).

The phase hands ``scipy.optimize.minimize(method="trust-constr")`` the network's parameters as one
flat vector theta, and:

- the objective f(theta): the weighted loss of every term that is not held as a constraint, with
  its gradient from one backward pass;
- its Hessian: the Gauss-Newton matrix 2 J^T J of the objective's residual vector (J built point
  by point with torch.func, pinnlab/training/residual_vector.py; applied as a linear operator, no
  P x P matrix), or scipy's BFGS approximation (``hessian=bfgs``);
- equality constraints c(theta) = 0: the residuals of the conditions held as constraints (the
  selection rules of the augmented Lagrangian phase, pinnlab/training/phases/held_conditions.py),
  one per distinct point and component;
- inequality constraints lower <= u(x_i; theta) <= upper: the equation module's ``Bound``s
  (pinnlab/problem/constraints.py) at their points, or one row lower <= integral of u <= upper
  for an integral bound (the domain's measure times the mean at its points);

each constraint with its Jacobian from torch.func (``vmap`` of ``jacrev``, in chunks). With only
equalities scipy runs its equality-constrained SQP, with bounds its interior-point method. The
constraints' second derivatives are left out with ``hessian=gauss_newton`` (an SQP-Gauss-Newton
method). The points stay fixed during the phase. Every iteration advances the run's step;
losses are logged and the progress bar updated every ``log_every`` iterations, checkpoints are
written when due. scipy's state (trust radius, barrier parameter, multipliers) is not part of a
checkpoint: a resumed run starts a new scipy run from the saved parameters with the iterations left.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, final

import numpy as np
import scipy.optimize
import scipy.sparse
import torch
from scipy.sparse.linalg import LinearOperator
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.collocation import Collocation, sample_interior
from pinnlab.training.context import NonFiniteLossError, check_finite, weighted_total
from pinnlab.training.gauss_newton import pointwise_jacobian
from pinnlab.training.losses import condition_residual
from pinnlab.training.phases.held_conditions import check_fixed_loss_phase, held_condition_names
from pinnlab.training.residual_vector import residual_jacobian, residual_vector
from pinnlab.geometry.sampling import make_sampler

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem
    from pinnlab.solver.settings import Settings
    from pinnlab.training.context import Context

NAME = "trust_constr"
HESSIANS = ("gauss_newton", "bfgs")
STOPS = {0: "reached {name}.steps={steps}",
         1: "converged: the Lagrangian's gradient and the constraint violation are below {name}.gtol={gtol:g}",
         2: "converged: the trust region shrank below {name}.xtol={xtol:g}",
         3: "stopped by the caller"}


@dataclass(frozen=True)
class TrustConstrSettings:
    """``trust_constr.*``: iterations (scipy's ``maxiter``), the conditions held as equality
    constraints (comma separated; empty: those marked ``constraint=True``, else every trained
    condition), the objective's Hessian (``gauss_newton`` or ``bfgs``), scipy's tolerances on
    the optimality and the trust radius, the barrier tolerance, the interior-point method's first
    barrier parameter (small: the network starts trained, near the bounds), the first trust
    radius (small: a first step of length 1 would undo the training), and the most network parameters
    the phase accepts (it keeps dense constraint Jacobians and factors them each iteration)."""

    steps: int = 0
    constraints: str = ""
    hessian: str = "gauss_newton"
    gtol: float = 1e-10
    xtol: float = 1e-14
    barrier_tol: float = 1e-10
    barrier: float = 1e-6
    radius: float = 1e-3
    bound_scale: float = 1e4
    max_parameters: int = 5000
    name = NAME

    def problems(self) -> list[str]:
        found = [f"{NAME}.{f} must be >= 0, got {getattr(self, f)}" for f in ("steps",) if getattr(self, f) < 0]
        if self.hessian not in HESSIANS:
            found.append(f"{NAME}.hessian must be one of {', '.join(HESSIANS)}, got '{self.hessian}'")
        found += [f"{NAME}.{f} must be > 0, got {getattr(self, f)}"
                  for f in ("gtol", "xtol", "barrier_tol", "barrier", "radius", "bound_scale") if not getattr(self, f) > 0]
        if self.max_parameters < 1:
            found.append(f"{NAME}.max_parameters must be >= 1, got {self.max_parameters}")
        return found


def check_trust_constr(problem: Problem, settings: Settings, model: torch.nn.Module) -> None:
    """Refuse, before any training, what the phase cannot honour: unknown constraint terms,
    nothing to hold, too many parameters, torchrun, a loss that changes under it."""
    phase = settings.phase(NAME)
    if phase is None or not phase.steps:
        return
    names = held_condition_names(problem, NAME, phase.constraints, required=not problem.constraints)
    if not names and not problem.constraints:
        raise ValueError(f"{NAME}: {problem.name} has no condition and no Bound to hold as a constraint")
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if count > phase.max_parameters:
        raise ValueError(f"{NAME}: the model has {count} parameters, more than {NAME}.max_parameters="
                         f"{phase.max_parameters} (the phase keeps dense Jacobians; use a smaller network "
                         f"or raise {NAME}.max_parameters)")
    check_fixed_loss_phase(settings, NAME)


def distinct_points(batch: ConditionBatch) -> ConditionBatch:
    """The batch without repeated points (an interval's ends are drawn many times): a repeated
    equality constraint makes the constraint Jacobian rank deficient."""
    _, index = np.unique(batch.points.detach().cpu().numpy(), axis=0, return_index=True)
    keep = torch.as_tensor(np.sort(index), device=batch.points.device)
    pick = (lambda t: None if t is None else t[keep])
    return ConditionBatch(batch.points[keep], batch.target[keep], pick(batch.normals), pick(batch.partners))


def bound_points(problem: Problem, name: str, interior: torch.Tensor) -> torch.Tensor:
    """Where bound ``name`` is held: the interior collocation points, or its own Sobol points."""
    bound = problem.constraints[name]
    if bound.points is None:
        return interior
    return sample_interior(problem, bound.points, make_sampler("sobol", seed=0), interior.dtype, interior.device)


@final
class TrustConstr:
    """scipy's ``trust-constr`` on the flattened parameters; see the module's docstring."""

    name = NAME
    restarts_refinement_clock = False

    def __init__(self, settings: TrustConstrSettings, model: torch.nn.Module) -> None:
        self.settings, self.model = settings, model
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.done, self.stop, self.reopened, self.started = 0, "not run", False, False
        self.names: list[str] = []
        self.scale = 1.0
        self.report: dict[str, Any] = {}
        # scipy's view every log_every iterations: the objective, the violation with the bounds
        # multiplied by bound_scale, and the optimality (the Lagrangian's gradient, objective divided by its start)
        self.history: dict[str, list[float]] = {"step": [], "objective": [], "scaled_violation": [], "optimality": []}

    @property
    def steps(self) -> int:
        return self.settings.steps

    # --- theta <-> the model ------------------------------------------------------------------
    def assign(self, x: np.ndarray) -> None:
        reference = self.parameters[0]
        with torch.no_grad():
            vector_to_parameters(torch.as_tensor(x, dtype=reference.dtype, device=reference.device),
                                 self.parameters)

    def cached(self, compute: Callable[[], Any]) -> Callable[[np.ndarray], Any]:
        """``compute`` at theta = x, recomputed only when x changes (scipy asks for a value and
        its derivative at the same point in separate calls)."""
        memory: dict[str, Any] = {}

        def at(x: np.ndarray) -> Any:
            key = x.tobytes()
            if memory.get("key") != key:
                self.assign(x)
                memory["key"], memory["value"] = key, compute()
            return memory["value"]
        return at

    # --- the run --------------------------------------------------------------------------------
    def run(self, context: Context) -> None:
        settings = self.settings
        left = settings.steps - self.done
        if left <= 0 or self.stop.startswith("converged"):
            return
        if not self.started:
            context.phase_started(self)
            self.started = True
            if context.step == 0:
                context.record(self.name)
        problem, model = context.problem, self.model
        self.names = held_condition_names(problem, NAME, settings.constraints, required=not problem.constraints)
        collocation = context.collocation
        held = Collocation(collocation.interior, {n: distinct_points(collocation.conditions[n]) for n in self.names})
        objective = {n: 0.0 if n in self.names else w for n, w in context.weights.items()}
        raw = {n: 0.0 for n in context.weights} | {n: float(held.conditions[n].points.shape[0]) for n in self.names}
        bounds = {n: bound_points(problem, n, collocation.interior) for n in problem.constraints}
        columns = {n: problem.fields.index(b.field) for n, b in problem.constraints.items()}

        def objective_value() -> tuple[float, np.ndarray]:
            for p in self.parameters:
                p.grad = None
            with torch.enable_grad():  # every term: the objective's weights are not the context's
                terms, _ = context.evaluate(every_term=True)
                check_finite(terms, context.step, self.name)
                total = weighted_total(terms, objective)
                total.backward()
            grad = torch.cat([torch.zeros_like(p).reshape(-1) if p.grad is None else p.grad.reshape(-1)
                              for p in self.parameters])  # None: a parameter f does not see (the last bias)
            return float(total.detach()), grad.detach().cpu().double().numpy()

        def objective_jacobian() -> torch.Tensor:  # rows: the objective's residual vector
            return residual_jacobian(problem, model, collocation, objective, engine=ForwardMode())

        def equality_values() -> np.ndarray:
            return residual_vector(problem, model, held, raw, engine=context.engine).cpu().double().numpy()

        def equality_jacobian() -> np.ndarray:
            return residual_jacobian(problem, model, held, raw, engine=ForwardMode()).cpu().double().numpy()

        measure = problem.domain.measure()  # an integral bound is measure x the field's mean

        def bound_values() -> np.ndarray:
            with torch.no_grad():
                values = torch.cat([problem.constraints[n].held_values(model(bounds[n])[:, columns[n]], measure)
                                    for n in bounds])
            return settings.bound_scale * values.cpu().double().numpy()

        def bound_jacobian() -> np.ndarray:
            rows = [problem.constraints[n].held_values(
                        pointwise_jacobian(model, lambda x, k=columns[n]: model(x[None])[0, k:k + 1], (bounds[n],)),
                        measure)
                    for n in bounds]
            return settings.bound_scale * torch.cat(rows).cpu().double().numpy()

        def finite(compute: Callable[[], Any], what: str, term: str) -> Callable[[], Any]:
            """``compute``, raising NonFiniteLossError (a rollback) on a value that is not finite."""
            def checked() -> Any:
                value = compute()
                if not bool(np.isfinite(np.asarray(value)).all()):
                    raise NonFiniteLossError(f"{what} is not finite at step {context.step} ({NAME})", term,
                                             context.step)
                return value
            return checked

        fun = self.cached(objective_value)
        gauss_newton = self.cached(finite(objective_jacobian, "the objective's Jacobian", "residual"))
        equality_values = finite(equality_values, "a held condition", ",".join(self.names))
        equality_jacobian = finite(equality_jacobian, "a held condition's Jacobian", ",".join(self.names))
        bound_values = finite(bound_values, "a bound's field", ",".join(bounds))
        bound_jacobian = finite(bound_jacobian, "a bound's Jacobian", ",".join(bounds))
        zero = scipy.sparse.csr_matrix((sum(p.numel() for p in self.parameters),) * 2)
        def constraint_hessian() -> Any:  # one BFGS approximation per constraint: they must not be shared
            return (lambda x, v: zero) if settings.hessian == "gauss_newton" else scipy.optimize.BFGS()
        constraints = []
        if self.names:
            constraints.append(scipy.optimize.NonlinearConstraint(
                self.cached(equality_values), 0.0, 0.0, jac=self.cached(equality_jacobian), hess=constraint_hessian()))
        if bounds:
            limits = [torch.full((1 if problem.constraints[n].integral else bounds[n].shape[0],), v,
                                 dtype=torch.float64) for n in bounds
                      for v in problem.constraints[n].limits]
            lower, upper = (settings.bound_scale * torch.cat(limits[side::2]).numpy() for side in (0, 1))
            constraints.append(scipy.optimize.NonlinearConstraint(
                self.cached(bound_values), lower, upper, jac=self.cached(bound_jacobian), hess=constraint_hessian()))

        def hessian(x: np.ndarray) -> LinearOperator:
            J = gauss_newton(x)
            return LinearOperator((J.shape[1],) * 2, dtype=np.float64,
                                  matvec=lambda v: (2 * scale * (J.T @ (J @ torch.as_tensor(v.reshape(-1), dtype=J.dtype))))
                                  .double().numpy())

        def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
            self.assign(intermediate_result.x)
            self.done += 1
            context.advance(1)
            if context.step % context.log_every == 0 or self.done == settings.steps:
                self.note(context.step, intermediate_result)
                _, total = context.record(self.name)
                context.show(self.name, total)
                context.good_state()
            context.save_if_due(lambda: float(intermediate_result.fun))

        x0 = parameters_to_vector(self.parameters).detach().cpu().double().numpy()
        # the objective divided by its value at the start: scipy's merit function weighs it against
        # the constraint violation, and an unscaled PINN loss of 1e-4 counts for nothing there
        scale = self.scale = 1.0 / fun(x0)[0] if fun(x0)[0] > 0 else 1.0
        started = time.perf_counter()
        result = scipy.optimize.minimize(
            lambda x: scale * fun(x)[0], x0, jac=lambda x: scale * fun(x)[1], method="trust-constr", constraints=constraints,
            hess=hessian if settings.hessian == "gauss_newton" else scipy.optimize.BFGS(),
            callback=callback, options={"maxiter": left, "gtol": settings.gtol, "xtol": settings.xtol,
                                        "barrier_tol": settings.barrier_tol, "verbose": 0,
                                        "initial_barrier_parameter": settings.barrier,
                                        "initial_barrier_tolerance": settings.barrier,
                                        "initial_tr_radius": settings.radius},
        )
        self.assign(result.x)
        self.stop = STOPS.get(result.status, "{message}").format(
            name=NAME, steps=settings.steps, gtol=settings.gtol, xtol=settings.xtol, message=result.message)
        self.note(context.step, result)
        self.report = self.measure(problem, held, bounds, columns, context)
        self.report["seconds_per_iteration"] = (time.perf_counter() - started) / max(int(result.nit), 1)
        context.good_state()

    def note(self, step: int, state: scipy.optimize.OptimizeResult) -> None:
        if self.history["step"] and self.history["step"][-1] == step:
            return
        for key, value in (("step", step), ("objective", float(state.fun) / self.scale),
                           ("scaled_violation", float(state.constr_violation)), ("optimality", float(state.optimality))):
            self.history[key].append(value)

    def measure(self, problem: Problem, held: Collocation, bounds: dict[str, torch.Tensor],
                columns: dict[str, int], context: Context) -> dict[str, Any]:
        """The largest violation of each held condition and each bound, from the model itself."""
        with torch.enable_grad():  # derivatives of the network's inputs
            equality = {n: float(condition_residual(problem, self.model, n, held.conditions[n],
                                                    engine=context.engine).detach().abs().max()) for n in self.names}
        inequality, minimum = {}, {}
        with torch.no_grad():
            for name, points in bounds.items():
                bound = problem.constraints[name]
                values = bound.held_values(self.model(points)[:, columns[name]], problem.domain.measure())
                inequality[name] = float(bound.violation(values).max())
                minimum[name] = float(values.min())  # an integral bound: the integral
        every = [*equality.values(), *inequality.values()]
        return {"terms": list(self.names), "bounds": list(bounds), "max_violation": max(every) if every else 0.0,
                "condition_violation": equality, "bound_violation": inequality, "bound_field_min": minimum}

    # --- the Phase protocol ---------------------------------------------------------------------
    def scale_learning_rate(self, factor: float) -> None:
        """No learning rate: the trust region sets the step."""

    def result_fields(self) -> dict[str, Any]:
        if not self.started:
            return {}
        return {"constraints": {"method": NAME, **self.report, "iterations": self.done, "stop": self.stop,
                                "history": {k: list(v) for k, v in self.history.items()}}}

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done, "stop": self.stop, "steps": self.steps, "started": self.started,
                "report": dict(self.report), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done, self.stop, self.started = state["done"], state["stop"], state["started"]
        self.report, self.history = dict(state["report"]), {k: list(v) for k, v in state["history"].items()}
        changed = state["steps"] != self.steps  # a changed budget applies from here on
        self.reopened = changed and self.done < self.steps
        if changed and self.stop.startswith(f"reached {NAME}.steps="):
            self.stop = f"reached {NAME}.steps={self.steps}"
