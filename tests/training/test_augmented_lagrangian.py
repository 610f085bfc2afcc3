"""The augmented Lagrangian phase: it drives the boundary violation of a Poisson problem below
1e-6 where the penalty method does not, reports its outer iterations into metrics.json, resumes
from a checkpoint with the same multipliers, and refuses bad settings with one line."""

from __future__ import annotations

import json
import math

import pytest
import torch

from pinnlab import Dirichlet, Exact, Interval, Problem, resolve_settings, solve
from pinnlab.commands.main import main
from pinnlab.model.field_model import build_model
from pinnlab.problem.binding import EquationError
from pinnlab.solver.settings import Settings
from pinnlab.training.checkpoint import CheckpointStore, read_torch_file
from pinnlab.training.trainer import train
from tests.training.test_checkpoints import Interrupt, run_until

QUICK = {"output.progress": False, "output.log_every": 10, "sampling.points": 200, "sampling.boundary_points": 8,
         "network.width": 12, "network.depth": 2, "output.grid": (33,), "numerics.threads": 1,
         "adam.steps": 200, "lbfgs.steps": 0}
AL = {"augmented_lagrangian.steps": 300, "augmented_lagrangian.inner": 50}


def poisson(residual=None, **conditions) -> Problem:
    """-u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends: u = sin(pi x)."""
    return Problem.define(
        "poisson1d", domain=Interval(0.0, 1.0),
        residual=residual or (lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x)),
        conditions=conditions or {"ends": Dirichlet(0.0)},
        reference=Exact(lambda x: torch.sin(math.pi * x)),
    )


def trained(problem, overrides):
    settings = resolve_settings(problem, {**QUICK, **overrides})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    return train(problem, model, settings), model


def boundary_and_interior_error(model) -> tuple[float, float]:
    """max |u| at x = 0 and 1, and the relative L2 error on 101 points, from the model itself."""
    x = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)[:, None]
    with torch.no_grad():
        u = model(x)[:, 0]
    exact = torch.sin(math.pi * x[:, 0])
    return max(abs(float(u[0])), abs(float(u[-1]))), float((u - exact).norm() / exact.norm())


def test_the_boundary_violation_falls_below_1e_6_where_the_penalty_does_not():
    result, model = trained(poisson(), AL)
    report = result.constraints
    assert report["terms"] == ["ends"] and report["multipliers"] == "point"
    assert report["outer_iterations"] == 6 and report["inner_iterations"] == 300
    assert report["stop"] == "reached augmented_lagrangian.steps=300"
    history = report["history"]
    assert history["step"] == [200, 250, 300, 350, 400, 450, 500]  # the start, then each outer iteration
    assert history["multiplier_norm"][0] == 0.0 and history["mu"][0] == 100.0
    assert report["max_violation"] == history["max_violation"][-1] <= 1e-6  # 6.4e-9 when measured
    # the penalty rule: mu grows tenfold exactly where the violation did not fall to 1/4
    for k in range(1, len(history["mu"])):
        fell = history["max_violation"][k] <= 0.25 * history["max_violation"][k - 1]
        assert history["mu"][k] == history["mu"][k - 1] * (1 if fell else 10)
    violation, error = boundary_and_interior_error(model)
    assert violation <= 1e-6 and error < 1e-4  # 7.4e-6 when measured

    penalty, penalty_model = trained(poisson(), {"lbfgs.steps": 300})  # the same budget, weight 1
    assert penalty.constraints == {}
    assert boundary_and_interior_error(penalty_model)[0] > 10 * violation


def test_levenberg_marquardt_inside_on_the_lagrangian_as_a_sum_of_squares():
    result, model = trained(poisson(), {**AL, "augmented_lagrangian.optimizer": "lm"})
    report = result.constraints
    assert report["inner_iterations"] == 300 and report["max_violation"] <= 1e-8  # 3.2e-9 when measured
    violation, error = boundary_and_interior_error(model)
    assert violation <= 1e-8 and error < 1e-5  # 3.0e-7 when measured


def test_adam_inside_and_one_multiplier_per_term():
    result, _ = trained(poisson(), {**AL, "augmented_lagrangian.optimizer": "adam", "augmented_lagrangian.lr": 1e-2})
    history = result.constraints["history"]["max_violation"]
    assert history[-1] < 0.1 * history[0]
    result, _ = trained(poisson(), {**AL, "augmented_lagrangian.multipliers": "term"})
    report = result.constraints
    assert report["multipliers"] == "term" and report["max_violation"] < 1e-3  # 2.6e-5 when measured
    # one multiplier, the sum of mu times the term's mean square after each outer iteration that
    # made progress: it never falls, and it stays where mu grew instead
    history = report["history"]
    for k in range(1, len(history["mu"])):
        grew = history["mu"][k] > history["mu"][k - 1]
        same = history["multiplier_norm"][k] == history["multiplier_norm"][k - 1]
        assert same if grew else history["multiplier_norm"][k] > history["multiplier_norm"][k - 1]


@pytest.mark.parametrize("update", ["progress", "always"])
def test_the_multipliers_are_kept_where_mu_grows_unless_told_always(update):
    result, _ = trained(poisson(), {**AL, "augmented_lagrangian.multiplier_update": update})
    history = result.constraints["history"]
    grew = [k for k in range(1, len(history["mu"])) if history["mu"][k] > history["mu"][k - 1]]
    assert grew  # at least one outer iteration without the progress asked for
    for k in grew:
        kept = history["multiplier_norm"][k] == history["multiplier_norm"][k - 1]
        assert kept == (update == "progress")


@pytest.mark.parametrize("optimizer, call", [("adam", 260), ("lbfgs", 255)])  # 255: inside a line search
def test_a_nan_inside_the_phase_is_survived(optimizer, call):
    """Adam: the step raises, the run rolls back to its last good state (multipliers included)
    and goes on at half the learning rate; L-BFGS: a line-search trial that is not finite
    counts as an infinite loss, and the search shrinks its step."""
    calls = {"n": 0, "nan": 0}

    def flaky(u_xx, x):
        calls["n"] += 1
        r = u_xx + math.pi**2 * torch.sin(math.pi * x)
        if calls["n"] == call:
            calls["nan"] += 1
            return r * float("nan")
        return r

    overrides = {**AL, "augmented_lagrangian.optimizer": optimizer}
    if optimizer == "adam":
        overrides["augmented_lagrangian.lr"] = 1e-2
    result, _ = trained(poisson(flaky), overrides)
    assert calls["nan"] == 1 and calls["n"] > call
    report = result.constraints
    assert report["inner_iterations"] == 300 and math.isfinite(report["history"]["multiplier_norm"][-1])
    if optimizer == "adam":
        [event] = result.rollbacks
        assert event["term"] == "residual" and 200 < event["step"] < 270 and event["lr_scale"] == 0.5
        assert report["history"]["max_violation"][-1] < 0.1 * report["history"]["max_violation"][0]
    else:
        assert result.rollbacks == [] and report["max_violation"] <= 1e-6


def test_only_the_conditions_marked_as_constraints_are_held():
    problem = poisson(left=Dirichlet(0.0, on="x_min", constraint=True), right=Dirichlet(0.0, on="x_max"))
    result, _ = trained(problem, AL)
    assert result.constraints["terms"] == ["left"]
    result, _ = trained(problem, {**AL, "augmented_lagrangian.constraints": "left, right"})
    assert result.constraints["terms"] == ["left", "right"]


def test_metrics_json_holds_the_outer_iterations(tmp_path):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, **AL})
    solve(problem, settings, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    report = metrics["constraints"]
    assert report["terms"] == ["ends"] and len(report["history"]["max_violation"]) == 7
    assert report["max_violation"] <= 1e-6
    assert metrics["rel_l2"]["u"] < 1e-4
    assert [p["name"] for p in metrics["settings"]["phases"]] == ["adam", "lbfgs", "augmented_lagrangian"]


@pytest.mark.parametrize("optimizer, stop_at", [("lbfgs", 330), ("adam", 335), ("lm", 330)])
def test_resumed_run_has_the_same_multipliers(tmp_path, optimizer, stop_at):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, **AL, "checkpoint.every": 20,
                                          "augmented_lagrangian.optimizer": optimizer})
    whole_store = CheckpointStore(tmp_path / "whole")
    whole, whole_model = run_until(problem, settings, whole_store)

    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=stop_at)
    saved = read_torch_file(store.last)
    assert 200 < saved["step"] < whole.steps  # inside the phase, between outer iterations or inside one
    assert saved["phases"]["augmented_lagrangian"]["outer"] >= 1
    resumed, resumed_model = run_until(problem, settings, store, resume=True)

    assert resumed.resumed_from == saved["step"] and resumed.steps == whole.steps
    assert resumed.constraints == whole.constraints
    ours = read_torch_file(store.last)["phases"]["augmented_lagrangian"]
    theirs = read_torch_file(whole_store.last)["phases"]["augmented_lagrangian"]
    assert ours["mu"] == theirs["mu"] and ours["outer"] == theirs["outer"] == 6
    assert torch.equal(ours["multipliers"]["ends"], theirs["multipliers"]["ends"])
    assert float(ours["multipliers"]["ends"].abs().max()) > 0
    for name, value in whole_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name


@pytest.mark.parametrize("overrides, message", [
    ({"augmented_lagrangian.optimizer": "sgd"}, r"augmented_lagrangian.optimizer must be one of lbfgs, adam, lm, got 'sgd'"),
    ({"augmented_lagrangian.optimizer": "lm", "augmented_lagrangian.multipliers": "term"},
     r"augmented_lagrangian.optimizer=lm needs augmented_lagrangian.multipliers=point \(a sum of squares\), got 'term'"),
    ({"augmented_lagrangian.multipliers": "each"}, r"augmented_lagrangian.multipliers must be one of point, term"),
    ({"augmented_lagrangian.inner": 0}, r"augmented_lagrangian.inner must be >= 1, got 0"),
    ({"augmented_lagrangian.multiplier_update": "never"}, r"augmented_lagrangian.multiplier_update must be one of progress, always, got 'never'"),
    ({"augmented_lagrangian.mu": 0}, r"augmented_lagrangian.mu must be > 0, got 0.0"),
    ({"augmented_lagrangian.mu_factor": 0.5}, r"augmented_lagrangian.mu_factor must be >= 1, got 0.5"),
    ({"augmented_lagrangian.progress": 2}, r"augmented_lagrangian.progress must be in \(0, 1\], got 2.0"),
    ({"augmented_lagrangian.mu": "big"}, r"setting 'augmented_lagrangian.mu' expects float, got 'big'"),
    ({"augmented_lagrangian.muu": 1}, r"unknown setting 'augmented_lagrangian.muu'; augmented_lagrangian has "
                                      r"augmented_lagrangian.steps, augmented_lagrangian.inner"),
])
def test_bad_settings_are_refused_with_one_line(overrides, message):
    with pytest.raises(ValueError, match=f"^test: {message}") as error:
        Settings().replace({"augmented_lagrangian.steps": 10, **overrides}, "test")
    assert "\n" not in str(error.value)


def test_bad_settings_of_an_equation_module_are_its_mistake():
    problem = Problem.define("p", domain=Interval(0.0, 1.0), residual=lambda u_xx: u_xx,
                             conditions={"ends": Dirichlet(0.0)},
                             defaults={"phases": "adam,augmented_lagrangian", "augmented_lagrangian": {"inner": -1}})
    with pytest.raises(EquationError, match=r"defaults: augmented_lagrangian.inner must be >= 1, got -1$"):
        resolve_settings(problem)


@pytest.mark.parametrize("problem, overrides, message", [
    (poisson(), {"augmented_lagrangian.constraints": "end"},
     r"^augmented_lagrangian.constraints: 'end' is not a condition of poisson1d \(conditions: ends\)$"),
    (poisson(ends=Dirichlet(0.0, exact=True)), {},
     r"^augmented_lagrangian: poisson1d has no trained condition to hold as a constraint$"),
    (poisson(ends=Dirichlet(0.0, exact=True)), {"augmented_lagrangian.constraints": "ends"},
     r"^augmented_lagrangian.constraints: condition 'ends' is exact \(the output transform imposes it\)"),
])
def test_constraints_that_cannot_be_held_are_refused_before_training(problem, overrides, message):
    settings = resolve_settings(problem, {**QUICK, **AL, **overrides})
    model = build_model(problem, settings)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=message):
        train(problem, model, settings)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


def test_a_loss_that_changes_under_the_phase_is_refused():
    problem = Problem.define("heat1d", domain=Interval(0.0, 1.0) * __import__("pinnlab").TimeInterval(0.0, 1.0),
                             residual=lambda u_t, u_xx: u_t - u_xx,
                             conditions={"ends": Dirichlet(0.0)})
    for overrides, message in (({"causal.eps": 1.0}, r"causal weights \(causal.eps\) change it"),
                               ({"curriculum.windows": 2}, r"does not run with a time curriculum")):
        settings = resolve_settings(problem, {**QUICK, **AL, **overrides})
        with pytest.raises(ValueError, match=f"^phase augmented_lagrangian keeps its .*{message}"):
            train(problem, build_model(problem, settings), settings)


def test_the_phase_stops_once_the_violation_is_within_tolerance():
    result, _ = trained(poisson(), {**AL, "augmented_lagrangian.tolerance": 1e-4})
    report = result.constraints
    assert report["outer_iterations"] == 1 and result.steps == 250  # 2.5e-5 after the first, when measured
    assert report["max_violation"] <= 1e-4
    assert report["stop"] == (f"converged: max violation {report['max_violation']:.2e} <= "
                              "augmented_lagrangian.tolerance 1e-04 after 1 outer iterations")


def test_torchrun_is_refused(monkeypatch):
    from pinnlab.runtime import distributed
    from pinnlab.training.phases.augmented_lagrangian import check_constraints

    monkeypatch.setattr(distributed, "active", lambda: True)
    with pytest.raises(ValueError, match=r"^phase augmented_lagrangian runs in one process; it is not "
                                         r"available under torchrun$"):
        check_constraints(poisson(), resolve_settings(poisson(), AL))


def test_a_bad_constraint_on_the_command_line_is_one_line_and_status_2(tmp_path, capsys):
    status = main(["solve", "equations/poisson.py", "--out", str(tmp_path), "--quiet", "--steps", "5",
                   "--lbfgs-steps", "0", "--set", "augmented_lagrangian.steps=5",
                   "--set", "augmented_lagrangian.constraints=bc", "--set", "numerics.threads=1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines() == ["pinnlab solve: error: augmented_lagrangian.constraints: 'bc' is not a "
                                "condition of poisson (conditions: boundary)"]
    assert not (tmp_path / "metrics.json").exists()
