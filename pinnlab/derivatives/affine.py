"""Derivatives through an output transform that is affine in the network: u = A(x) + B(x) n(x).

Hard constraints are nearly always of this form (Burgers: u = -sin(pi x) + t (1 - x^2) n). Then
the Leibniz rule gives every derivative of u from the network's jets and the derivatives of A and
B, and A and B do not depend on the network's parameters: their derivatives are computed once per
point set (by nested autograd, without a graph) and reused every step. Each step then costs a
few (N,) products instead of differentiating the transform of a Taylor polynomial by autograd
(which costs about as much as the network's jets, docs/derivatives.md).

Affinity is checked numerically, once per model: the transform at random network outputs must
equal A + B n to round-off. A transform that is not affine (u = n^2, say) fails the check and
keeps the general path (see ``pinnlab.derivatives.engines.Jets``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import torch

from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative

Transform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (points, raw (N, F)) -> (N, F)
MultiIndex = tuple[int, ...]


def is_affine(transform: Transform, x: torch.Tensor, n_fields: int) -> bool:
    """True when ``transform(x, r)`` equals A(x) + B(x) r for random outputs r (to round-off)."""
    with torch.no_grad():
        a, b = coefficients(transform, x, n_fields)
        generator = torch.Generator(device="cpu").manual_seed(1234)
        for _ in range(2):
            r = torch.randn(x.shape[0], n_fields, generator=generator, dtype=x.dtype).to(x.device) * 3
            expected = a + torch.einsum("nfg,ng->nf", b, r)
            got = transform(x, r)
            scale = expected.abs().max().clamp_min(1.0)
            tolerance = 1e-10 if x.dtype == torch.float64 else 1e-4
            if not bool(((got - expected).abs() <= tolerance * scale).all()):
                return False
    return True


def coefficients(transform: Transform, x: torch.Tensor, n_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A (N, F) = transform at r = 0, and B (N, F, G) column by column from unit outputs."""
    zero = torch.zeros(x.shape[0], n_fields, dtype=x.dtype, device=x.device)
    a = transform(x, zero)
    columns = []
    for g in range(n_fields):
        unit = zero.clone()
        unit[:, g] = 1.0
        columns.append(transform(x, unit) - a)
    return a, torch.stack(columns, dim=2)


def leibniz_terms(a: MultiIndex) -> dict[tuple[MultiIndex, MultiIndex], int]:
    """d^a (B n) = sum over subsets S of a's positions of d^{a_S} B d^{a - a_S} n; equal terms
    (a repeated input) are merged with their count."""
    terms: dict[tuple[MultiIndex, MultiIndex], int] = {}
    positions = range(len(a))
    for size in range(len(a) + 1):
        for chosen in combinations(positions, size):
            on_b = tuple(sorted(a[p] for p in chosen))
            on_n = tuple(sorted(a[p] for p in positions if p not in chosen))
            terms[(on_b, on_n)] = terms.get((on_b, on_n), 0) + 1
    return terms


@dataclass
class Parts:
    """d^c A and d^c B at one point set, valid while that tensor lives unchanged."""

    points: weakref.ref
    version: int
    wanted: frozenset[MultiIndex]
    a: dict[MultiIndex, torch.Tensor]
    b: dict[MultiIndex, torch.Tensor]

    def belongs_to(self, points: torch.Tensor) -> bool:
        """True for the very tensor these were computed at, unchanged since."""
        return self.points() is points and points._version == self.version


class AffineTransform:
    """The derivatives of A and B per point set (the interior points and each condition's batch
    all recur every step), kept while the point set lives."""

    def __init__(self, transform: Transform, n_fields: int) -> None:
        self.transform, self.n_fields = transform, n_fields
        self._parts: dict[int, Parts] = {}  # by id() of the points tensor, checked by a weak reference

    def parts(self, points: torch.Tensor, wanted: set[MultiIndex]) -> Parts:
        """d^c A (N, F) and d^c B (N, F, G) for every multi-index c in ``wanted`` (at least)."""
        found = self._parts.get(id(points))
        if found is not None and found.belongs_to(points):
            if wanted <= found.wanted:
                return found
            wanted = wanted | found.wanted
        self._parts = {k: p for k, p in self._parts.items() if p.points() is not None}
        self._parts[id(points)] = parts = self._compute(points, wanted)
        return parts

    def _compute(self, points: torch.Tensor, wanted: set[MultiIndex]) -> Parts:
        f = self.n_fields
        names = tuple(f"c{k}" for k in range(f + f * f))

        def stacked(x: torch.Tensor) -> torch.Tensor:
            a, b = coefficients(self.transform, x, f)
            return torch.cat([a, b.reshape(x.shape[0], f * f)], dim=1)

        requests = [Derivative(name, c) for name in names for c in wanted]
        x = points.detach()
        values = compute_derivatives(stacked, x, names, requests, create_graph=False)
        n = x.shape[0]
        a = {c: torch.stack([values[Derivative(names[k], c)] for k in range(f)], 1).detach() for c in wanted}
        b = {c: torch.stack([values[Derivative(names[f + k], c)] for k in range(f * f)], 1)
             .reshape(n, f, f).detach() for c in wanted}
        return Parts(weakref.ref(points), points._version, frozenset(wanted), a, b)

    def derivatives(self, points: torch.Tensor, jets: dict, requests: set[Derivative],
                    fields: tuple[str, ...]) -> dict[Derivative, torch.Tensor]:
        """Each requested derivative of A + B n, from the network's ``jets`` (N, F) by multi-index."""
        plans = {d: leibniz_terms(d.wrt) for d in requests}
        wanted = {c for terms in plans.values() for c, _ in terms} | {d.wrt for d in requests}
        parts = self.parts(points, wanted)
        a, b = parts.a, parts.b
        values = {}
        for d, terms in plans.items():
            k = fields.index(d.field)
            total = a[d.wrt][:, k]
            for (on_b, on_n), count in terms.items():
                term = (b[on_b][:, k, :] * jets[on_n]).sum(1)
                total = total + (term if count == 1 else count * term)
            values[d] = total
        return values
