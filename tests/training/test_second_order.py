"""Dense quasi-Newton (BFGS, SSBFGS, SSBroyden) and Levenberg-Marquardt: known minima reached to
tolerance, the loss never rising, and the residual vector and Jacobian they use."""

import math

import numpy as np
import pytest
import torch

from pinnlab import Dirichlet, Problem, Rectangle
from pinnlab.training.gauss_newton import LevenbergMarquardt
from pinnlab.training.losses import loss_terms, term_weights
from pinnlab.training.collocation import sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.training.quasi_newton import UPDATES, DenseQuasiNewton
from pinnlab.training.residual_vector import residual_jacobian, residual_vector
from pinnlab.geometry.sampling import make_sampler
from pinnlab.solver.job import resolve_settings

F64 = torch.float64


def rosenbrock_closure(x):
    def closure():
        x.grad = None
        f = 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
        f.backward()
        return f.detach()
    return closure


@pytest.mark.parametrize("update", UPDATES)
def test_quasi_newton_reaches_the_rosenbrock_minimum(update):
    x = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    run = DenseQuasiNewton([x], update).run(rosenbrock_closure(x), 200)
    assert torch.allclose(x.detach(), torch.ones(2, dtype=F64), atol=1e-8)
    assert run.loss < 1e-16 and run.iterations < 100
    assert "gradient norm" in run.stop


@pytest.mark.parametrize("update", UPDATES)
def test_quasi_newton_solves_a_convex_quadratic(update):
    generator = torch.Generator().manual_seed(0)
    M = torch.randn(20, 20, generator=generator, dtype=F64)
    A = M @ M.T + torch.eye(20, dtype=F64)
    b = torch.randn(20, generator=generator, dtype=F64)
    z = torch.zeros(20, dtype=F64, requires_grad=True)

    def closure():
        z.grad = None
        f = 0.5 * z @ A @ z - b @ z
        f.backward()
        return f.detach()

    losses = []
    DenseQuasiNewton([z], update).run(closure, 200, on_iteration=lambda k, loss: losses.append(loss))
    assert torch.allclose(z.detach(), torch.linalg.solve(A, b), rtol=0, atol=1e-7)
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # Armijo: the loss never rises


@pytest.mark.parametrize("update", UPDATES)
def test_in_place_update_equals_the_broyden_family_formula(update):
    """The in-place BLAS update against H+ written out as in the module docstring."""
    rng = np.random.default_rng(1)
    size = 9
    method = DenseQuasiNewton([torch.zeros(size, dtype=F64, requires_grad=True)], update)
    M = rng.normal(size=(size, size))
    H = M @ M.T + size * np.eye(size)
    method.inverse_hessian, method.updates = H.copy(), 2
    s, g = rng.normal(size=size), rng.normal(size=size)
    y = s + 0.2 * rng.normal(size=size)
    alpha = 0.6
    rho, Hy = 1 / (y @ s), H @ y
    yHy = y @ Hy
    tau, phi = method.scaling(rho, yHy, s @ g, alpha, size)
    v = rho * s - Hy / yHy
    expected = (H - np.outer(Hy, Hy) / yHy + phi * yHy * np.outer(v, v)) / tau + rho * np.outer(s, s)
    method.apply_update(s, y, g, alpha)
    np.testing.assert_allclose(method.inverse_hessian, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(method.inverse_hessian @ y, s, rtol=1e-10)  # the secant condition
    assert method.updates == 3


def test_first_trial_step_without_a_previous_loss_is_polyaks():
    """At the start, and after new points changed the loss's curvature, there is no last decrease
    to size the first trial step by; a step of 1 overshoots a steep loss by orders of magnitude."""
    z = torch.ones(4, dtype=F64, requires_grad=True)
    curvature, losses = 1e4, []

    def closure():
        z.grad = None
        f = 0.5 * curvature * (z * z).sum()
        f.backward()
        losses.append(float(f))
        return f.detach()

    method = DenseQuasiNewton([z], "ssbroyden")
    assert method.run(closure, 1).iterations == 1
    # H = I, d = -g: f / -d.g = 1 / (2 curvature), taken as 1.01 of that; accepted at once
    assert losses == [2e4, pytest.approx(2e4 * (1 - 0.505) ** 2)]

    curvature, losses = 1e6, []  # as after a refinement: a hundred times steeper
    method.points_changed()
    assert method.run(closure, 1).iterations == 1
    assert len(losses) == 2 and losses[1] < losses[0] / 3


def test_quasi_newton_refuses_huge_networks_and_unknown_updates():
    with pytest.raises(ValueError, match="dense inverse Hessian"):
        DenseQuasiNewton([torch.zeros(30_000, requires_grad=True)])
    with pytest.raises(ValueError, match="one of bfgs"):
        DenseQuasiNewton([torch.zeros(3, requires_grad=True)], "newton")


def test_levenberg_marquardt_fits_a_linear_model_in_one_step_and_a_nonlinear_one():
    generator = torch.Generator().manual_seed(1)
    A = torch.randn(50, 5, generator=generator, dtype=F64)
    y = torch.randn(50, generator=generator, dtype=F64)
    theta = torch.zeros(5, dtype=F64, requires_grad=True)
    residuals = lambda: (A @ theta - y).detach()
    run = LevenbergMarquardt([theta], damping=1e-12).run(residuals, lambda: A, 1)
    assert torch.allclose(theta.detach(), torch.linalg.lstsq(A, y[:, None]).solution[:, 0], atol=1e-9)
    assert run.iterations == 1

    t = torch.linspace(0, 2, 40, dtype=F64)
    data = 3.0 * torch.exp(-1.5 * t)
    p = torch.tensor([1.0, 0.1], dtype=F64, requires_grad=True)
    model_residual = lambda: (p[0] * torch.exp(-p[1] * t) - data).detach()

    def jacobian():
        e = torch.exp(-p[1] * t).detach()
        return torch.stack([e, -p[0].detach() * t * e], dim=1)

    for svd_rank in (0, 2):
        p.data = torch.tensor([1.0, 0.1], dtype=F64)
        LevenbergMarquardt([p], svd_rank=svd_rank).run(model_residual, jacobian, 100)
        assert torch.allclose(p.detach(), torch.tensor([3.0, 1.5], dtype=F64), atol=1e-8)


def pinn(device: str = "cpu"):
    def residual(x, y, u_xx, u_yy):
        return u_xx + u_yy + 2 * math.pi**2 * torch.sin(math.pi * x) * torch.sin(math.pi * y)

    problem = Problem.define("poisson", domain=Rectangle((0.0, 0.0), (1.0, 1.0)), residual=residual,
                             conditions={"boundary": Dirichlet(0.0)})
    settings = resolve_settings(problem, {"network.width": 8, "network.depth": 2, "sampling.points": 200,
                                          "sampling.boundary_points": 80,
                                          "numerics.dtype": "float64", "weights": {"boundary": 10.0},
                                          "numerics.device": device})
    model = build_model(problem, settings)
    collocation = sample_collocation(problem, settings.sampling, make_sampler("sobol", seed=0), F64, torch.device(device))
    return problem, model, collocation, term_weights(problem, settings)


def total_loss(problem, model, collocation, weights):
    terms = loss_terms(problem, model, collocation)
    return sum(weights[k] * v for k, v in terms.items())


def test_residual_vector_is_the_weighted_loss_and_its_jacobian_the_gradient():
    problem, model, collocation, weights = pinn()
    loss = total_loss(problem, model, collocation, weights)
    r = residual_vector(problem, model, collocation, weights)
    J = residual_jacobian(problem, model, collocation, weights)
    assert float(r @ r) == pytest.approx(float(loss.detach()), rel=1e-12)
    model.zero_grad()
    loss.backward()
    gradient = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.allclose(2 * J.T @ r, gradient, rtol=1e-9, atol=1e-12)
    assert not hasattr(model, "engine")  # the engine is passed to each call, not kept on the model


def pinn_losses(method: str, iterations: int, device: str = "cpu") -> list[float]:
    """The small PINN's loss before and after each of ``iterations`` of ``method``."""
    torch.manual_seed(0)
    problem, model, collocation, weights = pinn(device)
    losses = [float(total_loss(problem, model, collocation, weights).detach())]
    record = lambda k, loss: losses.append(float(loss))
    params = list(model.parameters())
    if method.startswith("lm"):
        LevenbergMarquardt(params, svd_rank=40 if method == "lm-svd" else 0).run(
            lambda: residual_vector(problem, model, collocation, weights),
            lambda: residual_jacobian(problem, model, collocation, weights), iterations, record)
    else:
        def closure():
            model.zero_grad()
            loss = total_loss(problem, model, collocation, weights)
            loss.backward()
            return loss.detach()
        DenseQuasiNewton(params, method).run(closure, iterations, record)
    return losses


@pytest.mark.parametrize("method", ["lm", "lm-svd", "bfgs", "ssbroyden"])
def test_second_order_methods_lower_a_pinn_loss_monotonically(method):
    losses = pinn_losses(method, 15 if method.startswith("lm") else 40)
    assert len(losses) > 1 and all(b <= a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < 0.05 * losses[0]
