"""equations/kdv.py: the module loads, its reference is read in (x, t) order on Raissi's grid, and
a short solve on the first time window matches the reference (a sign error in the dispersion
term or a transposed reference would fail it)."""

import dataclasses

import numpy as np
import torch

from pinnlab import Interval, TimeInterval, load_problem, resolve_settings
from pinnlab.model.field_model import build_model
from pinnlab.solver.job import evaluation_grid, predict_on_grid, relative_l2
from pinnlab.training.plan import build_training

KDV = load_problem("equations/kdv.py")


def test_module_loads_with_its_defaults_and_its_reference_grid():
    settings = resolve_settings(KDV)
    assert KDV.fields == ("u",) and KDV.inputs == ("x", "t")
    assert settings.curriculum.windows == 0 and settings.network.periodic == "x" and settings.numerics.dtype == "float64"
    assert [p.name for p in settings.phases] == ["adam", "ssbroyden"] and settings.refine.method == "rad"
    grid = evaluation_grid(KDV, settings)
    x, t = grid.axes["x"], grid.axes["t"]
    assert grid.values["u"].shape == (512, 201) and x.shape == (512,) and t.shape == (201,)
    assert x[0] == -1 and x[-1] == 1 - 2 / 512 and t[0] == 0 and t[-1] == 1
    # uu[i, j] = u(x_i, t_j): the first column is the initial condition cos(pi x)
    np.testing.assert_allclose(grid.values["u"][:, 0], np.cos(np.pi * x), atol=1e-12)


def test_zabusky_kruskal_shares_the_defaults_of_kdv():
    other = load_problem("equations/kdv_zabusky_kruskal.py")
    assert other.defaults == KDV.defaults and resolve_settings(other) == resolve_settings(KDV)
    assert other.residuals.keys() == KDV.residuals.keys() and other.name == "kdv_zabusky_kruskal"


def test_reference_satisfies_the_module_residual_with_its_sign():
    grid = evaluation_grid(KDV, resolve_settings(KDV))
    x, t, u = grid.axes["x"], grid.axes["t"], grid.values["u"]
    k = 2 * np.pi * np.fft.fftfreq(len(x), d=x[1] - x[0])[:, None]
    spectrum = np.fft.fft(u, axis=0)
    u_x = np.fft.ifft(1j * k * spectrum, axis=0).real
    u_xxx = np.fft.ifft((1j * k) ** 3 * spectrum, axis=0).real
    u_t = np.gradient(u, t, axis=1)
    tensors = {name: torch.as_tensor(a) for name, a in
               {"u": u, "u_t": u_t, "u_x": u_x, "u_xxx": u_xxx}.items()}
    residual = KDV.residuals["residual"]
    r = residual.function(**tensors).numpy()
    assert np.linalg.norm(r) / np.linalg.norm(u_t) < 1e-2  # 1.6e-3 (finite differences in t)


def solve_first_tenth(problem, space: Interval):
    """A small float64 network trained on t in [0, 0.1] only (300 Adam + 300 L-BFGS, fixed points):
    the problem on that window, its training result and its prediction on the reference grid."""
    problem = dataclasses.replace(problem, domain=space * TimeInterval(0.0, 0.1))
    settings = resolve_settings(problem, {
        "output.progress": False, "curriculum.windows": 0, "numerics.dtype": "float64", "network.width": 32,
        "network.depth": 3,
        "sampling.points": 1000, "sampling.boundary_points": 128, "adam.steps": 300, "lbfgs.steps": 300,
        "sampling.resample_every": 0, "numerics.compile": "off", "numerics.threads": 1,
        "checkpoint.every": 100000,
        "phases": "adam,lbfgs", "refine.method": "none",
    })
    torch.manual_seed(settings.numerics.seed)
    model = build_model(problem, settings)
    result = build_training(problem, model, settings).run()
    grid = evaluation_grid(problem, settings)
    return result, grid, predict_on_grid(model, problem, grid)


def test_short_solve_on_the_first_window_matches_the_reference():
    # about 25 s on one thread
    result, grid, prediction = solve_first_tenth(KDV, Interval(-1.0, 1.0))
    assert result.solution is None  # a single window: the model itself is the solution
    assert np.isfinite(prediction["u"][:, :21]).all() and np.isnan(prediction["u"][:, 22:]).all()
    error = relative_l2(prediction, grid)["u"]
    assert error < 1.5e-3, error  # measured 3.9e-4; the solution with a flipped
    # dispersion sign differs from the reference by 1.1e-2 on this window (spectral solver)
