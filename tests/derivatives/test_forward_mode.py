"""The func engine (nested torch.func.jvp) agrees with nested autograd on networks jets do not
support, orders 1-4, mixed, two fields, with a non-affine output transform, in both dtypes, and
its results backpropagate to the parameters alike."""

import pytest
import torch

from pinnlab import Problem, Rectangle
from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative
from pinnlab.derivatives.engines import Autograd, ForwardMode, field_derivatives
from pinnlab.model.field_model import FieldModel
from pinnlab.model.network import MLP
from tests.derivatives.test_jets import assert_like_autograd

REQUESTS = [(), (0,), (1,), (0, 1), (1, 1), (0, 0, 1), (0, 0, 0, 0), (0, 1, 1, 1)]


def fourier_model(dtype, transform=None):
    problem = Problem.define("func", domain=Rectangle((0, 0), (1, 1)), fields=["u", "v"],
                             residual=lambda u: u, output_transform=transform)
    network = MLP(2, 2, width=10, depth=2, activation="gelu", lower=[0, 0], upper=[1, 1],
                  fourier_features=4, seed=5)
    return FieldModel(network, problem).to(dtype), problem


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
@pytest.mark.parametrize("with_transform", [False, True])
def test_func_engine_matches_autograd(dtype, tol, with_transform):
    transform = (lambda x, y, u, v: {"u": u * u * x + torch.sin(y), "v": torch.tanh(v) * y}) if with_transform else None
    model, problem = fourier_model(dtype, transform)
    points = torch.rand(40, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
    requests = {Derivative(f, a) for f in ("u", "v") for a in REQUESTS}
    values = field_derivatives(model, points, problem.fields, requests, engine=ForwardMode())
    assert_like_autograd(values, compute_derivatives(model, points, problem.fields, requests), requests, tol)


def test_func_engine_gradients_match_autograd():
    model, problem = fourier_model(torch.float64)
    points = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    laplacian = Derivative("u", (0, 1), laplacian=True)
    requests = {Derivative("u", ()), Derivative("u", (0, 0)), Derivative("v", (0, 1)), laplacian}
    grads = []
    for engine in (ForwardMode(), Autograd()):
        model.zero_grad()
        values = field_derivatives(model, points, problem.fields, requests, engine=engine)
        loss = (values[Derivative("u", ())] * values[Derivative("u", (0, 0))]).sum() \
            + (values[Derivative("v", (0, 1))] ** 2).sum() + values[laplacian].square().sum()
        loss.backward()
        grads.append(torch.cat([p.grad.ravel() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-10, rtol=1e-8)
