"""Network options that change what the network can represent."""

import pytest
import torch

from pinnlab import Interval, Problem, TimeInterval, resolve_settings
from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.field_model import build_model
from pinnlab.model.network import MLP, SigmoidTanh, tanh_through_sigmoid


def test_periodic_input_makes_values_and_derivatives_match_across_the_box():
    net = MLP(2, 1, width=16, depth=2, lower=[-1.0, 0.0], upper=[1.0, 2.0], periodic=[0], seed=3).double()
    t = torch.linspace(0, 2, 7, dtype=torch.float64)
    left = torch.stack([torch.full_like(t, -1.0), t], 1)
    right = torch.stack([torch.full_like(t, 1.0), t], 1)
    wanted = {Derivative("u", ()), Derivative("u", (0,)), Derivative("u", (0, 0)), Derivative("u", (1,))}
    a = compute_derivatives(net, left, ("u",), wanted, create_graph=False)
    b = compute_derivatives(net, right, ("u",), wanted, create_graph=False)
    for d in wanted:
        torch.testing.assert_close(a[d], b[d], atol=1e-12, rtol=0)
    start = torch.stack([torch.zeros_like(t[:1]), torch.zeros_like(t[:1])], 1)
    end = torch.stack([torch.zeros_like(t[:1]), torch.full_like(t[:1], 2.0)], 1)
    assert not torch.allclose(net(start), net(end))  # t stays an ordinary input


def test_periodic_setting_names_an_input():
    problem = Problem.define("p", domain=Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0), residual=lambda u_t: u_t)
    model = build_model(problem, resolve_settings(problem, {"network.periodic": "x"}))
    assert model.network.periodic == (0,)
    with pytest.raises(ValueError, match="periodic: unknown input.*z.*inputs are x, t"):
        build_model(problem, resolve_settings(problem, {"network.periodic": "z"}))


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 4e-7), (torch.float64, 1e-15)])
def test_tanh_through_the_sigmoid_is_tanh_without_gradients_and_plain_tanh_with_them(dtype, tolerance):
    x = torch.linspace(-20.0, 20.0, 4001, dtype=dtype)
    with torch.no_grad():
        fast = SigmoidTanh()(x.clone())
    assert float((fast - torch.tanh(x)).abs().max()) <= tolerance
    y = x.clone().requires_grad_()
    out = SigmoidTanh()(y)  # autograd on: torch.tanh itself, its input untouched
    assert torch.equal(out, torch.tanh(x)) and torch.equal(y.detach(), x)
    out.sum().backward()
    torch.testing.assert_close(y.grad, 1 - torch.tanh(x) ** 2, rtol=0, atol=4 * tolerance)


def test_the_swap_serves_the_block_and_restores_the_tanh_layers_after_an_error():
    net = MLP(2, 1, width=8, depth=3)
    before = [type(m) for m in net.modules()]
    assert before.count(torch.nn.Tanh) == 3
    x = torch.rand(50, 2)
    with torch.no_grad():
        expected = net(x)
        with tanh_through_sigmoid(net):
            assert [type(m) for m in net.modules()].count(SigmoidTanh) == 3
            torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-6)
    with pytest.raises(RuntimeError, match="inside"):
        with tanh_through_sigmoid(net):
            raise RuntimeError("inside")
    assert [type(m) for m in net.modules()] == before
