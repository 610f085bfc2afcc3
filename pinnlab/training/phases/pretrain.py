"""Supervised pretraining on cheap labels (pinnlab/problem/labels.py) before the physics phases.

``phases=pretrain,adam,lbfgs``: the ``pretrain`` phase minimises the labels' loss term alone (the
mean square misfit of the data set ``labels``; no residual, no condition), by Adam steps with its
own learning rate and decay, or by L-BFGS iterations (``pretrain.optimizer=lbfgs``): fitting
labels is a smooth least-squares problem, where L-BFGS gets in a few hundred iterations as far
as Adam in thousands of steps (docs/parametric.md). The physics phases after it train every
term as usual; the labels' term is then either faded out (``pretrain.then=fade``: its weight falls linearly from
``pretrain.weight`` to 0 over ``pretrain.fade_steps`` steps, by default the steps of the phase
that follows, so L-BFGS sees the physics alone) or kept (``then=keep``: ``pretrain.weight``
throughout). :class:`LabelWeight` is the hook that sets that weight at every step, from the step
at which pretraining ended (part of the phase's checkpointed state), so a resumed run gets the
same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import torch

from pinnlab.problem.labels import LABELS
from pinnlab.training.context import check_finite
from pinnlab.training.hooks import Hook
from pinnlab.training.losses import data_misfit
from pinnlab.training.phases.lbfgs import LBFGSSettings, lbfgs_chunk, make_lbfgs

if TYPE_CHECKING:
    from pinnlab.training.context import Context

THEN = ("fade", "keep")
OPTIMIZERS = ("adam", "lbfgs")


@dataclass(frozen=True)
class PretrainSettings:
    """``pretrain.*``: steps on the labels alone, by Adam (with its learning rate and total decay)
    or L-BFGS, and what becomes of the labels' term in the phases after (see the module
    docstring)."""

    steps: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_decay: float = 0.1
    then: str = "fade"
    weight: float = 1.0
    fade_steps: int = 0
    name = "pretrain"

    def problems(self) -> list[str]:
        found = [f"pretrain.{n} must be >= 0, got {getattr(self, n)}" for n in ("steps", "fade_steps", "weight")
                 if getattr(self, n) < 0]
        if not self.lr > 0:
            found.append(f"pretrain.lr must be > 0, got {self.lr}")
        if not self.lr_decay > 0:
            found.append(f"pretrain.lr_decay must be > 0, got {self.lr_decay}")
        if self.then not in THEN:
            found.append(f"pretrain.then must be fade or keep, got '{self.then}'")
        if self.optimizer not in OPTIMIZERS:
            found.append(f"pretrain.optimizer must be adam or lbfgs, got '{self.optimizer}'")
        return found


def label_loss(context: Context) -> torch.Tensor:
    """The labels' mean square misfit, the one term pretraining minimises."""
    points, values = context.problem.data[LABELS].tensors(context.dtype, context.device)
    return data_misfit(context.problem, context.model, LABELS, points, values, context.engine).square().mean()


@final
class Pretrain:
    """``steps`` Adam steps or L-BFGS iterations on :func:`label_loss`; records the step at which
    it ended. L-BFGS runs in chunks of ``log_every`` iterations (progress and checkpoints in
    between) and ends early when it converges or stalls: the labels are fitted as well as they
    can be, and the physics phases take over."""

    name = "pretrain"
    restarts_refinement_clock = False

    def __init__(self, settings: PretrainSettings, model: torch.nn.Module, log_every: int = 100,
                 float64: bool = False) -> None:
        self.settings, self.log_every = settings, log_every
        self.lbfgs = settings.optimizer == "lbfgs"
        if self.lbfgs:
            self.optimizer = make_lbfgs(model, LBFGSSettings(), log_every, float64)
            self.scheduler = None
        else:
            self.optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
            gamma = settings.lr_decay ** (1.0 / max(settings.steps, 1))
            self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma)
        self.done, self.started, self.reopened = 0, False, False
        self.ended_at: int | None = None
        self.first_loss: float | None = None
        self.last_loss: float | None = None

    @property
    def steps(self) -> int:
        return self.settings.steps

    def run(self, context: Context) -> None:
        if LABELS not in context.problem.data:
            raise ValueError(f"phase pretrain: '{context.problem.name}' has no labels (declare labels = "
                             "MethodOfLines(...), FunctionLabels(...) or Observations(...) in the module)")
        if self.done < self.steps and not self.started:
            self.started = True
            context.phase_started(self)
        if self.lbfgs:
            self.run_lbfgs(context)
        else:
            self.run_adam(context)
        if self.ended_at is None:
            self.ended_at = context.step
            context.emit("advanced", 0)  # the label weight of the phases after applies from here

    def run_adam(self, context: Context) -> None:
        """Adam steps on the labels until ``steps``."""
        while self.done < self.steps:
            self.optimizer.zero_grad(set_to_none=True)
            loss = label_loss(context)
            check_finite({LABELS: loss}, context.step, self.name)
            value = float(loss.detach())
            self.first_loss = value if self.first_loss is None else self.first_loss
            self.last_loss = value
            context.backward(loss)
            self.optimizer.step()
            self.scheduler.step()
            self.done += 1
            context.advance(1)
            if context.step % context.log_every == 0:
                context.show(self.name, loss)
                context.good_state()
            context.save_if_due(lambda: float(label_loss(context).detach()))

    def run_lbfgs(self, context: Context) -> None:
        """L-BFGS on the labels, ``log_every`` iterations a chunk, until ``steps`` or a stop."""
        optimizer = self.optimizer

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = label_loss(context)
            check_finite({LABELS: loss}, context.step, self.name)
            context.backward(loss)
            return loss

        while self.done < self.steps:
            chunk = min(self.log_every, self.steps - self.done)
            loss, iterations, stopped = lbfgs_chunk(optimizer, closure, chunk)
            value = float(loss.detach())
            self.first_loss = value if self.first_loss is None else self.first_loss
            self.done += iterations
            context.advance(iterations)
            self.last_loss = float(label_loss(context).detach())
            context.show(self.name, torch.tensor(self.last_loss))
            context.good_state()
            if stopped:  # converged or stalled: the labels are fitted as far as they go
                self.done = self.steps
                break
            context.save_if_due(lambda: self.last_loss)

    def scale_learning_rate(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= factor

    def result_fields(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        scheduler = None if self.scheduler is None else self.scheduler.state_dict()
        return {"kind": self.settings.optimizer, "optimizer": self.optimizer.state_dict(), "scheduler": scheduler,
                "done": self.done, "started": self.started, "steps": self.steps, "ended_at": self.ended_at,
                "first_loss": self.first_loss, "last_loss": self.last_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind", "adam") == self.settings.optimizer:  # else: the new optimizer starts afresh
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        self.done, self.started, self.ended_at = state["done"], state["started"], state["ended_at"]
        self.first_loss, self.last_loss = state["first_loss"], state["last_loss"]
        self.reopened = False


class LabelWeight(Hook):
    """Sets the labels' weight after pretraining: ``weight``, faded to 0 over ``fade_steps`` steps
    (``then=fade``) or held (``then=keep``); before pretraining ends the weight is 0, so no other
    phase trains on the labels first. Stateless: the weight follows from the step count and the
    phase's ``ended_at``."""

    def __init__(self, phase: Pretrain, fade_steps: int) -> None:
        self.phase, self.fade_steps = phase, fade_steps

    def weight(self, step: int) -> float:
        ended, settings = self.phase.ended_at, self.phase.settings
        if ended is None:
            return 0.0
        if settings.then == "keep":
            return settings.weight
        if self.fade_steps <= 0:
            return 0.0
        return settings.weight * max(0.0, 1.0 - (step - ended) / self.fade_steps)

    def apply(self, context: Context) -> None:
        context.weights[LABELS] = self.weight(context.step)

    def begin(self, context: Context) -> None:
        self.apply(context)

    def loaded(self, context: Context) -> None:
        self.apply(context)

    def advanced(self, context: Context, steps: int) -> None:
        self.apply(context)
