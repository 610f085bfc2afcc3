"""Refinement as training goes: the points are refined every ``refine.every`` steps, and when an
optimizer ends a chunk on its own (new points give it a new loss); see
pinnlab/training/refinement.py for the methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pinnlab.training.hooks import Hook
from pinnlab.training.collocation import rank_share_seed
from pinnlab.training.refinement import RefinementSettings, refine

if TYPE_CHECKING:
    from pinnlab.training.context import Context
    from pinnlab.training.phases import Phase


class Refining(Hook):
    """``refinement`` and ``points`` are this rank's shares; ``seed`` makes the draws repeatable."""

    name = "refine"
    refines = True

    def __init__(self, refinement: RefinementSettings, points: int, seed: int) -> None:
        self.refinement, self.points, self.seed = refinement, points, seed
        self.since = 0  # steps since the last refinement

    def advanced(self, context: Context, steps: int) -> None:
        self.since += steps

    def phase_started(self, context: Context, phase: Phase) -> None:
        if phase.restarts_refinement_clock:
            self.since = 0

    def refine(self, context: Context, force: bool) -> bool:
        if not (force or self.since >= self.refinement.every):
            return False
        seed = rank_share_seed(self.seed * 100_003 + len(context.refinements), context.rank)
        context.collocation, record = refine(context.active, context.model, context.collocation, context.sampler,
                                             self.refinement, self.points, context.step, seed,
                                             engine=context.engine)
        context.refinements.append(record)
        self.since = 0
        return True

    def steps_until_event(self, context: Context) -> int | None:
        return self.refinement.every - self.since

    def describe(self, context: Context) -> dict[str, Any]:
        return {"points": len(context.collocation.interior) * context.world}

    def state_dict(self) -> dict[str, Any]:
        return {"since": self.since}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.since = state["since"]
