"""The files of a solve's run folder: fields.h5 + fields.xdmf, the figures, model.pt, metrics.json.

:func:`write_outputs` writes them from a trained model and what training recorded (the loss
history, the collocation points, refinements and redraws); :func:`files_written` lists what a
run folder holds; :func:`estimate_output_bytes` bounds what a solve will write, so a full disk
is found before training rather than after it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pinnlab.runtime.version import __version__
from pinnlab.output.evaluation import condition_residual_values, evaluate_in_chunks
from pinnlab.output.fields_h5 import spatial_inputs
from pinnlab.output.fields_writer import write_fields
from pinnlab.output.history_plots import plot_loss_history, plot_weight_history
from pinnlab.output.plots import plot_collocation, plot_fields
from pinnlab.output.unknowns import data_clouds, history_arrays, plot_unknowns, unknowns_metrics
from pinnlab.output.xdmf import write_xdmf
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import ReferenceGrid, grid_points
from pinnlab.runtime.atomic import atomic_path, write_json
from pinnlab.training.checkpoint import write_torch_file
from pinnlab.training.phases.lbfgs import LBFGSSettings
from pinnlab.training.time_marching import TimeMarchedModel

if TYPE_CHECKING:
    from pinnlab.model.field_model import FieldModel
    from pinnlab.solver.settings import Settings
    from pinnlab.training.collocation import Collocation
    from pinnlab.training.refinement import Redraw, Refinement
    from pinnlab.training.trainer import TrainingResult

__all__ = ["collocation_clouds", "estimate_output_bytes", "files_written", "point_sets_to_show",
           "redraw_clouds", "reference_cloud", "refinement_clouds", "residuals_on_grid", "solution_title",
           "write_outputs"]


def write_outputs(out_dir: Path, problem: Problem, settings: Settings, model: torch.nn.Module,
                  training: TrainingResult, grid: ReferenceGrid, prediction: dict[str, np.ndarray],
                  at_points: dict[str, np.ndarray], metrics: dict[str, Any], started: float) -> None:
    """Every result file of a solve into ``out_dir``, each written atomically; ``metrics.json``
    last, with the wall time since ``started`` (a ``time.perf_counter()`` value)."""
    history = {k: np.asarray(v) for k, v in training.history.items()}
    mask = np.isfinite(next(iter(prediction.values())))
    if problem.unknowns:  # inverse problems: pinnlab/output/unknowns.py
        metrics["unknowns"] = unknowns_metrics(problem.unknowns, training.unknowns)
    write_fields(
        out_dir / "fields.h5", equation=problem.name, axes=grid.axes, mask=mask,
        prediction=prediction, reference=grid.values or None, loss_history=history,
        residual=residuals_on_grid(problem, model, grid, mask),
        points={**collocation_clouds(problem, model, training.collocation),
                **refinement_clouds(training.refinements), **redraw_clouds(training.redraws),
                **reference_cloud(at_points, grid), **data_clouds(problem, model)},
        unknowns_history=history_arrays(training.unknowns),
        attrs={"settings": settings.as_nested(), "metrics": metrics, "source": problem.source_text,
               "seed": settings.numerics.seed, "gauges": metrics.get("gauges", {})},
    )
    if spatial_inputs(problem.inputs):  # XDMF describes grids in space; time alone has none
        write_xdmf(out_dir / "fields.h5")
    if problem.unknowns and history_arrays(training.unknowns) is not None:
        plot_unknowns(out_dir / "unknowns.png", history_arrays(training.unknowns), problem.unknowns,
                      training.phases)
    plot_fields(out_dir / "solution.png", axes=grid.axes, prediction=prediction,
                reference=grid.values or None, title=solution_title(problem, metrics))
    windows = [(step, f"t <= {end:.3g}") for step, end in training.stages]
    if settings.curriculum.mode == "march":  # window k is [t_{k-1}, t_k]
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
        saved = {"state_dict": model.state_dict(), "settings": settings.as_nested(),
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


def reference_cloud(at_points: dict[str, np.ndarray], grid: ReferenceGrid) -> dict[str, dict[str, np.ndarray]]:
    """A scattered reference as the point cloud ``reference``: per field the reference values,
    the prediction (``<field>_prediction``) and the error (``<field>_error``) at its points."""
    if grid.scattered is None:
        return {}
    cloud = {"coordinates": grid.scattered.points}
    for f, ref in grid.scattered.values.items():
        cloud.update({f: ref, f"{f}_prediction": at_points[f], f"{f}_error": at_points[f] - ref})
    return {"reference": cloud}


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


def solution_title(problem: Problem, metrics: dict[str, Any]) -> str:
    """The equation's name with each field's relative L2 error, for solution.png."""
    errors = ", ".join(f"{f}: {e:.2e}" for f, e in metrics["rel_l2"].items())
    return f"{problem.name}" + (f" (relative L2 error {errors})" if errors else "")


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


def estimate_output_bytes(problem: Problem, settings: Settings, model: FieldModel,
                          grid: ReferenceGrid) -> int:
    """A generous upper bound of what a solve writes: grid fields uncompressed, the grid's point
    coordinates for XDMF, two checkpoints (Adam moments and L-BFGS pairs), figures."""
    grid_points_count = int(np.prod(grid.shape))
    arrays = 3 * len(problem.fields) + len(problem.residuals) + 1
    fields = grid_points_count * (8 * arrays + 25 * len(problem.inputs))
    parameters = sum(p.numel() for p in model.parameters())
    adam, lbfgs = settings.phase("adam"), settings.phase("lbfgs")
    steps, lbfgs_steps = (adam.steps if adam else 0), (lbfgs.steps if lbfgs else 0)
    sampling, refine = settings.sampling, settings.refine
    refinements = (steps + lbfgs_steps) // refine.every if refine.method != "none" else 0
    refinements += settings.curriculum.windows + (steps // sampling.resample_every if sampling.resample_every else 0)
    points = (sampling.points * (1 + refinements) + refine.points * refinements
              + sampling.boundary_points * len(problem.conditions) * 3)
    history = (lbfgs or LBFGSSettings()).history
    checkpoint = 8 * (parameters * (4 + 2 * history) + points * (len(problem.inputs) + 1))
    return fields + 2 * checkpoint + 4_000_000
