"""The trust_constr phase: it holds u >= 0 to 1e-8 at the bound's points where the penalty fit
dips below zero, its constraint Jacobians agree with finite differences, and bad declarations
and settings are refused with one line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import torch

from pinnlab import Bound, Dirichlet, Exact, Interval, Problem, load_problem, resolve_settings
from pinnlab.model.field_model import build_model
from pinnlab.problem.binding import EquationError
from pinnlab.training.trainer import train

QUICK = {"output.progress": False, "output.log_every": 20, "numerics.threads": 1, "network.width": 8,
         "network.depth": 2, "sampling.points": 60, "sampling.boundary_points": 6, "adam.steps": 400,
         "lbfgs.steps": 200}
TC = {"phases": "adam,lbfgs,trust_constr", "trust_constr.steps": 120}


def trained(problem, overrides):
    settings = resolve_settings(problem, {**QUICK, **overrides})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    return train(problem, model, settings), model


def at_interior_points(model, result) -> torch.Tensor:
    with torch.no_grad():
        return model(result.collocation.interior)[:, 0]


def test_the_bound_holds_to_1e_8_where_the_penalty_fit_dips_below_zero():
    problem = load_problem("equations/obstacle.py")  # 97 parameters here
    penalty, penalty_model = trained(problem, {})
    assert penalty.constraints == {}  # the penalty phases do not see the bound
    assert float(at_interior_points(penalty_model, penalty).min()) < -1e-4

    result, model = trained(problem, TC)
    report = result.constraints
    assert report["method"] == "trust_constr" and report["terms"] == ["ends"]
    assert report["bounds"] == ["nonnegative"] and report["iterations"] == 120
    assert report["stop"] == "reached trust_constr.steps=120"
    u = at_interior_points(model, result)  # the bound's points: the interior collocation points
    assert float(u.min()) >= -1e-8 and report["bound_violation"]["nonnegative"] <= 1e-8
    assert report["bound_field_min"]["nonnegative"] == pytest.approx(float(u.min()))
    with torch.no_grad():
        ends = model(torch.tensor([[-1.0], [1.0]], dtype=torch.float64))[:, 0]
    assert float((ends - 1).abs().max()) <= 1e-5 and report["condition_violation"]["ends"] <= 1e-5  # 1.8e-6
    x = torch.linspace(-1, 1, 401, dtype=torch.float64)
    exact = (torch.clamp(x.abs() - 0.4, min=0.0) / 0.6) ** 4
    with torch.no_grad():
        error = float((model(x[:, None])[:, 0] - exact).norm() / exact.norm())
    assert error < 0.1  # 6.8e-2 when measured (97 parameters, 60 points)
    history = report["history"]
    assert history["step"][-1] == result.steps == 400 + 200 + 120


def test_the_constraint_jacobians_agree_with_finite_differences(monkeypatch):
    captured = {}

    def capture(fun, x0, jac=None, hess=None, constraints=(), **options):
        captured.update(fun=fun, x0=x0.copy(), jac=jac, constraints=constraints)
        return scipy.optimize.OptimizeResult(x=x0, status=0, fun=fun(x0), nit=0, constr_violation=0.0,
                                             optimality=0.0, message="")

    monkeypatch.setattr(scipy.optimize, "minimize", capture)
    problem = load_problem("equations/obstacle.py")
    trained(problem, {**TC, "adam.steps": 50, "lbfgs.steps": 0})
    x0 = captured["x0"]
    direction = np.random.default_rng(0).standard_normal(x0.size)
    h = 1e-6
    fun, jac = captured["fun"], captured["jac"]
    assert jac(x0) @ direction == pytest.approx((fun(x0 + h * direction) - fun(x0 - h * direction)) / (2 * h),
                                                rel=1e-6)
    equality, bound = captured["constraints"]
    assert equality.fun(x0).shape == (2,)  # the two ends, each once
    for constraint in (equality, bound):
        fd = (constraint.fun(x0 + h * direction) - constraint.fun(x0 - h * direction)) / (2 * h)
        J = constraint.jac(x0)
        assert J.shape == (len(constraint.fun(x0)), x0.size)
        assert np.abs(J @ direction - fd).max() <= 1e-6 * np.abs(fd).max()


def poisson(residual=None, **namespace) -> Problem:
    return Problem.define("p", domain=Interval(0.0, 1.0),
                          residual=residual or (lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x)),
                          conditions={"ends": Dirichlet(0.0)}, reference=Exact(lambda x: torch.sin(math.pi * x)),
                          **namespace)


@pytest.mark.parametrize("bound, message", [
    (Bound("v", lower=0.0), r"constraint 'c': 'v' is not a field \(fields: u\)$"),
    (Bound("u", lower=1.0, upper=0.0), r"constraint 'c': lower 1.0 > upper 0.0$"),
    (Bound("u"), r"constraint 'c': Bound needs lower=..., upper=... or both$"),
    (Bound("u", lower=math.nan), r"constraint 'c': lower must be a finite number, got nan$"),
    (Bound("u", lower=0.0, points=0), r"constraint 'c': points must be a whole number >= 1"),
    (Bound("u", lower=0.0, integral="yes"), r"constraint 'c': integral must be True or False, got 'yes'$"),
    ("u >= 0", r"constraint 'c' must be Bound\(field, lower=..., upper=...\), got str$"),
])
def test_bad_bounds_are_refused_with_one_line(bound, message):
    with pytest.raises(EquationError, match=r"^problem 'p': " + message) as error:
        poisson(constraints={"c": bound})
    assert "\n" not in str(error.value)


def test_a_bound_named_as_a_loss_term_is_refused():
    with pytest.raises(EquationError, match=r"constraint 'ends' has the name of a loss term"):
        poisson(constraints={"ends": Bound("u", lower=0.0)})


def test_too_many_parameters_and_bad_settings_are_refused_before_training():
    problem = poisson(constraints={"c": Bound("u", lower=0.0)})
    settings = resolve_settings(problem, {**QUICK, **TC, "trust_constr.max_parameters": 50})
    model = build_model(problem, settings)
    with pytest.raises(ValueError, match=r"^trust_constr: the model has 97 parameters, more than "
                                         r"trust_constr.max_parameters=50 \("):
        train(problem, model, settings)
    with pytest.raises(ValueError, match=r"trust_constr.hessian must be one of gauss_newton, bfgs, got 'exact'"):
        resolve_settings(problem, {**TC, "trust_constr.hessian": "exact"})
    with pytest.raises(ValueError, match=r"^trust_constr.constraints: 'end' is not a condition of p"):
        train(problem, model, resolve_settings(problem, {**QUICK, **TC, "trust_constr.constraints": "end"}))


def test_a_bound_of_its_own_points_is_held_there():
    problem = poisson(constraints={"below": Bound("u", upper=0.9, points=40)})
    result, model = trained(problem, {**TC, "trust_constr.steps": 200})
    from pinnlab.geometry.sampling import make_sampler
    points = torch.as_tensor(problem.domain.sample_interior(40, make_sampler("sobol", seed=0)))
    with torch.no_grad():
        u = model(points)[:, 0]
    assert float(u.max()) <= 0.9 + 1e-8 and float(u.max()) > 0.85  # sin(pi x) would reach 1
    assert result.constraints["bound_violation"]["below"] <= 1e-8


def test_an_integral_bound_holds_the_integral_and_the_fit_follows_it():
    """sin(pi x) integrates to 2 / pi = 0.637 over (0, 1); held below 0.5, the integral of the
    trained field (by scipy's quadrature, not the bound's own points) ends at the bound."""
    problem = poisson(constraints={"mass": Bound("u", upper=0.5, points=256, integral=True)})
    free, free_model = trained(problem, {})
    result, model = trained(problem, {**TC, "trust_constr.steps": 200})

    def integral(net) -> float:
        with torch.no_grad():
            return scipy.integrate.quad(lambda x: float(net(torch.tensor([[x]], dtype=torch.float64))[0, 0]),
                                        0.0, 1.0, epsabs=1e-10)[0]

    assert integral(free_model) == pytest.approx(2 / math.pi, abs=2e-2)
    report = result.constraints
    assert report["bound_violation"]["mass"] <= 1e-8
    # active: the estimate ends at the bound, the barrier keeping it just inside (0.49990 when measured)
    assert report["bound_field_min"]["mass"] == pytest.approx(0.5, abs=1e-3)
    # the estimate from 256 Sobol points against quadrature: 1e-7 apart when measured
    assert integral(model) == pytest.approx(report["bound_field_min"]["mass"], abs=1e-5)


def test_a_nan_inside_the_phase_rolls_back_and_goes_on(monkeypatch):
    """A non-finite value at a trial point (objective, Jacobian or constraint): the run rolls back
    to its last good state and the phase starts scipy again from there with the iterations left."""
    from pinnlab.training.phases.trust_constr import TrustConstr

    calls = {"n": 0, "nan": 0, "armed": False}

    def flaky(u_xx, x):
        calls["n"] += 1
        r = u_xx + math.pi**2 * torch.sin(math.pi * x)
        if calls["armed"] and calls["n"] == 30 and not calls["nan"]:
            calls["nan"] += 1
            return r * float("nan")
        return r

    run = TrustConstr.run

    def arm(self, context):  # count the residual's calls from the phase's start
        calls["armed"], calls["n"] = True, 0
        return run(self, context)

    monkeypatch.setattr(TrustConstr, "run", arm)
    problem = poisson(residual=flaky, constraints={"c": Bound("u", lower=0.0)})
    result, model = trained(problem, {**TC, "trust_constr.steps": 60})
    assert calls["nan"] == 1
    [event] = result.rollbacks
    assert event["term"] == "residual" and 600 <= event["step"] <= 660
    report = result.constraints
    assert report["iterations"] == 60 and result.steps == 660
    assert report["bound_violation"]["c"] <= 1e-8 and math.isfinite(report["history"]["objective"][-1])


def test_a_run_interrupted_inside_the_phase_resumes_with_the_iterations_left(tmp_path):
    """scipy's state is not checkpointed: the resumed run starts a new scipy run from the saved
    parameters, takes the iterations left, and holds the bound as the whole run does."""
    from pinnlab.training.checkpoint import CheckpointStore, read_torch_file
    from tests.training.test_checkpoints import Interrupt, run_until

    problem = poisson(constraints={"c": Bound("u", lower=0.0)})
    settings = resolve_settings(problem, {**QUICK, **TC, "trust_constr.steps": 60, "checkpoint.every": 20})
    whole, _ = run_until(problem, settings, CheckpointStore(tmp_path / "whole"))
    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=630)
    saved = read_torch_file(store.last)
    assert 600 < saved["step"] < 660 and saved["phases"]["trust_constr"]["done"] == saved["step"] - 600
    resumed, model = run_until(problem, settings, store, resume=True)
    assert resumed.resumed_from == saved["step"] and resumed.steps == whole.steps == 660
    report = resumed.constraints
    assert report["iterations"] == 60 and report["stop"] == "reached trust_constr.steps=60"
    assert report["bound_violation"]["c"] <= 1e-8 and report["condition_violation"]["ends"] <= 1e-6
