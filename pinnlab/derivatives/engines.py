"""Derivative engines: how the input derivatives of a model's fields are computed.

An engine is chosen once per run by :func:`resolve_engine` (which alone holds the ``auto``
rule) and passed explicitly to every loss and evaluation; the model carries no engine state.

- :class:`Autograd`: nested reverse mode (pinnlab/derivatives/autograd.py); any network, any
  output transform, any order.
- :class:`Jets`: forward Taylor jets through a tanh/sin MLP (pinnlab/derivatives/jets.py), one
  pass for every requested derivative, optionally compiled (pinnlab/derivatives/compiling.py).
- :class:`ForwardMode`: nested ``torch.func.jvp`` (pinnlab/derivatives/forward_mode.py); any
  network, and it composes with ``vmap``/``jacrev``, which the Gauss-Newton Jacobian needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import torch

from pinnlab.derivatives.autograd import compute_derivatives, with_laplacians
from pinnlab.derivatives.affine import AffineTransform
from pinnlab.derivatives.compiling import COMPILE_MIN_POINTS, compiled_jet_function, should_compile
from pinnlab.derivatives.derivative import LAPLACIAN, Derivative
from pinnlab.derivatives.forward_mode import forward_mode_derivatives
from pinnlab.derivatives.jets import jet_function, jet_indices, split_streams, supports_jets, taylor_polynomial
from pinnlab.model.field_model import FieldModel
from pinnlab.problem.binding import EquationError

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem

ENGINES = ("auto", "jets", "autograd", "func")
"""The ``numerics.engine`` choices: jets where they apply and pay, else autograd (auto); jets
only; nested autograd; nested forward mode with torch.func."""

Values = dict[Derivative, torch.Tensor]


class Engine(ABC):
    """Computes requested derivatives of a model's fields at points.

    ``residual_chunk`` is the number of points per chunk of the training residual's pass
    (0: chosen by pinnlab/derivatives/chunked_loss.py)."""

    residual_chunk: int = 0

    @abstractmethod
    def derivatives(self, model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                    requests: set[Derivative], create_graph: bool = True) -> Values:
        """Each requested derivative (N,) of ``model``'s fields at ``points`` (N, d); with
        ``create_graph`` the results backpropagate to the model's parameters (training)."""


@dataclass(frozen=True)
class Autograd(Engine):
    """Nested reverse-mode autograd."""

    residual_chunk: int = 0

    def derivatives(self, model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                    requests: set[Derivative], create_graph: bool = True) -> Values:
        return compute_derivatives(model, points, fields, requests, create_graph)


@dataclass(frozen=True)
class ForwardMode(Engine):
    """Nested forward mode (``torch.func.jvp``): composes with ``vmap`` and ``jacrev``."""

    residual_chunk: int = 0

    def derivatives(self, model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                    requests: set[Derivative], create_graph: bool = True) -> Values:
        return forward_mode_derivatives(model, points, fields, requests, create_graph)


@dataclass(frozen=True)
class Jets(Engine):
    """Taylor jets through the model's network; an output transform affine in the network goes
    through the Leibniz rule (pinnlab/derivatives/affine.py), any other is differentiated by
    autograd on the local Taylor polynomial of the jets.

    ``compile``: training passes on at least COMPILE_MIN_POINTS points use the compiled
    propagation. ``fallback``: the engine for the calls jets do not serve (a network or order
    jets do not support) or do not pay for (a transform that is not affine, outside compiled
    training passes: eager, that step is slower than nested autograd); None: such a call is
    an error, and a non-affine transform is taken through the Taylor polynomial eagerly."""

    compile: bool = False
    residual_chunk: int = 0
    fallback: Engine | None = None

    def derivatives(self, model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                    requests: set[Derivative], create_graph: bool = True) -> Values:
        order = max((d.order for d in requests), default=0)
        if not (isinstance(model, FieldModel) and supports_jets(model.network, order)):
            if self.fallback is None:
                raise EquationError(
                    "engine 'jets' needs an MLP with tanh or sin activations, no Fourier features and "
                    "derivatives of order <= 4; use engine 'auto' or 'autograd'"
                )
            return self.fallback.derivatives(model, points, fields, requests, create_graph)
        training = create_graph and torch.is_grad_enabled()
        hot = self.compile and training and points.shape[0] >= COMPILE_MIN_POINTS
        affine = model.affine_transform(points) if model.transform is not None else None
        if model.transform is not None and affine is None and not hot and self.fallback is not None:
            return self.fallback.derivatives(model, points, fields, requests, create_graph)
        return jet_derivatives(model, points, fields, requests, create_graph, hot, affine)


def jet_derivatives(model: FieldModel, points: torch.Tensor, fields: tuple[str, ...],
                    requests: set[Derivative], create_graph: bool, hot: bool,
                    affine: AffineTransform | None) -> Values:
    """The requests from one jet propagation through ``model.network`` (compiled when ``hot``),
    then through the output transform (by Leibniz when ``affine``)."""
    training = create_graph and torch.is_grad_enabled()
    plain = {d.wrt for d in requests if not d.laplacian}
    overs = {d.wrt for d in requests if d.laplacian}
    # one Laplacian stream serves one set of inputs; a transform, several sets or a Laplacian
    # over no input at all (only t) take the Laplacian from its parts instead
    by_parts = model.transform is not None or len(overs) > 1 or () in overs
    if by_parts:
        plain |= {p.wrt for d in requests if d.laplacian for p in d.parts()}
    laplacian = () if by_parts else next(iter(overs), ())
    indices = jet_indices(plain, laplacian)
    propagate = compiled_jet_function(indices, laplacian) if hot else jet_function(indices, laplacian)
    x = points.detach()
    with torch.set_grad_enabled(training):
        jets = split_streams(indices, *propagate(model.network, x))
    if model.transform is None and not by_parts:
        return {d: jets[LAPLACIAN if d.laplacian else d.wrt][:, fields.index(d.field)] for d in requests}
    if model.transform is None:
        def compute(wanted: set[Derivative]) -> Values:
            return {d: jets[d.wrt][:, fields.index(d.field)] for d in wanted}
    elif affine is not None:
        def compute(wanted: set[Derivative]) -> Values:
            return affine.derivatives(points, jets, wanted, fields)
    else:
        # derivatives of transform(y, local Taylor polynomial of the network around x) at y = x
        def transformed(y: torch.Tensor) -> torch.Tensor:
            return model.apply_transform(y, taylor_polynomial(jets, y - x))

        return compute_derivatives(transformed, x, fields, requests, create_graph)
    return with_laplacians(requests, compute, like=jets[()][:, 0])


DEFAULT = Jets(fallback=Autograd())
"""What ``engine=auto, compile=off`` resolves to for a model jets support: the engine of a call
that names none."""


def field_derivatives(model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                      requests: Iterable[Derivative], create_graph: bool = True,
                      engine: Engine | None = None) -> Values:
    """Requested derivatives of ``model``'s fields at ``points``, by ``engine`` (None:
    :data:`DEFAULT`, jets where they apply and pay, else autograd)."""
    return (engine or DEFAULT).derivatives(model, points, fields, set(requests), create_graph)


def problem_derivatives(problem: Problem) -> set[Derivative]:
    """Every derivative the residuals and the conditions ask for."""
    wanted = set().union(*(r.derivatives for r in problem.residuals.values()))
    for name, condition in problem.conditions.items():
        wanted |= set(condition.derivatives(name, problem.layout))
    return wanted


def resolve_engine(choice: str, compile_choice: str, problem: Problem, model: torch.nn.Module,
                   iterations: int, residual_chunk: int = 0) -> Engine:
    """The engine for ``numerics.engine=choice`` and ``numerics.compile=compile_choice``.

    ``auto``: jets for a tanh/sin MLP (no Fourier features, no periodic inputs) when the
    problem's derivatives are of order <= 4, with autograd taking what jets do not pay for (an
    output transform not affine in the network, outside compiled training passes); autograd
    otherwise. ``compile=auto`` compiles the jets for runs of at least ``iterations`` long enough
    to repay the compilation (pinnlab/derivatives/compiling.py: should_compile); ``compile=on``
    fails with a ValueError where it cannot work."""
    if choice not in ENGINES:
        raise ValueError(f"numerics.engine must be one of {', '.join(ENGINES)}, got '{choice}'")
    order = max((d.order for d in problem_derivatives(problem)), default=0)
    supported = isinstance(model, FieldModel) and supports_jets(model.network, order)
    uses_jets = choice in ("auto", "jets") and supported
    device = next(model.parameters()).device
    compiled = should_compile(compile_choice, iterations, device, uses_jets)
    if choice == "autograd":
        return Autograd(residual_chunk)
    if choice == "func":
        return ForwardMode(residual_chunk)
    if choice == "jets":
        return Jets(compiled, residual_chunk)
    if not supported:
        return Autograd(residual_chunk)
    return Jets(compiled, residual_chunk, fallback=Autograd(residual_chunk))
