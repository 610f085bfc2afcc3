"""Fresh interior points every ``sampling.resample_every`` steps, where points may move (Adam):
each draw is recorded with its residual, like a refinement."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnlab.training.hooks import Hook
from pinnlab.training.collocation import Collocation, sample_interior

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class Resampling(Hook):
    def __init__(self, every: int) -> None:
        self.every = every

    def before_step(self, context: Context) -> None:
        if not (context.step and context.step % self.every == 0):
            return
        interior = sample_interior(context.active, context.sampling.points, context.sampler, context.dtype,
                                   context.device)
        context.collocation = Collocation(interior, context.collocation.conditions)
        context.record_redraw("resample", 1 + sum(r.kind == "resample" for r in context.redraws))
