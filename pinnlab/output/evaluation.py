"""Pointwise values of a trained model: its fields, named derivatives and residuals.

The one way pinnlab evaluates a model on points (solve, export, gauges, point clouds).
:func:`predict` gives the fields alone, without a graph; :func:`evaluate` adds derivatives and
residuals, which need autograd, so it builds a graph for its points and drops it before returning
plain float64 arrays. Both work in chunks, so memory follows the chunk, not the number of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from pinnlab.problem.conditions import ConditionBatch
from pinnlab.derivatives.derivative import Derivative, derivative_name
from pinnlab.training.losses import condition_residual, residual_values
from pinnlab.derivatives.engines import Engine, field_derivatives
from pinnlab.problem.equation_module import Problem
from pinnlab.training.time_marching import TimeMarchedModel

__all__ = ["CHUNK", "PREDICT_CHUNK", "PointValues", "condition_residual_values", "evaluate",
           "evaluate_in_chunks", "predict"]

CHUNK = 16384
"""Points per chunk when derivatives or residuals are asked for: their autograd or jet scratch
(a few kB per point for second derivatives) dominates memory."""
PREDICT_CHUNK = 65536
"""Points per forward pass for the fields alone: no graph is kept, so a chunk costs only the
activations. Changing it may change the last bits of a prediction (BLAS blocks by batch size)."""


@dataclass(frozen=True)
class PointValues:
    """Values at N points, each (N,) float64, keyed by field, derivative (``u_x``) or residual name."""

    fields: dict[str, np.ndarray] = field(default_factory=dict)
    derivatives: dict[str, np.ndarray] = field(default_factory=dict)
    residuals: dict[str, np.ndarray] = field(default_factory=dict)


def _numpy(value: torch.Tensor) -> np.ndarray:
    return value.detach().to(dtype=torch.float64, device="cpu").numpy()


def predict(model: torch.nn.Module, points: np.ndarray, chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """The model's fields at ``points`` (N, d) as float64 (N, F), ``chunk`` points per forward
    pass, without a graph."""
    parameter = next(model.parameters())
    outputs = []
    with torch.no_grad():
        for start in range(0, len(points), chunk):
            x = torch.as_tensor(points[start:start + chunk], dtype=parameter.dtype, device=parameter.device)
            outputs.append(model(x).double().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(model.fields)))


def evaluate(problem: Problem, model: torch.nn.Module, points: np.ndarray,
             fields: Sequence[str] = (), derivatives: Sequence[Derivative] = (),
             residuals: Sequence[str] = (), engine: Engine | None = None) -> PointValues:
    """The requested values at ``points`` (N, d), derivatives taken by ``engine`` (None: the
    default engine); keeps no graph after it returns.

    A :class:`TimeMarchedModel` (one network per time window) is evaluated window by window, each
    network on its own points, so every window takes the same path as in training."""
    if isinstance(model, TimeMarchedModel):
        return evaluate_by_window(problem, model, np.asarray(points), fields, derivatives, residuals, engine)
    points = np.asarray(points)
    out = PointValues()
    if fields:
        values = predict(model, points, chunk=max(len(points), 1))
        for f in fields:
            out.fields[f] = values[:, problem.fields.index(f)]
    if derivatives or residuals:
        parameter = next(model.parameters())
        x = torch.as_tensor(points, dtype=parameter.dtype, device=parameter.device)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            if derivatives:
                values = field_derivatives(model, xg, problem.fields, set(derivatives), create_graph=False,
                                           engine=engine)
                for d in derivatives:
                    out.derivatives[derivative_name(d, problem.inputs)] = _numpy(values[d])
            if residuals:
                computed = residual_values(problem, model, xg, create_graph=False, engine=engine)
                for name in residuals:
                    out.residuals[name] = _numpy(computed[name])
    return out


def evaluate_by_window(problem: Problem, model: TimeMarchedModel, points: np.ndarray,
                       fields: Sequence[str], derivatives: Sequence[Derivative],
                       residuals: Sequence[str], engine: Engine | None = None) -> PointValues:
    """:func:`evaluate` with each window's network on the points of its window, reassembled."""
    parts = model.by_window(torch.as_tensor(points), lambda piece, part: evaluate(
        problem, piece, part.numpy(), fields, derivatives, residuals, engine))
    out = evaluate(problem, model.pieces[-1], points[:0], fields, derivatives, residuals, engine)
    for kind in ("fields", "derivatives", "residuals"):
        for name in getattr(out, kind):
            column = np.zeros(len(points))
            for where, values in parts:
                column[where.numpy()] = getattr(values, kind)[name]
            getattr(out, kind)[name] = column
    return out


def evaluate_in_chunks(problem: Problem, model: torch.nn.Module, points: np.ndarray,
                       fields: Sequence[str] = (), derivatives: Sequence[Derivative] = (),
                       residuals: Sequence[str] = (), chunk: int = CHUNK,
                       engine: Engine | None = None) -> PointValues:
    """:func:`evaluate` over ``chunk`` points at a time, results joined."""
    parts = [evaluate(problem, model, points[start:start + chunk], fields, derivatives, residuals, engine)
             for start in range(0, len(points), chunk)]
    empty = np.zeros(0)

    def join(kind: str, names: list[str]) -> dict[str, np.ndarray]:
        return {n: np.concatenate([getattr(p, kind)[n] for p in parts]) if parts else empty for n in names}

    first = parts[0] if parts else evaluate(problem, model, points[:0], fields, derivatives, residuals, engine)
    return PointValues(join("fields", list(first.fields)), join("derivatives", list(first.derivatives)),
                       join("residuals", list(first.residuals)))


def condition_residual_values(problem: Problem, model: torch.nn.Module, name: str,
                              batch: ConditionBatch, engine: Engine | None = None) -> np.ndarray:
    """A condition's residual per point (N,); several per point (``Periodic``) give their root sum of squares."""
    with torch.enable_grad():
        value = condition_residual(problem, model, name, batch, engine=engine).detach()
    n = batch.points.shape[0]
    if value.numel() == n:
        return _numpy(value.reshape(n))
    return _numpy(value.reshape(-1, n).square().sum(dim=0).sqrt())
