"""Time marching: windows advance, each starts from the previous window's end state, the solution
is piecewise in every output, and resuming reproduces the run."""

import json
import math

import h5py
import numpy as np
import pytest
import torch

from pinnlab import Dirichlet, Initial, InitialRate, Interval, Problem, TimeInterval, load_problem, resolve_settings, solve
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.output.export import export, load_run
from pinnlab.training.losses import residual_values
from pinnlab.training.collocation import sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler
from pinnlab.training.time_marching import TimeMarchedModel, hand_over, marching_weights
from pinnlab.training.hooks.time_schedule import TimeSchedule
from pinnlab.training.plan import build_training

HEAT = load_problem("equations/heat.py")
QUICK = {"output.progress": False, "output.log_every": 10, "sampling.points": 300,
         "sampling.boundary_points": 40, "network.width": 12,
         "network.depth": 2, "output.grid": (9, 7), "curriculum.mode": "march"}


def trainer(problem, settings, store=None, on_log=None):
    torch.manual_seed(settings.numerics.seed)
    return build_training(problem, build_model(problem, settings), settings, store, on_log)


def with_state(model, state):
    """A copy of ``model`` holding the parameters ``state``."""
    import copy

    piece = copy.deepcopy(model)
    piece.load_state_dict(state)
    return piece


def test_windows_march_and_each_starts_from_the_previous_end_state():
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 30, "lbfgs.steps": 60, "curriculum.windows": 3})
    seen = {}

    def look(step, _):  # the points and initial-condition batch in use at this step
        batch = run.context.collocation.conditions["initial"]
        seen[step] = (run.curriculum.stage, run.context.collocation.interior.clone(), batch.points.clone(),
                      batch.target.clone())

    run = trainer(HEAT, settings, on_log=look)
    result = run.run()
    # Adam (30 steps) and an equal share of L-BFGS (20) make window 1, then 20 iterations each
    assert [(s, round(t, 12)) for s, t in result.stages] == [(0, round(1 / 3, 12)), (50, round(2 / 3, 12)), (70, 1.0)]
    assert len(run.hook(TimeSchedule).windows) == 2
    for step, (stage, interior, points, target) in seen.items():
        start, end = (stage - 1) / 3, stage / 3
        t = interior[:, 1]
        assert t.min() >= start - 1e-12 and t.max() <= end + 1e-12  # window k alone, not [t0, t_k]
        assert t.max() - t.min() > 0.9 / 3  # and filled
        assert torch.allclose(points[:, 1], torch.full_like(points[:, 1], start))
        if stage == 1:  # the equation's own initial condition
            expected = torch.sin(math.pi * points[:, 0]) + 0.5 * torch.sin(3 * math.pi * points[:, 0])
        else:  # window k-1's network at t_{k-1}: its end state
            previous = with_state(run.model, run.hook(TimeSchedule).windows[stage - 2])
            with torch.no_grad():
                expected = previous(points)[:, 0]
        assert torch.allclose(target, expected, atol=1e-12), (step, stage)
    assert {stage for stage, *_ in seen.values()} == {1, 2, 3}
    # the handoff is trained: at the end of window 2, window 3's start matches window 2's end
    end_of_2 = with_state(run.model, run.hook(TimeSchedule).windows[1])
    points = seen[max(seen)][2]
    with torch.no_grad():
        gap = (run.model(points) - end_of_2(points)).abs().max()
    assert gap < 0.05


def test_the_solution_is_piecewise_in_every_output(tmp_path):
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 30, "lbfgs.steps": 40, "curriculum.windows": 2})
    result = solve(HEAT, settings, tmp_path)
    model = result.model
    assert isinstance(model, TimeMarchedModel) and model.starts == [0.0, 0.5]
    first, last = model.pieces
    assert not torch.equal(first.network.layers[0].weight, last.network.layers[0].weight)
    points = torch.tensor([[0.3, 0.1], [0.3, 0.49], [0.3, 0.5], [0.7, 0.9]], dtype=torch.float64)
    with torch.no_grad():
        values = model(points)[:, 0]
        assert torch.equal(values[:2], first(points[:2])[:, 0])
        assert torch.equal(values[2:], last(points[2:])[:, 0])
    with h5py.File(tmp_path / "fields.h5") as f:
        x, t = f["coordinates/x"][()], f["coordinates/t"][()]
        stored = f["prediction/u"][()]
        error = f["error/u"][()]
        residual = f["residual/residual"][()]
    grid = np.stack(np.meshgrid(x, t, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        expected = model(torch.as_tensor(grid)).numpy().reshape(stored.shape)
    np.testing.assert_allclose(stored, expected, rtol=0, atol=1e-12)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rel_l2"]["u"] == pytest.approx(np.linalg.norm(error) / np.linalg.norm(stored - error))
    # the residual on the grid is each window's own: u_t - kappa u_xx of the piece that owns t
    early = t < 0.5
    piece_residual = residual_values(HEAT, first, torch.as_tensor(grid).requires_grad_(True),
                                     create_graph=False)["residual"].detach().numpy().reshape(stored.shape)
    np.testing.assert_allclose(residual[:, early], piece_residual[:, early], atol=1e-10)
    assert not np.allclose(residual[:, ~early], piece_residual[:, ~early], atol=1e-6)
    # model.pt keeps every window; export rebuilds the same piecewise model
    run = load_run(tmp_path)
    assert isinstance(run.model, TimeMarchedModel) and run.model.starts == [0.0, 0.5]
    exported = export(tmp_path, out=tmp_path / "again.h5", show_progress=False)
    with h5py.File(exported.path) as f:
        np.testing.assert_allclose(f["prediction/u"][()], stored, atol=1e-12)
        np.testing.assert_allclose(f["residual/residual"][()], residual, atol=1e-10)


def test_marching_resumes_bit_identical(tmp_path):
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 20, "lbfgs.steps": 60, "curriculum.windows": 3,
                                       "checkpoint.every": 20, "causal.eps": 1.0})
    whole = trainer(HEAT, settings, CheckpointStore(tmp_path / "whole"))
    whole.run()

    store = CheckpointStore(tmp_path / "split")

    def stop(step, _):
        if step >= 55:  # windows end at 40, 60, 80: stop in window 2, resume across 60
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(HEAT, settings, store, stop).run()
    saved = torch.load(store.last, weights_only=True)
    assert saved["hooks"]["schedule"]["curriculum"]["stage"] == 2 and len(saved["hooks"]["schedule"]["windows"]) == 1
    resumed = trainer(HEAT, settings, store)
    result = resumed.run(resume_from=store.load())
    assert result.resumed_from == saved["step"]
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert len(resumed.hook(TimeSchedule).windows) == len(whole.hook(TimeSchedule).windows) == 2
    for a, b in zip(whole.hook(TimeSchedule).windows, resumed.hook(TimeSchedule).windows):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(whole.context.collocation.conditions["initial"].target, resumed.context.collocation.conditions["initial"].target)
    assert result.stages == whole.hook(TimeSchedule).stages
    assert [(r.cloud, r.step) for r in result.redraws] == [(r.cloud, r.step) for r in whole.context.redraws]


@pytest.mark.parametrize("method", ["ssbroyden", "lm"])
def test_second_order_methods_march_window_by_window(method):
    """With lbfgs.steps=0 the second-order phase trains every window: Adam on window 1, then an
    equal share of the phase per window, each starting from the previous window's end state."""
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 20, "lbfgs.steps": 0, "curriculum.windows": 3,
                                       "phases": f"adam,lbfgs,{method}", f"{method}.steps": 60})
    starts = {}

    def look(step, _):  # the initial-condition batch when each window is first seen
        starts.setdefault(run.curriculum.stage, run.context.collocation.conditions["initial"])

    run = trainer(HEAT, settings, on_log=look)
    result = run.run()
    assert [(s, round(t, 12)) for s, t in result.stages] == [(0, round(1 / 3, 12)), (40, round(2 / 3, 12)), (60, 1.0)]
    assert result.steps == 80 and result.second_order_stop == f"reached {method}.steps=60"
    assert isinstance(result.solution, TimeMarchedModel) and len(result.solution.pieces) == 3
    for stage in (2, 3):  # window k starts from window k-1's network at t_{k-1}
        batch = starts[stage]
        assert torch.allclose(batch.points[:, 1], torch.full_like(batch.points[:, 1], (stage - 1) / 3))
        with torch.no_grad():
            expected = with_state(run.model, run.hook(TimeSchedule).windows[stage - 2])(batch.points)[:, 0]
        assert torch.allclose(batch.target, expected, atol=1e-12)
    # every window is trained: each piece fits the heat equation on its own window at least 10x
    # better than the untrained network does
    grid = torch.stack(torch.meshgrid(torch.linspace(0, 1, 11, dtype=torch.float64),
                                      torch.linspace(0, 1, 31, dtype=torch.float64), indexing="ij"), -1)
    grid = grid.reshape(-1, 2).requires_grad_(True)
    untrained = trainer(HEAT, settings).model
    for k, piece in enumerate(result.solution.pieces):
        inside = (grid[:, 1] >= k / 3) & (grid[:, 1] <= (k + 1) / 3)
        mean_square = [float(residual_values(HEAT, m, grid, create_graph=False)["residual"][inside].square().mean())
                       for m in (piece, untrained)]
        assert mean_square[0] < 0.1 * mean_square[1], (k, mean_square)  # 0.04 .. 5e-7 when measured


def test_second_order_marching_resumes_bit_identical(tmp_path):
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 10, "lbfgs.steps": 0, "curriculum.windows": 3,
                                       "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 30,
                                       "checkpoint.every": 7})
    whole = trainer(HEAT, settings, CheckpointStore(tmp_path / "whole"))
    whole.run()
    store = CheckpointStore(tmp_path / "split")

    def stop(step, _):  # logged every 10 steps; windows end at 20 and 30
        if step >= 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(HEAT, settings, store, stop).run()
    saved = torch.load(store.last, weights_only=True)  # inside window 2: resuming crosses 30
    assert saved["hooks"]["schedule"]["curriculum"]["stage"] == 2 and saved["step"] == 28
    resumed = trainer(HEAT, settings, store)
    result = resumed.run(resume_from=store.load())
    assert result.stages == whole.hook(TimeSchedule).stages
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    for a, b in zip(whole.hook(TimeSchedule).windows, resumed.hook(TimeSchedule).windows, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


class Exact(torch.nn.Module):
    """u = c x (1 + t^2): exact for u_t = 2 x t and u(x, 0) = x at c = 1, so every window's loss
    reaches zero in a few iterations and its optimizer stops early."""

    fields = ("u",)

    def __init__(self):
        super().__init__()
        self.c = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    def forward(self, p):
        x, t = p[:, 0], p[:, 1]
        return (self.c * x * (1 + t**2)).unsqueeze(1)


@pytest.mark.parametrize("method", ["lbfgs", "ssbroyden"])
def test_a_window_that_converges_early_hands_over_instead_of_ending_training(method):
    problem = Problem.define("exact", domain=Interval(0.0, 1.0) * TimeInterval(0.0, 1.0),
                             residual=lambda x, t, u_t: u_t - 2 * x * t, conditions={"initial": Initial(lambda x: x)})
    phase = {"lbfgs": {"lbfgs.steps": 400},
             "ssbroyden": {"lbfgs.steps": 0, "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 400}}[method]
    settings = resolve_settings(problem, {**QUICK, "output.grid": (5, 5), "adam.steps": 0,
                                          "curriculum.windows": 4, **phase})
    result = build_training(problem, Exact(), settings).run()
    assert [round(t, 12) for _, t in result.stages] == [0.25, 0.5, 0.75, 1.0]  # all four windows trained
    assert result.steps < 200  # each stopped long before its share of 100
    assert result.final_losses["residual"] < 1e-20


class Polynomial(torch.nn.Module):
    """u = x t^2 + x: a known end state, with u_t = 2 x t."""

    fields = ("u",)

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, p):
        x, t = p[:, 0], p[:, 1]
        return (self.scale * (x * t**2 + x)).unsqueeze(1)


def wave(t0, t1):
    """u_tt = u_xx, u(x, t0) = sin x imposed by the output transform, u_t(x, t0) = 0."""
    return Problem.define(
        "wave", domain=Interval(0.0, 1.0) * TimeInterval(t0, t1), residual=lambda u_tt, u_xx: u_tt - u_xx,
        conditions={"initial": Initial(lambda x: torch.sin(x), exact=True), "rate": InitialRate(0.0),
                    "ends": Dirichlet(0.0)},
        output_transform=lambda x, t, u: torch.sin(x) + t * u,
    )


def test_hand_over_sets_value_and_rate_targets_and_trains_exact_ones():
    whole, later = wave(0.0, 2.0), wave(0.5, 1.0)  # later: the second of four windows
    settings = resolve_settings(whole, {"sampling.boundary_points": 16, "sampling.points": 8})
    batch = sample_collocation(later, settings.sampling, make_sampler("sobol", 0), torch.float64, torch.device("cpu"))
    handed = hand_over(later, Polynomial(), batch)
    x = handed.conditions["initial"].points[:, 0]
    assert torch.allclose(handed.conditions["initial"].points[:, 1], torch.full_like(x, 0.5))
    assert torch.allclose(handed.conditions["initial"].target, x * 0.25 + x)
    assert torch.allclose(handed.conditions["rate"].target, 2 * handed.conditions["rate"].points[:, 0] * 0.5)
    assert torch.equal(handed.conditions["ends"].target, batch.conditions["ends"].target)  # untouched
    assert torch.equal(handed.interior, batch.interior)
    weights = {"residual": 1.0, "initial": 0.0, "rate": 1.0, "ends": 1.0}
    assert marching_weights(whole, settings.weights, weights, 1)["initial"] == 0.0  # the transform imposes it
    assert marching_weights(whole, settings.weights, weights, 2)["initial"] == 1.0  # not at t_1: trained
    weighted = resolve_settings(whole, {"weights": {"initial": 7.0}})
    assert marching_weights(whole, weighted.weights, weights, 3)["initial"] == 7.0


def test_marching_needs_time_and_a_known_mode():
    with pytest.raises(ValueError, match="curriculum.mode must be one of grow, march"):
        resolve_settings(HEAT, {"curriculum.mode": "leap"})
    line = Problem.define("line", domain=Interval(0.0, 1.0), residual=lambda u_xx: u_xx)
    with pytest.raises(ValueError, match="curriculum needs a space-time domain"):
        solve(line, resolve_settings(line, {**QUICK, "curriculum.windows": 2, "output.grid": (5,)}), "unused")


def test_allen_cahn_marches_through_its_windows_at_a_small_budget():
    from pinnlab.solver.job import evaluation_grid

    problem = load_problem("equations/allen_cahn.py")
    settings = resolve_settings(problem, {"output.progress": False, "adam.steps": 20, "ssbroyden.steps": 50,
                                          "sampling.points": 200,
                                          "sampling.boundary_points": 32, "network.width": 12,
                                          "network.depth": 2, "output.log_every": 5,
                                          "curriculum.windows": 10, "curriculum.mode": "march"})
    assert [p.name for p in settings.phases] == ["adam", "ssbroyden"]  # its defaults
    result = trainer(problem, settings).run()
    assert [round(end, 12) for _, end in result.stages] == [round(0.1 * k, 12) for k in range(1, 11)]
    assert isinstance(result.solution, TimeMarchedModel) and len(result.solution.pieces) == 10
    # the reference is read in (x, t) order: its first column is the initial condition
    grid = evaluation_grid(problem, settings)
    x = grid.axes["x"]
    assert grid.values["u"].shape == (512, 201) and x[0] == -1 and x[-1] < 1
    np.testing.assert_allclose(grid.values["u"][:, 0], x**2 * np.cos(np.pi * x), atol=1e-12)
