"""A dense quasi-Newton phase (BFGS, self-scaled BFGS or self-scaled Broyden) for small networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import torch

from pinnlab.training.phases.second_order import OnIteration, SecondOrderPhase
from pinnlab.training.quasi_newton import UPDATES, DenseQuasiNewton, QuasiNewtonRun

if TYPE_CHECKING:
    from pinnlab.training.context import Context


@dataclass(frozen=True)
class QuasiNewtonSettings:
    """``bfgs.*``, ``ssbfgs.*`` or ``ssbroyden.*`` (the phase is named by its update): iterations."""

    update: str = "ssbroyden"
    steps: int = 0

    @property
    def name(self) -> str:
        return self.update

    def problems(self) -> list[str]:
        found = []
        if self.update not in UPDATES:
            found.append(f"quasi-Newton update must be one of {', '.join(UPDATES)}, got '{self.update}'")
        if self.steps < 0:
            found.append(f"{self.update}.steps must be >= 0, got {self.steps}")
        return found


@final
class QuasiNewton(SecondOrderPhase):
    """BFGS, SSBFGS or SSBroyden with a dense inverse Hessian (pinnlab/training/quasi_newton.py),
    minimizing the weighted total loss; gradients come from the context (all ranks' mean)."""

    restarts_refinement_clock = True

    def __init__(self, settings: QuasiNewtonSettings, model: torch.nn.Module) -> None:
        super().__init__(settings.steps)
        self.name, self.update, self.model = settings.name, settings.update, model

    def new_method(self) -> DenseQuasiNewton:
        return DenseQuasiNewton([p for p in self.model.parameters() if p.requires_grad], self.update)

    def iterate(self, context: Context, iterations: int, on_iteration: OnIteration) -> QuasiNewtonRun:
        def closure() -> torch.Tensor:
            self.model.zero_grad(set_to_none=True)
            _, total = context.evaluate()
            if torch.isfinite(total):
                context.backward(total)
            return total.detach()

        return self.method.run(closure, iterations, on_iteration)
