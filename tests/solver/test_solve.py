"""Short solves checked against exact solutions, and the files a solve writes."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pinnlab import Dirichlet, Exact, Interval, Problem, load_problem, resolve_settings, solve
from pinnlab.commands.main import main

QUICK = {"output.progress": False, "output.log_every": 25}


def test_system_of_two_fields_matches_sine_and_cosine(tmp_path):
    # u' = v, v' = -u, u(0) = 0, v(0) = 1  ->  u = sin x, v = cos x
    problem = Problem.define(
        "oscillator", domain=Interval(0.0, 3.0), fields=["u", "v"],
        residuals={"du": lambda u_x, v: u_x - v, "dv": lambda v_x, u: v_x + u},
        conditions={"u0": Dirichlet(0.0, on="x_min", field="u"), "v0": Dirichlet(1.0, on="x_min", field="v")},
        reference=Exact(lambda x: {"u": torch.sin(x), "v": torch.cos(x)}),
    )
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 100, "lbfgs.steps": 300,
                                          "sampling.points": 200,
                                          "sampling.boundary_points": 1, "network.width": 16,
                                          "network.depth": 2})
    result = solve(problem, settings, tmp_path)
    assert result.metrics["rel_l2"]["u"] < 1e-3
    assert result.metrics["rel_l2"]["v"] < 1e-3


def test_heat_equation_short_solve_and_its_files(tmp_path):
    problem = load_problem("equations/heat.py")
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 100, "lbfgs.steps": 400,
                                          "sampling.points": 800,
                                          "sampling.boundary_points": 200, "output.grid": (21, 11)})
    result = solve(problem, settings, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rel_l2"]["u"] < 2e-2
    assert metrics["rel_l2"] == result.metrics["rel_l2"]
    assert set(metrics["final_losses"]) == {"residual", "initial", "walls"}
    assert metrics["steps"] == 100 + result.training.lbfgs_iterations
    assert metrics["settings"]["sampling"]["points"] == 800 and metrics["wall_time_s"] > 0

    with h5py.File(tmp_path / "fields.h5", "r") as f:
        x, t = f["coordinates/x"][()], f["coordinates/t"][()]
        assert x.shape == (21,) and t.shape == (11,)
        u = f["prediction/u"][()]
        exact = (np.exp(-0.05 * np.pi**2 * t)[None, :] * np.sin(np.pi * x)[:, None]
                 + 0.5 * np.exp(-9 * 0.05 * np.pi**2 * t)[None, :] * np.sin(3 * np.pi * x)[:, None])
        np.testing.assert_allclose(f["reference/u"][()], exact, atol=1e-12)
        np.testing.assert_allclose(f["error/u"][()], u - exact, atol=1e-12)
        rel = np.linalg.norm(u - exact) / np.linalg.norm(exact)
        assert rel == pytest.approx(metrics["rel_l2"]["u"], rel=1e-6)
        assert list(f["loss_history/step"][()])[-1] == metrics["steps"]
    assert "fields.h5:/prediction/u" in (tmp_path / "fields.xdmf").read_text()
    for png in ("solution.png", "loss.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["equation"] == "heat"


def test_same_seed_same_result_different_seed_different(tmp_path):
    problem = load_problem("equations/poisson.py")
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 20, "lbfgs.steps": 0, "sampling.points": 100,
                                          "sampling.boundary_points": 40, "output.grid": (5, 5)})
    a = solve(problem, settings, tmp_path / "a").metrics["final_losses"]
    b = solve(problem, settings, tmp_path / "b").metrics["final_losses"]
    c = solve(problem, settings.replace({"numerics.seed": 1}, "test"), tmp_path / "c").metrics["final_losses"]
    assert a == b and a != c


def test_cli_solve_writes_results(tmp_path, capsys):
    status = main(["solve", "equations/poisson.py", "--steps", "50", "--lbfgs-steps", "50",
                   "--points", "300", "--out", str(tmp_path), "--quiet", "--set", "output.grid=11x11"])
    assert status == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [(p["name"], p["steps"]) for p in metrics["settings"]["phases"]] == [("adam", 50), ("lbfgs", 50)]
    assert metrics["settings"]["output"]["grid"] == [11, 11] and metrics["adam_steps"] == 50
    assert "results written to" in capsys.readouterr().out


def test_unwritable_output_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    status = main(["solve", "equations/poisson.py", "--out", str(blocker / "out"), "--quiet"])
    assert status == 2
    assert "cannot write to output directory" in capsys.readouterr().err


def test_fields_h5_holds_residuals_and_collocation_points(tmp_path):
    from pinnlab.training.losses import residual_values
    from pinnlab.output.run_files import collocation_clouds

    problem = load_problem("equations/heat.py")
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 30, "lbfgs.steps": 0, "sampling.points": 120,
                                          "sampling.boundary_points": 25, "output.grid": (13, 7)})
    result = solve(problem, settings, tmp_path)
    model, collocation = result.model, result.training.collocation
    with h5py.File(tmp_path / "fields.h5", "r") as f:
        x, t = f["coordinates/x"][()], f["coordinates/t"][()]
        points = torch.as_tensor(np.stack(np.meshgrid(x, t, indexing="ij"), -1).reshape(-1, 2))
        direct = residual_values(problem, model, points)["residual"].detach().numpy().reshape(13, 7)
        np.testing.assert_allclose(f["residual/residual"][()], direct, rtol=1e-10, atol=1e-12)
        assert list(f["points"]) == ["interior", "initial", "walls"]
        interior = f["points/interior/coordinates"][()]
        np.testing.assert_array_equal(interior, collocation.interior.numpy())
        at_points = residual_values(problem, model, collocation.interior)["residual"].detach().numpy()
        np.testing.assert_allclose(f["points/interior/residual"][()], at_points, rtol=1e-10, atol=1e-12)
        walls = f["points/walls/coordinates"][()]
        np.testing.assert_array_equal(walls, collocation.conditions["walls"].points.numpy())
        with torch.no_grad():  # Dirichlet(0): the residual is u itself
            u_walls = model(torch.as_tensor(walls))[:, 0].numpy()
        np.testing.assert_allclose(f["points/walls/residual"][()], u_walls, rtol=0, atol=1e-14)
        assert float(f["points/interior/residual"][()].__pow__(2).mean()) == pytest.approx(
            result.metrics["final_losses"]["residual"], rel=1e-9)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["equation_path"] == str(
        Path("equations/heat.py").resolve())
    assert collocation_clouds(problem, model, None) == {}


HEAT_2D = '''
import math
import torch
from pinnlab import Dirichlet, Exact, Initial, Rectangle, TimeInterval

domain = Rectangle((0.0, 0.0), (1.0, 1.0)) * TimeInterval(0.0, 1.0)
fields = ["u"]

def exact(x, y, t):
    return torch.exp(-0.1 * math.pi**2 * t) * torch.sin(math.pi * x) * torch.sin(math.pi * y)

def residual(u_t, u_xx, u_yy):
    return u_t - 0.05 * (u_xx + u_yy)

conditions = {"initial": Initial(lambda x, y: torch.sin(math.pi * x) * torch.sin(math.pi * y)),
              "walls": Dirichlet(0.0)}
reference = Exact(exact)
'''


def test_cli_summary_lists_every_file_of_a_three_input_run(tmp_path, capsys):
    module = tmp_path / "heat_2d.py"
    module.write_text(HEAT_2D)
    out = tmp_path / "out"
    status = main(["solve", str(module), "--steps", "20", "--lbfgs-steps", "0", "--points", "100",
                   "--boundary-points", "20", "--out", str(out), "--quiet", "--set", "output.grid=6x5x4",
                   "--set", "balance.method=grad-norm", "--set", "balance.every=10", "--set", "numerics.threads=1"])
    assert status == 0
    line = [text for text in capsys.readouterr().out.splitlines() if text.startswith("results written to")]
    assert len(line) == 1
    listed = line[0].split("(", 1)[1].rstrip(")").split(", ")
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted(listed) == present
    assert {"collocation.png", "weights.png", "solution.png", "loss.png", "fields.xdmf", "model.pt",
            "metrics.json", "checkpoints/last.pt"} <= set(listed)


def test_solve_draws_exact_conditions_as_imposed_in_the_loss_figure(tmp_path, monkeypatch):
    import importlib

    solve_module = importlib.import_module("pinnlab.output.run_files")  # writes loss.png
    seen = {}
    original = solve_module.plot_loss_history

    def spy(path, **kwargs):
        seen.update(kwargs)
        original(path, **kwargs)

    monkeypatch.setattr(solve_module, "plot_loss_history", spy)
    problem = load_problem("equations/burgers.py").without_reference()
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 10, "lbfgs.steps": 0, "sampling.points": 50,
                                          "sampling.boundary_points": 10, "output.grid": (9, 5),
                                          "numerics.threads": 1})
    solve(problem, settings, tmp_path)
    assert sorted(seen["exact"]) == ["initial", "walls"]
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
