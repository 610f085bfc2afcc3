"""Derivatives of the network's fields with respect to its inputs, named the way residuals ask.

A residual asks for derivatives by naming its parameters: ``u_x`` is du/dx, ``u_xt`` is
d2u/dxdt, ``v_yyy`` is d3v/dy3. This module parses those names and computes exactly the
requested derivatives (and the lower-order ones they are built from) for all points at once.

The engine here is nested reverse-mode autograd: always correct, works for any network and any
output transform. Each derivative's full gradient is taken once and shared, so ``u_x`` and
``u_t`` cost one backward pass together, and ``u_xx`` and ``u_xt`` another.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import torch


ENGINES = ("auto", "jets", "autograd", "func")
"""How derivatives are computed: Taylor jets where supported (auto), jets only, nested autograd,
nested forward mode with torch.func (pinnlab/derivatives/forward_mode.py)."""


LAPLACIAN = "laplacian"
"""The suffix that names a Laplacian: ``u_laplacian``."""


class DerivativeNameError(ValueError):
    """A name that looks like a derivative but refers to an unknown field or input."""


@dataclass(frozen=True, order=True)
class Derivative:
    """d^k field / d inputs, with the inputs stored as sorted indices so u_xt == u_tx.

    With ``laplacian`` it is instead sum_i d^2 field / d input_i^2 over the inputs in ``wrt``:
    asked for as one quantity, the jet engine carries one stream for it instead of one per
    input (the "forward Laplacian"), which is what makes many-dimensional Laplacians cheap."""

    field: str
    wrt: tuple[int, ...]
    laplacian: bool = False

    def __hash__(self) -> int:
        # a str's hash changes from process to process (PYTHONHASHSEED), and with it the order
        # in which a set of derivatives is iterated, the order autograd then sums gradients in,
        # and so the last bits of every gradient: the same seed gave another run in each process
        return hash((zlib.crc32(self.field.encode()), self.wrt, self.laplacian))

    @property
    def order(self) -> int:
        return 2 if self.laplacian else len(self.wrt)

    def parent(self) -> "Derivative":
        """The derivative one order lower from which this one is one gradient away."""
        return Derivative(self.field, self.wrt[:-1])

    def parts(self) -> list["Derivative"]:
        """The pure second derivatives a Laplacian sums."""
        return [Derivative(self.field, (i, i)) for i in self.wrt]


def split_inputs(text: str, inputs: tuple[str, ...]) -> tuple[int, ...] | None:
    """Split ``"xxt"`` into input indices by longest match; None if it does not split."""
    by_length = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
    indices: list[int] = []
    position = 0
    while position < len(text):
        for i in by_length:
            if text.startswith(inputs[i], position):
                indices.append(i)
                position += len(inputs[i])
                break
        else:
            return None
    return tuple(indices)


def parse_derivative(name: str, fields: tuple[str, ...], inputs: tuple[str, ...]) -> Derivative:
    """Parse ``u_xx`` into Derivative('u', (0, 0)); a field name alone is order 0;
    ``u_laplacian`` is the Laplacian of u over every input except time (an input named t).

    Raises DerivativeNameError naming what is wrong: an unknown field or an unknown input.
    """
    if name in fields:
        return Derivative(name, ())
    field, sep, rest = name.partition("_")
    if not sep or not rest:
        raise DerivativeNameError(
            f"'{name}' is neither a field ({', '.join(fields)}), an input ({', '.join(inputs)}) "
            f"nor a derivative such as '{fields[0]}_{inputs[0]}'"
        )
    if field not in fields:
        raise DerivativeNameError(
            f"'{name}' asks for a derivative of '{field}', which is not a field "
            f"(fields: {', '.join(fields)})"
        )
    if rest == LAPLACIAN:
        return Derivative(field, tuple(i for i, n in enumerate(inputs) if n != "t"), laplacian=True)
    wrt = split_inputs(rest, inputs)
    if wrt is None:
        raise DerivativeNameError(
            f"'{name}' differentiates with respect to '{rest}', which is not made of inputs "
            f"(inputs: {', '.join(inputs)})"
        )
    return Derivative(field, tuple(sorted(wrt)))


def closure(requests: Iterable[Derivative]) -> list[Derivative]:
    """All derivatives needed to build ``requests``, lowest order first (a Laplacian is built
    from its parts, which are listed instead of it)."""
    needed: set[Derivative] = set()
    pending = [p for d in requests for p in (d.parts() if d.laplacian else [d])]
    for d in pending:
        while True:
            needed.add(d)
            if d.order == 0:
                break
            d = d.parent()
    return sorted(needed, key=lambda d: (d.order, d))


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


def derivative_name(d: Derivative, inputs: tuple[str, ...]) -> str:
    """The canonical parameter name of ``d``: Derivative('u', (0, 1)) -> 'u_xt'."""
    if d.laplacian:
        return f"{d.field}_{LAPLACIAN}"
    if d.order == 0:
        return d.field
    return d.field + "_" + "".join(inputs[i] for i in d.wrt)


def as_columns(values: Mapping[Derivative, torch.Tensor], inputs: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Key computed derivatives by their canonical names."""
    return {derivative_name(d, inputs): v for d, v in values.items()}
