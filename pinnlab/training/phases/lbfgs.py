"""L-BFGS with a strong-Wolfe line search, after Adam, on a fixed point set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, final

import torch

if TYPE_CHECKING:
    from pinnlab.training.context import Context


@dataclass(frozen=True)
class LBFGSSettings:
    """``lbfgs.*``: iterations, curvature pairs kept, and fresh starts allowed after a stalled line search."""

    steps: int = 2000
    history: int = 50
    restarts: int = 3
    name = "lbfgs"

    def problems(self) -> list[str]:
        found = [f"lbfgs.{field} must be >= 0, got {value}"
                 for field, value in (("steps", self.steps), ("restarts", self.restarts)) if value < 0]
        if self.history < 1:
            found.append(f"lbfgs.history must be >= 1, got {self.history}")
        return found


def make_lbfgs(model: torch.nn.Module, settings: LBFGSSettings, log_every: int, float64: bool,
               lr: float = 1.0) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(
        model.parameters(), lr=lr, max_iter=log_every,
        max_eval=int(log_every * 1.25), history_size=settings.history,
        tolerance_grad=1e-12 if float64 else 1e-9,
        tolerance_change=1e-15 if float64 else 1e-11,
        line_search_fn="strong_wolfe",
    )


def lbfgs_chunk(optimizer: torch.optim.LBFGS, closure: Callable[[], torch.Tensor],
                chunk: int) -> tuple[torch.Tensor, int, bool]:
    """Up to ``chunk`` iterations of torch's L-BFGS, at most 1.25 evaluations each: the loss it
    returns (at the chunk's start), the iterations taken, and whether L-BFGS ended the chunk
    itself (converged or stalled). A chunk that used up its evaluations has not stopped: the next
    one goes on with the same optimizer and curvature pairs."""
    group = optimizer.param_groups[0]
    max_eval = int(chunk * 1.25) + 1
    group["max_iter"], group["max_eval"] = chunk, max_eval
    state = optimizer.state[group["params"][0]]
    before, evals_before = state.get("n_iter", 0), state.get("func_evals", 0)
    loss = optimizer.step(closure)
    state = optimizer.state[group["params"][0]]
    iterations = state.get("n_iter", 0) - before
    out_of_evaluations = state.get("func_evals", 0) - evals_before >= max_eval
    return loss, iterations, iterations < chunk and not out_of_evaluations


def lbfgs_stop_reason(optimizer: torch.optim.LBFGS) -> str:
    """Why torch's L-BFGS returned early: it does not say, so infer it from its state."""
    group = optimizer.param_groups[0]
    state = optimizer.state[group["params"][0]]
    grad_max = max(float(p.grad.abs().max()) for p in group["params"] if p.grad is not None)
    if grad_max <= group["tolerance_grad"]:
        return f"converged: gradient max {grad_max:.2e} <= tolerance_grad {group['tolerance_grad']:.0e}"
    if state.get("func_evals", 0) and state.get("n_iter", 0):
        return (
            "stalled: the loss or the step changed less than tolerance_change "
            f"{group['tolerance_change']:.0e}; more steps will not help at this precision"
        )
    return "stopped early for an unknown reason"


@final
class LBFGS:
    """L-BFGS in chunks of ``log_every`` iterations, so that progress, history, checkpoints and
    rollbacks happen between chunks; its curvature pairs carry over between chunks, so chunking
    does not change the iterates. New points (a refinement, a new time window) restart it, as
    its curvature pairs belong to the old loss. A chunk that used its evaluations (``max_eval``,
    1.25 per iteration) simply goes on; a line search that stalls far from convergence restarts
    L-BFGS afresh, up to ``restarts`` times, instead of ending early."""

    name = "lbfgs"
    restarts_refinement_clock = False

    def __init__(self, settings: LBFGSSettings, model: torch.nn.Module, log_every: int, float64: bool) -> None:
        self.settings, self.model, self.log_every, self.float64 = settings, model, log_every, float64
        self.optimizer: torch.optim.LBFGS | None = None
        self.done, self.restarts, self.stop, self.reopened = 0, 0, "not run", False

    @property
    def steps(self) -> int:
        return self.settings.steps

    def new_optimizer(self, lr: float = 1.0) -> torch.optim.LBFGS:
        return make_lbfgs(self.model, self.settings, self.log_every, self.float64, lr)

    def run(self, context: Context) -> None:
        steps = self.steps
        if not steps:
            return
        if self.optimizer is None:
            context.phase_started(self)
            self.optimizer = self.new_optimizer(context.lr_scale)
            self.stop = f"reached lbfgs.steps={steps}"
            if context.step == 0:  # nothing before: record where L-BFGS starts from
                context.record(self.name)
        optimizer = self.optimizer

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            _, total = context.evaluate()
            if torch.isfinite(total):
                context.backward(total)
            else:  # let the line search shrink its step instead of differentiating through NaN
                total = total.detach().new_tensor(float("inf"))
            return total

        while self.done < steps:
            chunk = min(self.log_every, steps - self.done)
            with context.fixed_objective():  # one objective for the whole chunk (its line searches)
                _, iterations, stopped = lbfgs_chunk(optimizer, closure, chunk)
            self.done += iterations
            context.advance(iterations)
            _, total = context.record(self.name)
            context.show(self.name, total)
            points_changed = context.follow_schedule(iterations, float(total.detach()))
            if self.done < steps and context.refine(force=stopped):
                points_changed = True
            if points_changed:  # a new loss: fresh curvature pairs, and no reason to stop
                optimizer = self.optimizer = self.new_optimizer(context.lr_scale)
                _, total = context.evaluate()
            context.good_state()
            if not points_changed and stopped:
                reason = lbfgs_stop_reason(optimizer)
                if reason.startswith("stalled") and iterations and self.restarts < self.settings.restarts:
                    self.stop = reason
                    optimizer = self.optimizer = self.new_optimizer(context.lr_scale)
                    self.restarts += 1
                    continue
                if context.next_window_if_left():  # the window's leftover iterations go to the last one
                    optimizer = self.optimizer = self.new_optimizer(context.lr_scale)
                    context.good_state()
                    continue
                self.stop = reason
                break
            context.save_if_due(lambda: float(total.detach()))
        if self.restarts and "restart" not in self.stop:
            self.stop += f" ({self.restarts} restart(s) after stalled line searches)"

    def scale_learning_rate(self, factor: float) -> None:
        for group in self.optimizer.param_groups if self.optimizer is not None else ():
            group["lr"] *= factor

    def result_fields(self) -> dict[str, Any]:
        return {"lbfgs_iterations": self.done, "lbfgs_stop": self.stop}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
                "done": self.done, "restarts": self.restarts, "stop": self.stop, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer = None
        if state["optimizer"] is not None:
            self.optimizer = self.new_optimizer()
            self.optimizer.load_state_dict(state["optimizer"])
        self.done, self.restarts, self.stop = state["done"], state["restarts"], state["stop"]
        changed = state["steps"] != self.steps  # a changed budget applies from here on
        self.reopened = changed and self.done < self.steps
        if changed and self.stop.startswith(("reached lbfgs_steps=", "reached lbfgs.steps=")):
            self.stop = f"reached lbfgs.steps={self.steps}"  # (the first: a checkpoint of pinnlab 0.1)
