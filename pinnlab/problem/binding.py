"""Call user functions by parameter name.

Residuals, condition values, output transforms and exact solutions are plain Python functions
whose parameter names say what they need: an input (``x``), a field (``u``), a derivative
(``u_xx``), a named constant (``nu``) or an unknown (a coefficient being learned, see
:mod:`pinnlab.problem.unknowns`). Binding checks every name once, when the equation is loaded, so
a typo fails before training with the function and the name in the message. A constant's value
is fixed at binding; an unknown's is passed at every call (its live, trainable value).
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

import torch

from pinnlab.derivatives.derivative import Derivative, DerivativeNameError, parse_derivative


class EquationError(ValueError):
    """An equation module or problem definition that cannot be solved as written."""


class UserCodeError(EquationError):
    """A function of the equation module raised an exception; the message names the function,
    its file and line, and the original exception (kept as ``__cause__``)."""


def user_code_error(function: Callable[..., Any], owner: str, error: BaseException) -> UserCodeError:
    """One line for an exception raised inside ``function``: which function, where, and what."""
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", getattr(function, "__name__", repr(function)))
    where = ""
    if code is not None:
        line = code.co_firstlineno
        for frame in traceback.extract_tb(error.__traceback__):  # the innermost line in that file
            if frame.filename == code.co_filename:
                line = frame.lineno
        where = f" ({code.co_filename}, line {line})"
    message = str(error).strip().splitlines()[0] if str(error).strip() else "(no message)"
    return UserCodeError(f"{owner}: function {name}{where} raised {type(error).__name__}: {message}")


@dataclass(frozen=True)
class BoundFunction:
    """A user function with each parameter resolved to an input, a derivative, a constant or an
    unknown (whose value the caller passes: ``unknowns`` of ``__call__``)."""

    function: Callable[..., Any]
    owner: str
    inputs_used: tuple[tuple[str, int], ...]
    derivatives_used: tuple[tuple[str, Derivative], ...]
    constants_used: tuple[tuple[str, Any], ...]
    unknowns_used: tuple[str, ...] = ()

    @property
    def derivatives(self) -> set[Derivative]:
        return {d for _, d in self.derivatives_used}

    def __call__(
        self, points: torch.Tensor, derivatives: Mapping[Derivative, torch.Tensor] | None = None,
        unknowns: Mapping[str, torch.Tensor] | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {name: points[:, i] for name, i in self.inputs_used}
        for name, d in self.derivatives_used:
            kwargs[name] = derivatives[d]  # type: ignore[index]
        kwargs.update(self.constants_used)
        if self.unknowns_used:
            if unknowns is None or any(name not in unknowns for name in self.unknowns_used):
                raise EquationError(f"{self.owner} takes the unknown(s) {', '.join(self.unknowns_used)}, "
                                    "but no value was passed for them")
            kwargs.update((name, unknowns[name]) for name in self.unknowns_used)
        if torch.compiler.is_compiling():  # traced once by torch.compile; errors surface eagerly
            return self.function(**kwargs)
        try:
            return self.function(**kwargs)
        except EquationError:
            raise
        except Exception as error:  # noqa: BLE001 - any exception of user code, named as such
            raise user_code_error(self.function, self.owner, error) from error


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
    unknowns: Collection[str] = (),
    parameters: tuple[str, ...] = (),
) -> BoundFunction:
    """Resolve every parameter of ``function``; raise EquationError naming ``owner`` and the name.

    ``parameters`` (pinnlab/problem/parameters.py) are the point columns after the inputs: taken
    by name like an input, never differentiated (derivative names are made of ``inputs`` only)."""
    constants = constants or {}
    used_inputs, used_derivatives, used_constants, used_unknowns = [], [], [], []
    for name in parameter_names(function, owner):
        if name in inputs:
            used_inputs.append((name, inputs.index(name)))
        elif name in parameters:
            used_inputs.append((name, len(inputs) + parameters.index(name)))
        elif name in constants:
            used_constants.append((name, constants[name]))
        elif name in unknowns:
            used_unknowns.append(name)
        elif not fields or not allow_derivatives and name not in fields:
            known = list(inputs) + list(parameters) + list(fields) + list(constants) + list(unknowns)
            raise EquationError(
                f"{owner}: unknown parameter '{name}' (it may use: {', '.join(known)})"
            )
        else:
            try:
                used_derivatives.append((name, parse_derivative(name, fields, inputs)))
            except DerivativeNameError as error:
                raise EquationError(f"{owner}: {error}") from None
    return BoundFunction(
        function, owner, tuple(used_inputs), tuple(used_derivatives), tuple(used_constants), tuple(used_unknowns)
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


def as_mapping(value: Any, name: str) -> dict[str, Any]:
    """An equation module's dict (``constants``, ``defaults``) as a dict; None means empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EquationError(f"'{name}' must be a dict {{name: value}}, got {type(value).__name__} {value!r:.60}")
    return dict(value)


def check_uses_network(transform: BoundFunction, domain: Any, fields: tuple[str, ...],
                       unknowns: Mapping[str, torch.Tensor] | None = None, parameters: Any = None) -> None:
    """Refuse an output transform whose value for some field does not depend on the network's
    output: it would train with a residual loss of exactly 0 and learn nothing.
    ``parameters`` is the problem's ParameterBox, if it has one.

    The transform is applied once to random network outputs at 64 points of the domain (with the
    ``unknowns`` at their initial values), and the gradient of each field's output with respect
    to those outputs must not vanish everywhere.
    """
    from pinnlab.derivatives.derivative import Derivative
    from pinnlab.problem.reference import split_fields
    from pinnlab.geometry.sampling import make_sampler

    sampler = make_sampler("uniform", seed=0)
    if parameters:  # a ParameterBox: the points carry the parameter columns too
        drawn = parameters.draw(lambda s: domain.sample_interior(64, s), sampler)
    else:
        drawn = domain.sample_interior(64, sampler)
    points = torch.as_tensor(drawn, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    with torch.enable_grad():
        raw = torch.randn(len(points), len(fields), dtype=torch.float64, generator=generator).requires_grad_()
        columns = {Derivative(f, ()): raw[:, k] for k, f in enumerate(fields)}
        parts = split_fields(transform(points, columns, unknowns), fields, "output_transform")
        for f in fields:
            value = as_column(parts[f], len(points), f"output_transform field '{f}'", torch.float64,
                              torch.device("cpu"))
            gradient = None
            if value.requires_grad:
                (gradient,) = torch.autograd.grad(value.sum(), raw, retain_graph=True, allow_unused=True)
            if gradient is None or not bool(torch.any(gradient != 0)):
                raise EquationError(
                    f"output_transform: its value for field '{f}' does not depend on the network's "
                    f"output (parameters {', '.join(fields)}), so training could not change it; "
                    f"return an expression of them (e.g. a factor vanishing on the boundary times {f})"
                )
