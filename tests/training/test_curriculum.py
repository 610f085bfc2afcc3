"""Time curriculum stages and causal weights: schedules, windows, weights and resuming."""

import math

import numpy as np
import pytest
import torch

from pinnlab import Interval, Problem, load_problem, resolve_settings, solve
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.curriculum import CausalWeights
from pinnlab.model.field_model import build_model
from pinnlab.training.hooks.time_schedule import TimeSchedule
from pinnlab.training.plan import build_training

HEAT = load_problem("equations/heat.py")
QUICK = {"output.progress": False, "output.log_every": 10, "sampling.points": 300,
         "sampling.boundary_points": 40, "network.width": 12,
         "network.depth": 2, "output.grid": (9, 5)}


def trainer(settings, store=None, on_log=None):
    torch.manual_seed(settings.numerics.seed)
    return build_training(HEAT, build_model(HEAT, settings), settings, store, on_log)


def test_windows_advance_on_schedule_and_points_stay_inside():
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 80, "lbfgs.steps": 0, "curriculum.windows": 4,
                                       "curriculum.every": 20})
    seen = {}
    run = trainer(settings, on_log=lambda step, _: seen.setdefault(step, (
        float(run.context.collocation.interior[:, 1].max()),
        max(float(b.points[:, 1].max()) for b in run.context.collocation.conditions.values()))))
    result = run.run()
    assert result.stages == [(0, 0.25), (20, 0.5), (40, 0.75), (60, 1.0)]
    for step, (interior_t, condition_t) in seen.items():
        window = min(0.25 * (step // 20 + 1), 1.0)
        assert interior_t <= window + 1e-12 and condition_t <= window + 1e-12
        assert interior_t > window - 0.05  # and they fill the window
    assert result.history["step"][-1] == 80


def test_a_loss_threshold_advances_early():
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 30, "lbfgs.steps": 0, "curriculum.windows": 3,
                                       "curriculum.every": 1000, "curriculum.loss": 1e9})
    assert [s for s, _ in trainer(settings).run().stages] == [0, 1, 2]


def test_curriculum_without_time_is_refused():
    line = Problem.define("line", domain=Interval(0.0, 1.0), residual=lambda u_xx: u_xx)
    with pytest.raises(ValueError, match="curriculum needs a space-time domain"):
        solve(line, resolve_settings(line, {**QUICK, "curriculum.windows": 2, "output.grid": (5,)}), "unused")


def test_causal_weights_follow_the_formula_and_the_schedule():
    settings = resolve_settings(HEAT, {"causal.eps": 0.5, "causal.bins": 4, "causal.eps_max": 50})
    causal = CausalWeights(HEAT, settings.causal)
    t = torch.tensor([0.1, 0.2, 0.3, 0.6, 0.9], dtype=torch.float64)  # bins 0, 0, 1, 2, 3
    squared = torch.tensor([1.0, 3.0, 4.0, 1.0, 5.0], dtype=torch.float64)
    slices = torch.tensor([2.0, 4.0, 1.0, 5.0], dtype=torch.float64)
    weights = torch.exp(-0.5 * torch.tensor([0.0, 2.0, 6.0, 7.0], dtype=torch.float64))
    assert float(causal.loss(squared, t)) == pytest.approx(float((weights * slices).mean()))
    assert causal.smallest_weight == pytest.approx(math.exp(-3.5))
    causal.update()
    assert causal.eps == 0.5  # not every slice is resolved yet
    causal.loss(torch.full((5,), 1e-4, dtype=torch.float64), t)
    causal.update()
    assert causal.eps == 5.0
    for _ in range(3):
        causal.loss(torch.full((5,), 1e-6, dtype=torch.float64), t)
        causal.update()
    assert causal.eps == 50.0  # capped at causal_eps_max


def test_causal_training_resolves_early_times_first():
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 150, "lbfgs.steps": 0, "causal.eps": 100.0,
                                       "causal.eps_max": 100.0, "adam.lr": 3e-3})
    run = trainer(settings)
    run.run()
    t = run.context.collocation.interior[:, 1]
    from pinnlab.training.losses import residual_values
    r = residual_values(HEAT, run.model, run.context.collocation.interior)["residual"].detach().square()
    early, late = r[t < 0.25].mean(), r[t > 0.75].mean()
    assert early < late  # with a steep causal weight, late times have barely been trained


def test_curriculum_and_causal_resume_bit_identical(tmp_path):
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 40, "lbfgs.steps": 40, "curriculum.windows": 4,
                                       "causal.eps": 1.0, "checkpoint.every": 20})
    whole = trainer(settings, CheckpointStore(tmp_path / "whole"))
    whole.run()

    store = CheckpointStore(tmp_path / "split")

    def stop(step, _):
        if step >= 55:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(settings, store, stop).run()
    resumed = trainer(settings, store)
    result = resumed.run(resume_from=store.load())
    assert result.resumed_from == 40
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    assert result.stages == whole.hook(TimeSchedule).stages


def test_refinements_and_windows_reach_the_output_files(tmp_path):
    import json

    import h5py
    import matplotlib.image

    from pinnlab.output.io import read_results
    from pinnlab.output.plots import plot_collocation

    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 60, "lbfgs.steps": 20, "curriculum.windows": 2,
                                       "refine.method": "rad", "refine.every": 25, "refine.pool": 1000})
    solve(HEAT, settings, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [w["t_end"] for w in metrics["time_windows"]] == [0.5, 1.0]
    assert [r["step"] for r in metrics["refinements"]][:2] == [25, 50]
    results = read_results(tmp_path)
    cloud = results.points["refinement_1"]
    assert cloud["coordinates"].shape == (300, 2) and cloud["residual"].shape == (300,)
    assert cloud["coordinates"][:, 1].max() <= 0.5  # drawn inside the first time window
    with h5py.File(tmp_path / "fields.h5") as f:
        assert f["points/refinement_2/residual"].shape == (300,)
    assert 'Name="points_refinement_1"' in (tmp_path / "fields.xdmf").read_text()
    assert (tmp_path / "collocation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # docs/outputs.md's recipe for plotting refinements of one's own choice from the saved file
    for count in (1, 2):
        chosen = ["refinement_1", "refinement_2"][:count]
        plot_collocation(tmp_path / f"chosen_{count}.png", axes=results.axes, field="u",
                         values=results.prediction["u"],
                         point_sets=[(name, results.points[name]["coordinates"]) for name in chosen])
    one, two = (matplotlib.image.imread(tmp_path / f"chosen_{count}.png") for count in (1, 2))
    assert two.shape[1] > 1.5 * one.shape[1]  # a panel per chosen refinement



def test_causal_eps_starts_again_in_each_window():
    settings = resolve_settings(HEAT, {**QUICK, "adam.steps": 80, "lbfgs.steps": 0, "curriculum.windows": 2,
                                       "curriculum.every": 40, "causal.eps": 1e-6, "causal.eps_max": 1e3})
    seen = {}
    run = trainer(settings, on_log=lambda step, _: seen.setdefault(step, (run.curriculum.stage, run.causal.eps)))
    run.run()
    assert seen[30][0] == 1 and seen[30][1] >= 1e-4  # sharpened: every slice was resolved
    assert seen[40] == (2, 1e-6)  # a new window has unresolved late times again
    assert run.causal.window_start == 0.0 and run.causal.window_end == 1.0


def test_every_redraw_is_recorded_with_its_residual(tmp_path):
    import json

    import h5py
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    from pinnlab.training.refinement import residual_norms

    settings = resolve_settings(HEAT, {**QUICK, "output.log_every": 5, "adam.steps": 60, "lbfgs.steps": 20,
                                       "curriculum.windows": 2, "curriculum.every": 40,
                                       "sampling.resample_every": 15})
    used = {}

    def look(step, _):  # the points training uses, and |r| there before this step's update
        interior = run.context.collocation.interior.clone()
        used[step] = (interior.numpy(), residual_norms(run.context.active, run.model, interior).numpy())

    run = trainer(settings, on_log=look)
    result = run.run()
    expected = [("window_1", 0), ("resample_1", 15), ("resample_2", 30), ("window_2", 40), ("resample_3", 45)]
    assert [(r.cloud, r.step) for r in result.redraws] == expected
    solve(HEAT, settings, tmp_path)  # the same run (same seed), now writing its results
    with h5py.File(tmp_path / "fields.h5") as f:
        clouds = {name: (f[f"points/{name}/coordinates"][()], f[f"points/{name}/residual"][()])
                  for name, _ in expected}
    for name, step in expected:
        points, residual = clouds[name]
        assert points.shape == (300, 2) and residual.shape == (300,)
        np.testing.assert_array_equal(points, used[step][0])  # exactly the points trained on
        np.testing.assert_allclose(residual, used[step][1], rtol=1e-12, atol=1e-14)
        window_end = 0.5 if step < 40 else 1.0
        assert points[:, 1].max() <= window_end and points[:, 1].max() > window_end - 0.05
    assert not np.array_equal(clouds["resample_1"][0], clouds["resample_2"][0])
    assert [r["cloud"] for r in json.loads((tmp_path / "metrics.json").read_text())["redraws"]] == [n for n, _ in expected]
    # and ParaView sees each as a point cloud in the (x, t) plane, coloured by |r| and t
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(tmp_path / "fields.xdmf"))
    reader.UpdateInformation()
    reader.UpdateTimeStep(reader.GetOutputInformation(0).Get(vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS(), 0))
    output = reader.GetOutputDataObject(0)
    blocks = {output.GetMetaData(i).Get(vtk.vtkCompositeDataSet.NAME()): output.GetBlock(i)
              for i in range(output.GetNumberOfBlocks())}
    for name, _ in expected:
        cloud = blocks[f"points_{name}"]
        xyz = vtk_to_numpy(cloud.GetPoints().GetData())
        np.testing.assert_allclose(xyz[:, :2], clouds[name][0], rtol=1e-6)
        data = cloud.GetPointData()
        np.testing.assert_allclose(vtk_to_numpy(data.GetArray("residual")), clouds[name][1], rtol=1e-6)
        np.testing.assert_allclose(vtk_to_numpy(data.GetArray("t")), clouds[name][0][:, 1], rtol=1e-6)
