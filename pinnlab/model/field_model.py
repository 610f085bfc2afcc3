"""The function being trained: a network, then the equation's optional output transform, and
the values of the equation's unknowns (inverse problems), trained with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch
from torch import nn

from pinnlab.derivatives.affine import AffineTransform, is_affine
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.network import MLP
from pinnlab.problem.binding import EquationError, as_column
from pinnlab.problem.reference import split_fields
from pinnlab.problem.unknowns import Unknown

if TYPE_CHECKING:  # annotations only: the solver's settings import this layer
    from pinnlab.problem.equation_module import Problem
    from pinnlab.solver.settings import Settings


class UnknownValues(nn.Module):
    """The unknowns' raw parameters (``raw_<name>``, 0-d; see pinnlab/problem/unknowns.py for the
    mapping to values). Calling it gives every value as a live tensor: read inside a
    ``torch.func.functional_call`` of the model, it sees the substituted parameters, so the
    Gauss-Newton Jacobian has columns for the unknowns."""

    def __init__(self, unknowns: Mapping[str, Unknown]) -> None:
        super().__init__()
        self.specs = dict(unknowns)
        for name, unknown in self.specs.items():
            raw = torch.tensor(unknown.raw(unknown.initial), dtype=torch.float64)
            self.register_parameter(f"raw_{name}", nn.Parameter(raw))

    def raw(self, name: str) -> torch.Tensor:
        return getattr(self, f"raw_{name}")

    def forward(self) -> dict[str, torch.Tensor]:
        return {name: unknown.value(self.raw(name)) for name, unknown in self.specs.items()}


class FieldModel(nn.Module):
    """Maps points (N, d) to fields (N, F); hard constraints live in ``problem.output_transform``.
    The problem's unknowns are the submodule ``unknowns`` (registered after the network, so
    ``parameters()`` lists the network's first): every optimizer trains them, and the model's
    state_dict (checkpoints, model.pt) carries them."""

    def __init__(self, network: nn.Module, problem: Problem) -> None:
        super().__init__()
        self.network = network
        self.transform = problem.output_transform
        self.fields = problem.fields
        self.unknowns = UnknownValues(problem.unknowns)
        # True: not checked yet; a transform that takes unknowns changes with them, so the cached
        # affine parts (detached, per point set) would be stale: it takes the general path
        uses_unknowns = self.transform is not None and bool(self.transform.unknowns_used)
        self._affine: AffineTransform | None | bool = self.transform is not None and not uses_unknowns

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
        parts = split_fields(self.transform(x, columns, self.unknowns()), self.fields, "output_transform")
        n = x.shape[0]
        return torch.stack(
            [as_column(parts[f], n, f"output_transform field '{f}'", x.dtype, x.device) for f in self.fields],
            dim=1,
        )


class InstanceModel(nn.Module):
    """One member of a family (pinnlab/problem/parameters.py): the family's model with its
    parameter inputs fixed at ``values``, so it maps physical points (N, d) to fields like the
    model of an ordinary problem (the problem being ``Problem.instance(values)``).

    It is a view: its parameters and state_dict are the family model's own (a model.pt written
    from it is the family's), and derivatives are taken through the appended columns, which no
    derivative involves."""

    def __init__(self, family: FieldModel, values: Mapping[str, float], names: tuple[str, ...]) -> None:
        super().__init__()
        self.family = family
        self.fields = family.fields
        self.values = {name: float(values[name]) for name in names}
        self.register_buffer("columns", torch.tensor([self.values[n] for n in names], dtype=torch.float64),
                             persistent=False)

    @property
    def unknowns(self) -> UnknownValues:
        return self.family.unknowns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns = self.columns.to(dtype=x.dtype, device=x.device).expand(x.shape[0], -1)
        return self.family(torch.cat([x, columns], dim=1))

    def state_dict(self, *args, **kwargs):  # type: ignore[override]
        return self.family.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):  # type: ignore[override]
        return self.family.load_state_dict(*args, **kwargs)


def unknown_values(model: nn.Module) -> dict[str, torch.Tensor]:
    """The live values of ``model``'s unknowns by name ({} for a model without them)."""
    unknowns = getattr(model, "unknowns", None)
    return unknowns() if isinstance(unknowns, UnknownValues) else {}


def build_model(problem: Problem, settings: Settings) -> FieldModel:
    """The network of ``settings.network`` (seeded by ``numerics.seed``) and the problem's output
    transform, in ``numerics.dtype`` on ``numerics.device``. The derivative engine is chosen
    apart from it (pinnlab/derivatives/engines.py: resolve_engine)."""
    lower, upper = problem.domain.bounds()
    if problem.parameters:  # a family: the parameters are inputs after the physical ones, scaled by their box
        lower = np.concatenate([lower, problem.parameters.lower])
        upper = np.concatenate([upper, problem.parameters.upper])
    shape, numerics = settings.network, settings.numerics
    network = MLP(
        in_dim=len(problem.point_names), out_dim=len(problem.fields), width=shape.width,
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
