"""Call user functions by parameter name.

Residuals, condition values, output transforms and exact solutions are plain Python functions
whose parameter names say what they need: an input (``x``), a field (``u``), a derivative
(``u_xx``) or a named constant (``nu``). Binding checks every name once, when the equation is
loaded, so a typo fails before training with the function and the name in the message.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from .derivatives import Derivative, DerivativeNameError, parse_derivative


class EquationError(ValueError):
    """An equation module or problem definition that cannot be solved as written."""


@dataclass(frozen=True)
class BoundFunction:
    """A user function with each parameter resolved to an input, a derivative or a constant."""

    function: Callable[..., Any]
    owner: str
    inputs_used: tuple[tuple[str, int], ...]
    derivatives_used: tuple[tuple[str, Derivative], ...]
    constants_used: tuple[tuple[str, Any], ...]

    @property
    def derivatives(self) -> set[Derivative]:
        return {d for _, d in self.derivatives_used}

    def __call__(
        self, points: torch.Tensor, derivatives: Mapping[Derivative, torch.Tensor] | None = None
    ) -> Any:
        kwargs: dict[str, Any] = {name: points[:, i] for name, i in self.inputs_used}
        for name, d in self.derivatives_used:
            kwargs[name] = derivatives[d]  # type: ignore[index]
        kwargs.update(self.constants_used)
        return self.function(**kwargs)


def parameter_names(function: Callable[..., Any], owner: str) -> list[str]:
    """Plain parameter names of ``function``; *args/**kwargs are refused (names carry meaning)."""
    if not callable(function):
        raise EquationError(f"{owner} must be a function, got {type(function).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        raise EquationError(f"{owner}: cannot read the parameters of {function!r}: {error}") from None
    names = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise EquationError(f"{owner}: parameters must be named (no *args or **kwargs)")
        names.append(p.name)
    return names


def bind(
    function: Callable[..., Any],
    owner: str,
    *,
    inputs: tuple[str, ...],
    fields: tuple[str, ...] = (),
    constants: Mapping[str, Any] | None = None,
    allow_derivatives: bool = True,
) -> BoundFunction:
    """Resolve every parameter of ``function``; raise EquationError naming ``owner`` and the name."""
    constants = constants or {}
    used_inputs, used_derivatives, used_constants = [], [], []
    for name in parameter_names(function, owner):
        if name in inputs:
            used_inputs.append((name, inputs.index(name)))
        elif name in constants:
            used_constants.append((name, constants[name]))
        elif not fields or not allow_derivatives and name not in fields:
            known = list(inputs) + list(fields) + list(constants)
            raise EquationError(
                f"{owner}: unknown parameter '{name}' (it may use: {', '.join(known)})"
            )
        else:
            try:
                used_derivatives.append((name, parse_derivative(name, fields, inputs)))
            except DerivativeNameError as error:
                raise EquationError(f"{owner}: {error}") from None
    return BoundFunction(
        function, owner, tuple(used_inputs), tuple(used_derivatives), tuple(used_constants)
    )


def as_column(value: Any, n: int, owner: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Turn a user function's result into shape (n,), or explain what shape was expected."""
    if value is None:
        raise EquationError(f"{owner} returned None; expected a tensor (is a 'return' missing?)")
    try:
        tensor = torch.as_tensor(value, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise EquationError(f"{owner} returned {type(value).__name__}, not a tensor: {error}") from None
    if tensor.dim() == 0:
        return tensor.expand(n)
    if tensor.dim() == 2 and tensor.shape[1] == 1:
        tensor = tensor[:, 0]
    if tensor.shape != (n,):
        raise EquationError(
            f"{owner} returned shape {tuple(tensor.shape)}; expected ({n},) or ({n}, 1) "
            f"for {n} points, or a scalar"
        )
    return tensor
