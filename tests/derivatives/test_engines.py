"""The derivative engines: resolve_engine picks what the auto rule says for each kind of model,
Jets and ForwardMode agree with Autograd to round-off in float64, and the Gauss-Newton Jacobian
takes its engine as an argument instead of changing the model."""

import math

import pytest
import torch

from pinnlab import Dirichlet, Problem, Rectangle
from pinnlab.derivatives import engines
from pinnlab.derivatives.derivative import Derivative
from pinnlab.derivatives.engines import Autograd, ForwardMode, Jets, field_derivatives, resolve_engine
from pinnlab.geometry.sampling import make_sampler
from pinnlab.model.field_model import FieldModel
from pinnlab.model.network import MLP
from pinnlab.problem.binding import EquationError
from pinnlab.training.losses import loss_terms, term_weights
from pinnlab.training.collocation import sample_collocation
from pinnlab.training.residual_vector import residual_jacobian, residual_vector
from pinnlab.solver.job import resolve_settings

F64 = torch.float64
AFFINE = lambda x, y, u: {"u": x * (1 - x) * u + torch.sin(y)}  # noqa: E731
CURVED = lambda x, y, u: {"u": u * u + x}  # noqa: E731


def second_order(u_xx, u_yy):
    return u_xx + u_yy


def fifth_order(u_xxxxx):
    return u_xxxxx


def model_for(residual=second_order, transform=None, **network):
    problem = Problem.define("engines", domain=Rectangle((0.0, 0.0), (1.0, 1.0)), residual=residual,
                             output_transform=transform)
    mlp = MLP(2, 1, width=12, depth=3, lower=[0, 0], upper=[1, 1], seed=4, **network)
    return problem, FieldModel(mlp, problem).to(F64)


def auto(problem, model, compile_choice="off", iterations=100):
    return resolve_engine("auto", compile_choice, problem, model, iterations)


def test_auto_takes_jets_for_a_tanh_or_sin_mlp():
    for activation in ("tanh", "sin"):
        problem, model = model_for(activation=activation)
        assert auto(problem, model) == Jets(compile=False, fallback=Autograd())


def test_auto_takes_autograd_where_jets_do_not_apply():
    assert auto(*model_for(fourier_features=4)) == Autograd()
    assert auto(*model_for(activation="gelu")) == Autograd()
    assert auto(*model_for(residual=fifth_order)) == Autograd()  # jets go to order 4


def test_named_engines_and_their_settings():
    problem, model = model_for()
    assert resolve_engine("autograd", "off", problem, model, 10, residual_chunk=300) == Autograd(300)
    assert resolve_engine("func", "off", problem, model, 10) == ForwardMode()
    assert resolve_engine("jets", "on", problem, model, 10) == Jets(compile=True)
    assert auto(problem, model, "auto", iterations=10**6) == Jets(compile=True, fallback=Autograd())
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine("fast", "off", problem, model, 10)
    with pytest.raises(ValueError, match="compile=on"):
        resolve_engine("autograd", "on", problem, model, 10)


def spy_on_jets(monkeypatch):
    """Record each call that reaches the jet propagation (its ``hot`` flag), answering it with
    autograd so that nothing is compiled."""
    calls = []

    def recorded(model, points, fields, requests, create_graph, hot, affine):
        calls.append((hot, affine is not None))
        return Autograd().derivatives(model, points, fields, requests, create_graph)

    monkeypatch.setattr(engines, "jet_derivatives", recorded)
    return calls


REQUESTS = {Derivative("u", ()), Derivative("u", (0, 0)), Derivative("u", (0, 1))}


def test_an_affine_transform_takes_the_leibniz_jets(monkeypatch):
    problem, model = model_for(transform=AFFINE)
    engine = auto(problem, model)
    calls = spy_on_jets(monkeypatch)
    field_derivatives(model, torch.rand(50, 2, dtype=F64), problem.fields, REQUESTS, engine=engine)
    assert calls == [(False, True)]


def test_a_non_affine_transform_takes_jets_only_in_compiled_training_passes(monkeypatch):
    problem, model = model_for(transform=CURVED)
    calls = spy_on_jets(monkeypatch)
    large = torch.rand(engines.COMPILE_MIN_POINTS, 2, dtype=F64)
    eager = auto(problem, model)
    assert eager == Jets(compile=False, fallback=Autograd())
    field_derivatives(model, large, problem.fields, REQUESTS, engine=eager)
    assert calls == []  # autograd took it
    compiled = auto(problem, model, "on")
    assert compiled == Jets(compile=True, fallback=Autograd())
    field_derivatives(model, large, problem.fields, REQUESTS, engine=compiled)
    assert calls == [(True, False)]
    field_derivatives(model, large[:100], problem.fields, REQUESTS, engine=compiled)  # too few points
    field_derivatives(model, large, problem.fields, REQUESTS, create_graph=False, engine=compiled)
    assert calls == [(True, False)]
    field_derivatives(model, large[:100], problem.fields, REQUESTS, engine=Jets())  # jets asked for by name
    assert calls == [(True, False), (False, False)]


def test_jets_by_name_refuse_what_they_cannot_do():
    problem, model = model_for(fourier_features=4)
    with pytest.raises(EquationError, match="engine 'jets' needs an MLP"):
        field_derivatives(model, torch.rand(10, 2, dtype=F64), problem.fields, REQUESTS, engine=Jets())


ALL = {Derivative("u", a) for a in [(), (0,), (1,), (0, 0), (0, 1), (1, 1), (0, 0, 1), (1, 1, 1),
                                    (0, 0, 0, 0), (0, 0, 1, 1)]} | {Derivative("u", (0, 1), laplacian=True)}


@pytest.mark.parametrize("transform", [None, AFFINE, CURVED])
@pytest.mark.parametrize("engine", [Jets(), ForwardMode()])
def test_jets_and_forward_mode_agree_with_autograd_in_float64(engine, transform):
    problem, model = model_for(transform=transform)
    points = torch.rand(64, 2, dtype=F64, generator=torch.Generator().manual_seed(7))
    exact = field_derivatives(model, points, problem.fields, ALL, engine=Autograd())
    values = field_derivatives(model, points, problem.fields, ALL, engine=engine)
    for d in ALL:
        scale = max(float(exact[d].detach().abs().max()), 1.0)
        assert float((values[d] - exact[d]).detach().abs().max()) <= 1e-12 * scale, d


class Watched(FieldModel):
    """A FieldModel that records every attribute set on it after construction."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        object.__setattr__(self, "assigned", [])

    def __setattr__(self, name, value) -> None:
        if "assigned" in self.__dict__:
            self.assigned.append(name)
        super().__setattr__(name, value)


def test_the_gauss_newton_jacobian_leaves_the_model_alone():
    def residual(x, y, u_xx, u_yy):
        return u_xx + u_yy + 2 * math.pi**2 * torch.sin(math.pi * x) * torch.sin(math.pi * y)

    problem = Problem.define("poisson", domain=Rectangle((0.0, 0.0), (1.0, 1.0)), residual=residual,
                             conditions={"boundary": Dirichlet(0.0)})
    settings = resolve_settings(problem, {"sampling.points": 60, "sampling.boundary_points": 20,
                                          "numerics.dtype": "float64"})
    model = Watched(MLP(2, 1, width=8, depth=2, lower=[0, 0], upper=[1, 1], seed=1), problem).to(F64)
    collocation = sample_collocation(problem, settings.sampling, make_sampler("sobol", seed=0), F64, torch.device("cpu"))
    weights = term_weights(problem, settings)
    before = {k: v for k, v in vars(model).items() if k != "assigned"}
    model.assigned.clear()
    used = []

    class Counted(ForwardMode):
        def derivatives(self, *args, **kwargs):
            used.append(1)
            return super().derivatives(*args, **kwargs)

    J = residual_jacobian(problem, model, collocation, weights, engine=Counted())
    r = residual_vector(problem, model, collocation, weights, engine=Autograd())
    assert used  # the Jacobian's derivatives came from the engine passed
    assert model.assigned == [] and {k: v for k, v in vars(model).items() if k != "assigned"} == before
    loss = sum(weights[k] * v for k, v in loss_terms(problem, model, collocation, engine=Autograd()).items())
    assert float(r @ r) == pytest.approx(float(loss.detach()), rel=1e-12)
    model.zero_grad()
    loss.backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.allclose(2 * J.T @ r, gradient, rtol=1e-9, atol=1e-12)
