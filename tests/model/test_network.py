"""Network options that change what the network can represent."""

import pytest
import torch

from pinnlab import Interval, Problem, TimeInterval, resolve_settings
from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative
from pinnlab.model.field_model import build_model
from pinnlab.model.network import MLP


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
