"""Pointwise evaluation of a model: chunked equals whole, residuals per point, conditions per point."""

from __future__ import annotations

import numpy as np
import torch

from pinnlab import (
    Dirichlet,
    Interval,
    Periodic,
    Problem,
    TimeInterval,
    resolve_settings,
)
from pinnlab.derivatives.derivative import parse_derivative
from pinnlab.output.evaluation import condition_residual_values, evaluate, evaluate_in_chunks
from pinnlab.training.losses import residual_values
from pinnlab.training.collocation import sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler


def _problem() -> Problem:
    return Problem.define(
        "periodic", domain=Interval(0.0, 2.0) * TimeInterval(0.0, 1.0),
        residuals={"heat": lambda u_t, u_xx: u_t - u_xx, "square": lambda u, x: u * u - x},
        conditions={"per": Periodic("x", order=2), "start": Dirichlet(1.0, on="x_min")},
    )


def _model(problem: Problem):
    torch.manual_seed(0)
    return build_model(problem, resolve_settings(problem, {"network.width": 8, "network.depth": 2}))


def test_chunks_equal_one_pass_and_keep_no_graph():
    problem = _problem()
    model = _model(problem)
    points = np.random.default_rng(0).random((103, 2)) * [2.0, 1.0]
    derivatives = [parse_derivative(n, problem.fields, problem.inputs) for n in ("u_x", "u_tx", "u_xx")]
    whole = evaluate(problem, model, points, ["u"], derivatives, ["heat", "square"])
    chunked = evaluate_in_chunks(problem, model, points, ["u"], derivatives, ["heat", "square"], chunk=10)
    assert list(whole.derivatives) == ["u_x", "u_xt", "u_xx"]
    for kind in ("fields", "derivatives", "residuals"):
        for name, values in getattr(whole, kind).items():
            assert values.dtype == np.float64 and values.shape == (103,)
            np.testing.assert_allclose(getattr(chunked, kind)[name], values, rtol=1e-12, atol=1e-14)
    direct = residual_values(problem, model, torch.as_tensor(points))
    np.testing.assert_allclose(whole.residuals["heat"], direct["heat"].detach().numpy(), rtol=1e-12, atol=1e-14)
    assert all(p.grad is None for p in model.parameters())


def test_condition_residuals_per_point():
    problem = _problem()
    model = _model(problem)
    settings = resolve_settings(problem, {"sampling.points": 10, "sampling.boundary_points": 12})
    batches = sample_collocation(problem, settings.sampling, make_sampler("uniform", seed=0), torch.float64,
                                 torch.device("cpu")).conditions
    start = condition_residual_values(problem, model, "start", batches["start"])
    with torch.no_grad():
        u = model(batches["start"].points)[:, 0].numpy()
    np.testing.assert_allclose(start, u - 1.0, atol=1e-14)
    # periodic, order 2: three residuals per point (u, u_x, u_xx at x_min minus at x_max)
    per = condition_residual_values(problem, model, "per", batches["per"])
    lo, hi = batches["per"].points, batches["per"].partners
    d = [parse_derivative(n, problem.fields, problem.inputs) for n in ("u", "u_x", "u_xx")]
    at_lo = evaluate(problem, model, lo.numpy(), derivatives=d[1:], fields=["u"])
    at_hi = evaluate(problem, model, hi.numpy(), derivatives=d[1:], fields=["u"])
    parts = [at_lo.fields["u"] - at_hi.fields["u"]] + [at_lo.derivatives[n] - at_hi.derivatives[n]
                                                       for n in ("u_x", "u_xx")]
    assert per.shape == (12,)
    np.testing.assert_allclose(per, np.sqrt(sum(p**2 for p in parts)), rtol=1e-10)
