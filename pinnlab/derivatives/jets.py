"""Forward-mode Taylor jets through an MLP: all requested input derivatives in one pass.

Nested reverse-mode autograd builds the graph of a graph: every derivative order re-walks the
whole network backwards. Here each layer instead carries, next to its value z, the derivatives
d^a z for every multi-index a the residuals need (stacked per order, so one matmul serves all
of them). Linear layers act on every stream alike; an elementwise activation phi follows the
multivariate Faa di Bruno formula

    d^a phi(z) = sum over set partitions P of a's positions: phi^(|P|)(z) * prod_{B in P} d^{a_B} z

which for order 2 reads d_ij phi = phi' z_ij + phi'' z_i z_j. Training then needs one ordinary
backward pass through this first-order graph.

Output transforms (hard constraints) are arbitrary user code, so they are not pushed through
jets: pinnlab/derivatives/engines.py applies an affine one by the Leibniz rule
(pinnlab/derivatives/affine.py), and differentiates any other by autograd on the local Taylor
polynomial of the jets (:func:`taylor_polynomial`).
"""

from __future__ import annotations

from functools import lru_cache
from math import factorial
from typing import Callable, Iterable

import torch
from torch import nn

from pinnlab.derivatives.derivative import LAPLACIAN
from pinnlab.model.network import MLP, Sine

MultiIndex = tuple[int, ...]
Propagated = tuple[torch.Tensor, dict[int, "torch.Tensor | None"], "torch.Tensor | None"]


def activation_derivatives(activation: nn.Module, z: torch.Tensor, order: int) -> list[torch.Tensor]:
    """[phi(z), phi'(z), ..., phi^(order)(z)] for the activations jets support."""
    if isinstance(activation, nn.Tanh):
        s = torch.tanh(z)
        out = [s]
        if order >= 1:
            p = 1 - s * s
            out.append(p)
        if order >= 2:
            out.append(-2 * s * p)
        if order >= 3:
            out.append(-2 * p * (1 - 3 * s * s))
        if order >= 4:
            out.append(8 * s * p * (2 - 3 * s * s))
        return out
    if isinstance(activation, Sine):
        s, c = torch.sin(z), torch.cos(z)
        return [s, c, -s, -c, s][: order + 1]
    raise TypeError(f"jets support tanh and sin activations, not {type(activation).__name__}")


MAX_ORDER = 4


def supports_jets(network: nn.Module, order: int) -> bool:
    """True for our MLP with tanh/sin activations, no Fourier features or periodic inputs, order <= 4."""
    if not isinstance(network, MLP) or network.fourier is not None or network.periodic or order > MAX_ORDER:
        return False
    return all(isinstance(m, (nn.Linear, nn.Tanh, Sine)) for m in network.layers)


def sub_multi_indices(requests: Iterable[MultiIndex]) -> list[MultiIndex]:
    """Every sub-multiset of every request (the empty one included), lowest order first."""
    found: set[MultiIndex] = set()
    for a in requests:
        for mask in range(1 << len(a)):
            found.add(tuple(a[p] for p in range(len(a)) if mask >> p & 1))
    return sorted(found, key=lambda a: (len(a), a))


def set_partitions(positions: tuple[int, ...]) -> list[list[tuple[int, ...]]]:
    if not positions:
        return [[]]
    first, rest = positions[0], positions[1:]
    result = []
    for partition in set_partitions(rest):
        result.append([(first,)] + partition)
        for k in range(len(partition)):
            result.append(partition[:k] + [(first,) + partition[k]] + partition[k + 1:])
    return result


@lru_cache(maxsize=None)
def chain_rule_plan(indices: tuple[MultiIndex, ...]) -> dict[int, list[tuple[int, list[tuple[int, list[int]]], int]]]:
    """For each order k: a list of (m, blocks, count) terms from the set partitions of k
    positions, where m = number of blocks (which derivative of phi), each block is (block order,
    row index of that block's sub-multi-index in the stacked stream of its order, for every a of
    order k), and count is how many partitions give this same product: for a repeated input
    (u_xxxx) most partitions coincide, so order 4 needs 5 products instead of 15."""
    by_order: dict[int, list[MultiIndex]] = {}
    for a in indices:
        by_order.setdefault(len(a), []).append(a)
    row = {a: by_order[len(a)].index(a) for a in indices}
    plan = {}
    for k, group in by_order.items():
        if k == 0:
            continue
        counts: dict[tuple, int] = {}
        for partition in set_partitions(tuple(range(k))):
            blocks = []
            for block in partition:
                rows = [row[tuple(sorted(a[p] for p in block))] for a in group]
                blocks.append((len(block), tuple(rows)))
            key = (len(partition), tuple(sorted(blocks)))
            counts[key] = counts.get(key, 0) + 1
        plan[k] = [(m, [(order, list(rows)) for order, rows in blocks], count)
                   for (m, blocks), count in counts.items()]
    return plan


def matmul(stream: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``stream`` (..., in) through a linear layer's weight (out, in), without the bias."""
    return torch.matmul(stream, weight.t())


def dot_product(stream: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`matmul` for a layer with one output, as a multiply and a sum. Compiled, that fuses
    into the activation's loop, where a matrix product with one output column (and its
    gradient, an outer product) measured up to 45 ms per 1e6 rows on this CPU's BLAS."""
    return (stream * weight[0]).sum(-1, keepdim=True)


def pick_rows(stream: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """``stream[rows]``, as a view (no copy, no gather in compiled code) when the rows are a
    contiguous run, which they are for most plans."""
    if rows == list(range(rows[0], rows[0] + len(rows))):
        return stream if len(rows) == stream.shape[0] else stream[rows[0]:rows[0] + len(rows)]
    return stream[rows]


def sum_of_squares(first: torch.Tensor, rows: list[int], pointwise: bool) -> torch.Tensor:
    """sum over ``rows`` of first[r]^2: the trace term of the forward Laplacian.

    For compiling (``pointwise``), a chain of pointwise products keeps the activation one fused
    loop (a reduction over the stacked rows measured 2x slower); eager, one reduction beats many
    small kernels (2x the other way)."""
    if pointwise:
        total = first[rows[0]] * first[rows[0]]
        for r in rows[1:]:
            total = total + first[r] * first[r]
        return total
    return (pick_rows(first, rows) ** 2).sum(0)


def chain_product(streams: dict[int, torch.Tensor | None],
                  blocks: list[tuple[int, list[int]]]) -> torch.Tensor | None:
    """prod over blocks of the block's derivative stream, rows picked per multi-index;
    None when a factor is known to be zero."""
    product = None
    for block_order, rows in blocks:
        stream = streams[block_order]
        if stream is None:
            return None
        part = pick_rows(stream, rows)
        product = part if product is None else product * part
    return product


def jet_indices(requests: Iterable[MultiIndex], laplacian: tuple[int, ...] = ()) -> tuple[MultiIndex, ...]:
    """The multi-indices to propagate: the requests, their sub-multi-indices, and the first
    derivatives a Laplacian stream is built from."""
    return tuple(sub_multi_indices(set(requests) | {(i,) for i in laplacian}))


def split_streams(indices: tuple[MultiIndex, ...], value: torch.Tensor,
                  streams: dict[int, torch.Tensor | None],
                  laplacian: torch.Tensor | None = None) -> dict[MultiIndex | str, torch.Tensor]:
    """Name the rows of each order's stacked stream by their multi-index; a stream known to be
    zero (a derivative of an affine network) becomes zeros; the Laplacian, when it was carried,
    goes under ``"laplacian"``. Done outside the propagation so a compiled propagation returns
    whole tensors, not many views of one."""
    result: dict[MultiIndex | str, torch.Tensor] = {(): value}
    for k in sorted({len(a) for a in indices} - {0}):
        s = streams[k]
        for r, a in enumerate(a for a in indices if len(a) == k):
            result[a] = torch.zeros_like(value) if s is None else s[r].expand_as(value)
    if laplacian is not None:
        result[LAPLACIAN] = laplacian.expand_as(value)
    return result


@lru_cache(maxsize=None)
def jet_function(indices: tuple[MultiIndex, ...], laplacian: tuple[int, ...] = (),
                 for_compile: bool = False) -> Callable[[MLP, torch.Tensor], Propagated]:
    """The propagation for one set of multi-indices, with its chain-rule plan built once: it
    returns the network's value (N, out), per order k the stacked stream (rows, N, out) of the
    order-k multi-indices in ``indices`` order (None where known to be zero), and the Laplacian
    over the inputs ``laplacian`` (None if not asked for or known to be zero).

    The Laplacian is carried as one stream L: linear layers map it like any derivative, and an
    activation turns it into phi'(z) L + phi''(z) sum_i z_i^2 (the trace of Faa di Bruno's
    order-2 term), so d inputs cost one stream instead of d.

    The returned closure holds only tensor operations and constants, so ``torch.compile`` can
    trace it whole (no graph break for the plan) and fuse the elementwise work of each layer;
    ``for_compile`` picks the formulations that fuse best over those fastest eager."""
    plan = chain_rule_plan(indices)
    orders = sorted({len(a) for a in indices})
    top = max(orders[-1], 2 if laplacian else 0)
    by_order = {k: [a for a in indices if len(a) == k] for k in orders}
    laplacian_rows = [by_order[1].index((i,)) for i in laplacian]

    def propagate(network: MLP, x: torch.Tensor) -> Propagated:
        # input scaling is affine: d/dx_i of (x - c) / w is e_i / w_i, higher orders vanish
        value = (x - network.center.to(x.dtype)) / network.half_width.to(x.dtype)
        streams: dict[int, torch.Tensor | None] = {}
        if 1 in by_order:
            scale = (1.0 / network.half_width).to(x.dtype)
            rows = [i for (i,) in by_order[1]]
            # (rows, 1, d): broadcast over points until the first activation
            streams[1] = torch.diag_embed(scale)[rows].unsqueeze(1)
        for k in orders:
            if k >= 2:
                streams[k] = None  # known zero
        lap: torch.Tensor | None = None

        for layer in network.layers:
            if isinstance(layer, nn.Linear):
                apply = dot_product if for_compile and layer.out_features == 1 else matmul
                value = apply(value, layer.weight) + layer.bias
                for k, s in streams.items():
                    if s is not None:
                        streams[k] = apply(s, layer.weight)
                if lap is not None:
                    lap = apply(lap, layer.weight)
                continue
            phis = activation_derivatives(layer, value, top)
            if laplacian:
                squares = sum_of_squares(streams[1], laplacian_rows, pointwise=for_compile)
                lap = phis[2] * squares if lap is None else phis[1] * lap + phis[2] * squares
            new: dict[int, torch.Tensor | None] = {}
            for k in streams:
                total = None
                for m, blocks, count in plan[k]:
                    product = chain_product(streams, blocks)
                    if product is not None:
                        term = phis[m] * product if count == 1 else phis[m] * product * count
                        total = term if total is None else total + term
                new[k] = total
            value = phis[0]
            streams = new

        return value, streams, lap

    return propagate


def taylor_polynomial(jets: dict[MultiIndex, torch.Tensor], delta: torch.Tensor) -> torch.Tensor:
    """sum_a jets[a] * delta^a / a!, whose derivatives at delta = 0 are the jets themselves."""
    total = jets[()]
    for a, coefficient in jets.items():
        if not a:
            continue
        monomial = None
        denominator = 1
        for i in sorted(set(a)):
            count = a.count(i)
            power = delta[:, i] ** count if count > 1 else delta[:, i]
            monomial = power if monomial is None else monomial * power
            denominator *= factorial(count)
        total = total + coefficient * (monomial / denominator)[:, None]
    return total
