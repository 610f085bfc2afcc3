"""Taylor jets agree with nested autograd to round-off: orders 1-4, mixed, several outputs,
output transforms, tanh and sin, float32 and float64."""


import pytest
import torch

from pinnlab import Problem, Rectangle
from pinnlab.derivatives import Derivative, compute_derivatives
from pinnlab.jets import set_partitions, supports_jets
from pinnlab.model import FieldModel, field_derivatives
from pinnlab.network import MLP

REQUESTS = [(0,), (1,), (0, 0), (0, 1), (1, 1), (0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 0, 0, 0),
            (0, 0, 1, 1), (1, 1, 1, 1), (0, 1, 1, 1)]


def model_for(activation, dtype, transform=None):
    problem = Problem.define(
        "jets", domain=Rectangle((-1, 0), (2, 1)), fields=["u", "v"],
        residual=lambda u, v: u + v, output_transform=transform,
    )
    network = MLP(2, 2, width=12, depth=3, activation=activation, lower=[-1, 0], upper=[2, 1], seed=3)
    return FieldModel(network, problem).to(dtype), problem


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
@pytest.mark.parametrize("with_transform", [False, True])
def test_jets_match_autograd(activation, dtype, tol, with_transform):
    transform = (lambda x, y, u, v: {"u": x * (2 - x) * u + torch.sin(y), "v": v * torch.exp(x) + y**2}) \
        if with_transform else None
    model, problem = model_for(activation, dtype, transform)
    points = torch.rand(50, 2, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    requests = {Derivative(f, a) for f in ("u", "v") for a in REQUESTS} | {Derivative("u", ())}
    model.engine = "jets"
    jets = field_derivatives(model, points, problem.fields, requests)
    exact = compute_derivatives(model, points, problem.fields, requests)
    for d in requests:
        scale = max(float(exact[d].detach().abs().max()), 1.0)
        assert torch.allclose(jets[d], exact[d], atol=tol * scale, rtol=tol), d


def test_jet_results_backpropagate_like_autograd():
    model, problem = model_for("tanh", torch.float64)
    points = torch.rand(30, 2, dtype=torch.float64)
    requests = {Derivative("u", (0, 0)), Derivative("v", (0, 1)), Derivative("u", ())}
    grads = []
    for engine in ("jets", "autograd"):
        model.engine = engine
        model.zero_grad()
        values = field_derivatives(model, points, problem.fields, requests)
        (values[Derivative("u", (0, 0))] * values[Derivative("u", ())] + values[Derivative("v", (0, 1))] ** 2).sum().backward()
        grads.append(torch.cat([p.grad.ravel() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-10, rtol=1e-8)


def test_set_partitions_are_bell_numbers():
    assert [len(set_partitions(tuple(range(k)))) for k in range(6)] == [1, 1, 2, 5, 15, 52]


def test_unsupported_networks_fall_back():
    assert not supports_jets(MLP(2, 1, activation="gelu"), 2)
    assert not supports_jets(MLP(2, 1, fourier_features=4), 2)
    assert not supports_jets(MLP(2, 1), 5)
    assert supports_jets(MLP(2, 1, activation="sin"), 4)
