"""Taylor jets agree with nested autograd to round-off: orders 1-4, mixed, several outputs,
output transforms, tanh and sin, float32 and float64, eager and compiled; and the forward
Laplacian agrees with the sum of its second derivatives."""


import pytest
import torch

from pinnlab import Hyperbox, Problem, Rectangle
from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative, closure, derivative_name, parse_derivative
from pinnlab.derivatives.engines import Autograd, ForwardMode, Jets, field_derivatives
from pinnlab.derivatives.jets import chain_rule_plan, set_partitions, sub_multi_indices, supports_jets
from pinnlab.model.field_model import FieldModel
from pinnlab.model.network import MLP

REQUESTS = [(0,), (1,), (0, 0), (0, 1), (1, 1), (0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 0, 0, 0),
            (0, 0, 1, 1), (1, 1, 1, 1), (0, 1, 1, 1)]


def model_for(activation, dtype, transform=None):
    problem = Problem.define(
        "jets", domain=Rectangle((-1, 0), (2, 1)), fields=["u", "v"],
        residual=lambda u, v: u + v, output_transform=transform,
    )
    network = MLP(2, 2, width=12, depth=3, activation=activation, lower=[-1, 0], upper=[2, 1], seed=3)
    return FieldModel(network, problem).to(dtype), problem


def assert_like_autograd(values, exact, requests, tol):
    """Each requested derivative in ``values`` matches nested autograd's (``exact``) within
    ``tol``, relative to its own size (at least 1)."""
    for d in requests:
        scale = max(float(exact[d].detach().abs().max()), 1.0)
        assert torch.allclose(values[d], exact[d], atol=tol * scale, rtol=tol), d


@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
@pytest.mark.parametrize("with_transform", [False, True])
def test_jets_match_autograd(activation, dtype, tol, with_transform):
    transform = (lambda x, y, u, v: {"u": x * (2 - x) * u + torch.sin(y), "v": v * torch.exp(x) + y**2}) \
        if with_transform else None
    model, problem = model_for(activation, dtype, transform)
    points = torch.rand(50, 2, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    requests = {Derivative(f, a) for f in ("u", "v") for a in REQUESTS} | {Derivative("u", ())}
    jets = field_derivatives(model, points, problem.fields, requests, engine=Jets())
    assert_like_autograd(jets, compute_derivatives(model, points, problem.fields, requests), requests, tol)


def test_jet_results_backpropagate_like_autograd():
    model, problem = model_for("tanh", torch.float64)
    points = torch.rand(30, 2, dtype=torch.float64)
    requests = {Derivative("u", (0, 0)), Derivative("v", (0, 1)), Derivative("u", ())}
    grads = []
    for engine in (Jets(), Autograd()):
        model.zero_grad()
        values = field_derivatives(model, points, problem.fields, requests, engine=engine)
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


def test_orders_with_repeated_inputs_merge_equal_chain_rule_terms():
    # u_xxxx: the 15 set partitions of 4 positions give only 5 distinct products (4, 3+1, 2+2,
    # 2+1+1, 1+1+1+1) with multiplicities 1, 4, 3, 6, 1
    plan = chain_rule_plan(tuple(sub_multi_indices([(0, 0, 0, 0)])))
    assert sorted((m, count) for m, _, count in plan[4]) == [(1, 1), (2, 3), (2, 4), (3, 6), (4, 1)]
    assert sum(count for _, _, count in plan[4]) == 15


COMPILE_POINTS = 1100  # above COMPILE_MIN_POINTS, so the compiled propagation is the one used


@pytest.mark.parametrize("with_transform", [False, True])
def test_compiled_jets_match_autograd_and_backpropagate_alike(with_transform):
    transform = (lambda x, y, u, v: {"u": x * (2 - x) * u + torch.sin(y), "v": v * torch.exp(x)}) \
        if with_transform else None
    model, problem = model_for("tanh", torch.float64, transform)
    points = torch.rand(COMPILE_POINTS, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    requests = {Derivative("u", ()), Derivative("u", (0,)), Derivative("u", (1,)), Derivative("u", (0, 0)),
                Derivative("v", (0, 1)), Derivative("u", (0, 0, 0)), Derivative("v", (0, 0, 1, 1))}
    results, grads = [], []
    for engine in (Jets(compile=True), Autograd()):
        model.zero_grad()
        values = field_derivatives(model, points, problem.fields, requests, engine=engine)
        loss = sum((values[d] ** 2).mean() for d in requests) + (values[Derivative("u", ())] * values[Derivative("u", (0, 0))]).mean()
        loss.backward()
        results.append(values)
        grads.append(torch.cat([p.grad.ravel() for p in model.parameters()]))
    for d in requests:
        assert torch.allclose(results[0][d], results[1][d], atol=1e-9, rtol=1e-9), d
    assert torch.allclose(grads[0], grads[1], atol=1e-9, rtol=1e-8)


def laplacian_problem(transform=None):
    return Problem.define("laplace5", domain=Hyperbox([0] * 5, [1] * 5), fields=["u"],
                          residual=lambda u_laplacian: u_laplacian + 1.0, output_transform=transform)


@pytest.mark.parametrize("with_transform", [False, True])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_forward_laplacian_matches_the_sum_of_second_derivatives(with_transform, dtype, tol):
    transform = (lambda x1, x3, u: {"u": x1 * (1 - x1) * u + torch.sin(x3)}) if with_transform else None
    problem = laplacian_problem(transform)
    network = MLP(5, 1, width=12, depth=3, lower=[0] * 5, upper=[1] * 5, seed=1)
    model = FieldModel(network, problem).to(dtype)
    points = torch.rand(64, 5, dtype=dtype, generator=torch.Generator().manual_seed(3))
    laplacian = parse_derivative("u_laplacian", problem.fields, problem.inputs)
    parts = laplacian.parts()
    requests = {laplacian, Derivative("u", (1, 1)), Derivative("u", (0,))}
    values = field_derivatives(model, points, problem.fields, requests, engine=Jets())
    exact = compute_derivatives(model, points, problem.fields, set(parts) | requests)
    by_parts = sum(exact[p] for p in parts)
    scale = float(by_parts.detach().abs().max())
    assert torch.allclose(values[laplacian], by_parts, atol=tol * scale, rtol=tol)
    assert torch.allclose(exact[laplacian], by_parts, atol=1e-12, rtol=0)  # autograd builds it from parts
    for d in requests - {laplacian}:
        assert torch.allclose(values[d], exact[d], atol=tol * max(float(exact[d].detach().abs().max()), 1.0))


def test_laplacian_name_sums_over_space_only():
    d = parse_derivative("u_laplacian", ("u",), ("x", "y", "t"))
    assert d.laplacian and d.wrt == (0, 1) and d.order == 2
    assert derivative_name(d, ("x", "y", "t")) == "u_laplacian"
    assert closure([d]) == sorted({Derivative("u", ()), Derivative("u", (0,)), Derivative("u", (1,)),
                                   Derivative("u", (0, 0)), Derivative("u", (1, 1))},
                                  key=lambda v: (v.order, v))


def test_affine_transforms_are_recognised_and_others_take_the_general_path():
    affine, problem = model_for("tanh", torch.float64, lambda x, y, u, v: {"u": torch.sin(x) + x * y * u, "v": u - 2 * v})
    curved, _ = model_for("tanh", torch.float64, lambda x, y, u, v: {"u": u * u + x, "v": torch.tanh(v)})
    points = torch.rand(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert affine.affine_transform(points) is not None
    assert curved.affine_transform(points) is None
    requests = {Derivative(f, a) for f in ("u", "v") for a in [(), (0,), (0, 1), (1, 1, 1), (0, 0, 1, 1)]}
    for model in (affine, curved):
        jets = field_derivatives(model, points, problem.fields, requests, engine=Jets())
        exact = compute_derivatives(model, points, problem.fields, requests)
        for d in requests:
            assert torch.allclose(jets[d], exact[d], atol=1e-9 * max(float(exact[d].abs().max()), 1.0)), d


def test_affine_parts_follow_the_point_set():
    model, problem = model_for("tanh", torch.float64, lambda x, y, u, v: {"u": x * u + y, "v": torch.exp(y) * v})
    requests = {Derivative("u", (0, 0)), Derivative("v", (1,))}
    for seed in range(3):  # a new point set each time, possibly at a reused address
        points = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        jets = field_derivatives(model, points, problem.fields, requests, engine=Jets())
        exact = compute_derivatives(model, points, problem.fields, requests)
        for d in requests:
            assert torch.allclose(jets[d], exact[d], atol=1e-10), (seed, d)
        points.mul_(0.5)  # changed in place: the cached parts must not be reused
        jets = field_derivatives(model, points, problem.fields, requests, engine=Jets())
        exact = compute_derivatives(model, points, problem.fields, requests)
        assert all(torch.allclose(jets[d], exact[d], atol=1e-10) for d in requests)


def test_compiled_forward_laplacian_of_a_one_output_network_matches_autograd():
    # one output: the compiled path maps the last layer by a multiply and a sum, not a matmul
    problem = laplacian_problem()
    network = MLP(5, 1, width=12, depth=3, lower=[0] * 5, upper=[1] * 5, seed=2)
    model = FieldModel(network, problem).double()
    points = torch.rand(COMPILE_POINTS, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    laplacian = parse_derivative("u_laplacian", problem.fields, problem.inputs)
    requests = {laplacian, Derivative("u", ()), Derivative("u", (2,))}
    results, grads = [], []
    for engine in (Jets(compile=True), Autograd()):
        model.zero_grad()
        values = field_derivatives(model, points, problem.fields, requests, engine=engine)
        sum(((values[d] + 1) ** 2).mean() for d in requests).backward()
        results.append(values)
        grads.append(torch.cat([p.grad.ravel() for p in model.parameters()]))
    for d in requests:
        assert torch.allclose(results[0][d], results[1][d], atol=1e-9, rtol=1e-9), d
    assert torch.allclose(grads[0], grads[1], atol=1e-9, rtol=1e-8)


def test_a_laplacian_over_no_input_is_zero_on_every_engine():
    model, problem = model_for("tanh", torch.float64)
    points = torch.rand(20, 2, dtype=torch.float64)
    empty = Derivative("u", (), laplacian=True)
    for engine in (Jets(), Autograd(), ForwardMode()):
        values = field_derivatives(model, points, problem.fields, {empty, Derivative("u", (0,))}, engine=engine)
        assert torch.equal(values[empty], torch.zeros(20, dtype=torch.float64)), engine
