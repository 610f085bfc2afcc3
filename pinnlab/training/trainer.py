"""``train(problem, model, settings)``: the solver's training call, settings in, result out.

It builds the phases and hooks the settings ask for (pinnlab/training/plan.py) and runs them
(pinnlab/training/loop.py) on ``settings.numerics.threads`` CPU threads; with ``resume_from``
the run goes on from a checkpoint, which must fit the problem, the network and the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from pinnlab.problem.equation_module import Problem
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.loop import TrainingResult
from pinnlab.training.phases import Phase
from pinnlab.training.plan import build_training
from pinnlab.training.resume import check_compatible, check_resumable

if TYPE_CHECKING:  # annotations only: the solver's settings import this layer
    from pinnlab.solver.settings import Settings


def train(problem: Problem, model: torch.nn.Module, settings: Settings,
          on_log: Callable[[int, dict[str, float]], None] | None = None,
          checkpoints: CheckpointStore | None = None,
          resume_from: dict[str, Any] | None = None, engine: Any = None,
          extra_phases: Sequence[Phase] = ()) -> TrainingResult:
    """Train ``model`` on ``problem``; returns losses, history and why each phase stopped.

    Runs on ``settings.numerics.threads`` CPU threads, as ``solve`` does: a caller of ``train``
    alone asks for the same thread count and gets it. Settings that differ from a resumed
    checkpoint's are refused unless they can apply (``resume.check_resumable``): a changed
    budget applies from there on (Adam's learning-rate decay is spread over the new steps; more
    L-BFGS iterations reopen a finished run). ``extra_phases``: phases of one's own, run after
    those of ``settings.phases`` (see ``plan.build_training``)."""
    with thread_limit(settings.numerics.threads):
        training = build_training(problem, model, settings, checkpoints, on_log, engine, extra_phases)
        if resume_from is not None:
            check_compatible(resume_from, problem, settings.as_nested(), model)
            check_resumable(resume_from, settings.as_nested())
        return training.run(resume_from)
