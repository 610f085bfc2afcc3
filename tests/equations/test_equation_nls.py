"""equations/nls.py: the module loads, its complex reference is split into u = Re h, v = Im h in
(x, t) order, and a short solve on an early time window matches the reference (a sign error or a
swapped real/imaginary part would fail it)."""

import math

import numpy as np
import torch

from pinnlab import Interval, load_problem, resolve_settings
from pinnlab.solver.job import evaluation_grid, relative_l2
from tests.equations.test_equation_kdv import solve_first_tenth  # the same short solve on t in [0, 0.1]

NLS = load_problem("equations/nls.py")


def test_module_loads_and_splits_the_complex_reference():
    settings = resolve_settings(NLS)
    assert NLS.fields == ("u", "v") and NLS.inputs == ("x", "t") and settings.network.periodic == "x"
    grid = evaluation_grid(NLS, settings)
    x, t = grid.axes["x"], grid.axes["t"]
    assert grid.values["u"].shape == grid.values["v"].shape == (256, 201)
    assert x[0] == -5 and x[-1] == 5 - 10 / 256 and t[0] == 0 and math.isclose(t[-1], math.pi / 2)
    np.testing.assert_allclose(grid.values["u"][:, 0], 2 / np.cosh(x), atol=1e-12)
    np.testing.assert_allclose(grid.values["v"][:, 0], 0, atol=1e-12)
    assert np.abs(grid.values["v"]).max() > 1  # the imaginary part is not lost
    # |h|^2 is conserved: its integral stays 8 (2 sech(x) integrates to 8 in |h|^2)
    mass = (grid.values["u"] ** 2 + grid.values["v"] ** 2).sum(axis=0) * (x[1] - x[0])
    np.testing.assert_allclose(mass, 8.0, rtol=2e-3)


def test_reference_satisfies_the_module_residuals_with_their_signs():
    grid = evaluation_grid(NLS, resolve_settings(NLS))
    x, t = grid.axes["x"], grid.axes["t"]
    k = 2 * np.pi * np.fft.fftfreq(len(x), d=x[1] - x[0])[:, None]
    values = {}
    for f in ("u", "v"):
        a = grid.values[f]
        values[f] = a
        values[f + "_xx"] = np.fft.ifft(-(k**2) * np.fft.fft(a, axis=0), axis=0).real
        values[f + "_t"] = np.gradient(a, t, axis=1)
    for name, residual in NLS.residuals.items():
        arguments = {p: torch.as_tensor(values[p]) for p, _ in residual.derivatives_used}
        r = residual.function(**arguments).numpy()
        scale = np.linalg.norm(values["u_t"]) + np.linalg.norm(values["v_t"])
        assert np.linalg.norm(r) / scale < 5e-2, name  # central differences in t: a few per cent


def test_short_solve_on_an_early_window_matches_the_reference():
    # about 20 s on one thread
    _, grid, prediction = solve_first_tenth(NLS, Interval(-5.0, 5.0))
    errors = relative_l2(prediction, grid)
    # measured u 8.4e-4, v 5.1e-3 (v starts at 0, so its relative error is the larger one)
    assert errors["u"] < 4e-3 and errors["v"] < 2e-2, errors
