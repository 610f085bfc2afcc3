"""Nested reverse-mode autograd: the derivative engine that serves every network and transform.

Each derivative's full gradient is taken once and shared, so ``u_x`` and ``u_t`` cost one
backward pass together, and ``u_xx`` and ``u_xt`` another.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

from pinnlab.derivatives.derivative import Derivative, closure


def compute_derivatives(
    model: Callable[[torch.Tensor], torch.Tensor],
    points: torch.Tensor,
    fields: tuple[str, ...],
    requests: Iterable[Derivative],
    create_graph: bool = True,
) -> dict[Derivative, torch.Tensor]:
    """Evaluate ``model`` at ``points`` (N, d) and return each requested derivative as (N,).

    ``create_graph`` keeps the graph of the results so a loss built from them can be
    backpropagated to the network's parameters (training); pass False for evaluation only.
    """
    requests = list(requests)
    wanted = closure(requests)
    x = points if points.requires_grad else points.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        values: dict[Derivative, torch.Tensor] = {
            Derivative(f, ()): out[:, k] for k, f in enumerate(fields)
        }
        gradients: dict[Derivative, torch.Tensor] = {}
        top_order = max((d.order for d in wanted), default=0)
        for d in wanted:
            if d.order == 0:
                continue
            parent = d.parent()
            if parent not in gradients:
                gradients[parent] = gradient(values[parent], x, create_graph or parent.order + 1 < top_order)
            values[d] = gradients[parent][:, d.wrt[-1]]
        for d in requests:
            if d.laplacian:
                values[d] = sum_columns([values[p] for p in d.parts()], out[:, 0])
    return values


def sum_columns(columns: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """The sum of (N,) columns; zeros shaped like ``like`` for none (a Laplacian over no input)."""
    return torch.stack(columns).sum(0) if columns else torch.zeros_like(like)


def with_laplacians(requests: set[Derivative], compute: Callable[[set[Derivative]], dict[Derivative, torch.Tensor]],
                    like: torch.Tensor) -> dict[Derivative, torch.Tensor]:
    """``compute`` for the requests with each Laplacian replaced by its parts, then summed (zeros
    shaped like ``like`` for a Laplacian over no input)."""
    wanted = {d for d in requests if not d.laplacian} | {p for d in requests if d.laplacian for p in d.parts()}
    values = compute(wanted)
    for d in requests:
        if d.laplacian:
            values[d] = sum_columns([values[p] for p in d.parts()], like)
    return {d: values[d] for d in requests}


def gradient(value: torch.Tensor, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d(value_i)/d(x_i) for every point i; zero where ``value`` does not depend on ``x``
    (e.g. the derivative of a linear function, which autograd sees as a constant).

    The graph is always retained: without ``create_graph``, two top-order gradients (u_xx and
    u_yy) share the graph of the first-order one, which the first of them would otherwise free.
    It goes away with the returned tensors."""
    if not value.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(value.sum(), x, create_graph=create_graph, retain_graph=True,
                                  allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad
