"""The training residual's mean square and its parameter gradient, computed chunk by chunk.

Why: every derivative the residual needs is a (points, width) activation stream in every layer,
and forward + backward reads and writes each several times. Once one stream outgrows the CPU's
caches (a few MB), the pass is bound by memory traffic, not arithmetic; chunks that fit in cache
are faster, and only one chunk's graph is held in memory. Small point sets are left whole. A GPU
has no such cache to fit and pays a fixed round of kernel launches per chunk, so there chunks are
large (CHUNK_BYTES_CUDA) and only bound the memory a pass holds. docs/derivatives.md has the
measurements.

The gradient is taken at once, chunk by chunk (``torch.autograd.grad``), and handed back by a
small autograd function when the trainer calls ``total.backward()``, so weights, logging,
L-BFGS closures and torchrun's gradient all-reduce work unchanged. That needs the term's gradient
on its own, so only a problem with one residual is chunked: several residuals would need one
backward pass each.
"""

from __future__ import annotations

import math
import weakref
from typing import Callable, Iterable, Sequence

import torch

from pinnlab.derivatives.derivative import Derivative
from pinnlab.derivatives.jets import jet_indices

CHUNK_BYTES = 10 * 2**20
"""Target size of one derivative stream's activations in one layer, per chunk, on a CPU (the
measured optimum, docs/derivatives.md)."""

CHUNK_BYTES_CUDA = 2**30
"""The same on a CUDA device: as fast as unchunked, at a fifth of the memory (docs/derivatives.md)."""

MIN_CHUNK_POINTS = 4096
"""No chunk smaller than this: per-chunk overheads (kernel launches, Python) take over below."""


def derivative_streams(requests: Iterable[Derivative]) -> int:
    """How many (points, width) streams the Taylor jets carry for ``requests``: the value, every
    multi-index up to the requested ones, and one per Laplacian (over its first derivatives)."""
    requests = list(requests)
    plain = {d.wrt for d in requests if not d.laplacian}
    over = {i for d in requests if d.laplacian for i in d.wrt}
    laplacians = len({d.wrt for d in requests if d.laplacian})
    return 1 + len(set(jet_indices(plain, tuple(sorted(over)))) - {()}) + laplacians


def network_width(model: torch.nn.Module) -> int:
    """The widest linear layer's output: what one stream's activations scale with."""
    widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return max(widths, default=1)


def chunk_count(points: int, streams: int, width: int, itemsize: int, chunk_points: int = 0,
                device: str = "cpu") -> int:
    """How many chunks to split ``points`` into: ``chunk_points`` per chunk when set (> 0), else
    chunks whose streams are about CHUNK_BYTES (CHUNK_BYTES_CUDA on a CUDA ``device``) each, and
    never below MIN_CHUNK_POINTS points."""
    target = CHUNK_BYTES_CUDA if device == "cuda" else CHUNK_BYTES
    size = chunk_points or max(target // max(streams * width * itemsize, 1), MIN_CHUNK_POINTS)
    return max(math.ceil(points / size), 1)


class _PrecomputedGradient(torch.autograd.Function):
    """A scalar whose gradient with respect to ``parameters`` is already known."""

    @staticmethod
    def forward(ctx, value: torch.Tensor, gradients: tuple[torch.Tensor | None, ...],
                *parameters: torch.Tensor) -> torch.Tensor:
        ctx.gradients = gradients
        return value.detach().clone()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return (None, None, *(None if g is None else grad_output * g for g in ctx.gradients))


_pieces: dict[int, tuple[weakref.ref, int, int, list[torch.Tensor]]] = {}


def pieces(points: torch.Tensor, chunks: int) -> list[torch.Tensor]:
    """``points`` in ``chunks`` pieces, the same tensors on every call for the same unchanged point
    set, so caches kept per point set (an affine output transform's, pinnlab/derivatives/affine.py) hit.
    Copies, not views: a view would keep the old point set alive after resampling."""
    found = _pieces.get(id(points))
    if found is not None and found[0]() is points and found[1:3] == (points._version, chunks):
        return found[3]
    for key in [k for k, entry in _pieces.items() if entry[0]() is None]:
        del _pieces[key]
    parts = [part.clone() for part in points.tensor_split(chunks)]
    _pieces[id(points)] = (weakref.ref(points), points._version, chunks, parts)
    return parts


def chunked_mean_square(residual: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor,
                        parameters: Sequence[torch.Tensor], chunks: int,
                        values: list[torch.Tensor] | None = None) -> torch.Tensor:
    """mean(residual(points)^2), its gradient with respect to ``parameters`` summed over
    ``chunks`` pieces of ``points``; the result backpropagates that gradient. With ``values``,
    the detached pointwise residuals are appended to it, chunk by chunk."""
    n = points.shape[0]
    total = torch.zeros((), dtype=points.dtype, device=points.device)
    gradients: list[torch.Tensor | None] = [None] * len(parameters)  # None: does not enter the loss
    for part in pieces(points, chunks):
        r = residual(part)
        loss = r.square().sum() / n
        for k, dg in enumerate(torch.autograd.grad(loss, parameters, allow_unused=True)):
            if dg is not None:
                gradients[k] = dg if gradients[k] is None else gradients[k].add_(dg)
        total += loss.detach()
        if values is not None:
            values.append(r.detach())
    return _PrecomputedGradient.apply(total, tuple(gradients), *parameters)
