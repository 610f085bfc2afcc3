"""The grid a solve is judged on, the prediction there, and its relative L2 error.

The grid is the reference's own when it has one, else ``output.grid`` (or a default) over the
domain's bounding box; points outside the domain are NaN in the prediction and the reference
alike, so errors and figures cover the domain only. A scattered reference (``TableData``) is
also compared at its own points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from pinnlab.output.evaluation import predict
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import ReferenceGrid, grid_points

if TYPE_CHECKING:
    from pinnlab.solver.settings import Settings

__all__ = ["box_axes", "default_grid", "evaluation_grid", "predict_at_reference_points", "predict_on_grid",
           "relative_error", "relative_l2", "scattered_relative_l2"]

SPACE_GRID = {1: (512,), 2: (201, 201), 3: (64, 64, 64)}
SPACE_TIME_GRID = {1: (256, 101), 2: (101, 101, 26), 3: (48, 48, 48, 11)}


def default_grid(problem: Problem) -> tuple[int, ...]:
    """A grid of a few 1e4-1e5 points: fine in space, coarser in time."""
    if problem.layout.time_index is None:
        return SPACE_GRID[len(problem.inputs)]
    return SPACE_TIME_GRID[len(problem.inputs) - 1]


def evaluation_grid(problem: Problem, settings: Settings) -> ReferenceGrid:
    """The reference's own grid when it has one, else ``output.grid`` (empty: :func:`default_grid`)
    over the bounding box. A family's (pinnlab/problem/parameters.py) is that of its first
    held-out instance; pinnlab/output/family.py judges each instance on its own."""
    if problem.parameters:
        problem = problem.instance(problem.held_out[0])
    shape = tuple(settings.output.grid) or default_grid(problem)
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


def predict_on_grid(model: torch.nn.Module, problem: Problem, grid: ReferenceGrid) -> dict[str, np.ndarray]:
    """The prediction per field on the grid, NaN outside the domain (and the grid's reference
    values set to NaN there too)."""
    points = grid_points(grid.axes)
    values = predict(model, points)
    outside = ~problem.domain.contains(points).reshape(grid.shape)
    prediction = {f: values[:, k].reshape(grid.shape) for k, f in enumerate(problem.fields)}
    for array in list(prediction.values()) + list(grid.values.values()):
        array[outside] = np.nan  # the reference too, so plots and errors cover the domain only
    return prediction


def predict_at_reference_points(model: torch.nn.Module, grid: ReferenceGrid) -> dict[str, np.ndarray]:
    """The prediction per field at a scattered reference's own points (empty without one)."""
    if grid.scattered is None:
        return {}
    values = predict(model, grid.scattered.points)
    return {f: values[:, k] for k, f in enumerate(model.fields)}


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


def scattered_relative_l2(at_points: dict[str, np.ndarray], grid: ReferenceGrid) -> dict[str, float]:
    """Relative L2 error per field at a scattered reference's points, from the prediction there."""
    if grid.scattered is None:
        return {}
    return {f: relative_error(at_points[f], ref) for f, ref in grid.scattered.values.items()}
