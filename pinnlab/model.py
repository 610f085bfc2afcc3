"""The function being trained: a network, then the equation's optional output transform."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from .binding import EquationError, as_column
from .derivatives import Derivative, compute_derivatives
from .jets import mlp_jets, supports_jets, taylor_polynomial
from .network import MLP
from .problem import Problem
from .reference import split_fields
from .settings import Settings


class FieldModel(nn.Module):
    """Maps points (N, d) to fields (N, F); hard constraints live in ``problem.output_transform``."""

    def __init__(self, network: nn.Module, problem: Problem) -> None:
        super().__init__()
        self.network = network
        self.transform = problem.output_transform
        self.fields = problem.fields
        self.engine = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.network(x)
        if self.transform is None:
            return raw
        return self.apply_transform(x, raw)

    def apply_transform(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        columns = {Derivative(f, ()): raw[:, k] for k, f in enumerate(self.fields)}
        parts = split_fields(self.transform(x, columns), self.fields, "output_transform")
        n = x.shape[0]
        return torch.stack(
            [as_column(parts[f], n, f"output_transform field '{f}'", x.dtype, x.device) for f in self.fields],
            dim=1,
        )


def field_derivatives(model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                      requests: Iterable[Derivative], create_graph: bool = True) -> dict[Derivative, torch.Tensor]:
    """Requested derivatives of ``model``'s fields at ``points``.

    ``auto`` uses Taylor jets for tanh/sin MLPs without an output transform, where they measured
    1.1-1.4x faster per loss evaluation on the shipped heat and Poisson problems (2-core CPU,
    4000 points), and nested autograd otherwise: with a transform, the Taylor-polynomial step made
    jets 1.15x slower on Burgers."""
    requests = set(requests)
    order = max((d.order for d in requests), default=0)
    use_jets = (
        isinstance(model, FieldModel) and supports_jets(model.network, order)
        and (model.engine == "jets" or model.engine == "auto" and model.transform is None)
    )
    if isinstance(model, FieldModel) and model.engine == "jets" and not use_jets:
        raise EquationError(
            "engine 'jets' needs an MLP with tanh or sin activations, no Fourier features and "
            "derivatives of order <= 4; use engine 'auto' or 'autograd'"
        )
    if not use_jets:
        return compute_derivatives(model, points, fields, requests, create_graph)
    multi_indices = {d.wrt for d in requests}
    x = points.detach()
    with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
        jets = mlp_jets(model.network, x, multi_indices)
    if model.transform is not None:
        # derivatives of transform(y, local Taylor polynomial of the network around x) at y = x
        def transformed(y: torch.Tensor) -> torch.Tensor:
            return model.apply_transform(y, taylor_polynomial(jets, y - x))

        return compute_derivatives(transformed, x, fields, requests, create_graph)
    return {d: jets[d.wrt][:, fields.index(d.field)] for d in requests}


def build_model(problem: Problem, settings: Settings) -> FieldModel:
    lower, upper = problem.domain.bounds()
    network = MLP(
        in_dim=len(problem.inputs), out_dim=len(problem.fields), width=settings.width,
        depth=settings.depth, activation=settings.activation, lower=lower, upper=upper,
        fourier_features=settings.fourier_features, fourier_scale=settings.fourier_scale,
        seed=settings.seed, periodic=periodic_inputs(problem, settings),
    )
    dtype = torch.float64 if settings.dtype == "float64" else torch.float32
    model = FieldModel(network, problem).to(dtype=dtype, device=resolve_device(settings.device))
    model.engine = settings.engine
    return model


def periodic_inputs(problem: Problem, settings: Settings) -> tuple[int, ...]:
    """Indices of the inputs named in ``settings.periodic`` (e.g. "x" or "x,y")."""
    names = [n.strip() for n in settings.periodic.split(",") if n.strip()]
    unknown = [n for n in names if n not in problem.inputs]
    if unknown:
        raise ValueError(f"periodic: unknown input(s) {', '.join(unknown)}; inputs are {', '.join(problem.inputs)}")
    return tuple(problem.inputs.index(n) for n in names)


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EquationError(f"device '{name}' was asked for, but torch finds no CUDA device here")
    return torch.device(name)
