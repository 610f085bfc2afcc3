"""The unknowns' history during training, and their uncertainty at the end.

The values are recorded when training begins, at every logged step (the ``show`` event every
phase raises where it logs) and when it ends; the history is part of the checkpoint, so a resumed
run continues it and a rollback cuts it back. After a run whose last phase is Levenberg-Marquardt
or a dense quasi-Newton method, each unknown's standard deviation comes from the Gauss-Newton
covariance (pinnlab/training/uncertainty.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from pinnlab.model.field_model import unknown_values
from pinnlab.training.hooks import Hook
from pinnlab.training.phases.levenberg_marquardt import LevenbergMarquardt
from pinnlab.training.phases.quasi_newton import QuasiNewton
from pinnlab.training.uncertainty import UNCERTAINTY_PARTS, unknown_uncertainty

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class UnknownsHistory(Hook):
    """Records every unknown's value by step; ``result_fields`` gives
    ``{"unknowns": {"history": {"step": [...], name: [...]}, "std": {name: s} or {}}}``."""

    name = "unknowns"

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"step": []}

    def setup(self, context: Context) -> None:
        marching = [h for h in context.hooks if getattr(getattr(h, "curriculum", None), "marching", False)]
        if marching:
            raise ValueError("curriculum.mode=march trains one time window at a time, which does not suit "
                             "unknowns learned from the whole run; use curriculum.mode=grow")
        for name in context.problem.unknowns:
            self.history.setdefault(name, [])

    def record(self, context: Context) -> None:
        steps = self.history["step"]
        if steps and steps[-1] == context.step:
            steps.pop()
            for name in context.problem.unknowns:
                self.history[name].pop()
        steps.append(context.step)
        with torch.no_grad():
            for name, value in unknown_values(context.model).items():
                self.history[name].append(float(value))

    def begin(self, context: Context) -> None:
        if not self.history["step"]:
            self.record(context)

    def show(self, context: Context, phase: str, total: torch.Tensor) -> None:
        self.record(context)

    def save(self, context: Context, loss: float) -> None:  # training has ended (before the final save)
        self.record(context)

    def result_fields(self, context: Context) -> dict[str, Any]:
        self.record(context)
        last = context.phases[-1] if context.phases else None
        second_order = isinstance(last, (LevenbergMarquardt, QuasiNewton)) and last.done > 0
        found = {}
        if second_order:
            found = unknown_uncertainty(context.problem, context.model, context.collocation, context.weights)
        return {"unknowns": {"history": {k: list(v) for k, v in self.history.items()},
                             **{part: {name: getattr(u, part) for name, u in found.items()}
                                for part in UNCERTAINTY_PARTS}}}

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
