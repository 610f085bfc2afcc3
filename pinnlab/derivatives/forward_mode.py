"""Nested forward-mode ``torch.func.jvp`` through any network: the ``ForwardMode`` engine
(``engine=func``).

Jets need to know the network's layers; this engine needs nothing but a function of the points,
so it serves every network (Fourier features, periodic inputs, any activation) and any output
transform, and it composes with ``vmap``/``jacrev`` (the Gauss-Newton Jacobian relies on that).
The model maps each point on its own, so one jvp whose tangent is e_i at every point gives
d/dx_i at every point at once, and k nested jvps give a k-th derivative. Each derivative is its
own nest (work grows with the order, as 2^k forward passes), which is why ``auto`` does not
choose it.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch.func import jvp

from pinnlab.derivatives.autograd import with_laplacians
from pinnlab.derivatives.derivative import Derivative


def directional(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                wrt: tuple[int, ...]) -> torch.Tensor:
    """d^k f / dx_{wrt[0]} ... dx_{wrt[-1]} at every point, by k nested jvps."""
    if not wrt:
        return f(x)
    tangent = torch.zeros_like(x)
    tangent[:, wrt[-1]] = 1.0

    def inner(y: torch.Tensor) -> torch.Tensor:
        return directional(f, y, wrt[:-1])

    return jvp(inner, (x,), (tangent,))[1]


def forward_mode_derivatives(model: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor,
                             fields: tuple[str, ...], requests: Iterable[Derivative],
                             create_graph: bool = True) -> dict[Derivative, torch.Tensor]:
    """Each requested derivative (N,) of ``model``'s fields at ``points``; differentiable with
    respect to the model's parameters when ``create_graph`` (training)."""
    x = points.detach()

    def compute(wanted: set[Derivative]) -> dict[Derivative, torch.Tensor]:
        by_index = {wrt: directional(model, x, wrt) for wrt in {d.wrt for d in wanted}}
        return {d: by_index[d.wrt][:, fields.index(d.field)] for d in wanted}

    with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
        return with_laplacians(set(requests), compute, like=x[:, 0] * 0)
