"""Loss balancing (pinnlab/training/loss_balancing.py): the update rule, the gradient norms and kernel
traces it is built on (against plain autograd), and its effect on an unbalanced Poisson problem."""

import math

import pytest
import torch

from pinnlab import Dirichlet, Exact, Interval, Problem, load_problem, resolve_settings
from pinnlab.derivatives.engines import Autograd, ForwardMode, Jets
from pinnlab.training.loss_balancing import LossBalancer, balanced, gradient_norms, kernel_traces
from pinnlab.training.losses import loss_terms, residual_values
from pinnlab.training.collocation import sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler
from pinnlab.training.plan import build_training
from pinnlab.training.trainer import train


def poisson1d() -> Problem:
    """-u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends."""
    return Problem.define(
        "poisson1d", domain=Interval(0.0, 1.0),
        residual=lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x),
        conditions={"ends": Dirichlet(0.0)},
        reference=Exact(lambda x: torch.sin(math.pi * x)),
    )


def setup(problem, **overrides):
    settings = resolve_settings(problem, {"network.width": 8, "network.depth": 2, "sampling.points": 40,
                                          "sampling.boundary_points": 6,
                                          "output.progress": False, **overrides})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    collocation = sample_collocation(problem, settings.sampling, make_sampler("sobol", seed=0), torch.float64,
                                     torch.device("cpu"))
    return model, collocation


def test_update_moves_weights_towards_equal_pull_and_leaves_exact_terms_alone():
    current = {"residual": 1.0, "ends": 1.0, "exact": 0.0}
    # lambda_i = sum_j s_j / s_i: the term with the small gradient gets the large weight
    assert balanced(current, {"residual": 100.0, "ends": 1.0}, alpha=0.0) == pytest.approx(
        {"residual": 1.01, "ends": 101.0, "exact": 0.0})
    half = balanced(current, {"residual": 100.0, "ends": 1.0}, alpha=0.5)
    assert half == pytest.approx({"residual": 1.005, "ends": 51.0, "exact": 0.0})
    # weighted pulls lambda_i * s_i come out equal
    weights = balanced(current, {"residual": 3.0, "ends": 7.0}, alpha=0.0)
    assert weights["residual"] * 3.0 == pytest.approx(weights["ends"] * 7.0)
    # a term that no longer depends on the parameters keeps its weight instead of becoming inf
    assert balanced(current, {"residual": 2.0, "ends": 0.0}, alpha=0.0)["ends"] == 1.0


def test_gradient_norms_are_those_of_autograd():
    problem = poisson1d()
    model, collocation = setup(problem)
    terms = loss_terms(problem, model, collocation)
    norms = gradient_norms(terms, model, ["residual", "ends"])
    for name in ("residual", "ends"):
        model.zero_grad()
        loss_terms(problem, model, collocation)[name].backward()
        expected = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]).norm()
        assert norms[name] == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("engine", [Autograd(), Jets(fallback=Autograd()), ForwardMode()], ids=type)
def test_kernel_traces_are_mean_squared_per_point_gradients(engine):
    problem = poisson1d()
    model, collocation = setup(problem)
    traces = kernel_traces(problem, model, collocation, ["residual", "ends"], engine)
    per_point = {"residual": [], "ends": []}
    for k in range(collocation.interior.shape[0]):
        model.zero_grad()
        point = collocation.interior[k:k + 1]
        residual_values(problem, model, point, engine=Autograd())["residual"].sum().backward()
        per_point["residual"].append(sum(float(p.grad.square().sum()) for p in model.parameters() if p.grad is not None))
    ends = collocation.conditions["ends"]
    for k in range(ends.points.shape[0]):
        model.zero_grad()
        value = model(ends.points[k:k + 1])[0, 0] - ends.target[k].reshape(-1)[0]
        value.backward()
        per_point["ends"].append(sum(float(p.grad.square().sum()) for p in model.parameters() if p.grad is not None))
    for name, values in per_point.items():
        assert traces[name] == pytest.approx(sum(values) / len(values), rel=1e-9)


class Counting(Jets):
    """Jets that record the number of points of every call."""

    def __init__(self, calls: list[int]) -> None:
        super().__init__(fallback=Autograd())
        object.__setattr__(self, "calls", calls)

    def derivatives(self, model, points, fields, requests, create_graph=True):
        self.calls.append(points.shape[0])
        return super().derivatives(model, points, fields, requests, create_graph)


def test_the_balancer_takes_derivatives_with_the_engine_it_is_given():
    problem = poisson1d()
    model, collocation = setup(problem)
    terms = loss_terms(problem, model, collocation, engine=Autograd())
    weights = {"residual": 1.0, "ends": 1.0}
    calls: list[int] = []
    balancer = LossBalancer("ntk", every=1, alpha=0.0, points=16, seed=0)
    by_jets = balancer.update(problem, model, collocation, terms, weights, 0, Counting(calls))
    assert calls == [16, 6]  # the subsets: 16 of the 40 interior points, all 6 points of the ends
    by_autograd = balancer.update(problem, model, collocation, terms, weights, 0, Autograd())
    assert by_jets == pytest.approx(by_autograd, rel=1e-12) and by_jets != weights


def test_training_hands_its_engine_to_the_balancer():
    problem = poisson1d()
    settings = resolve_settings(problem, {"network.width": 8, "network.depth": 2, "sampling.points": 40,
                                          "sampling.boundary_points": 6, "adam.steps": 4, "lbfgs.steps": 0,
                                          "balance.method": "ntk", "balance.every": 2, "balance.points": 16,
                                          "output.progress": False})
    torch.manual_seed(0)
    calls: list[int] = []
    result = train(problem, build_model(problem, settings), settings, engine=Counting(calls))
    assert [step for step, _ in result.weight_history] == [0, 2]
    assert calls.count(16) == 2 and calls.count(40) >= 4  # each update's subset, and every step's points


@pytest.mark.parametrize("method", ["grad-norm", "ntk"])
def test_balancing_fixes_an_underweighted_boundary(method):
    """Poisson 2D with the boundary term at weight 1: its residual (~50) drowns the boundary
    values (~1), and training ends far off. Balancing raises the boundary weight on its own.
    Measured (seeds 0, 1, 2): unbalanced 0.14 / 0.23 / 0.25, grad-norm 0.017 / 0.024 / 0.010,
    ntk 0.006 / 0.021 / 0.010."""
    problem = load_problem("equations/poisson.py")
    quick = {"weights": {"boundary": 1.0}, "adam.steps": 300, "lbfgs.steps": 300, "sampling.points": 500,
             "sampling.boundary_points": 100, "network.width": 16, "output.log_every": 25,
             "output.progress": False, "numerics.threads": 1}
    points = torch.rand(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    exact = torch.from_numpy(problem.reference.at_points(problem.layout, points.numpy())["u"])
    errors, weights = {}, {}
    for balance in ("none", method):
        settings = resolve_settings(problem, {**quick, "balance.method": balance, "balance.every": 25})
        torch.manual_seed(0)
        model = build_model(problem, settings)
        weights[balance] = train(problem, model, settings).weight_history
        with torch.no_grad():
            errors[balance] = float((model(points)[:, 0] - exact).norm() / exact.norm())
    assert errors["none"] > 0.1
    assert errors[method] < errors["none"] / 4
    assert weights["none"] == []
    steps = [step for step, _ in weights[method]]
    assert steps == list(range(0, 300, 25))  # every balance_every Adam steps, none during L-BFGS
    assert weights[method][-1][1]["boundary"] > 10.0
    assert weights[method][-1][1]["residual"] == pytest.approx(1.0, abs=0.1)


def test_balancing_refuses_what_it_cannot_do():
    burgers = load_problem("equations/burgers.py")  # both conditions exact: one weighted term
    settings = resolve_settings(burgers, {"balance.method": "ntk"})
    with pytest.raises(ValueError, match="only one weighted loss term, residual"):
        build_training(burgers, build_model(burgers, settings), settings)
    problem = poisson1d()
    settings = resolve_settings(problem, {"balance.method": "grad-norm", "adam.steps": 0})
    with pytest.raises(ValueError, match="balance.method=grad-norm updates the weights during Adam, "
                                         "but adam.steps=0"):
        build_training(problem, build_model(problem, settings), settings)
    with pytest.raises(ValueError, match="balance.method must be one of none, grad-norm, ntk"):
        resolve_settings(problem, {"balance.method": "softadapt"})
    with pytest.raises(ValueError, match="balance.alpha must be in"):
        resolve_settings(problem, {"balance.alpha": 1.0})
