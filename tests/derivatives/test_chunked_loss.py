"""The training residual taken chunk by chunk: the same loss, gradient and training as the whole
point set at once, and chunks sized by the derivative streams they carry."""

import math

import pytest
import torch

from pinnlab import Hyperbox, Interval, Problem, TimeInterval
from pinnlab.derivatives.chunked_loss import CHUNK_BYTES, CHUNK_BYTES_CUDA, MIN_CHUNK_POINTS, chunk_count, derivative_streams
from pinnlab.derivatives.engines import Autograd, Jets
from pinnlab.training.losses import loss_terms, residual_derivatives, residual_terms, residual_values
from pinnlab.training.collocation import Collocation
from pinnlab.model.field_model import build_model
from pinnlab.solver.job import resolve_settings, training_engine
from pinnlab.training.trainer import train


def burgers(u, u_t, u_x, u_xx):
    return u_t + u * u_x - 0.01 * u_xx


def poisson(u_laplacian, x1):
    return u_laplacian + torch.sin(x1)


def ks(u, u_t, u_x, u_xx, u_xxxx):
    return u_t + u * u_x + u_xx + u_xxxx


def first(u_x, v):
    return u_x - v


def second(v_x, u):
    return v_x + u


ENGINES = {"jets": Jets, "autograd": Autograd}


def settings_for(problem: Problem, engine: str = "jets", chunk: int = 0, extra: dict | None = None):
    return resolve_settings(problem, {"numerics.dtype": "float64", "network.width": 16, "network.depth": 2,
                                      "numerics.engine": engine,
                                      "numerics.residual_chunk": chunk, "adam.steps": 10, "lbfgs.steps": 0,
                                      "output.progress": False, **(extra or {})})


def make(problem: Problem):
    return build_model(problem, settings_for(problem))


def gradient(model, term):
    model.zero_grad(set_to_none=True)
    term.backward()
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("engine", ["jets", "autograd"])
def test_chunks_give_the_whole_sets_loss_values_and_gradient(engine):
    problem = Problem.define("poisson", domain=Hyperbox([0.0] * 4, [1.0] * 4), residual=poisson)
    points = torch.rand(1000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    whole, chunked = make(problem), make(problem)
    whole_values, chunked_values = {}, {}
    at_once, in_chunks = ENGINES[engine](residual_chunk=10**9), ENGINES[engine](residual_chunk=300)
    (a,) = residual_terms(problem, whole, points, values=whole_values, engine=at_once).values()
    (b,) = residual_terms(problem, chunked, points, values=chunked_values, engine=in_chunks).values()
    assert len(chunked_values["residual"]) == 4  # 1000 points in chunks of at most 300
    assert torch.allclose(a, b, rtol=1e-12, atol=0)
    assert torch.allclose(torch.cat(whole_values["residual"]), torch.cat(chunked_values["residual"]),
                          rtol=1e-12, atol=1e-14)
    assert torch.allclose(gradient(whole, a), gradient(chunked, b), rtol=1e-10, atol=1e-14)
    reference = residual_values(problem, whole, points, engine=at_once)["residual"].square().mean()
    assert torch.allclose(a, reference, rtol=1e-12, atol=0)


def test_a_chunked_term_scales_its_gradient_with_its_weight():
    problem = Problem.define("poisson", domain=Hyperbox([0.0] * 3, [1.0] * 3), residual=poisson)
    points = torch.rand(500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    model, engine = make(problem), Jets(residual_chunk=100)
    (term,) = residual_terms(problem, model, points, engine=engine).values()
    once = gradient(model, term)
    (term,) = residual_terms(problem, model, points, engine=engine).values()
    assert torch.allclose(gradient(model, 2.5 * term), 2.5 * once, rtol=1e-12, atol=0)


def test_training_in_chunks_follows_the_same_path():
    problem = Problem.define("burgers", domain=Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0), residual=burgers)
    results = []
    for chunk in (10**9, 100):
        settings = settings_for(problem, "jets", chunk,
                                {"sampling.points": 256, "adam.steps": 20, "lbfgs.steps": 10})
        model = build_model(problem, settings)
        result = train(problem, model, settings, engine=training_engine(problem, model, settings))
        results.append((result.final_losses["residual"], torch.cat([p.reshape(-1) for p in model.parameters()])))
    (loss_a, params_a), (loss_b, params_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-6)
    assert torch.allclose(params_a, params_b, rtol=1e-6, atol=1e-9)


def test_several_residuals_and_gradient_free_evaluations_stay_whole():
    problem = Problem.define("pair", domain=Interval(0.0, 1.0), fields=("u", "v"),
                             residuals={"first": first, "second": second})
    points = torch.rand(600, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    model, engine = make(problem), Jets(residual_chunk=100)
    values = {}
    terms = loss_terms(problem, model, Collocation(points, {}), engine=engine)
    residual_terms(problem, model, points, values=values, engine=engine)
    assert set(terms) == {"first", "second"} and all(len(v) == 1 for v in values.values())
    single = Problem.define("poisson", domain=Hyperbox([0.0] * 2, [1.0] * 2), residual=poisson)
    with torch.no_grad():
        values = {}
        residual_terms(single, make(single), torch.rand(600, 2, dtype=torch.float64), values=values,
                       engine=Jets(residual_chunk=100))
    assert len(values["residual"]) == 1


def test_streams_count_what_the_jets_carry():
    domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
    assert derivative_streams(residual_derivatives(Problem.define("b", domain=domain, residual=burgers))) == 4
    assert derivative_streams(residual_derivatives(Problem.define("k", domain=domain, residual=ks))) == 6
    box = Problem.define("p", domain=Hyperbox([0.0] * 10, [1.0] * 10), residual=poisson)
    assert derivative_streams(residual_derivatives(box)) == 12  # value, 10 tangents, the Laplacian


def test_chunks_are_sized_by_bytes_with_a_floor():
    per_point = 12 * 20 * 4  # d = 10 Laplacian, width 20, float32
    size = CHUNK_BYTES // per_point
    assert chunk_count(size, 12, 20, 4) == 1
    assert chunk_count(100_000, 12, 20, 4) == math.ceil(100_000 / size)
    assert chunk_count(100_000, 12, 20, 8) == math.ceil(100_000 / (size // 2))  # float64: half the points
    assert chunk_count(100_000, 1000, 20, 8) == math.ceil(100_000 / MIN_CHUNK_POINTS)
    assert chunk_count(4000, 4, 20, 4) == 1  # the default Burgers solve stays whole
    assert chunk_count(1000, 4, 20, 4, chunk_points=300) == 4
    # a GPU takes chunks a hundred times larger: Burgers' 4 streams at 1e6 points stay whole
    assert chunk_count(10**6, 4, 20, 4, device="cuda") == 1
    assert chunk_count(10**7, 4, 20, 4, device="cuda") == math.ceil(10**7 / (CHUNK_BYTES_CUDA // 320))
