"""The time curriculum and time marching on a family: windows in time, the parameters over their box."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pinnlab import load_problem, resolve_settings
from pinnlab.model.field_model import build_model
from pinnlab.output.evaluation import predict
from pinnlab.solver.job import solve
from pinnlab.training.plan import build_training
from pinnlab.training.time_marching import TimeMarchedModel

HEAT = load_problem("equations/heat_family.py")  # u_t = k u_xx, k in [0.02, 0.2]
QUICK = {"phases": "adam,lbfgs", "output.progress": False, "adam.steps": 400, "lbfgs.steps": 600,
         "sampling.points": 1000, "network.width": 16, "network.depth": 2, "numerics.threads": 1,
         "output.log_every": 50}


def exact(x: np.ndarray, t: np.ndarray, k: float) -> np.ndarray:
    """The two decaying modes, written out here (not the module's function)."""
    return (np.exp(-k * math.pi**2 * t) * np.sin(math.pi * x)
            + 0.5 * np.exp(-9 * k * math.pi**2 * t) * np.sin(3 * math.pi * x))


def error_at(model: torch.nn.Module, k: float) -> float:
    """Relative L2 error of one instance on a 41 x 21 grid over the whole time interval."""
    x, t = np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 21), indexing="ij")
    rows = np.stack([x.ravel(), t.ravel(), np.full(x.size, k)], axis=1)
    truth = exact(x.ravel(), t.ravel(), k)
    return float(np.linalg.norm(predict(model, rows)[:, 0] - truth) / np.linalg.norm(truth))


def test_growing_windows_limit_time_and_leave_the_parameter_box_whole() -> None:
    settings = resolve_settings(HEAT, {**QUICK, "curriculum.windows": 4, "curriculum.every": 100,
                                       "lbfgs.steps": 0})
    torch.manual_seed(0)
    training = None
    seen = {}

    def look(step, _):
        points = training.context.collocation.interior
        seen[step] = (float(points[:, 1].max()), float(points[:, 2].min()), float(points[:, 2].max()))

    training = build_training(HEAT, build_model(HEAT, settings), settings, on_log=look)
    result = training.run()
    assert result.stages == [(0, 0.25), (100, 0.5), (200, 0.75), (300, 1.0)]
    for step, (latest, k_low, k_high) in seen.items():
        window = min(0.25 * (step // 100 + 1), 1.0)
        assert latest <= window + 1e-6
        assert k_low < 0.03 and k_high > 0.19  # every window sees the whole range of k


def test_a_family_trained_with_the_curriculum_meets_its_error_bound(tmp_path) -> None:
    settings = resolve_settings(HEAT, {**QUICK, "curriculum.windows": 4})
    result = solve(HEAT, settings, tmp_path / "grow")
    family = result.metrics["family"]
    assert family["rel_l2_mean"]["u"] < 3e-2 and family["rel_l2_max"]["u"] < 5e-2  # measured 6.8e-3, 1.2e-2
    assert error_at(result.model, 0.05) < 3e-2  # an instance not held out (measured 8.6e-3)


def test_time_marching_a_family_trains_one_network_per_window(tmp_path) -> None:
    settings = resolve_settings(HEAT, {**QUICK, "curriculum.windows": 3, "curriculum.mode": "march"})
    result = solve(HEAT, settings, tmp_path / "march")
    assert isinstance(result.model, TimeMarchedModel) and len(result.model.pieces) == 3
    assert result.model.starts == pytest.approx([0.0, 1 / 3, 2 / 3])
    family = result.metrics["family"]
    assert family["rel_l2_mean"]["u"] < 5e-2 and family["rel_l2_max"]["u"] < 8e-2  # measured 1.1e-2, 1.9e-2
    assert error_at(result.model, 0.05) < 5e-2  # measured 1.4e-2
