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

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinnlab import __version__
from pinnlab.runtime import distributed
from pinnlab.runtime.atomic import atomic_path, check_free_space, check_writable, remove_stale_temporaries, write_json
from pinnlab.problem.binding import EquationError
from pinnlab.training.checkpoint import CheckpointStore, write_torch_file
from pinnlab.output.evaluation import condition_residual_values, evaluate_in_chunks
from pinnlab.output.fields_h5 import write_fields
from pinnlab.problem.gauges import apply_shifts, measure_shifts, records
from pinnlab.training.losses import Collocation, loss_terms, rank_share, sample_collocation, term_weights
from pinnlab.model.field_model import FieldModel, build_model, resolve_device
from pinnlab.output.plots import plot_collocation, plot_fields, plot_loss_history, plot_weight_history
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import ReferenceGrid, grid_points
from pinnlab.training.refinement import Redraw, Refinement
from pinnlab.runtime.run_folder import staged_results
from pinnlab.geometry.sampling import make_sampler
from pinnlab.solver.settings import Settings
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.time_marching import TimeMarchedModel
from pinnlab.training.trainer import TrainingResult, train
from pinnlab.output.xdmf import write_xdmf

SPACE_GRID = {1: (512,), 2: (201, 201), 3: (64, 64, 64)}
SPACE_TIME_GRID = {1: (256, 101), 2: (101, 101, 26), 3: (48, 48, 48, 11)}


def default_grid(problem: Problem) -> tuple[int, ...]:
    """A grid of a few 1e4-1e5 points: fine in space, coarser in time."""
    if problem.layout.time_index is None:
        return SPACE_GRID[len(problem.inputs)]
    return SPACE_TIME_GRID[len(problem.inputs) - 1]


@dataclass(frozen=True)
class SolveResult:
    out_dir: Path
    metrics: dict[str, Any]
    model: FieldModel | TimeMarchedModel  # TimeMarchedModel: time marching, one network per window
    training: TrainingResult


def resolve_settings(problem: Problem, overrides: dict[str, Any] | None = None) -> Settings:
    """pinnlab defaults, then the equation's ``defaults``, then ``overrides``."""
    settings = Settings().replace(problem.defaults, f"{problem.name}: defaults")
    return settings.replace(overrides or {}, "settings")


def solve(problem: Problem, settings: Settings, out_dir: str | Path, resume: bool = False) -> SolveResult:
    """Train and write results; with ``resume``, continue from ``out_dir/checkpoints/last.pt``.

    Under torchrun, ``metrics`` is empty on ranks other than 0, which neither evaluate nor write."""
    started = time.perf_counter()
    rank_share(settings, distributed.world())  # an uneven split fails before joining the other ranks
    device = distributed.local_device(settings.device)
    if device != settings.device:
        settings = settings.replace({"device": device}, "torchrun")
    with distributed.session(settings.device), thread_limit(settings.threads):
        return solve_on_this_rank(problem, settings, Path(out_dir), resume, started)


def solve_on_this_rank(problem: Problem, settings: Settings, out_dir: Path, resume: bool,
                       started: float) -> SolveResult:
    """``solve`` in one process: every rank trains, rank 0 alone checks the folder and writes."""
    main = distributed.is_main()
    term_weights(problem, settings)  # unknown weight names fail before training
    resolve_device(settings.device)
    if main:
        check_writable(out_dir)
        for folder in (out_dir, out_dir / "checkpoints"):
            if folder.is_dir():
                remove_stale_temporaries(folder)
    try:
        grid = evaluation_grid(problem, settings)
    except EquationError as error:
        raise EquationError(f"{problem.origin}: {error}") from None
    torch.manual_seed(settings.seed)
    model = build_model(problem, settings)
    checkpoints = CheckpointStore(out_dir / "checkpoints")
    state = checkpoints.resume_state(problem, settings, model) if resume else None
    if main:  # the checkpoints already on disk are replaced, not added to
        check_free_space(out_dir, estimate_output_bytes(problem, settings, model, grid),
                         reusable=checkpoints.reusable_bytes(state))
    preflight(problem, model, settings)
    training = train(problem, model, settings, checkpoints=checkpoints, resume_from=state)
    if training.solution is not None:  # time marching: each window's own network
        model = training.solution
    if not main:
        return SolveResult(out_dir, {}, model, training)
    prediction = predict_on_grid(model, problem, grid)
    at_points = predict_at_reference_points(model, grid)
    shifts = measure_shifts(problem.gauges, problem.layout, problem.reference, grid, prediction, at_points,
                            lambda points: dict(zip(problem.fields, predict(model, points).T)))
    prediction, at_points = apply_shifts(prediction, shifts), apply_shifts(at_points, shifts)  # like with like
    metrics = {
        "equation": problem.name,
        "rel_l2": {**relative_l2(prediction, grid), **scattered_relative_l2(at_points, grid)},
        "gauges": records(shifts),
        "final_losses": training.final_losses,
        "steps": training.steps,
        "adam_steps": settings.steps,
        "lbfgs_iterations": training.lbfgs_iterations,
        "lbfgs_stop": training.lbfgs_stop,
        "second_order_stop": training.second_order_stop,
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
        "settings": settings.as_dict(),
        "versions": {"pinnlab": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {settings.device}",
    }
    with staged_results(out_dir, training.run_id, checkpoints.last_complete(training.run_id)) as staging:
        write_outputs(staging, problem, settings, model, training, grid, prediction, at_points, metrics, started)
    return SolveResult(out_dir, metrics, model, training)


def estimate_output_bytes(problem: Problem, settings: Settings, model: FieldModel,
                          grid: ReferenceGrid) -> int:
    """A generous upper bound of what a solve writes: grid fields uncompressed, the grid's point
    coordinates for XDMF, two checkpoints (Adam moments and L-BFGS pairs), figures."""
    grid_points_count = int(np.prod(grid.shape))
    arrays = 3 * len(problem.fields) + len(problem.residuals) + 1
    fields = grid_points_count * (8 * arrays + 25 * len(problem.inputs))
    parameters = sum(p.numel() for p in model.parameters())
    refinements = (settings.steps + settings.lbfgs_steps) // settings.refine_every if settings.refine != "none" else 0
    refinements += settings.curriculum + (settings.steps // settings.resample_every if settings.resample_every else 0)
    points = (settings.points * (1 + refinements) + settings.refine_points * refinements
              + settings.boundary_points * len(problem.conditions) * 3)
    checkpoint = 8 * (parameters * (4 + 2 * settings.lbfgs_history) + points * (len(problem.inputs) + 1))
    return fields + 2 * checkpoint + 4_000_000


def preflight(problem: Problem, model: FieldModel, settings: Settings) -> None:
    """Evaluate every loss term once on a few points, so a residual that returns the wrong
    shape or nothing fails now, naming the module, rather than somewhere inside training."""
    parameter = next(model.parameters())
    small = settings.replace({"points": 16, "boundary_points": 8}, "preflight")
    sampler = make_sampler("uniform", seed=settings.seed)
    try:
        loss_terms(problem, model, sample_collocation(problem, small, sampler, parameter.dtype, parameter.device))
    except EquationError as error:
        raise EquationError(f"{problem.origin}: {error}") from None


def evaluation_grid(problem: Problem, settings: Settings) -> ReferenceGrid:
    """The reference's own grid when it has one, else ``settings.grid`` over the bounding box."""
    shape = settings.grid or default_grid(problem)
    if len(shape) != len(problem.inputs):
        raise ValueError(f"grid: {len(shape)} sizes given for {len(problem.inputs)} inputs")
    axes = box_axes(problem, shape)
    if problem.reference is None:
        return ReferenceGrid(axes, {})
    return problem.reference.on_grid(problem.layout, problem.base_dir, axes)


def box_axes(problem: Problem, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Evenly spaced axes over the domain's bounding box, one per input."""
    lower, upper = problem.domain.bounds()
    return {name: np.linspace(lo, hi, n) for name, lo, hi, n in zip(problem.inputs, lower, upper, sizes)}


def predict(model: torch.nn.Module, points: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Model output at ``points`` (N, d) as float64 numpy (N, F), in chunks without a graph."""
    parameter = next(model.parameters())
    outputs = []
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            x = torch.as_tensor(points[start:start + chunk], dtype=parameter.dtype, device=parameter.device)
            outputs.append(model(x).double().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(model.fields)))


def predict_on_grid(model: torch.nn.Module, problem: Problem, grid: ReferenceGrid) -> dict[str, np.ndarray]:
    points = grid_points(grid.axes)
    values = predict(model, points)
    outside = ~problem.domain.contains(points).reshape(grid.shape)
    prediction = {f: values[:, k].reshape(grid.shape) for k, f in enumerate(problem.fields)}
    for array in list(prediction.values()) + list(grid.values.values()):
        array[outside] = np.nan  # the reference too, so plots and errors cover the domain only
    return prediction


def relative_error(predicted: np.ndarray, reference: np.ndarray) -> float:
    """||predicted - reference|| / ||reference||."""
    return float(np.linalg.norm(predicted - reference) / max(np.linalg.norm(reference), 1e-300))


def relative_l2(prediction: dict[str, np.ndarray], grid: ReferenceGrid) -> dict[str, float]:
    """||prediction - reference|| / ||reference|| per field, over grid points inside the domain."""
    errors = {}
    for f, ref in grid.values.items():
        inside = np.isfinite(prediction[f]) & np.isfinite(ref)
        errors[f] = relative_error(prediction[f][inside], ref[inside])
    return errors


def predict_at_reference_points(model: torch.nn.Module, grid: ReferenceGrid) -> dict[str, np.ndarray]:
    """The prediction per field at a scattered reference's own points (empty without one)."""
    if grid.scattered is None:
        return {}
    values = predict(model, grid.scattered.points)
    return {f: values[:, k] for k, f in enumerate(model.fields)}


def scattered_relative_l2(at_points: dict[str, np.ndarray], grid: ReferenceGrid) -> dict[str, float]:
    """Relative L2 error per field at a scattered reference's points, from the prediction there."""
    if grid.scattered is None:
        return {}
    return {f: relative_error(at_points[f], ref) for f, ref in grid.scattered.values.items()}


def reference_cloud(at_points: dict[str, np.ndarray], grid: ReferenceGrid) -> dict[str, dict[str, np.ndarray]]:
    """A scattered reference as the point cloud ``reference``: per field the reference values,
    the prediction (``<field>_prediction``) and the error (``<field>_error``) at its points."""
    if grid.scattered is None:
        return {}
    cloud = {"coordinates": grid.scattered.points}
    for f, ref in grid.scattered.values.items():
        cloud.update({f: ref, f"{f}_prediction": at_points[f], f"{f}_error": at_points[f] - ref})
    return {"reference": cloud}


def write_outputs(out_dir: Path, problem: Problem, settings: Settings, model: torch.nn.Module,
                  training: TrainingResult, grid: ReferenceGrid, prediction: dict[str, np.ndarray],
                  at_points: dict[str, np.ndarray], metrics: dict[str, Any], started: float) -> None:
    history = {k: np.asarray(v) for k, v in training.history.items()}
    mask = np.isfinite(next(iter(prediction.values())))
    write_fields(
        out_dir / "fields.h5", equation=problem.name, axes=grid.axes, mask=mask,
        prediction=prediction, reference=grid.values or None, loss_history=history,
        residual=residuals_on_grid(problem, model, grid, mask),
        points={**collocation_clouds(problem, model, training.collocation),
                **refinement_clouds(training.refinements), **redraw_clouds(training.redraws),
                **reference_cloud(at_points, grid)},
        attrs={"settings": settings.as_dict(), "metrics": metrics, "source": problem.source_text,
               "seed": settings.seed, "gauges": metrics.get("gauges", {})},
    )
    write_xdmf(out_dir / "fields.h5")
    plot_fields(out_dir / "solution.png", axes=grid.axes, prediction=prediction,
                reference=grid.values or None, title=solution_title(problem, metrics))
    windows = [(step, f"t <= {end:.3g}") for step, end in training.stages]
    if settings.curriculum_mode == "march":  # window k is [t_{k-1}, t_k]
        starts = [problem.domain.time.t0] + [end for _, end in training.stages[:-1]]
        windows = [(step, f"{start:.3g} <= t <= {end:.3g}") for (step, end), start in zip(training.stages, starts)]
    plot_loss_history(out_dir / "loss.png", loss_history=history, phases=training.phases + windows,
                      exact=[name for name, condition in problem.conditions.items() if condition.exact])
    if training.weight_history:
        plot_weight_history(out_dir / "weights.png", training.weight_history)
    if len(grid.axes) >= 2 and training.collocation is not None:  # 3+ inputs: the middle slice
        field = problem.fields[0]
        plot_collocation(out_dir / "collocation.png", axes=grid.axes, field=field, values=prediction[field],
                         point_sets=point_sets_to_show(training))
    with atomic_path(out_dir / "model.pt") as tmp:
        saved = {"state_dict": model.state_dict(), "settings": settings.as_dict(),
                 "equation": problem.name, "pinnlab": __version__, "run_id": metrics.get("run_id"),
                 "inputs": list(problem.inputs), "fields": list(problem.fields),
                 "equation_path": str(problem.source_path) if problem.source_path else None}
        if isinstance(model, TimeMarchedModel):  # one network per window, from these times on
            saved["window_starts"] = list(model.starts)
        write_torch_file(saved, tmp)
    metrics["wall_time_s"] = round(time.perf_counter() - started, 3)
    write_json(out_dir / "metrics.json", metrics)


def residuals_on_grid(problem: Problem, model: torch.nn.Module, grid: ReferenceGrid,
                      mask: np.ndarray) -> dict[str, np.ndarray]:
    """Each equation's pointwise residual on the grid, NaN outside the domain; evaluated in chunks
    so no autograd graph outlives its chunk."""
    inside = mask.ravel()
    values = evaluate_in_chunks(problem, model, grid_points(grid.axes)[inside],
                                residuals=list(problem.residuals))
    residuals = {}
    for name, column in values.residuals.items():
        full = np.full(inside.size, np.nan)
        full[inside] = column
        residuals[name] = full.reshape(mask.shape)
    return residuals


def collocation_clouds(problem: Problem, model: torch.nn.Module,
                       collocation: Collocation | None) -> dict[str, dict[str, np.ndarray]]:
    """The final collocation points with their residuals: ``interior`` with each equation's
    residual, and one cloud per condition (``<name>_condition`` for one named "interior")."""
    if collocation is None:
        return {}
    interior = collocation.interior.detach().to(dtype=torch.float64, device="cpu").numpy()
    values = evaluate_in_chunks(problem, model, interior, residuals=list(problem.residuals))
    residuals = {("coordinates_residual" if n == "coordinates" else n): v for n, v in values.residuals.items()}
    clouds = {"interior": {"coordinates": interior, **residuals}}
    for name, batch in collocation.conditions.items():
        cloud = f"{name}_condition" if name == "interior" else name
        clouds[cloud] = {
            "coordinates": batch.points.detach().to(dtype=torch.float64, device="cpu").numpy(),
            "residual": condition_residual_values(problem, model, name, batch),
        }
    return clouds


def refinement_clouds(refinements: list[Refinement]) -> dict[str, dict[str, np.ndarray]]:
    """``refinement_<k>``: the interior points after the k-th refinement with |r| there."""
    return {f"refinement_{k}": {"coordinates": r.points, "residual": r.residual}
            for k, r in enumerate(refinements, start=1)}


def redraw_clouds(redraws: list[Redraw]) -> dict[str, dict[str, np.ndarray]]:
    """``window_<k>`` (the curriculum's k-th window) and ``resample_<k>`` (the k-th
    ``resample_every`` draw): the interior points as drawn, with |r| there at that moment."""
    return {r.cloud: {"coordinates": r.points, "residual": r.residual} for r in redraws}


def point_sets_to_show(training: TrainingResult) -> list[tuple[str, np.ndarray]]:
    """The first, a middle and the last refinement (or, without refinements, redraw: a time
    window's or a resample's points), then the final points."""
    records = training.refinements or training.redraws
    chosen = sorted({0, len(records) // 2, len(records) - 1}) if records else []
    names = [f"refinement {k + 1}" if training.refinements else records[k].cloud.replace("_", " ")
             for k in chosen]
    sets = [(f"{name} (step {records[k].step})", records[k].points) for name, k in zip(names, chosen)]
    final = training.collocation.interior.detach().double().cpu().numpy()
    return sets + [(f"final points ({len(final)})", final)]


def files_written(out_dir: str | Path) -> list[str]:
    """What a solve left in ``out_dir``: ``metrics.json``, the files it lists (those the run wrote,
    see :mod:`pinnlab.runtime.run_folder`) and the checkpoints, as paths relative to ``out_dir``."""
    out_dir = Path(out_dir)
    try:
        listed = json.loads((out_dir / "metrics.json").read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        listed = {}
    names = ["metrics.json"] + sorted(listed) if (out_dir / "metrics.json").is_file() else sorted(listed)
    checkpoints = out_dir / "checkpoints"
    if checkpoints.is_dir():
        names += sorted(f"checkpoints/{p.name}" for p in checkpoints.iterdir()
                        if p.is_file() and not p.name.startswith("."))
    return names


def solution_title(problem: Problem, metrics: dict[str, Any]) -> str:
    errors = ", ".join(f"{f}: {e:.2e}" for f, e in metrics["rel_l2"].items())
    return f"{problem.name}" + (f" (relative L2 error {errors})" if errors else "")
