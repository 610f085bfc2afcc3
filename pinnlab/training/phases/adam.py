"""Adam with an exponentially decaying learning rate: the first phase, which tolerates moving points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import torch

from pinnlab.training.context import check_finite, weighted_total

if TYPE_CHECKING:
    from pinnlab.training.context import Context


@dataclass(frozen=True)
class AdamSettings:
    """``adam.*``: steps, the initial learning rate and its total decay factor over the steps."""

    steps: int = 2000
    lr: float = 1e-3
    lr_decay: float = 0.1
    name = "adam"

    def problems(self) -> list[str]:
        found = []
        if self.steps < 0:
            found.append(f"adam.steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            found.append(f"adam.lr must be > 0, got {self.lr}")
        if not self.lr_decay > 0:
            found.append(f"adam.lr_decay must be > 0, got {self.lr_decay}")
        return found


@final
class Adam:
    """``steps`` Adam steps; between steps the points may move (resampling, refinement, a new
    time window) and the loss weights may change (balancing)."""

    name = "adam"
    restarts_refinement_clock = False

    def __init__(self, settings: AdamSettings, model: torch.nn.Module) -> None:
        self.settings = settings
        self.optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, self.gamma)
        self.done, self.started, self.reopened = 0, False, False

    @property
    def steps(self) -> int:
        return self.settings.steps

    @property
    def gamma(self) -> float:
        """The factor per step that decays the learning rate by ``lr_decay`` over ``steps``."""
        return self.settings.lr_decay ** (1.0 / max(self.settings.steps, 1))

    def run(self, context: Context) -> None:
        if self.done < self.steps and not self.started:
            self.started = True
            context.phase_started(self)
        while self.done < self.steps:
            context.before_step()
            self.optimizer.zero_grad(set_to_none=True)
            terms, total = context.evaluate()
            check_finite(terms, context.step, self.name)
            if context.reweigh(terms):
                total = weighted_total(terms, context.weights)
            context.log(terms, total)
            context.backward(total)
            self.optimizer.step()
            self.scheduler.step()
            self.done += 1
            context.advance(1)
            context.refine()
            context.follow_schedule(1, float(total.detach()))
            if context.step % context.log_every == 0:
                context.show(self.name, total)
                context.good_state()
            context.save_if_due(lambda: float(context.evaluate()[1].detach()))

    def scale_learning_rate(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= factor

    def result_fields(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "done": self.done, "started": self.started, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.done, self.started = state["done"], state["started"]
        # a changed budget applies from here on: the decay is spread over the new steps
        self.reopened = state["steps"] != self.steps and self.done < self.steps
        if state["steps"] != self.steps:
            self.scheduler.gamma = self.gamma
