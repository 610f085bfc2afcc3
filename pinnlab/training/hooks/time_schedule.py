"""The time schedule of a time-dependent problem: a curriculum of time windows (growing, or
marched one network per window) and causal weights, see pinnlab/training/curriculum.py and
pinnlab/training/time_marching.py.

A new window narrows the problem, redraws the points inside it, resets the causal weights and,
when marching, keeps the finished window's network and hands its end state on as the next
window's initial condition. Every window's first draw is recorded with its residual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch

from pinnlab.runtime import distributed
from pinnlab.training.curriculum import CausalWeights, TimeCurriculum
from pinnlab.training.hooks import Hook
from pinnlab.training.state import cloned
from pinnlab.training.time_marching import hand_over, marched_model, marching_weights

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class TimeSchedule(Hook):
    """``weights`` are the term weights as configured (``configured``: the user's ``weights``),
    from which each window's weights follow."""

    name = "schedule"

    def __init__(self, curriculum: TimeCurriculum | None, causal: CausalWeights | None,
                 weights: Mapping[str, float], configured: Mapping[str, float]) -> None:
        self.curriculum, self.causal = curriculum, causal
        self.marching = curriculum is not None and curriculum.marching
        self.weights, self.configured = dict(weights), dict(configured)
        self.stages: list[tuple[int, float]] = []  # (step, window end)
        self.windows: list[dict[str, torch.Tensor]] = []  # marching: the parameters of finished windows

    # --- windows ------------------------------------------------------------------------------
    def setup(self, context: Context) -> None:
        context.causal = self.causal
        if self.curriculum is not None:
            self.enter_window(context)

    def start(self, context: Context) -> None:
        if self.curriculum is not None:
            context.record_redraw("window", self.curriculum.stage)

    def enter_window(self, context: Context) -> None:
        """The curriculum's current window: its problem (points are drawn there), its loss
        weights, and causal weights that span it with epsilon back at its start."""
        curriculum = self.curriculum
        context.active = curriculum.windowed(context.problem)
        weights = dict(self.weights)
        if self.marching:
            weights = marching_weights(context.problem, self.configured, weights, curriculum.stage)
        context.weights = weights
        if self.causal is not None:
            self.causal.reset(curriculum.window_start, curriculum.window_end)
        self.stages.append((context.step, curriculum.window_end))

    def next_window(self, context: Context) -> None:
        if self.marching:
            self.windows.append(cloned(context.model.state_dict()))
        self.curriculum.advance()
        self.enter_window(context)
        context.collocation = context.draw_collocation()
        if self.marching:
            context.collocation = hand_over(context.active, context.model, context.collocation,
                                            engine=context.engine)
        context.record_redraw("window", self.curriculum.stage)

    # --- events -------------------------------------------------------------------------------
    def advanced(self, context: Context, steps: int) -> None:
        if self.curriculum is not None:
            self.curriculum.steps_in_stage += steps

    def follow(self, context: Context, steps: int, loss: float) -> bool:
        """Sharpen causal weights and move the window on when due; True if points changed."""
        if self.causal is not None and context.step % context.log_every < steps:
            if context.distributed:  # sharpen only when every rank's slices are resolved
                self.causal.smallest_weight = distributed.min_over_ranks(self.causal.smallest_weight)
            self.causal.update()
        return self.move_on(context, loss)

    def move_on(self, context: Context, loss: float) -> bool:
        if self.curriculum is None or not self.curriculum.due(loss):
            return False
        self.next_window(context)
        return True

    def next_window_if_left(self, context: Context) -> bool:
        """An optimizer ended on its own while marching windows are left: go on with the next
        window instead of ending training with them untrained."""
        if not self.marching or self.curriculum.finished:
            return False
        self.next_window(context)
        return True

    def steps_until_event(self, context: Context) -> int | None:
        left = self.curriculum.steps_left() if self.curriculum is not None else None
        return None if left is None else max(left, 1)

    def hold(self, context: Context) -> None:
        if self.causal is not None:
            self.causal.hold()

    def release(self, context: Context) -> None:
        if self.causal is not None:
            self.causal.release()

    def describe(self, context: Context) -> dict[str, Any]:
        shown = {}
        if self.curriculum is not None:
            c = self.curriculum
            span = f"{c.window_start:.3g} <= t <= " if c.marching else "t <= "
            shown["window"] = f"{c.stage}/{c.stages} ({span}{c.window_end:.3g})"
        if self.causal is not None:
            shown["eps"] = f"{self.causal.eps:g}"
        return shown

    def result_fields(self, context: Context) -> dict[str, Any]:
        solution = None
        if self.marching:  # the piecewise model over all windows reached
            starts = [self.curriculum.boundary(k) for k in range(self.curriculum.stage)]
            solution = marched_model(context.model, self.windows, starts, context.problem.layout.time_index)
        return {"stages": self.stages, "solution": solution}

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"curriculum": None if self.curriculum is None else self.curriculum.state_dict(),
                "causal": None if self.causal is None else self.causal.state_dict(),
                "stages": [list(s) for s in self.stages], "windows": self.windows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.curriculum is not None:
            self.curriculum.load_state_dict(state["curriculum"])
        if self.causal is not None:
            self.causal.load_state_dict(state["causal"])
        self.stages = [tuple(s) for s in state["stages"]]
        self.windows = state["windows"]

    def loaded(self, context: Context) -> None:
        if self.curriculum is not None:
            context.active = self.curriculum.windowed(context.problem)
