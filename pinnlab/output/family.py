"""Judging a family of problems (pinnlab/problem/parameters.py) one instance at a time.

A family's model takes the parameters as inputs, so a new instance costs one forward pass over
the grid, no training. Each held-out instance is an ordinary problem (``Problem.instance``) with
its own reference values on its own grid; its prediction comes from the family model with the
parameter columns fixed (:class:`pinnlab.model.field_model.InstanceModel`). metrics.json gets
the relative L2 error per held-out instance, their mean and maximum, and the milliseconds one
instance's prediction took (:func:`family_metrics`).

:func:`predict_instances` is the fast path for new instances on a grid of one's own: one call
takes any number of parameter values, builds the grid once, and runs the network on all the
instances' points together, under ``torch.inference_mode`` (no autograd graph), in the model's
dtype, a chunk of rows per forward pass (docs/parametric.md: the measured cost per instance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from pinnlab.model.field_model import InstanceModel
from pinnlab.model.network import tanh_through_sigmoid
from pinnlab.output.accuracy import (box_axes, evaluation_grid, predict_at_reference_points, relative_l2,
                                     scattered_relative_l2)
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import ReferenceGrid, grid_points
from pinnlab.runtime.threads import thread_limit

if TYPE_CHECKING:
    from pinnlab.solver.settings import Settings

__all__ = ["INSTANCE_CHUNK", "InstanceResult", "evaluate_family", "evaluate_instance", "evaluate_instances",
           "family_metrics", "instance_of", "predict_instances"]

INSTANCE_CHUNK = 8192
"""Rows per forward pass in :func:`predict_instances`: the activations of a pass stay in cache.
Measured 2026-12-07 on a 2-core AMD EPYC, one thread, a 4 x 20 tanh network, 8 instances on a
256 x 101 grid: 6.2 ms per instance at 8192 rows a pass, 6.8 at 2048, 6.2 at 32 768 (float32);
12.7, 13.3 and 16.1 ms (float64)."""


@dataclass(frozen=True)
class InstanceResult:
    """One instance: its parameter values, its grid (with reference values, if any), the
    prediction there (NaN outside the domain), the error and the prediction's time."""

    values: dict[str, float]
    grid: ReferenceGrid
    prediction: dict[str, np.ndarray]
    at_points: dict[str, np.ndarray]
    rel_l2: dict[str, float]
    predict_ms: float


def instance_of(problem: Problem, model: torch.nn.Module,
                values: Mapping[str, float]) -> tuple[Problem, InstanceModel]:
    """The ordinary problem and model of one member of the family (values checked against the box)."""
    instance = problem.instance(values)
    chosen = {name: instance.constants[name] for name in problem.parameters.names}
    return instance, InstanceModel(model, chosen, problem.parameters.names)


def predict_instances(problem: Problem, model: torch.nn.Module, instances: Sequence[Mapping[str, float]],
                      grid: Mapping[str, np.ndarray] | Sequence[int], threads: int = 0,
                      chunk: int = INSTANCE_CHUNK) -> list[dict[str, np.ndarray]]:
    """The family model's fields for each of ``instances`` on one tensor grid: per instance
    ``{field: float64 array of the grid's shape}`` (axes in ``problem.inputs`` order, C order,
    NaN outside the domain).

    ``grid`` is one axis per physical input (``{"x": xs, "t": ts}``) or the sizes of an evenly
    spaced grid over the domain's bounding box (``(256, 101)``). Each instance's values are
    checked against the box. The instances go through the network together, up to ``chunk``
    rows a forward pass (whole instances on small grids), under ``torch.inference_mode`` in the
    model's dtype, on ``threads`` torch threads (0: as set); the values are those of
    :func:`pinnlab.output.evaluation.predict` on each instance's points."""
    if not problem.parameters:
        raise ValueError(f"{problem.origin}: predict_instances needs a family (a module with parameters)")
    owner = f"{problem.origin}: instance"
    chosen = [problem.parameters.instance_values(values, owner) for values in instances]
    axes = instance_axes(problem, grid)
    points = grid_points(axes)
    shape = tuple(len(axis) for axis in axes.values())
    outside = ~problem.domain.contains(points).reshape(shape)
    parameter = next(model.parameters())
    n, fields = len(points), len(problem.fields)
    values = np.empty((fields, len(chosen), n))
    per_pass = max(1, chunk // n)  # small grids: several whole instances a forward pass
    span = min(n, chunk)  # large grids: part of one instance's points a pass
    with thread_limit(threads, blas=False), torch.inference_mode(), tanh_through_sigmoid(model):
        physical = torch.as_tensor(points, dtype=parameter.dtype, device=parameter.device)
        columns = torch.tensor([[v[name] for name in problem.parameters.names] for v in chosen],
                               dtype=parameter.dtype, device=parameter.device)
        for first in range(0, len(chosen), per_pass):
            group = columns[first:first + per_pass]
            for start in range(0, n, span):
                part = physical[start:start + span]
                rows = torch.cat([part.expand(len(group), -1, -1),
                                  group[:, None, :].expand(-1, len(part), -1)], dim=2)
                out = model(rows.reshape(len(group) * len(part), -1)).cpu().numpy()
                values[:, first:first + len(group), start:start + len(part)] = out.T.reshape(fields, len(group), -1)
    values = values.reshape(fields, len(chosen), *shape)
    if outside.any():
        values[:, :, outside] = np.nan
    return [{f: values[k, i] for k, f in enumerate(problem.fields)} for i in range(len(chosen))]


def instance_axes(problem: Problem, grid: Mapping[str, np.ndarray] | Sequence[int]) -> dict[str, np.ndarray]:
    """The axes of ``grid`` (axes by input name, or sizes over the bounding box), checked."""
    if isinstance(grid, Mapping):
        if list(grid) != list(problem.inputs):
            raise ValueError(f"{problem.origin}: grid axes {', '.join(grid) or 'none'}; expected one per input, "
                             f"in order: {', '.join(problem.inputs)}")
        axes = {name: np.asarray(axis, dtype=np.float64) for name, axis in grid.items()}
        flat = [name for name, axis in axes.items() if axis.ndim != 1 or len(axis) == 0]
        if flat:
            raise ValueError(f"{problem.origin}: grid axis '{flat[0]}' must be a non-empty 1-D array")
        return axes
    sizes = tuple(grid)
    if len(sizes) != len(problem.inputs) or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"{problem.origin}: grid {sizes}; expected {len(problem.inputs)} sizes >= 1, one per input "
                         f"({', '.join(problem.inputs)})")
    return box_axes(problem, sizes)


def evaluate_instance(problem: Problem, model: torch.nn.Module, values: Mapping[str, float],
                      settings: Settings, threads: int = 0) -> InstanceResult:
    """The prediction of ``model`` (the family's) for one instance on its evaluation grid, with
    the relative L2 error when the problem has a reference. ``predict_ms`` times the prediction
    alone (:func:`predict_instances` on the grid; the reference is not part of what a new
    instance costs)."""
    instance, instance_model = instance_of(problem, model, values)
    grid = evaluation_grid(instance, settings)
    started = time.perf_counter()
    (prediction,) = predict_instances(problem, model, [instance_model.values], grid.axes, threads)
    elapsed = (time.perf_counter() - started) * 1e3
    if grid.values:  # the reference NaN outside the domain too, as the prediction (predict_on_grid does the same)
        outside = ~instance.domain.contains(grid_points(grid.axes)).reshape(grid.shape)
        for array in grid.values.values():
            array[outside] = np.nan
    at_points = predict_at_reference_points(instance_model, grid)
    errors = {**relative_l2(prediction, grid), **scattered_relative_l2(at_points, grid)}
    return InstanceResult(dict(instance_model.values), grid, prediction, at_points, errors, elapsed)


def evaluate_family(problem: Problem, model: torch.nn.Module, settings: Settings,
                    instances: Sequence[Mapping[str, float]] | None = None, threads: int = 0) -> list[InstanceResult]:
    """:func:`evaluate_instance` for each of ``instances`` (default: the problem's held-out set)."""
    chosen = problem.held_out if instances is None else instances
    return [evaluate_instance(problem, model, values, settings, threads) for values in chosen]


def family_metrics(problem: Problem, results: Sequence[InstanceResult]) -> dict[str, Any]:
    """metrics.json's ``family`` entry: the box, each held-out instance's error, the mean and
    maximum per field, and the time per new instance (the median over the instances, in ms)."""
    fields = list(results[0].rel_l2) if results else []
    box = problem.parameters
    return {
        "parameters": {name: [lo, hi] for name, lo, hi in zip(box.names, box.lower, box.upper)},
        "held_out": [{"values": r.values, "rel_l2": r.rel_l2} for r in results],
        "rel_l2_mean": {f: float(np.mean([r.rel_l2[f] for r in results])) for f in fields},
        "rel_l2_max": {f: float(np.max([r.rel_l2[f] for r in results])) for f in fields},
        "instance_ms": round(float(np.median([r.predict_ms for r in results])), 3) if results else None,
        "instance_points": int(np.prod(results[0].grid.shape)) if results else 0,
    }


def evaluate_instances(run_dir: str | Path, instances: Sequence[Mapping[str, float]],
                       equation: str | Path | None = None, device: str | None = None,
                       threads: int = 0) -> list[InstanceResult]:
    """A batch of instances from a saved family (the output folder of ``pinnlab solve``): the model
    is loaded once, each instance then costs one prediction on the solve's grid (with its error
    where the module has a reference), on ``threads`` torch threads (0: as set). For new
    instances on a grid of one's own, without references, :func:`predict_instances` on
    ``pinnlab.output.export.load_run(run_dir)``'s problem and model."""
    from pinnlab.output.export import load_run  # export builds on this module

    run = load_run(run_dir, equation, device)
    if not run.problem.parameters:
        raise ValueError(f"{run.run_dir}: '{run.problem.name}' declares no parameters; it is a single problem")
    return evaluate_family(run.problem, run.model, run.settings, instances, threads)
