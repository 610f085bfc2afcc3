"""`pinnlab grow`: files written, HDF5 layout, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np
import pytest

from pinnlab.commands.main import main

FAST = ["--width", "3", "--cycles", "3", "--steps", "15", "--budget-layers", "4", "--quiet"]


def test_grow_writes_metrics_hdf5_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["grow", "--dataset", "moons", "--seed", "2", "--out", str(out), *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "moons" and metrics["seed"] == 2 and metrics["strategy"] == "dwr"
    cycles = metrics["cycles"]
    assert len(cycles) >= 2
    for key in ("layers", "parameters", "train_accuracy", "val_accuracy", "test_accuracy", "estimate_sum", "wall_time_s"):
        assert all(key in c for c in cycles)
    assert [c["layers"] for c in metrics["baselines"]["uniform"]["cycles"]] == [1, 2, 4]
    assert [c["layers"] for c in metrics["baselines"]["fixed"]["cycles"]] == [1, 2, 4]
    assert metrics["settings"]["strategy"]["marking"] == {"type": "Doerfler", "theta": 0.5}
    with h5py.File(out / "growth.h5") as f:
        assert f.attrs["format"] == "pinnlab-growth"
        for i, c in enumerate(cycles):
            assert f[f"cycles/{i}/mesh"].shape == (c["layers"] + 1,)
            assert f[f"cycles/{i}/indicators"].shape == (c["layers"],)
            assert f[f"cycles/{i}/controls"].shape == (c["layers"], 3 * 3 + 3)
        layers = cycles[-1]["layers"]
        assert f["trajectories/states"].shape == (layers + 1, 64, 3)
        assert np.allclose(f["final/mesh"][()][-1], 2.0)
        assert list(f["baselines/uniform/layers"][()]) == [1, 2, 4]
    for name in ("accuracy.png", "indicators.png", "decision_boundary.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 100 and np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 10
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_train_at_budget_keeps_training_the_budget_depth(tmp_path: Path) -> None:
    out = tmp_path / "uniform"
    args = ["grow", "--dataset", "rings", "--strategy", "uniform", "--baselines", "none", "--train-at-budget",
            "--out", str(out), *FAST, "--cycles", "4"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [c["layers"] for c in metrics["cycles"]] == [1, 2, 4, 4]
    assert metrics["stop_reason"] == "max_cycles" and metrics["settings"]["train_at_budget"] is True
    out = tmp_path / "random"
    assert main(["grow", "--dataset", "rings", "--strategy", "random", "--baselines", "none", "--out", str(out), *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["strategy"] == "random" and metrics["settings"]["strategy"]["type"] == "RandomRefinement"
    assert metrics["cycles"][0]["layers"] == 1 and metrics["cycles"][1]["layers"] == 2


def test_no_decision_boundary_for_high_dimensional_data(tmp_path: Path) -> None:
    out = tmp_path / "bc"
    args = ["grow", "--dataset", "breast_cancer", "--baselines", "none", "--out", str(out), *FAST]
    assert main(args) == 0
    assert (out / "accuracy.png").is_file() and not (out / "decision_boundary.png").exists()
    assert json.loads((out / "metrics.json").read_text())["baselines"] == {}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "mnist"], ("unknown dataset 'mnist'; valid: spirals, circles, spheres, moons, peaks, "
                                  "spirals3, rings, digits, breast_cancer")),
        (["--dataset", "moons", "--theta", "2"], "theta must lie in (0, 1]"),
        (["--dataset", "moons", "--marking", "best"], "valid: doerfler, maximum"),
        (["--dataset", "moons", "--baselines", "resnet"], "valid: uniform, fixed, odenet"),
        (["--dataset", "moons", "--optimizer", "sgd"], "valid: adam, steepest"),
        (["--dataset", "moons", "--budget-layers", "0"], "initial_layers <= budget_layers"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    assert main(["grow", *extra, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("pinnlab grow: error:") and err.count("\n") == 1


def test_python_api_runs_the_odenet_baseline_without_writing(tmp_path: Path) -> None:
    from pinnlab.growth import Adam, ContinuousSettings, GrowthSettings, load_dataset, run_growth

    data = load_dataset("moons", seed=0, samples=100)
    settings = GrowthSettings(width=2, max_cycles=2, budget_layers=2, optimizer=Adam(10))
    result = run_growth(data, None, settings, baselines=("odenet",),
                        continuous=[ContinuousSettings(method="euler", step_size=1.0)])
    assert result.out_dir is None and list(result.runs) == ["dwr"] and result.fixed == []
    (ode,) = result.metrics["baselines"]["odenet"]
    assert ode["label"] == "odenet-euler(h=1)" and ode["evaluations_per_forward"] == 2
    assert 0.0 <= ode["test_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="unknown baseline"):
        run_growth(data, None, settings, baselines=("resnet",))
