"""The function being trained: a network, then the equation's optional output transform."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from pinnlab.derivatives.affine import AffineTransform, is_affine
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.network import MLP
from pinnlab.problem.binding import EquationError, as_column
from pinnlab.problem.reference import split_fields

if TYPE_CHECKING:  # annotations only: the solver's settings import this layer
    from pinnlab.problem.equation_module import Problem
    from pinnlab.solver.settings import Settings


class FieldModel(nn.Module):
    """Maps points (N, d) to fields (N, F); hard constraints live in ``problem.output_transform``."""

    def __init__(self, network: nn.Module, problem: Problem) -> None:
        super().__init__()
        self.network = network
        self.transform = problem.output_transform
        self.fields = problem.fields
        self._affine: AffineTransform | None | bool = self.transform is not None  # True: not checked yet

    def affine_transform(self, points: torch.Tensor) -> AffineTransform | None:
        """The output transform as u = A + B n when it is affine in the network (checked once,
        on the first points seen), else None."""
        if self._affine is True:
            affine = is_affine(self.apply_transform, points.detach()[:64], len(self.fields))
            self._affine = AffineTransform(self.apply_transform, len(self.fields)) if affine else None
        return self._affine or None

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


def build_model(problem: Problem, settings: Settings) -> FieldModel:
    """The network of ``settings.network`` (seeded by ``numerics.seed``) and the problem's output
    transform, in ``numerics.dtype`` on ``numerics.device``. The derivative engine is chosen
    apart from it (pinnlab/derivatives/engines.py: resolve_engine)."""
    lower, upper = problem.domain.bounds()
    shape, numerics = settings.network, settings.numerics
    network = MLP(
        in_dim=len(problem.inputs), out_dim=len(problem.fields), width=shape.width,
        depth=shape.depth, activation=shape.activation, lower=lower, upper=upper,
        fourier_features=shape.fourier_features, fourier_scale=shape.fourier_scale,
        seed=numerics.seed, periodic=periodic_inputs(problem, shape.periodic),
    )
    dtype = torch.float64 if numerics.dtype == "float64" else torch.float32
    return FieldModel(network, problem).to(dtype=dtype, device=resolve_device(numerics.device))


def periodic_inputs(problem: Problem, periodic: str) -> tuple[int, ...]:
    """Indices of the inputs named in ``periodic`` (e.g. "x" or "x,y")."""
    names = [n.strip() for n in periodic.split(",") if n.strip()]
    unknown = [n for n in names if n not in problem.inputs]
    if unknown:
        raise ValueError(f"periodic: unknown input(s) {', '.join(unknown)}; inputs are {', '.join(problem.inputs)}")
    return tuple(problem.inputs.index(n) for n in names)


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EquationError(f"device '{name}' was asked for, but torch finds no CUDA device here")
    return torch.device(name)
