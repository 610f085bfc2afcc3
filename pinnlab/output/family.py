"""Judging a family of problems (pinnlab/problem/parameters.py) one instance at a time.

A family's model takes the parameters as inputs, so a new instance costs one forward pass over
the grid, no training. Each held-out instance is an ordinary problem (``Problem.instance``) with
its own reference values on its own grid; its prediction comes from the family model with the
parameter columns fixed (:class:`pinnlab.model.field_model.InstanceModel`). metrics.json gets
the relative L2 error per held-out instance, their mean and maximum, and the milliseconds one
instance's prediction took (:func:`family_metrics`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from pinnlab.model.field_model import InstanceModel
from pinnlab.output.accuracy import (evaluation_grid, predict_at_reference_points, predict_on_grid, relative_l2,
                                     scattered_relative_l2)
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import ReferenceGrid

if TYPE_CHECKING:
    from pinnlab.solver.settings import Settings

__all__ = ["InstanceResult", "evaluate_family", "evaluate_instance", "evaluate_instances", "family_metrics",
           "instance_of"]


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


def evaluate_instance(problem: Problem, model: torch.nn.Module, values: Mapping[str, float],
                      settings: Settings) -> InstanceResult:
    """The prediction of ``model`` (the family's) for one instance on its evaluation grid, with
    the relative L2 error when the problem has a reference. ``predict_ms`` times the prediction
    alone (the reference is not part of what a new instance costs)."""
    instance, instance_model = instance_of(problem, model, values)
    grid = evaluation_grid(instance, settings)
    started = time.perf_counter()
    prediction = predict_on_grid(instance_model, instance, grid)
    elapsed = (time.perf_counter() - started) * 1e3
    at_points = predict_at_reference_points(instance_model, grid)
    errors = {**relative_l2(prediction, grid), **scattered_relative_l2(at_points, grid)}
    return InstanceResult(dict(instance_model.values), grid, prediction, at_points, errors, elapsed)


def evaluate_family(problem: Problem, model: torch.nn.Module, settings: Settings,
                    instances: Sequence[Mapping[str, float]] | None = None) -> list[InstanceResult]:
    """:func:`evaluate_instance` for each of ``instances`` (default: the problem's held-out set)."""
    chosen = problem.held_out if instances is None else instances
    return [evaluate_instance(problem, model, values, settings) for values in chosen]


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
                       equation: str | Path | None = None, device: str | None = None) -> list[InstanceResult]:
    """A batch of instances from a saved family (the output folder of ``pinnlab solve``): the model
    is loaded once, each instance then costs one prediction on the solve's grid."""
    from pinnlab.output.export import load_run  # export builds on this module

    run = load_run(run_dir, equation, device)
    if not run.problem.parameters:
        raise ValueError(f"{run.run_dir}: '{run.problem.name}' declares no parameters; it is a single problem")
    return evaluate_family(run.problem, run.model, run.settings, instances)
