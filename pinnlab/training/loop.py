"""The training loop: the phases in order (Adam, then L-BFGS, then a dense method...), with the
hooks around them; resumable, and rolled back on a non-finite loss by the rollback hook.

The loop makes these calls on a phase: ``run(context)``, ``state_dict()``,
``load_state_dict(state)``, ``scale_learning_rate(factor)``, ``result_fields()``, and reads its
``name``, ``steps``, ``reopened`` and ``restarts_refinement_clock`` (see
pinnlab/training/phases/__init__.py); a new phase is a new class with these, passed in ``phases``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch

from pinnlab.geometry.sampling import Sampler
from pinnlab.problem.equation_module import Problem
from pinnlab.runtime import distributed
from pinnlab.training.context import Context, NonFiniteLossError
from pinnlab.training.collocation import Collocation
from pinnlab.training.refinement import Redraw, Refinement

if TYPE_CHECKING:
    from pinnlab.geometry.sampling import SamplingSettings
    from pinnlab.training.hooks import Hook
    from pinnlab.training.phases import Phase


@dataclass
class TrainingResult:
    steps: int
    lbfgs_iterations: int = 0
    lbfgs_stop: str = "not run"
    wall_time: float = 0.0
    final_losses: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    phases: list[tuple[int, str]] = field(default_factory=list)
    collocation: Collocation | None = None  # the final point set, for output files
    refinements: list[Refinement] = field(default_factory=list)
    stages: list[tuple[int, float]] = field(default_factory=list)  # (step, time window end)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    redraws: list[Redraw] = field(default_factory=list)  # curriculum windows' and resample_every draws
    # the solution on the whole domain when it is not the trained network itself: with time
    # marching, one network per window (pinnlab/training/time_marching.py)
    solution: torch.nn.Module | None = None
    second_order_stop: str = "not run"
    # balance=grad-norm|ntk: (step, weights) after each update (pinnlab/training/loss_balancing.py)
    weight_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    run_id: str = ""  # the same in every checkpoint and output file of one run, resumed or not
    # with unknowns: their history by step and their standard deviations (pinnlab/training/hooks/unknowns.py)
    unknowns: dict[str, Any] = field(default_factory=dict)
    # augmented_lagrangian: the constraint terms and each outer iteration's largest violation,
    # multipliers' norm and penalty (pinnlab/training/phases/augmented_lagrangian.py)
    constraints: dict[str, Any] = field(default_factory=dict)


def train(problem: Problem, model: torch.nn.Module, phases: Sequence[Phase], hooks: Sequence[Hook],
          engine: Any = None, *, sampler: Sampler, sampling: SamplingSettings, weights: Mapping[str, float],
          log_every: int, on_log: Callable[[int, dict[str, float]], None] | None = None,
          resume_from: dict[str, Any] | None = None) -> TrainingResult:
    """Train ``model`` on ``problem`` with ``phases`` in order and ``hooks`` around them, on
    points drawn by ``sampler`` (``sampling``: this rank's share), with loss ``weights``; the
    losses are logged every ``log_every`` steps (``on_log(step, losses)``)."""
    context = Context(problem, model, engine, sampler, sampling, weights, log_every, on_log, list(phases),
                      list(hooks))
    return run(context, resume_from)


def run(context: Context, resume_from: dict[str, Any] | None = None) -> TrainingResult:
    """``train`` on a context made beforehand (its caller can watch it while training runs)."""
    start = time.perf_counter()
    distributed.broadcast_module(context.model)  # all ranks start from rank 0's parameters
    context.emit("setup")  # e.g. a curriculum narrows the problem to its first window
    context.collocation = context.draw_collocation()
    context.emit("start")
    if resume_from is not None:
        context.resume(resume_from)
    try:
        context.emit("begin")
        context.good_state()
        while True:
            try:
                if not context.finished:
                    for phase in context.phases:
                        phase.run(context)
                terms, total = context.record("final")
                break
            except NonFiniteLossError as error:
                context.recover(error)
        if not context.finished:
            context.finished = True
            context.emit("save", float(total.detach()))
    finally:
        context.emit("finish")
    collocation, refinements, redraws = context.points_of_all_ranks()
    fields: dict[str, Any] = {}
    for part in context.phases:
        fields.update(part.result_fields())
    for hook in context.hooks:
        fields.update(hook.result_fields(context))
    return TrainingResult(
        steps=context.step, wall_time=time.perf_counter() - start,
        final_losses={k: float(v.detach()) for k, v in terms.items()}, history=context.history.data,
        phases=context.phase_log, collocation=collocation, refinements=refinements, redraws=redraws,
        resumed_from=context.resumed_from, run_id=context.run_id, **fields,
    )
