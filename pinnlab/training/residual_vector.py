"""A problem's loss as one vector of residuals, and that vector's Jacobian with respect to the
model's parameters (the network's, then the unknowns'): what Gauss-Newton methods
(pinnlab/training/gauss_newton.py) and the unknowns' uncertainty (pinnlab/training/uncertainty.py)
work on.

Each term's residuals are scaled by sqrt(weight / points), so that |r|^2 is exactly the weighted
total of ``pinnlab.training.losses.loss_terms`` (terms of weight 0, such as exact conditions, are
left out); a data set's misfits by sqrt(weight / (points x columns)), its term being their mean.
Rows are ordered point by point; a point with several residuals (several residual functions, or a
condition with several components) gives consecutive rows.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Mapping

import torch

from pinnlab.derivatives.engines import Engine, ForwardMode
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.gauss_newton import pointwise_jacobian
from pinnlab.training.losses import condition_residual, data_misfit, residual_values
from pinnlab.training.collocation import Collocation
from pinnlab.problem.equation_module import Problem

Group = tuple[Callable[..., torch.Tensor], tuple[torch.Tensor | None, ...]]


def term_groups(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                weights: Mapping[str, float], engine: Engine | None) -> list[Group]:
    """(evaluate, inputs) per group of rows: the residual functions together at the interior
    points, then each condition at its batch, then each data set at its points; ``evaluate`` takes a batch of points' inputs and
    returns their scaled residuals, shape (points, k), derivatives taken by ``engine``."""
    return list(named_term_groups(problem, model, collocation, weights, engine).values())


def named_term_groups(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                      weights: Mapping[str, float], engine: Engine | None) -> dict[str, Group]:
    """``term_groups`` keyed by what the rows are: the weighted residual functions' names joined by
    "+" (e.g. "residual", "momentum+continuity"), then each weighted condition's and data set's
    name."""
    groups: dict[str, Group] = {}
    interior = collocation.interior
    names = [n for n in problem.residuals if weights[n] != 0.0]
    if names:
        scales = {n: math.sqrt(weights[n] / interior.shape[0]) for n in names}

        def residuals(points: torch.Tensor) -> torch.Tensor:
            values = residual_values(problem, model, points, engine=engine)
            return torch.stack([values[n] * scales[n] for n in names], dim=1)

        groups["+".join(names)] = (residuals, (interior,))
    for name, batch in collocation.conditions.items():
        if weights[name] == 0.0:
            continue
        scale = math.sqrt(weights[name] / batch.points.shape[0])

        def condition(points, target, normals, partners, name=name, scale=scale) -> torch.Tensor:
            batch = ConditionBatch(points, target, normals, partners)
            value = condition_residual(problem, model, name, batch, engine=engine)
            return value.reshape(points.shape[0], -1) * scale

        groups[name] = (condition, (batch.points, batch.target, batch.normals, batch.partners))
    for name, observed in problem.data.items():
        if weights[name] == 0.0:
            continue
        points, values = observed.tensors(interior.dtype, interior.device)
        scale = math.sqrt(weights[name] / values.numel())

        def misfit(points, values, name=name, scale=scale) -> torch.Tensor:
            return data_misfit(problem, model, name, points, values, engine) * scale

        groups[name] = (misfit, (points, values))
    return groups


def residual_vector(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                    weights: Mapping[str, float], engine: Engine | None = None) -> torch.Tensor:
    """r with |r|^2 the weighted total loss (detached), derivatives taken by ``engine`` (the
    training engine; None: pinnlab.derivatives.engines.DEFAULT)."""
    return torch.cat(list(residual_parts(problem, model, collocation, weights, engine).values()))


def residual_parts(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                   weights: Mapping[str, float], engine: Engine | None = None) -> dict[str, torch.Tensor]:
    """``residual_vector`` cut into its groups of rows, keyed as ``named_term_groups``, in order."""
    with torch.enable_grad():  # nested autograd needs it for the input derivatives
        return {name: evaluate(*inputs).detach().reshape(-1)
                for name, (evaluate, inputs)
                in named_term_groups(problem, model, collocation, weights, engine).items()}


def residual_jacobian(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                      weights: Mapping[str, float], chunk: int = 256,
                      engine: Engine = ForwardMode()) -> torch.Tensor:
    """dr/dtheta, rows in the order of ``residual_vector``: the Jacobian point by point with
    torch.func (``vmap`` of ``jacrev``), so ``engine`` must compose with them: ForwardMode does,
    autograd and jets (which call ``torch.autograd.grad``) do not."""
    return torch.cat(list(jacobian_blocks(problem, model, collocation, weights, None, chunk, engine)))


def jacobian_blocks(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                    weights: Mapping[str, float], points: int | None, chunk: int = 256,
                    engine: Engine = ForwardMode()) -> Iterator[torch.Tensor]:
    """``residual_jacobian`` a block of rows at a time, each from at most ``points`` points of one
    group (None: a whole group): the rows of a pass over J without J held whole (Sven's streamed
    sketches)."""
    for evaluate, inputs in term_groups(problem, model, collocation, weights, engine):
        one_point = one_point_of(evaluate)
        total = next(x for x in inputs if x is not None).shape[0]
        size = max(1, points or total)  # an empty group: no block
        for start in range(0, total, size):
            block = tuple(None if x is None else x[start:start + size] for x in inputs)
            yield pointwise_jacobian(model, one_point, block, chunk)


def one_point_of(evaluate: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``evaluate`` on one point's inputs (no leading batch axis), as torch.func's vmap calls it."""
    def one_point(*xs):
        return evaluate(*(None if x is None else x[None] for x in xs))[0]
    return one_point
