"""Checkpoints during training: ``last`` every ``checkpoint.every`` steps and at the end,
``best`` when the loss is the lowest saved (pinnlab/training/checkpoint.py writes them).

Under torchrun every rank takes part (its points and sampler state go into the file) and rank 0
alone writes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

from pinnlab.runtime import distributed
from pinnlab.training.checkpoint import CheckpointSettings, CheckpointStore
from pinnlab.training.hooks import Hook
from pinnlab.training.state import on_cpu

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class Checkpointing(Hook):
    """Saves the context's state with ``settings_record`` (the run's settings as JSON, which a
    resumed run is checked against)."""

    name = "checkpoint"
    survives_rollback = True  # where the files stand does not go back with the training state

    def __init__(self, store: CheckpointStore, settings: CheckpointSettings, settings_record: str) -> None:
        self.store, self.every, self.settings_record = store, settings.every, settings_record
        self.best_loss, self.saved_at = math.inf, 0

    def save_if_due(self, context: Context, loss: Callable[[], float]) -> None:
        if context.step - self.saved_at >= self.every:
            self.save(context, loss())

    def save(self, context: Context, loss: float) -> None:
        """Write ``last`` (and ``best`` when ``loss``, at the current parameters, is the lowest)."""
        is_best = loss < self.best_loss
        if is_best:
            self.best_loss = loss
        self.saved_at = context.step
        state = context.state_dict()
        state["settings"] = self.settings_record
        if context.distributed:
            state["world"] = context.world
            state["ranks"] = distributed.gather_objects(on_cpu(context.rank_state()))
        if distributed.is_main():
            self.store.save(state, is_best)

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "saved_at": self.saved_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss, self.saved_at = state["best_loss"], state["saved_at"]
