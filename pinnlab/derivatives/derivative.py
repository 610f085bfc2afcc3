"""Derivatives named the way residuals ask for them.

A residual asks for derivatives by naming its parameters: ``u_x`` is du/dx, ``u_xt`` is
d2u/dxdt, ``v_yyy`` is d3v/dy3, ``u_laplacian`` the Laplacian. This module parses those names
into :class:`Derivative` values, and lists the lower-order derivatives a request is built from;
the engines that compute them are in pinnlab/derivatives/engines.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping

import torch


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
