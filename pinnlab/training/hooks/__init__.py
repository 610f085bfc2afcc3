"""Hooks: what happens around the optimizer steps (checkpoints, rollbacks, refinement, the time
schedule, loss balancing, progress), each a small object that reacts to the events phases raise
through the context.

A hook overrides only the events it cares about; every event has a do-nothing default here. The
events, in the words of a phase: before an optimizer step that may use new points
(``before_step``), the losses of a step that may reweigh them (``reweigh``), steps taken
(``advanced``), a chance to refine the points (``refine``), to follow the time schedule
(``follow``, ``move_on``, ``next_window_if_left``), a phase starting (``phase_started``), an
objective that must hold still for a line search (``hold``/``release``), a state known to be good
(``good_state``), a moment to checkpoint (``save_if_due``, ``save``), a non-finite loss
(``non_finite``). ``setup`` runs before the first points are drawn, ``start`` after, ``begin``
when training starts (after a resume), ``finish`` at the end, also on errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch

if TYPE_CHECKING:
    from pinnlab.training.context import Context, NonFiniteLossError
    from pinnlab.training.phases import Phase


class Hook:
    """Base of all hooks; ``name`` keys its state in a checkpoint ('' : it keeps none)."""

    name = ""
    refines = False  # True for a hook that refines the points (phases then refine on a stall)
    survives_rollback = False  # True: a rollback keeps this hook's state instead of restoring it

    def setup(self, context: Context) -> None: ...
    def start(self, context: Context) -> None: ...
    def begin(self, context: Context) -> None: ...
    def finish(self, context: Context) -> None: ...
    def loaded(self, context: Context) -> None: ...  # after every hook's load_state_dict
    def restored(self, context: Context) -> None: ...  # after a rollback
    def before_step(self, context: Context) -> None: ...
    def reweigh(self, context: Context, terms: dict[str, torch.Tensor]) -> bool:
        return False
    def advanced(self, context: Context, steps: int) -> None: ...
    def refine(self, context: Context, force: bool) -> bool:
        return False
    def follow(self, context: Context, steps: int, loss: float) -> bool:
        return False
    def move_on(self, context: Context, loss: float) -> bool:
        return False
    def next_window_if_left(self, context: Context) -> bool:
        return False
    def steps_until_event(self, context: Context) -> int | None:
        return None
    def phase_started(self, context: Context, phase: Phase) -> None: ...
    def hold(self, context: Context) -> None: ...
    def release(self, context: Context) -> None: ...
    def describe(self, context: Context) -> dict[str, Any]:
        return {}
    def show(self, context: Context, phase: str, total: torch.Tensor) -> None: ...
    def good_state(self, context: Context) -> None: ...
    def save_if_due(self, context: Context, loss: Callable[[], float]) -> None: ...
    def save(self, context: Context, loss: float) -> None: ...
    def non_finite(self, context: Context, error: NonFiniteLossError) -> bool:
        return False
    def result_fields(self, context: Context) -> dict[str, Any]:
        return {}
    def state_dict(self) -> dict[str, Any]:
        return {}
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
