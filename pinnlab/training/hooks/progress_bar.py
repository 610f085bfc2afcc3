"""The progress bar of a training run: steps of every phase, and after the bar the phase, the
loss and what the other hooks describe (time window, causal epsilon, point count)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from pinnlab.runtime.progress import Progress
from pinnlab.training.hooks import Hook

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class ProgressBar(Hook):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = Progress(0, "", enabled=False)

    def begin(self, context: Context) -> None:
        total = sum(phase.steps for phase in context.phases)
        self.bar = Progress(total, context.problem.name, enabled=self.enabled)
        self.bar.moveto(context.step)
        if getattr(context.engine, "compile", False):  # the first evaluation compiles (10-30 s)
            self.bar.set_postfix({"residual": "compiling"}, refresh=True)

    def advanced(self, context: Context, steps: int) -> None:
        self.bar.update(steps)

    def restored(self, context: Context) -> None:
        self.bar.moveto(context.step)

    def show(self, context: Context, phase: str, total: torch.Tensor) -> None:
        shown = {"phase": phase, "loss": f"{float(total.detach()):.3e}"}
        for hook in context.hooks:
            shown.update(hook.describe(context))
        self.bar.set_postfix(shown)

    def finish(self, context: Context) -> None:
        self.bar.close()
