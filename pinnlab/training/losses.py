"""Named loss terms: one per residual (mean square over collocation points), one per condition
and one per data set (mean square misfit over its points and columns).

Terms stay separate (a dict by name) so weights, logs and output files all work on names.
:func:`loss_terms` can be asked for some terms only: a training step skips the terms of weight 0
(exact conditions, the labels once faded out), whose forward passes would add nothing to the
loss (pinnlab/training/context.py).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import torch

from pinnlab.problem.binding import as_column
from pinnlab.derivatives.chunked_loss import chunk_count, chunked_mean_square, derivative_streams, network_width
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.curriculum import CausalWeights
from pinnlab.derivatives.derivative import Derivative
from pinnlab.derivatives.engines import Engine, field_derivatives
from pinnlab.model.field_model import unknown_values
from pinnlab.problem.equation_module import Problem
from pinnlab.training.collocation import Collocation

if TYPE_CHECKING:  # annotations only: the solver's settings import this layer
    from pinnlab.solver.settings import Settings


def residual_derivatives(problem: Problem) -> set[Derivative]:
    return set().union(*(r.derivatives for r in problem.residuals.values()))


def residual_values(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                    create_graph: bool = True, engine: Engine | None = None) -> dict[str, torch.Tensor]:
    """Each residual's pointwise value (N,) at ``points``, derivatives taken by ``engine`` (None:
    pinnlab.derivatives.engines.DEFAULT)."""
    values = field_derivatives(model, points, problem.fields, residual_derivatives(problem),
                               create_graph=create_graph, engine=engine)
    n = points.shape[0]
    unknowns = unknown_values(model) if problem.unknowns else None  # live: read at every call
    return {
        name: as_column(r(points, values, unknowns), n, f"residual '{name}'", points.dtype, points.device)
        for name, r in problem.residuals.items()
    }


def residual_terms(problem: Problem, model: torch.nn.Module, points: torch.Tensor,
                   causal: "CausalWeights | None" = None,
                   values: dict[str, list[torch.Tensor]] | None = None,
                   engine: Engine | None = None) -> dict[str, torch.Tensor]:
    """Each residual's loss term at ``points``: its mean square, or with ``causal`` its causally
    weighted mean square. A single residual on a large point set is taken chunk by chunk while
    gradients are on (pinnlab/derivatives/chunked_loss.py; ``engine.residual_chunk`` points per
    chunk, 0: sized automatically). With ``values``, each residual's detached
    pointwise values are collected there (a list of chunks per name)."""
    chunks = 1
    if causal is None and len(problem.residuals) == 1 and torch.is_grad_enabled():
        streams = derivative_streams(residual_derivatives(problem))
        chunks = chunk_count(points.shape[0], streams, network_width(model), points.element_size(),
                             0 if engine is None else engine.residual_chunk,
                             points.device.type)
    if chunks > 1:
        name = next(iter(problem.residuals))
        parameters = [p for p in model.parameters() if p.requires_grad]
        found = None if values is None else values.setdefault(name, [])

        def residual(part: torch.Tensor) -> torch.Tensor:
            return residual_values(problem, model, part, engine=engine)[name]

        return {name: chunked_mean_square(residual, points, parameters, chunks, found)}
    residuals = residual_values(problem, model, points, engine=engine)
    if values is not None:
        for name, r in residuals.items():
            values.setdefault(name, []).append(r.detach())
    if causal is None:
        return {name: r.square().mean() for name, r in residuals.items()}
    t = points[:, problem.layout.time_index]
    return {name: causal.loss(r.square(), t) for name, r in residuals.items()}


def condition_residual(problem: Problem, model: torch.nn.Module, name: str,
                       batch: ConditionBatch, engine: Engine | None = None) -> torch.Tensor:
    condition = problem.conditions[name]
    layout = problem.layout
    needed = condition.derivatives(name, layout)
    values = field_derivatives(model, batch.points, problem.fields, needed, engine=engine)
    partner_values = None
    if batch.partners is not None:
        partner_values = field_derivatives(model, batch.partners, problem.fields, needed, engine=engine)
    return condition.residual(name, layout, batch, values, partner_values)


def data_misfit(problem: Problem, model: torch.nn.Module, name: str, points: torch.Tensor,
                values: torch.Tensor, engine: Engine | None = None) -> torch.Tensor:
    """Model minus measurement (N, K) at the points of data set ``name`` (``points`` and
    ``values``: the set's tensors, or one point's rows of them), column k its ``names[k]``."""
    observed = problem.data[name]
    found = field_derivatives(model, points, problem.fields, set(observed.derivatives), engine=engine)
    return torch.stack([found[d] for d in observed.derivatives], dim=1) - values


def data_terms(problem: Problem, model: torch.nn.Module, dtype: torch.dtype, device: torch.device,
               engine: Engine | None = None, names: Collection[str] | None = None) -> dict[str, torch.Tensor]:
    """Each data set's mean square misfit, over its points and columns (only those in ``names``
    when given)."""
    terms = {}
    for name, observed in problem.data.items():
        if names is not None and name not in names:
            continue
        points, values = observed.tensors(dtype, device)
        terms[name] = data_misfit(problem, model, name, points, values, engine).square().mean()
    return terms


def loss_terms(problem: Problem, model: torch.nn.Module, collocation: Collocation,
               causal: "CausalWeights | None" = None, engine: Engine | None = None,
               names: Collection[str] | None = None) -> dict[str, torch.Tensor]:
    """Raw (unweighted) mean-square loss of every residual, condition and data set, by name; with
    ``causal``, residual terms are causally weighted in time. ``engine`` takes every derivative
    (None: pinnlab.derivatives.engines.DEFAULT). With ``names``, only those terms are evaluated
    (the residuals share their derivatives: all of them are taken when any is asked for, and
    the ones asked for are returned)."""
    wanted = (lambda name: True) if names is None else (lambda name: name in names)
    terms = {}
    if any(wanted(name) for name in problem.residuals):
        found = residual_terms(problem, model, collocation.interior, causal, engine=engine)
        terms = {name: value for name, value in found.items() if wanted(name)}
    for name, batch in collocation.conditions.items():
        if wanted(name):
            terms[name] = condition_residual(problem, model, name, batch, engine=engine).square().mean()
    if problem.data:
        interior = collocation.interior
        terms.update(data_terms(problem, model, interior.dtype, interior.device, engine, names))
    return terms


def term_weights(problem: Problem, settings: Settings) -> dict[str, float]:
    """Weight of every term: as set, else 1 (a data set: its ``weight``); 0 for conditions
    marked exact. Unknown names fail."""
    names = list(problem.residuals) + list(problem.conditions) + list(problem.data)
    unknown = [k for k in settings.weights if k not in names]
    if unknown:
        raise ValueError(
            f"weights: unknown loss term(s) {', '.join(unknown)}; terms are {', '.join(names)}"
        )
    default = {name: observed.weight for name, observed in problem.data.items()}
    weights = {name: float(settings.weights.get(name, default.get(name, 1.0))) for name in names}
    for name, condition in problem.conditions.items():
        if condition.exact:
            weights[name] = 0.0
    return weights
