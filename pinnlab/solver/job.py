"""One entry point for the PDE job: check, train, evaluate, write results.

``solve(problem, settings, out_dir)`` writes ``metrics.json``, ``fields.h5`` (with ``fields.xdmf``
beside it for ParaView), ``solution.png``, ``loss.png``, ``collocation.png`` (2 or more inputs),
``weights.png`` (with loss balancing) and ``model.pt`` into ``out_dir``; every
write is atomic, so an interrupted run never leaves a truncated file behind. Checkpoints
(``checkpoints/last.pt`` and ``best.pt``) are written during training, so ``resume=True``
continues an interrupted run.

Under ``torchrun`` every rank trains (see :mod:`pinnlab.runtime.distributed`) and rank 0 alone evaluates
and writes; the other ranks return without metrics.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pinnlab.runtime.version import __version__
from pinnlab.runtime import distributed
from pinnlab.runtime.atomic import check_free_space, check_writable, remove_stale_temporaries
from pinnlab.problem.binding import EquationError
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.resume import resume_state
from pinnlab.output.accuracy import (evaluation_grid, predict_at_reference_points, predict_on_grid, relative_l2,
                                     scattered_relative_l2)
from pinnlab.output.evaluation import predict
from pinnlab.output.family import evaluate_family, family_metrics, instance_of
from pinnlab.problem.labels import attach_labels
from pinnlab.problem.gauges import apply_shifts, measure_shifts, records
from pinnlab.training.losses import loss_terms, term_weights
from pinnlab.training.collocation import rank_share, sample_collocation
from pinnlab.model.field_model import FieldModel, build_model, resolve_device
from pinnlab.derivatives.engines import Engine, resolve_engine
from pinnlab.output.run_files import estimate_output_bytes, files_written, write_outputs
from pinnlab.problem.equation_module import Problem
from pinnlab.runtime.run_folder import staged_results
from pinnlab.geometry.sampling import make_sampler
from pinnlab.solver.settings import Settings, resolve_settings
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.time_marching import TimeMarchedModel
from pinnlab.training.trainer import TrainingResult, train

# files_written: for the CLI; resolve_settings (pinnlab/solver/settings.py): for callers of this module
__all__ = ["SolveResult", "files_written", "resolve_settings", "solve"]


@dataclass(frozen=True)
class SolveResult:
    out_dir: Path
    metrics: dict[str, Any]
    model: FieldModel | TimeMarchedModel  # TimeMarchedModel: time marching, one network per window
    training: TrainingResult


def solve(problem: Problem, settings: Settings, out_dir: str | Path, resume: bool = False) -> SolveResult:
    """Train and write results; with ``resume``, continue from ``out_dir/checkpoints/last.pt``.

    Under torchrun, ``metrics`` is empty on ranks other than 0, which neither evaluate nor write."""
    started = time.perf_counter()
    rank_share(settings.sampling, settings.refine, distributed.world())  # an uneven split fails before joining the other ranks
    device = distributed.local_device(settings.numerics.device)
    if device != settings.numerics.device:
        settings = settings.replace({"numerics.device": device}, "torchrun")
    with distributed.session(settings.numerics.device), thread_limit(settings.numerics.threads):
        return solve_on_this_rank(problem, settings, Path(out_dir), resume, started)


def solve_on_this_rank(problem: Problem, settings: Settings, out_dir: Path, resume: bool,
                       started: float) -> SolveResult:
    """``solve`` in one process: every rank trains, rank 0 alone checks the folder and writes."""
    main = distributed.is_main()
    labels = None
    if problem.labels is not None and settings.phase("pretrain") is not None:  # pinnlab/problem/labels.py
        problem, labels = attach_labels(problem)
        if main and settings.output.progress:  # like the progress bar: --quiet keeps stderr for problems
            print(labels.line(problem.name), file=sys.stderr)
    term_weights(problem, settings)  # unknown weight names fail before training
    resolve_device(settings.numerics.device)
    if main:
        check_writable(out_dir)
        for folder in (out_dir, out_dir / "checkpoints"):
            if folder.is_dir():
                remove_stale_temporaries(folder)
    try:
        grid = evaluation_grid(problem, settings)
    except EquationError as error:
        raise EquationError(f"{problem.origin}: {error}") from None
    torch.manual_seed(settings.numerics.seed)
    model = build_model(problem, settings)
    engine = training_engine(problem, model, settings)
    checkpoints = CheckpointStore(out_dir / "checkpoints")
    state = resume_state(checkpoints, problem, settings.as_nested(), model) if resume else None
    if main:  # the checkpoints already on disk are replaced, not added to
        check_free_space(out_dir, estimate_output_bytes(problem, settings, model, grid),
                         reusable=checkpoints.reusable_bytes(state))
    preflight(problem, model, settings, engine)
    training = train(problem, model, settings, checkpoints=checkpoints, resume_from=state, engine=engine)
    if training.solution is not None:  # time marching: each window's own network
        model = training.solution
    if not main:
        return SolveResult(out_dir, {}, model, training)
    family, shown, shown_model, shown_training = None, problem, model, training
    if problem.parameters:  # a family: judged per held-out instance, the middle one written and drawn
        results = evaluate_family(problem, model, settings)
        family = family_metrics(problem, results)
        middle = results[len(results) // 2]
        shown, shown_model = instance_of(problem, model, middle.values)
        grid, family["shown"] = middle.grid, middle.values
        # the training points carry parameter columns the instance's files have no place for
        shown_training = dataclasses.replace(training, collocation=None, refinements=[], redraws=[])
    prediction = predict_on_grid(shown_model, shown, grid)
    at_points = predict_at_reference_points(shown_model, grid)
    shifts = measure_shifts(problem.gauges, problem.layout, problem.reference, grid, prediction, at_points,
                            lambda points: dict(zip(problem.fields, predict(model, points).T)))
    prediction, at_points = apply_shifts(prediction, shifts), apply_shifts(at_points, shifts)  # like with like
    adam = settings.phase("adam")
    metrics = {
        "equation": problem.name,
        "rel_l2": family["rel_l2_mean"] if family else {**relative_l2(prediction, grid),
                                                         **scattered_relative_l2(at_points, grid)},
        "gauges": records(shifts),
        "final_losses": training.final_losses,
        "steps": training.steps,
        "adam_steps": adam.steps if adam else 0,
        "lbfgs_iterations": training.lbfgs_iterations,
        "lbfgs_stop": training.lbfgs_stop,
        "second_order_stop": training.second_order_stop,
        **({"constraints": training.constraints} if training.constraints else {}),
        "weight_history": [{"step": step, "weights": w} for step, w in training.weight_history],
        "rollbacks": training.rollbacks,
        "resumed_from_step": training.resumed_from,
        "time_windows": [{"step": step, "t_end": end} for step, end in training.stages],
        "refinements": [{"step": r.step, "method": r.method, "points": len(r.points)} for r in training.refinements],
        "redraws": [{"cloud": r.cloud, "step": r.step, "points": len(r.points)} for r in training.redraws],
        "train_time_s": round(training.wall_time, 3),
        "parameters": sum(p.numel() for p in model.parameters()),
        "world_size": distributed.world(),
        "run_id": training.run_id,
        "settings": settings.as_nested(),
        "versions": {"pinnlab": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {settings.numerics.device}",
    }
    if family:
        metrics["family"] = family
    if labels is not None:
        metrics["labels"] = labels.metrics()
    with staged_results(out_dir, training.run_id, checkpoints.last_complete(training.run_id)) as staging:
        write_outputs(staging, shown, settings, shown_model, shown_training, grid, prediction, at_points, metrics,
                      started)
    return SolveResult(out_dir, metrics, model, training)


def training_engine(problem: Problem, model: FieldModel, settings: Settings) -> Engine:
    """The derivative engine of ``settings.numerics`` for ``model``; ``compile=auto`` is judged
    by the Adam steps plus L-BFGS iterations, where a long run spends its time."""
    adam, lbfgs = settings.phase("adam"), settings.phase("lbfgs")
    iterations = (adam.steps if adam else 0) + (lbfgs.steps if lbfgs else 0)
    numerics = settings.numerics
    return resolve_engine(numerics.engine, numerics.compile, problem, model, iterations, numerics.residual_chunk)


def preflight(problem: Problem, model: FieldModel, settings: Settings, engine: Engine | None = None) -> None:
    """Evaluate every loss term once on a few points, so a residual that returns the wrong
    shape or nothing fails now, naming the module, rather than somewhere inside training."""
    parameter = next(model.parameters())
    small = dataclasses.replace(settings.sampling, points=16, boundary_points=8)
    sampler = make_sampler("uniform", seed=settings.numerics.seed)
    try:
        loss_terms(problem, model, sample_collocation(problem, small, sampler, parameter.dtype, parameter.device),
                   engine=engine)
    except EquationError as error:
        raise EquationError(f"{problem.origin}: {error}") from None


