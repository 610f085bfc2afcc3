"""Checkpoints: resuming is bit-identical, mismatches are refused, non-finite losses roll back."""

import json
import math

import pytest
import torch

from pinnlab import Dirichlet, Exact, Interval, Problem, resolve_settings, solve
from pinnlab.training.checkpoint import CheckpointError, CheckpointStore
from pinnlab.commands.main import main
from pinnlab.model.field_model import build_model
from pinnlab.training.context import NonFiniteLossError
from pinnlab.training.trainer import train

QUICK = {"output.progress": False, "output.log_every": 10, "checkpoint.every": 20, "sampling.points": 200,
         "sampling.boundary_points": 8, "network.width": 12, "network.depth": 2, "output.grid": (33,)}


def poisson(residual=None) -> Problem:
    """-u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends: u = sin(pi x)."""
    return Problem.define(
        "poisson1d", domain=Interval(0.0, 1.0),
        residual=residual or (lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x)),
        conditions={"ends": Dirichlet(0.0)},
        reference=Exact(lambda x: torch.sin(math.pi * x)),
    )


class Interrupt(Exception):
    pass


def run_until(problem, settings, store, stop_at=None, resume=False):
    """Train, raising Interrupt once the logged step reaches ``stop_at`` (a crash stand-in)."""
    torch.manual_seed(settings.numerics.seed)
    model = build_model(problem, settings)

    def on_log(step, _losses):
        if stop_at is not None and step >= stop_at:
            raise Interrupt

    return train(problem, model, settings, on_log, store, store.load("last") if resume else None), model


@pytest.mark.parametrize("overrides, stop_at", [
    ({"sampling.resample_every": 15}, 47),                                       # inside Adam, resampled points
    ({}, 95),                                                           # inside L-BFGS
    ({"refine.method": "rad", "refine.every": 25, "refine.pool": 1000}, 55),   # inside Adam, with RAD
    ({"refine.method": "rar", "refine.points": 10, "refine.every": 20}, 105),  # inside L-BFGS, with RAR
    ({"lbfgs.steps": 0, "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 40}, 85),  # inside SSBroyden
    ({"lbfgs.steps": 0, "phases": "adam,lbfgs,lm", "lm.steps": 40}, 85),         # inside Levenberg-Marquardt
    ({"lbfgs.steps": 0, "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 40, "refine.method": "rad",
      "refine.every": 15, "refine.pool": 1000}, 85),                    # inside SSBroyden, with RAD
    ({"balance.method": "grad-norm", "balance.every": 10}, 47),                # balanced weights, inside Adam
    ({"balance.method": "ntk", "balance.every": 10, "balance.points": 50}, 47),
])
def test_resumed_run_ends_bit_identical_to_uninterrupted(tmp_path, overrides, stop_at):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 60, "lbfgs.steps": 80, **overrides})
    whole, whole_model = run_until(problem, settings, CheckpointStore(tmp_path / "whole"))

    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=stop_at)
    saved_step = torch.load(store.last, weights_only=True)["step"]
    assert 0 < saved_step < whole.steps
    resumed, resumed_model = run_until(problem, settings, store, resume=True)

    assert resumed.resumed_from == saved_step
    assert resumed.steps == whole.steps and resumed.lbfgs_iterations == whole.lbfgs_iterations
    assert resumed.second_order_stop == whole.second_order_stop
    for name, value in whole_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert resumed.history == whole.history
    assert resumed.weight_history == whole.weight_history
    assert torch.equal(resumed.collocation.interior, whole.collocation.interior)


def test_best_checkpoint_has_the_lowest_saved_loss(tmp_path):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 60, "lbfgs.steps": 40})
    store = CheckpointStore(tmp_path)
    run_until(problem, settings, store)
    best, last = (torch.load(p, weights_only=True) for p in (store.best, store.last))
    assert last["finished"] and last["step"] == 100
    best_loss = [state["hooks"]["checkpoint"]["best_loss"] for state in (best, last)]
    assert best_loss[0] == best_loss[1] <= min(last["history"]["total"][-3:])


def test_checkpoint_of_another_network_or_equation_is_refused(tmp_path):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 20, "lbfgs.steps": 0})
    solve(problem, settings, tmp_path)

    wider = settings.replace({"network.width": 16}, "test")
    with pytest.raises(CheckpointError, match="network.width=12.*network.width=16"):
        solve(problem, wider, tmp_path, resume=True)
    other = Problem.define("other", domain=Interval(0.0, 1.0), residual=lambda u_xx: u_xx,
                           conditions={"ends": Dirichlet(0.0)})
    with pytest.raises(CheckpointError, match="name 'poisson1d'.*'other'"):
        solve(other, resolve_settings(other, {**QUICK, "adam.steps": 20,
                                              "lbfgs.steps": 0}), tmp_path, resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        solve(problem, settings, tmp_path / "empty", resume=True)


def test_checkpoint_with_arbitrary_objects_is_not_unpickled(tmp_path):
    store = CheckpointStore(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    torch.save({"format": "pinnlab-checkpoint", "version": 1, "payload": Interrupt()}, store.last)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        store.load("last")


def test_cli_resume_continues_and_reports_the_step(tmp_path, capsys):
    args = ["solve", "equations/poisson.py", "--points", "200", "--out", str(tmp_path), "--quiet",
            "--set", "output.grid=9x9", "--set", "checkpoint.every=20", "--set", "output.log_every=10"]
    assert main([*args, "--steps", "40", "--lbfgs-steps", "0"]) == 0
    assert main([*args, "--steps", "40", "--lbfgs-steps", "30", "--resume"]) == 0
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    # more L-BFGS iterations apply to a finished run: it trains on and records them
    assert state["finished"] and 40 < state["step"] <= 70 and state["phases"]["lbfgs"]["done"] == state["step"] - 40
    phases = json.loads(state["settings"])["phases"]
    assert [(p["name"], p["steps"]) for p in phases] == [("adam", 40), ("lbfgs", 30)]


def test_a_nan_rolls_back_and_training_finishes(tmp_path):
    calls = {"n": 0}

    def flaky(u_xx, x):
        calls["n"] += 1
        r = u_xx + math.pi**2 * torch.sin(math.pi * x)
        return r * float("nan") if calls["n"] == 40 else r

    problem = poisson(flaky)
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 60, "lbfgs.steps": 100})
    result = solve(problem, settings, tmp_path)
    [event] = result.training.rollbacks
    assert event["term"] == "residual" and event["step"] == 37 and event["back_to"] == 30
    assert event["lr_scale"] == 0.5
    assert all(math.isfinite(v) for v in result.metrics["final_losses"].values())
    assert result.metrics["rel_l2"]["u"] < 1e-4
    assert result.metrics["rollbacks"] == [event]


def test_a_persistent_nan_stops_naming_term_and_step_and_keeps_checkpoints(tmp_path, capsys):
    calls = {"n": 0}

    def breaks(u_xx, x):
        calls["n"] += 1
        r = u_xx + math.pi**2 * torch.sin(math.pi * x)
        return r.log() if calls["n"] > 30 else r  # log of negative residuals: NaN from step ~29 on

    problem = poisson(breaks)
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 60, "lbfgs.steps": 0,
                                          "checkpoint.rollbacks": 2})
    with pytest.raises(NonFiniteLossError) as error:
        solve(problem, settings, tmp_path)
    message = str(error.value)
    assert "loss term 'residual' became nan at step" in message and "after 2 rollback(s)" in message
    assert str(tmp_path / "checkpoints" / "last.pt") in message
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 20 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert "rolled back to step 20" in capsys.readouterr().err


def test_full_disk_is_reported_before_training(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**5, 10**5))
    status = main(["solve", "equations/poisson.py", "--out", str(tmp_path), "--quiet"])
    assert status == 2
    assert "not enough free space" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()
