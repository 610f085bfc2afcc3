"""The training loop: Adam, then L-BFGS with a strong-Wolfe line search.

A plain function over plain objects. Adam gets the network into the right basin quickly and
tolerates resampled points; L-BFGS then converges far further on a fixed point set, which is
where PINNs get their accuracy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .losses import Collocation, loss_terms, sample_collocation, sample_interior, term_weights
from .refinement import refine
from .problem import Problem
from .progress import progress
from .sampling import make_sampler
from .settings import Settings


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or infinity; the message names the loss term and the step."""


@dataclass
class TrainingResult:
    steps: int
    lbfgs_iterations: int
    lbfgs_stop: str
    wall_time: float
    final_losses: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    phases: list[tuple[int, str]] = field(default_factory=list)


class History:
    """Raw per-term losses and the weighted total, recorded every ``every`` steps."""

    def __init__(self, names: list[str], every: int) -> None:
        self.every = every
        self.data: dict[str, list[float]] = {"step": [], "total": [], **{n: [] for n in names}}

    def record(self, step: int, terms: dict[str, float], total: float, force: bool = False) -> None:
        if not force and step % self.every:
            return
        if self.data["step"] and self.data["step"][-1] == step:
            return
        self.data["step"].append(step)
        self.data["total"].append(total)
        for name, value in terms.items():
            self.data[name].append(value)


def weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items() if weights[name] != 0.0)


def check_finite(terms: dict[str, torch.Tensor], step: int, phase: str) -> None:
    for name, value in terms.items():
        if not math.isfinite(float(value.detach())):
            raise NonFiniteLossError(
                f"loss term '{name}' became {float(value.detach())} at step {step} ({phase}); try a smaller "
                f"learning rate (--set lr=...), float64, or check the residual '{name}' for divisions"
            )


def train(problem: Problem, model: torch.nn.Module, settings: Settings,
          on_log: Callable[[int, dict[str, float]], None] | None = None) -> TrainingResult:
    """Train ``model`` on ``problem``; returns losses, history and why L-BFGS stopped."""
    parameters = next(model.parameters())
    dtype, device = parameters.dtype, parameters.device
    sampler = make_sampler(settings.sampler, seed=settings.seed)
    collocation = sample_collocation(problem, settings, sampler, dtype, device)
    weights = term_weights(problem, settings)
    history = History(list(weights), settings.log_every)
    phases: list[tuple[int, str]] = []
    start = time.perf_counter()
    step = 0

    def evaluate(points: Collocation) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        terms = loss_terms(problem, model, points)
        return terms, weighted_total(terms, weights)

    def log(at_step: int, terms: dict[str, torch.Tensor], total: torch.Tensor, force: bool = False) -> None:
        raw = {k: float(v.detach()) for k, v in terms.items()}
        history.record(at_step, raw, float(total.detach()), force)
        if on_log is not None and (force or at_step % settings.log_every == 0):
            on_log(at_step, raw)

    def record(points: Collocation, at_step: int, phase: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Evaluate, check and log the losses at a phase boundary or L-BFGS chunk."""
        terms, total = evaluate(points)
        check_finite(terms, at_step, phase)
        log(at_step, terms, total, force=True)
        return terms, total

    total_steps = settings.steps + settings.lbfgs_steps
    with progress(total_steps, desc=problem.name, enabled=settings.progress) as bar:
        if settings.steps:
            phases.append((step, "adam"))
            optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
            gamma = settings.lr_decay ** (1.0 / max(settings.steps, 1))
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
            for _ in range(settings.steps):
                if settings.resample_every and step and step % settings.resample_every == 0:
                    interior = sample_interior(problem, settings.points, sampler, dtype, device)
                    collocation = Collocation(interior, collocation.conditions)
                optimizer.zero_grad(set_to_none=True)
                terms, total = evaluate(collocation)
                check_finite(terms, step, "adam")
                log(step, terms, total)
                total.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                bar.update()
                if step % settings.log_every == 0:
                    bar.set_postfix({"phase": "adam", "loss": f"{float(total.detach()):.3e}"})

        lbfgs_iterations, lbfgs_stop = 0, "not run"
        if settings.lbfgs_steps:
            phases.append((step, "lbfgs"))
            if not settings.steps:  # record where L-BFGS starts from
                record(collocation, step, "lbfgs")

            def refine_points(current: Collocation) -> Collocation:
                return refine(problem, model, current, sampler, settings.rar_pool, settings.rar_points)

            lbfgs_iterations, lbfgs_stop, step, collocation = run_lbfgs(
                model, settings, collocation, evaluate, record, bar, step,
                refine_points if settings.rar_points else None,
            )

        terms, total = record(collocation, step, "final")

    return TrainingResult(
        steps=step, lbfgs_iterations=lbfgs_iterations, lbfgs_stop=lbfgs_stop,
        wall_time=time.perf_counter() - start,
        final_losses={k: float(v.detach()) for k, v in terms.items()},
        history=history.data, phases=phases,
    )


def make_lbfgs(model: torch.nn.Module, settings: Settings) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(
        model.parameters(), lr=1.0, max_iter=settings.log_every,
        max_eval=int(settings.log_every * 1.25), history_size=settings.lbfgs_history,
        tolerance_grad=1e-12 if settings.dtype == "float64" else 1e-9,
        tolerance_change=1e-15 if settings.dtype == "float64" else 1e-11,
        line_search_fn="strong_wolfe",
    )


def run_lbfgs(model, settings: Settings, collocation: Collocation, evaluate, record, bar, step: int,
              refine_points: Callable[[Collocation], Collocation] | None = None,
              ) -> tuple[int, str, int, Collocation]:
    """L-BFGS in chunks of ``log_every`` iterations, so progress and history stay live.

    The optimizer's state (curvature pairs, step length) carries over between chunks, so
    chunking does not change the iterates. With ``refine_points``, the point set grows every
    ``rar_every`` iterations and L-BFGS restarts (its curvature pairs belong to the old loss).
    A line search that stalls far from convergence (stale curvature pairs, float32 round-off)
    restarts L-BFGS afresh, up to ``lbfgs_restarts`` times, instead of ending training early.
    Returns iterations done, why it stopped, the step, and the final point set.
    """
    optimizer = make_lbfgs(model, settings)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        terms, total = evaluate(collocation)
        if torch.isfinite(total):
            total.backward()
        else:  # let the line search shrink its step instead of differentiating through NaN
            total = total.detach().new_tensor(float("inf"))
        return total

    done, since_refinement, restarts = 0, 0, 0
    stop = f"reached lbfgs_steps={settings.lbfgs_steps}"
    while done < settings.lbfgs_steps:
        chunk = min(settings.log_every, settings.lbfgs_steps - done)
        optimizer.param_groups[0]["max_iter"] = chunk
        optimizer.param_groups[0]["max_eval"] = int(chunk * 1.25) + 1
        before = optimizer.state[optimizer._params[0]].get("n_iter", 0)
        optimizer.step(closure)
        after = optimizer.state[optimizer._params[0]].get("n_iter", 0)
        iterations = after - before
        done += iterations
        since_refinement += iterations
        step += iterations
        bar.update(iterations)
        _, total = record(collocation, step, "lbfgs")
        bar.set_postfix({"phase": "lbfgs", "loss": f"{float(total.detach()):.3e}"})
        due = since_refinement >= settings.rar_every or iterations < chunk
        if refine_points is not None and due and done < settings.lbfgs_steps:
            collocation = refine_points(collocation)
            optimizer, since_refinement = make_lbfgs(model, settings), 0
            bar.set_postfix({"phase": "lbfgs", "points": len(collocation.interior)})
        elif iterations < chunk:
            stop = lbfgs_stop_reason(optimizer, settings)
            if stop.startswith("stalled") and iterations and restarts < settings.lbfgs_restarts:
                optimizer, restarts = make_lbfgs(model, settings), restarts + 1
                continue
            break
    if restarts:
        stop += f" ({restarts} restart(s) after stalled line searches)"
    return done, stop, step, collocation


def lbfgs_stop_reason(optimizer: torch.optim.LBFGS, settings: Settings) -> str:
    """Why torch's L-BFGS returned early: it does not say, so infer it from its state."""
    group = optimizer.param_groups[0]
    state = optimizer.state[optimizer._params[0]]
    grad_max = max(float(p.grad.abs().max()) for p in optimizer._params if p.grad is not None)
    if grad_max <= group["tolerance_grad"]:
        return f"converged: gradient max {grad_max:.2e} <= tolerance_grad {group['tolerance_grad']:.0e}"
    if state.get("func_evals", 0) and state.get("n_iter", 0):
        return (
            "stalled: the loss or the step changed less than tolerance_change "
            f"{group['tolerance_change']:.0e} (or the line search ran out of evaluations); "
            "more steps will not help at this precision"
        )
    return "stopped early for an unknown reason"
