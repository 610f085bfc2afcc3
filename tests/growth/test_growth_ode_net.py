"""EulerNet: the Euler recursion, the time mesh and splitting intervals."""

from __future__ import annotations

import pytest
import torch

from pinnlab.growth import EulerNet, Objective


def _net(layers: int = 3, width: int = 4, seed: int = 0, lift: str = "linear") -> EulerNet:
    net = EulerNet.create(2, 3, width, layers, final_time=1.5, lift=lift, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # distinct controls per layer, as after training
        net.weight.add_(0.5 * torch.randn(net.weight.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64))
        net.bias.add_(0.3 * torch.randn(net.bias.shape, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64))
    return net


def _features(n: int = 50) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


def test_forward_is_the_euler_recursion() -> None:
    net, a = _net(), _features()
    x = net.lift(a)
    for m in range(3):
        x = x + net.steps[m] * torch.tanh(x @ net.weight[m].T + net.bias[m])
    assert torch.equal(net(a), net.head(x))
    assert net(a).dtype == torch.float64 and net(a).shape == (50, 3)
    assert torch.allclose(net.nodes(), torch.tensor([0.0, 0.5, 1.0, 1.5], dtype=torch.float64))


def test_augment_lift_pads_with_zeros() -> None:
    net = _net(lift="augment")
    a = _features()
    x0 = net.initial_state(a)
    assert torch.equal(x0[:, :2], a) and torch.equal(x0[:, 2:], torch.zeros(50, 2, dtype=torch.float64))


def test_split_keeps_controls_and_halves_the_steps() -> None:
    net = _net()
    fine = net.split([0, 2])
    assert fine.num_layers == 5
    assert torch.allclose(fine.steps, torch.tensor([0.25, 0.25, 0.5, 0.25, 0.25], dtype=torch.float64))
    assert fine.final_time == pytest.approx(net.final_time, abs=1e-15)
    for new, old in enumerate([0, 0, 1, 2, 2]):
        assert torch.equal(fine.weight[new], net.weight[old]) and torch.equal(fine.bias[new], net.bias[old])
    # the copy is independent of the original
    with torch.no_grad():
        fine.weight.zero_()
    assert net.weight.abs().sum() > 0


def test_split_leaves_the_network_function_unchanged() -> None:
    """The continuous network (the neural ODE the Euler net discretizes) is unchanged by a split,
    and so is the regularization; the Euler output changes only at the split layer's local error."""
    net, a = _net(), _features()
    fine = net.split([1])
    assert torch.allclose(fine.flow_output(a, substeps=64), net.flow_output(a, substeps=64), atol=1e-10, rtol=0)
    objective = Objective(alpha=1e-2, beta=1e-2, gamma=1e-3)
    with torch.no_grad():
        before, after = objective.regularization(net), objective.regularization(fine)
    assert float(after["tikhonov"]) == pytest.approx(float(before["tikhonov"]), rel=1e-13)
    assert float(after["head"]) == float(before["head"])
    # h1: the jump into the split interval is now divided by k/2: a known, exact cost
    assert float(after["h1"] - before["h1"]) == pytest.approx(float(objective.split_costs(net)[1]), rel=1e-12)
    with torch.no_grad():
        uniform_h1 = float(objective.regularization(net.split_all())["h1"])
    assert uniform_h1 == pytest.approx(2 * float(before["h1"]), rel=1e-12)
    uniform = net.split_all()
    assert torch.allclose(uniform.flow_output(a), net.flow_output(a), atol=1e-10, rtol=0)


def test_split_of_an_exact_step_leaves_the_euler_output_unchanged() -> None:
    net, a = _net(), _features()
    with torch.no_grad():
        net.weight[1].zero_()  # f does not depend on x on I_2: the Euler step is exact
    assert torch.allclose(net.split([1])(a), net(a), atol=1e-14, rtol=0)
    assert not torch.allclose(net.split([0])(a), net(a), atol=1e-6, rtol=0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="valid: tanh"):
        EulerNet.create(2, 2, 4, activation="cosh")
    with pytest.raises(ValueError, match="lift"):
        EulerNet.create(3, 2, 2, lift="augment")
    with pytest.raises(ValueError, match="cannot split layers \\[5\\]"):
        _net().split([5])
