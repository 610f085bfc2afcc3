"""Training phases: each optimizer is one phase that owns its optimizer and its state.

The training loop (pinnlab/training/loop.py) makes exactly these calls on a phase, in the order of
the phase list: ``run(context)`` until it returns (the phase takes its remaining budget; a phase
whose budget is used does nothing), ``state_dict()`` for snapshots and checkpoints,
``load_state_dict(state)`` when rolling back or resuming, ``scale_learning_rate(factor)`` after a
rollback, and ``result_fields()`` for the run's result. Everything else a phase does goes
through the context (losses, steps, points, logging), so a new phase is a new file: the loop
and the hooks stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class Phase(Protocol):
    """One optimizer's share of training.

    ``name`` keys the phase's state in a checkpoint and names it in logs; ``steps`` is its
    budget (progress bar); ``restarts_refinement_clock`` says whether refinement counts this
    phase's iterations from its start (True) or goes on counting from the phase before.
    ``reopened`` is True after ``load_state_dict`` of a saved state whose budget was smaller and
    used up: a finished run then trains on."""

    name: str
    steps: int
    restarts_refinement_clock: bool
    reopened: bool

    def run(self, context: Context) -> None:
        """Take the phase's remaining iterations (raises NonFiniteLossError on a bad loss)."""

    def scale_learning_rate(self, factor: float) -> None:
        """Multiply the learning rate (a rollback halves it)."""

    def result_fields(self) -> dict[str, Any]:
        """Fields of ``TrainingResult`` this phase reports (e.g. why it stopped)."""

    def state_dict(self) -> dict[str, Any]:
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...
