"""equations/lid_cavity.py: the COMSOL table is sorted into the right (x, y) grid, the reference
satisfies the module's residuals with their signs, the hard constraint gives the wall values, and
a short solve gets near the reference."""

import inspect

import numpy as np
import torch

from pinnlab import load_problem, resolve_settings
from pinnlab.model import build_model
from pinnlab.solve import evaluation_grid, predict_on_grid, relative_l2
from pinnlab.training import train

CAVITY = load_problem("equations/lid_cavity.py")


def reference():
    grid = evaluation_grid(CAVITY, resolve_settings(CAVITY))
    return grid, grid.axes["x"], grid.axes["y"]


def test_reference_grid_is_sorted_in_x_y_order_with_the_lid_on_top():
    grid, x, y = reference()
    assert grid.scattered is None and grid.shape == (101, 101)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0) and x[0] == y[0] == 0 and x[-1] == y[-1] == 1
    assert np.diff(x).min() < 0.005 < 0.015 < np.diff(x).max()  # wall-refined, not uniform
    np.testing.assert_allclose(grid.values["u"][:, -1], 4 * x * (1 - x), atol=5e-4)  # the lid, u[i, j] = u(x_i, y_j)
    for f in ("u", "v"):
        values = grid.values[f]
        assert np.abs(values[:, 0]).max() == 0 and np.abs(values[[0, -1], :]).max() == 0
    assert grid.values["p"][0, 0] == 0


def test_reference_satisfies_the_residuals_and_a_flipped_convection_does_not():
    grid, x, y = reference()

    def d(f, axis):
        return np.gradient(f, (x, y)[axis], axis=axis, edge_order=2)

    values = {**grid.values}
    for f in "uvp":
        values[f"{f}_x"], values[f"{f}_y"] = d(values[f], 0), d(values[f], 1)
    for f in "uv":
        values[f"{f}_xx"], values[f"{f}_yy"] = d(values[f"{f}_x"], 0), d(values[f"{f}_y"], 1)
    inner = (slice(5, -5), slice(5, -5))
    for name, bound in CAVITY.residuals.items():
        args = {n: torch.as_tensor(values[n]) for n in inspect.signature(bound.function).parameters}
        r = bound.function(**args).numpy()[inner]
        assert np.sqrt(np.mean(r**2)) < 1e-2, name  # 2.5e-3 (finite differences), terms about 0.35
    flipped = -(values["u"] * values["u_x"] + values["v"] * values["u_y"]) + values["p_x"] \
        - 0.01 * (values["u_xx"] + values["u_yy"])
    assert np.sqrt(np.mean(flipped[inner] ** 2)) > 0.3


def test_hard_constraint_gives_the_wall_values_for_any_network():
    from pinnlab.derivatives import Derivative

    s = torch.linspace(0, 1, 11, dtype=torch.float64)
    walls = torch.cat([torch.stack([s, torch.zeros_like(s)], 1), torch.stack([s, torch.ones_like(s)], 1),
                       torch.stack([torch.zeros_like(s), s], 1), torch.stack([torch.ones_like(s), s], 1)])
    raw = {Derivative(f, ()): torch.randn(len(walls), dtype=torch.float64) for f in "uvp"}
    out = CAVITY.output_transform(walls, raw)
    lid = 4 * walls[:, 0] * (1 - walls[:, 0]) * (walls[:, 1] == 1)
    torch.testing.assert_close(out["u"], lid)
    torch.testing.assert_close(out["v"], torch.zeros_like(lid))


def test_short_solve_gets_near_the_reference():
    settings = resolve_settings(CAVITY, {
        "progress": False, "threads": 1, "compile": "off", "checkpoint_every": 100000,
        "width": 24, "depth": 3, "points": 1000, "boundary_points": 50, "steps": 300, "lbfgs_steps": 1200,
        "second_order": "none", "refine": "none",
    })  # about 35 s on one loaded thread
    torch.manual_seed(settings.seed)
    model = build_model(CAVITY, settings)
    train(CAVITY, model, settings)
    grid = evaluation_grid(CAVITY, settings)
    errors = relative_l2(predict_on_grid(model, CAVITY, grid), grid)
    # measured u 3.1e-2, v 6.4e-2; the network-free lid profile alone gives u 1.6, v 1.0
    assert errors["u"] < 0.08 and errors["v"] < 0.15, errors
