"""Rollback on a non-finite loss: back to the last state known to have finite losses, with the
learning rates halved, up to ``checkpoint.rollbacks`` times, instead of ending the run.

A loss that is not finite at the very state rolled back to (the network as initialised, at step
0) would only come back: that is the equation's fault, said at once.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from pinnlab.problem.binding import EquationError
from pinnlab.runtime import distributed
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.context import NonFiniteLossError
from pinnlab.training.hooks import Hook
from pinnlab.training.state import cloned

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class Rollback(Hook):
    name = "rollback"
    survives_rollback = True

    def __init__(self, allowed: int, store: CheckpointStore | None) -> None:
        self.allowed, self.store = allowed, store
        self.good: dict[str, Any] | None = None  # the last state known to have finite losses
        self.rollbacks: list[dict[str, Any]] = []

    def good_state(self, context: Context) -> None:
        self.good = cloned(context.state_dict())

    def non_finite(self, context: Context, error: NonFiniteLossError) -> bool:
        term = term_description(context, error.term)
        if self.good is not None and error.step == self.good["step"] == 0 and not self.rollbacks:
            raise EquationError(
                f"{context.problem.origin}: {term} is {error.value_text} at step 0, on the network as "
                f"initialised, before any training step, so rolling back cannot help; check {term} "
                f"for divisions by zero and for logarithms or square roots of negative numbers; {self.checkpoint_note(context)}"
            ) from None
        if len(self.rollbacks) >= self.allowed or self.good is None:
            tried = f" after {len(self.rollbacks)} rollback(s) with halved learning rates" if self.rollbacks else ""
            raise NonFiniteLossError(
                f"{error}{tried}; try a smaller learning rate (--set adam.lr=...), float64, or check "
                f"{term} for divisions; {self.checkpoint_note(context)}", error.term, error.step,
            ) from None
        old_scale, scale = self.good["lr_scale"], context.lr_scale / 2
        self.rollbacks.append({"step": error.step, "term": error.term, "back_to": self.good["step"],
                               "lr_scale": scale})
        context.load_state_dict(self.good, rollback=True)
        context.lr_scale = scale
        for phase in context.phases:
            phase.scale_learning_rate(scale / old_scale)
        context.emit("restored")
        if distributed.is_main():
            print(f"{context.problem.name}: {error}; rolled back to step {context.step} with the learning rate "
                  f"scaled by {scale:g} (rollback {len(self.rollbacks)} of {self.allowed})", file=sys.stderr)
        return True

    def checkpoint_note(self, context: Context) -> str:
        """Where this run can resume from, as it stands on disk now."""
        if self.store is None:
            return "no checkpoints are kept for this run"
        return self.store.last_complete(context.run_id)

    def result_fields(self, context: Context) -> dict[str, Any]:
        return {"rollbacks": self.rollbacks}

    def state_dict(self) -> dict[str, Any]:
        return {"rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rollbacks = state["rollbacks"]


def term_description(context: Context, name: str) -> str:
    """A loss term by its kind and name: "residual 'residual'", "condition 'ends'"."""
    if name in context.problem.residuals:
        return f"residual '{name}'"
    if name in context.problem.conditions:
        return f"condition '{name}'"
    return f"loss term '{name}'"
