"""The function being trained: a network, then the equation's optional output transform."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from pinnlab.derivatives.affine import AffineTransform, is_affine
from pinnlab.problem.binding import EquationError, as_column
from pinnlab.derivatives.compiling import COMPILE_MIN_POINTS, compiled_jet_function, should_compile
from pinnlab.derivatives.derivative import LAPLACIAN, Derivative, compute_derivatives, with_laplacians
from pinnlab.derivatives.forward_mode import forward_mode_derivatives
from pinnlab.derivatives.jets import jet_function, jet_indices, split_streams, supports_jets, taylor_polynomial
from pinnlab.model.network import MLP
from pinnlab.problem.equation_module import Problem
from pinnlab.problem.reference import split_fields
from pinnlab.solver.settings import Settings


class FieldModel(nn.Module):
    """Maps points (N, d) to fields (N, F); hard constraints live in ``problem.output_transform``."""

    def __init__(self, network: nn.Module, problem: Problem) -> None:
        super().__init__()
        self.network = network
        self.transform = problem.output_transform
        self.fields = problem.fields
        self.engine = "auto"
        self.compile = False  # torch.compile the jets (see pinnlab/derivatives/compiling.py)
        self.residual_chunk = 0  # points per chunk of the training residual; 0: auto (pinnlab/derivatives/chunked_loss.py)
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


def field_derivatives(model: torch.nn.Module, points: torch.Tensor, fields: tuple[str, ...],
                      requests: Iterable[Derivative], create_graph: bool = True) -> dict[Derivative, torch.Tensor]:
    """Requested derivatives of ``model``'s fields at ``points``.

    ``auto`` uses Taylor jets for tanh/sin MLPs. An output transform that is affine in the network
    (hard constraints nearly always are) goes through the Leibniz rule (pinnlab/derivatives/affine.py); any
    other transform is differentiated by autograd on a local Taylor polynomial of the jets, which
    ``auto`` does only when the jets are compiled: eager, that step is slower than nested
    autograd. Nested autograd serves every other network and order."""
    requests = set(requests)
    order = max((d.order for d in requests), default=0)
    field_model = isinstance(model, FieldModel)
    if field_model and model.engine == "func":
        return forward_mode_derivatives(model, points, fields, requests, create_graph)
    training = create_graph and torch.is_grad_enabled()
    hot = field_model and model.compile and training and points.shape[0] >= COMPILE_MIN_POINTS
    supported = field_model and supports_jets(model.network, order)
    wants_jets = supported and model.engine in ("auto", "jets")
    affine = model.affine_transform(points) if wants_jets and model.transform is not None else None
    use_jets = supported and (model.engine == "jets" or model.engine == "auto" and (
        model.transform is None or hot or affine is not None))
    if isinstance(model, FieldModel) and model.engine == "jets" and not use_jets:
        raise EquationError(
            "engine 'jets' needs an MLP with tanh or sin activations, no Fourier features and "
            "derivatives of order <= 4; use engine 'auto' or 'autograd'"
        )
    if not use_jets:
        return compute_derivatives(model, points, fields, requests, create_graph)
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
        def compute(wanted: set[Derivative]) -> dict[Derivative, torch.Tensor]:
            return {d: jets[d.wrt][:, fields.index(d.field)] for d in wanted}
    elif affine is not None:
        def compute(wanted: set[Derivative]) -> dict[Derivative, torch.Tensor]:
            return affine.derivatives(points, jets, wanted, fields)
    else:
        # derivatives of transform(y, local Taylor polynomial of the network around x) at y = x
        def transformed(y: torch.Tensor) -> torch.Tensor:
            return model.apply_transform(y, taylor_polynomial(jets, y - x))

        return compute_derivatives(transformed, x, fields, requests, create_graph)
    return with_laplacians(requests, compute, like=jets[()][:, 0])


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
    model.residual_chunk = settings.residual_chunk
    order = max((d.order for d in problem_derivatives(problem)), default=0)
    uses_jets = settings.engine in ("auto", "jets") and supports_jets(network, order)
    model.compile = should_compile(settings.compile, settings.steps + settings.lbfgs_steps,
                                   model_device(model), uses_jets)
    return model


def problem_derivatives(problem: Problem) -> set[Derivative]:
    """Every derivative the residuals and the conditions ask for."""
    wanted = set().union(*(r.derivatives for r in problem.residuals.values()))
    for name, condition in problem.conditions.items():
        wanted |= set(condition.derivatives(name, problem.layout))
    return wanted


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


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
