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
jets: the network's jets become a local Taylor polynomial in a fresh variable, and plain
autograd differentiates the transform of that polynomial. Its graph holds (N,) columns only, so
it costs little next to the (N, width) network.
"""

from __future__ import annotations

from functools import lru_cache
from math import factorial
from typing import Iterable

import torch
from torch import nn

from .network import MLP, Sine

MultiIndex = tuple[int, ...]


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
def chain_rule_plan(indices: tuple[MultiIndex, ...]) -> dict[int, list[tuple[int, list[tuple[int, list[int]]]]]]:
    """For each order k: a list of (m, blocks) terms, one per set partition of k positions, where
    m = number of blocks (which derivative of phi) and each block is (block order, row index of
    that block's sub-multi-index in the stacked stream of its order, for every a of order k)."""
    by_order: dict[int, list[MultiIndex]] = {}
    for a in indices:
        by_order.setdefault(len(a), []).append(a)
    row = {a: by_order[len(a)].index(a) for a in indices}
    plan = {}
    for k, group in by_order.items():
        if k == 0:
            continue
        terms = []
        for partition in set_partitions(tuple(range(k))):
            blocks = []
            for block in partition:
                rows = [row[tuple(sorted(a[p] for p in block))] for a in group]
                blocks.append((len(block), rows))
            terms.append((len(partition), blocks))
        plan[k] = terms
    return plan


def chain_product(streams: dict[int, torch.Tensor | None],
                  blocks: list[tuple[int, list[int]]]) -> torch.Tensor | None:
    """prod over blocks of the block's derivative stream, rows picked per multi-index;
    None when a factor is known to be zero."""
    product = None
    for block_order, rows in blocks:
        stream = streams[block_order]
        if stream is None:
            return None
        identity = len(rows) == stream.shape[0] and rows == list(range(len(rows)))
        part = stream if identity else stream[rows]
        product = part if product is None else product * part
    return product


def mlp_jets(network: MLP, x: torch.Tensor, requests: Iterable[MultiIndex]) -> dict[MultiIndex, torch.Tensor]:
    """d^a network(x) for every requested multi-index a (and its sub-multi-indices), each (N, out)."""
    indices = tuple(sub_multi_indices(requests))
    plan = chain_rule_plan(indices)
    orders = sorted({len(a) for a in indices})
    top = orders[-1]
    by_order = {k: [a for a in indices if len(a) == k] for k in orders}
    n = x.shape[0]

    # input scaling is affine: d/dx_i of (x - c) / w is e_i / w_i, higher orders vanish
    value = (x - network.center.to(x.dtype)) / network.half_width.to(x.dtype)
    streams: dict[int, torch.Tensor | None] = {}
    if 1 in by_order:
        scale = (1.0 / network.half_width).to(x.dtype)
        first = torch.zeros(len(by_order[1]), 1, x.shape[1], dtype=x.dtype, device=x.device)
        for r, (i,) in enumerate(by_order[1]):
            first[r, 0, i] = scale[i]
        streams[1] = first  # broadcast over points until the first activation
    for k in orders:
        if k >= 2:
            streams[k] = None  # known zero

    for layer in network.layers:
        if isinstance(layer, nn.Linear):
            value = nn.functional.linear(value, layer.weight, layer.bias)
            for k, s in streams.items():
                if s is not None:
                    streams[k] = torch.matmul(s, layer.weight.t())
            continue
        phis = activation_derivatives(layer, value, top)
        new: dict[int, torch.Tensor | None] = {}
        for k in streams:
            total = None
            for m, blocks in plan[k]:
                product = chain_product(streams, blocks)
                if product is not None:
                    term = phis[m] * product
                    total = term if total is None else total + term
            new[k] = total
        value = phis[0]
        streams = new

    result = {(): value}
    for k in orders:
        if k == 0:
            continue
        s = streams[k]
        for r, a in enumerate(by_order[k]):
            result[a] = torch.zeros_like(value).expand(n, -1) if s is None else s[r].expand(n, -1)
    return result


def taylor_polynomial(jets: dict[MultiIndex, torch.Tensor], delta: torch.Tensor) -> torch.Tensor:
    """sum_a jets[a] * delta^a / a!, whose derivatives at delta = 0 are the jets themselves."""
    total = jets[()]
    for a, coefficient in jets.items():
        if not a:
            continue
        monomial = torch.ones_like(delta[:, 0])
        denominator = 1
        for i in set(a):
            count = a.count(i)
            monomial = monomial * delta[:, i] ** count
            denominator *= factorial(count)
        total = total + coefficient * (monomial / denominator)[:, None]
    return total
