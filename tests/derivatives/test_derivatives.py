"""The derivative engine against closed forms: orders 1 to 4, mixed, several fields, both dtypes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pinnlab.derivatives.autograd import compute_derivatives
from pinnlab.derivatives.derivative import Derivative, DerivativeNameError, closure, derivative_name, parse_derivative

INPUTS = ("x", "t")
FIELDS = ("u", "v")


def model(p):
    x, t = p[:, 0], p[:, 1]
    return torch.stack([torch.sin(2 * x) * torch.exp(t), x**3 * t**2], dim=1)


EXACT = {
    "u": lambda x, t: torch.sin(2 * x) * torch.exp(t),
    "u_x": lambda x, t: 2 * torch.cos(2 * x) * torch.exp(t),
    "u_t": lambda x, t: torch.sin(2 * x) * torch.exp(t),
    "u_xx": lambda x, t: -4 * torch.sin(2 * x) * torch.exp(t),
    "u_xt": lambda x, t: 2 * torch.cos(2 * x) * torch.exp(t),
    "u_xxx": lambda x, t: -8 * torch.cos(2 * x) * torch.exp(t),
    "u_xxxx": lambda x, t: 16 * torch.sin(2 * x) * torch.exp(t),
    "u_xxtt": lambda x, t: -4 * torch.sin(2 * x) * torch.exp(t),
    "v_x": lambda x, t: 3 * x**2 * t**2,
    "v_xt": lambda x, t: 6 * x**2 * t,
    "v_xxtt": lambda x, t: 12 * x + 0 * t,
    "v_ttt": lambda x, t: 0 * x,
}


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
def test_derivatives_match_closed_forms(dtype, tol):
    points = torch.rand(200, 2, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 2 - 1
    requests = [parse_derivative(name, FIELDS, INPUTS) for name in EXACT]
    values = compute_derivatives(model, points, FIELDS, requests)
    x, t = points[:, 0], points[:, 1]
    for name, exact in EXACT.items():
        got = values[parse_derivative(name, FIELDS, INPUTS)]
        assert got.dtype == dtype and got.shape == (200,)
        expected = exact(x, t)
        assert torch.allclose(got, expected, atol=tol * 16, rtol=tol), name


def test_evaluation_without_graph_gives_every_top_order_derivative():
    """create_graph=False (evaluation, refinement, export): u_xx and u_tt share u's first-order
    graph, which the first second-order gradient must not free."""
    points = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    requests = [parse_derivative(name, FIELDS, INPUTS) for name in ("u_xx", "u_xt", "u_tt")]
    values = compute_derivatives(model, points, FIELDS, requests, create_graph=False)
    x, t = points[:, 0], points[:, 1]
    for name, exact in {"u_xx": EXACT["u_xx"], "u_xt": EXACT["u_xt"], "u_tt": EXACT["u_t"]}.items():
        got = values[parse_derivative(name, FIELDS, INPUTS)]
        assert torch.allclose(got, exact(x, t), atol=1e-10, rtol=1e-10), name


def test_mixed_order_does_not_matter():
    assert parse_derivative("u_tx", FIELDS, INPUTS) == parse_derivative("u_xt", FIELDS, INPUTS)
    d = parse_derivative("u_txx", FIELDS, INPUTS)
    assert derivative_name(d, INPUTS) == "u_xxt"


def test_closure_holds_every_lower_order_once():
    needed = closure([Derivative("u", (0, 0, 1))])
    assert needed == [Derivative("u", ()), Derivative("u", (0,)), Derivative("u", (0, 0)),
                      Derivative("u", (0, 0, 1))]


def test_results_are_differentiable_for_training():
    weight = torch.tensor(1.5, requires_grad=True)
    points = torch.rand(10, 2, dtype=torch.float64)
    values = compute_derivatives(lambda p: (weight * p[:, :1]) ** 2, points, ("u",),
                                 [Derivative("u", (0, 0))])
    (grad,) = torch.autograd.grad(values[Derivative("u", (0, 0))].sum(), weight)
    assert torch.isclose(grad, torch.tensor(10 * 2 * 2 * 1.5, dtype=grad.dtype))  # d/dw (2 w^2) summed


def test_unknown_names_are_explained():
    with pytest.raises(DerivativeNameError, match="'u_q'.*'q'.*inputs: x, t"):
        parse_derivative("u_q", FIELDS, INPUTS)
    with pytest.raises(DerivativeNameError, match="'w', which is not a field"):
        parse_derivative("w_x", FIELDS, INPUTS)


def test_multi_letter_inputs_split_by_longest_match():
    d = parse_derivative("u_x1x1x2", ("u",), ("x1", "x2"))
    assert d == Derivative("u", (0, 0, 1))


GRADIENT_DIGEST = """
import hashlib, torch
from pinnlab import load_problem, resolve_settings
from pinnlab.training.losses import loss_terms
from pinnlab.training.collocation import sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler
problem = load_problem("equations/burgers.py")
settings = resolve_settings(problem, {"dtype": "float64", "width": 16, "depth": 3, "points": 500, "compile": "off"})
torch.manual_seed(0)
model = build_model(problem, settings)
points = sample_collocation(problem, settings.sampling, make_sampler("sobol", seed=0), torch.float64, torch.device("cpu"))
sum(loss_terms(problem, model, points).values()).backward()
gradient = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
print(hashlib.sha256(gradient.numpy().tobytes()).hexdigest())
"""


def test_gradients_are_the_same_bits_in_every_process():
    """A set of derivatives used to be iterated in an order that followed Python's per-process
    string hashing, so autograd summed in another order and the same seed trained differently in
    each process (a small SSBroyden run ended anywhere from 8.5e-4 to 1.1e-2)."""
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run([sys.executable, "-c", GRADIENT_DIGEST], cwd=root, check=True, capture_output=True, text=True,
                       env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1, digests
