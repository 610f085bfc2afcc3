"""Re-evaluate a saved model on any grid: ``pinnlab export RUN_DIR --grid 512x256``.

A solve writes its fields on one modest grid; a figure, a ParaView study or a comparison with
another code often needs a finer or different one, or derivatives and residuals that were not
stored. :func:`export` rebuilds the network from ``RUN_DIR/model.pt`` (the equation module it
records, the saved settings, the saved weights), walks the grid block by block and writes an
HDF5 file in the ``pinnlab-fields`` layout with an XDMF file beside it. Memory holds one block
(16384 points by default) whatever the grid size, so a 1e7-point grid exports on a laptop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pinnlab.runtime.atomic import check_output_file
from pinnlab.training.checkpoint import CheckpointError, check_saved_problem, read_torch_file, state_dict_mismatches
from pinnlab.derivatives.derivative import (
    Derivative,
    DerivativeNameError,
    derivative_name,
    parse_derivative,
)
from pinnlab.output.evaluation import CHUNK, evaluate
from pinnlab.output.family import instance_of
from pinnlab.problem.parameters import parse_instance
from pinnlab.output.fields_writer import open_fields
from pinnlab.problem.gauges import GaugeShift, pin_shift, records
from pinnlab.output.grid_blocks import block_points, grid_blocks
from pinnlab.model.field_model import FieldModel, build_model
from pinnlab.problem.equation_module import Problem, load_problem
from pinnlab.runtime.progress import progress
from pinnlab.problem.reference import Exact
from pinnlab.solver.settings import Settings
from pinnlab.output.accuracy import box_axes, default_grid
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.time_marching import TimeMarchedModel
from pinnlab.output.fields_h5 import spatial_inputs
from pinnlab.output.xdmf import write_xdmf

__all__ = [
    "ExportResult",
    "SavedRun",
    "Selection",
    "export",
    "load_run",
    "parse_fields",
    "parse_grid",
    "parse_times",
]



@dataclass(frozen=True)
class SavedRun:
    """A solved problem rebuilt from its run directory, ready to evaluate."""

    run_dir: Path
    problem: Problem
    settings: Settings
    model: FieldModel | TimeMarchedModel  # TimeMarchedModel: a time-marched solve
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    """What to export: fields, derivatives (by :class:`Derivative`) and residual names."""

    fields: tuple[str, ...]
    derivatives: tuple[Derivative, ...]
    residuals: tuple[str, ...]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    xdmf: Path | None  # None for a problem in time alone: XDMF describes grids in space
    shape: tuple[int, ...]
    selection: Selection
    notes: list[str]


def load_run(run_dir: str | Path, equation: str | Path | None = None,
             device: str | None = None) -> SavedRun:
    """Rebuild the problem, settings and trained model of a ``pinnlab solve`` output folder.

    The equation module is the one recorded in ``model.pt`` unless ``equation`` is given. A
    saved network that does not fit the rebuilt one is refused whole (never loaded in part).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    model_path = run_dir / "model.pt"
    if not model_path.is_file():
        raise ValueError(f"{run_dir} holds no model.pt; pass the output folder of 'pinnlab solve'")
    try:  # verified (zip CRCs) and loaded without running code
        saved = read_torch_file(model_path)
    except CheckpointError as error:
        raise ValueError(f"{model_path} cannot be read as a saved pinnlab model: {error}") from None
    if not isinstance(saved, dict) or not {"state_dict", "settings"} <= set(saved):
        raise ValueError(f"{model_path} is not a pinnlab model (expected keys 'state_dict' and 'settings')")

    recorded = saved.get("equation_path")
    path = Path(equation) if equation is not None else Path(recorded) if recorded else None
    if path is None:
        raise ValueError(f"{model_path} does not record its equation module (an older pinnlab, or a "
                         "problem defined in Python); pass --equation PATH")
    if not path.is_file():
        where = "given with --equation" if equation is not None else f"recorded in {model_path}"
        raise ValueError(f"equation module {path} ({where}) does not exist; pass --equation PATH")
    problem = load_problem(path)
    notes = []
    solved_source = _solved_source(run_dir)
    check_saved_problem(saved, problem, path, model_path, solved_source)  # refuses another problem
    if solved_source is not None and solved_source != problem.source_text:
        notes.append(f"{path} has changed since the solve (its text differs from the source in "
                     f"{run_dir / 'fields.h5'}); residuals use the current text")

    settings = Settings().replace(saved["settings"], f"{model_path}: settings")
    if device is not None:
        settings = settings.replace({"numerics.device": device}, "--device")
    if settings.numerics.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{model_path} was solved on '{settings.numerics.device}', which torch cannot find "
                         "here; pass --device cpu")
    model = build_model(problem, settings)
    starts = saved.get("window_starts")
    if starts is not None:  # time marching: one network per window
        pieces = [model] + [build_model(problem, settings) for _ in starts[1:]]
        model = TimeMarchedModel(pieces, starts, problem.layout.time_index, problem.fields)
    _load_state(model, saved["state_dict"], model_path, path)
    return SavedRun(run_dir, problem, settings, model, notes)


def _solved_source(run_dir: Path) -> str | None:
    """The equation source stored by the solve in ``fields.h5``, if it can be read."""
    import h5py

    try:
        with h5py.File(run_dir / "fields.h5", "r") as f:
            source = f.attrs.get("source")
    except OSError:
        return None
    return source.decode("utf-8") if isinstance(source, bytes) else source


def _load_state(model: FieldModel | TimeMarchedModel, state: dict, model_path: Path, equation: Path) -> None:
    """Load ``state`` into ``model`` only if every name and shape matches."""
    problems = state_dict_mismatches(model.state_dict(), state)
    if problems:
        shown = "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
        raise ValueError(
            f"{model_path} does not fit the network built from {equation} and the saved settings "
            f"({shown}); was the module's fields, inputs or domain changed? Pass the module it was "
            "solved with (--equation PATH)"
        )
    model.load_state_dict(state, strict=True)


def parse_grid(grid: str | Sequence[int] | None, problem: Problem, settings: Settings,
               times: np.ndarray | None = None) -> tuple[int, ...]:
    """Grid sizes, one per input (the solve's grid when ``None``).

    With ``times``, sizes may be given for the spatial inputs only; the time axis has one point
    per time.
    """
    inputs = problem.inputs
    if grid is None:
        sizes = tuple(settings.output.grid or default_grid(problem))
        if times is not None:
            sizes = (*sizes[:-1], len(times))
    elif isinstance(grid, str):
        try:
            sizes = tuple(int(v) for v in grid.lower().replace(",", "x").split("x"))
        except ValueError:
            raise ValueError(f"--grid '{grid}': expected sizes like 512x256, one per input "
                             f"({', '.join(inputs)})") from None
    else:
        sizes = tuple(int(v) for v in grid)
    if times is not None and len(sizes) == len(inputs) - 1:
        sizes = (*sizes, len(times))
    shown = "x".join(map(str, sizes))
    if len(sizes) != len(inputs):
        hint = " (or one per spatial input with --times)" if times is not None else ""
        raise ValueError(f"--grid {shown}: {len(sizes)} sizes for {len(inputs)} inputs "
                         f"({', '.join(inputs)}){hint}")
    if times is not None and sizes[-1] != len(times):
        raise ValueError(f"--grid {shown} gives {sizes[-1]} times but --times lists {len(times)}")
    if any(n < 2 for n in (sizes[:-1] if times is not None else sizes)):
        raise ValueError(f"--grid {shown}: sizes must be >= 2")
    return sizes


def parse_times(times: str | Sequence[float] | None, problem: Problem) -> np.ndarray | None:
    """The time axis values, checked to be increasing and inside the domain's time interval."""
    if times is None:
        return None
    if problem.layout.time_index is None:
        raise ValueError(f"--times: '{problem.name}' has no time input (inputs: {', '.join(problem.inputs)})")
    try:
        values = np.array([float(v) for v in (times.split(",") if isinstance(times, str) else times)])
    except ValueError:
        raise ValueError(f"--times '{times}': expected comma-separated numbers, e.g. 0,0.5,1") from None
    lower, upper = problem.domain.bounds()
    t0, t1 = lower[-1], upper[-1]
    if values.size == 0 or np.any(np.diff(values) <= 0):
        raise ValueError(f"--times {times}: expected increasing values")
    tolerance = 1e-9 * (t1 - t0)
    if values[0] < t0 - tolerance or values[-1] > t1 + tolerance:
        raise ValueError(f"--times {times}: values must lie in the domain's time interval [{t0:g}, {t1:g}]")
    return values


def parse_fields(fields: str | Sequence[str] | None, problem: Problem) -> Selection:
    """Names to export; ``None`` means every field and every residual."""
    if fields is None:
        return Selection(problem.fields, (), tuple(problem.residuals))
    names = [n.strip() for n in fields.split(",")] if isinstance(fields, str) else list(fields)
    chosen_fields, derivatives, residuals = [], [], []
    for name in names:
        if name == "residual" and name not in problem.residuals:
            residuals += list(problem.residuals)
        elif name in problem.residuals:
            residuals.append(name)
        else:
            try:
                d = parse_derivative(name, problem.fields, problem.inputs)
            except DerivativeNameError as error:
                raise ValueError(
                    f"--fields: unknown name '{name}' ({error}); choose fields "
                    f"({', '.join(problem.fields)}), derivatives such as {problem.fields[0]}_"
                    f"{problem.inputs[0]}, residuals ({', '.join(problem.residuals)}) or 'residual' for all"
                ) from None
            (derivatives if d.order else chosen_fields).append(d if d.order else d.field)
    if not (chosen_fields or derivatives or residuals):
        raise ValueError("--fields: nothing selected")
    return Selection(tuple(dict.fromkeys(chosen_fields)), tuple(dict.fromkeys(derivatives)),
                     tuple(dict.fromkeys(residuals)))


def export_axes(problem: Problem, sizes: tuple[int, ...], times: np.ndarray | None) -> dict[str, np.ndarray]:
    """Evenly spaced axes over the domain's bounding box; ``times`` replaces the time axis."""
    axes = box_axes(problem, sizes)
    if times is not None:
        axes[problem.inputs[-1]] = times
    return axes


def export(run_dir: str | Path, grid: str | Sequence[int] | None = None, *,
           times: str | Sequence[float] | None = None, fields: str | Sequence[str] | None = None,
           out: str | Path | None = None, equation: str | Path | None = None,
           device: str | None = None, chunk: int = CHUNK, show_progress: bool = True,
           threads: int | None = None, at: str | Mapping[str, float] | None = None) -> ExportResult:
    """Evaluate the model saved in ``run_dir`` on a grid; write ``out`` (HDF5) and its XDMF.

    ``out`` defaults to ``run_dir/export.h5``. Reference and error are written when the problem's
    reference is an ``Exact`` function (tabulated ``GridData`` and ``TableData`` have their own
    points). A gauged field (``gauges`` in the module) is shifted as in the solve, its constant
    taken on the export grid (see :func:`export_shifts`). ``threads`` replaces the solve's
    ``threads`` setting. A family (``parameters`` in the module) is exported one instance at a
    time: ``at`` gives its values (``"nu=0.01"`` or ``{"nu": 0.01}``), inside the trained box.
    Everything is checked before the first point is evaluated.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 point, got {chunk}")
    run = load_run(run_dir, equation, device)
    problem, settings, model = run.problem, run.settings, run.model
    problem, model = chosen_instance(problem, model, at)
    if threads is not None:
        settings = settings.replace({"numerics.threads": threads}, "--set threads")
    time_values = parse_times(times, problem)
    sizes = parse_grid(grid, problem, settings, time_values)
    selection = parse_fields(fields, problem)
    axes = export_axes(problem, sizes, time_values)
    out = Path(out) if out is not None else run.run_dir / "export.h5"
    check_output_file(out)  # before anything is computed

    notes = list(run.notes)
    exact = problem.reference if isinstance(problem.reference, Exact) else None
    referenced = selection.fields if exact is not None else ()
    if problem.reference is not None and exact is None and selection.fields:
        notes.append("the reference is tabulated (GridData or TableData), so no reference or error is "
                     "written on the export grid")
    names = [derivative_name(d, problem.inputs) for d in selection.derivatives]
    datasets = {"prediction": selection.fields, "reference": referenced, "error": referenced,
                "residual": selection.residuals, "derivatives": names}
    attrs = {"settings": settings.as_nested(), "metrics": _metrics(run.run_dir),
             "source": problem.source_text, "seed": settings.numerics.seed,
             "exported_from": str(run.run_dir)}

    with thread_limit(settings.numerics.threads):
        shifts = export_shifts(problem, model, axes, selection.fields, attrs["metrics"], chunk)
        notes += gauge_notes(shifts, exact is not None)
        attrs["gauges"] = records(shifts)
        added = {f: s.shift for f, s in shifts.items() if s.shift is not None}
        with open_fields(out, equation=problem.name, axes=axes, datasets=datasets, attrs=attrs,
                         max_points=chunk) as writer, \
                progress(writer.size, f"export {problem.name}", show_progress and writer.size > chunk) as bar:
            for block in writer.blocks():
                points = writer.points(block)
                inside = problem.domain.contains(points)
                values: dict[tuple[str, str], np.ndarray] = {}
                if inside.any():
                    at = points[inside]
                    v = evaluate(problem, model, at, selection.fields, selection.derivatives, selection.residuals)
                    predicted = {f: a + added.get(f, 0.0) for f, a in v.fields.items()}
                    values.update({("prediction", f): a for f, a in predicted.items()})
                    values.update({("derivatives", n): a for n, a in v.derivatives.items()})
                    values.update({("residual", n): a for n, a in v.residuals.items()})
                    if exact is not None and referenced:
                        reference = exact.at_points(problem.layout, at)
                        for f in referenced:
                            values[("reference", f)] = reference[f]
                            values[("error", f)] = predicted[f] - reference[f]
                writer.write(block, inside, values)
                bar.update(block.size)
    xdmf = write_xdmf(out) if spatial_inputs(problem.inputs) else None
    return ExportResult(out, xdmf, sizes, selection, notes)


def chosen_instance(problem: Problem, model: torch.nn.Module,
                    at: str | Mapping[str, float] | None) -> tuple[Problem, torch.nn.Module]:
    """The problem and model to export: a family's instance at ``at``, else the problem itself."""
    if not problem.parameters:
        if at is not None:
            raise ValueError(f"--at: '{problem.name}' declares no parameters; it is a single problem")
        return problem, model
    if at is None:
        example = ",".join(f"{n}={(lo + hi) / 2:g}" for n, lo, hi in
                           zip(problem.parameters.names, problem.parameters.lower, problem.parameters.upper))
        raise ValueError(f"'{problem.name}' is a family with parameters {', '.join(problem.parameters.names)}; "
                         f"say which instance to export with --at {example}")
    values = parse_instance(at, problem.parameters) if isinstance(at, str) else dict(at)
    return instance_of(problem, model, values)


def export_shifts(problem: Problem, model: torch.nn.Module, axes: dict[str, np.ndarray],
                  fields: Sequence[str], solved_metrics: dict, chunk: int) -> dict[str, GaugeShift]:
    """The shift of each exported gauged field. With an ``Exact`` reference it is measured on the
    export grid (the mean over its points in the domain, a first pass over the grid, or the value
    at the pin); a tabulated reference has no values there, so the solve's recorded shift is used."""
    gauged = {f: g for f, g in problem.gauges.items() if f in fields}
    if not isinstance(problem.reference, Exact):
        recorded = solved_metrics.get("gauges", {}) if isinstance(solved_metrics.get("gauges"), dict) else {}
        shifts = {}
        for f, gauge in gauged.items():
            saved = recorded.get(f) if isinstance(recorded.get(f), dict) else {}
            same = saved.get("kind") == gauge.kind and isinstance(saved.get("shift"), (int, float))
            shifts[f] = GaugeShift(gauge, float(saved["shift"]) if same else None, saved.get("at") if same else None)
        return shifts
    exact = problem.reference

    def predict(points: np.ndarray) -> dict[str, np.ndarray]:
        return evaluate(problem, model, points, tuple(gauged)).fields

    shifts = {f: pin_shift(f, g, problem.layout, exact, predict) for f, g in gauged.items() if g.kind == "pinned"}
    means = [f for f, g in gauged.items() if g.kind == "mean"]
    if means:
        totals, count = dict.fromkeys(means, 0.0), 0
        for block in grid_blocks(tuple(len(a) for a in axes.values()), chunk):
            points = block_points(list(axes.values()), block)
            at = points[problem.domain.contains(points)]
            if len(at):
                predicted, reference = predict(at), exact.at_points(problem.layout, at)
                for f in means:
                    totals[f] += float(np.sum(reference[f] - predicted[f]))
                count += len(at)
        shifts.update({f: GaugeShift(gauged[f], totals[f] / count if count else None) for f in means})
    return {f: shifts[f] for f in gauged}


def gauge_notes(shifts: dict[str, GaugeShift], exact: bool) -> list[str]:
    """What a user should know about gauged fields that were not shifted on the export grid."""
    notes = []
    for f, shift in shifts.items():
        if shift.shift is None:
            notes.append(f"'{f}' has a gauge but nothing to match it to (no reference, or no shift recorded "
                         "in metrics.json): it is written as the network gives it")
        elif not exact:
            notes.append(f"'{f}' is shifted by {shift.shift:.6g}, the gauge constant the solve measured "
                         "(metrics.json); the reference has no values on the export grid")
    return notes


def _metrics(run_dir: Path) -> dict:
    """The solve's metrics.json, or {} when it is missing or unreadable."""
    try:
        return json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
