"""pinnlab.problem.burgers_exact: the Cole-Hopf solution of Burgers with u(x, 0) = -sin(pi x), checked by
its quadrature's convergence, an independent quadrature, a fine spectral solve of the PDE, and
(with ../shared/reference) the DeepXDE / Raissi data; and equations/burgers.py's reference."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat

from pinnlab import EquationError, ExactOnGrid, Interval, TimeInterval, load_problem
from pinnlab.problem.burgers_exact import burgers_sine
from pinnlab.problem.conditions import Layout
from pinnlab.problem.spectral import PeriodicGrid, solve

NU = 0.01 / math.pi
SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
X, T = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100), indexing="ij")


def trapezoid(x, t, nu, nodes=1601, half_width=14.0):
    """The same integrals by the trapezoidal rule in z on [-14, 14] (exp(-z^2) < 1e-85 beyond,
    which the factor F <= exp(100) cannot lift to round-off)."""
    z = np.linspace(-half_width, half_width, nodes)
    y = x[..., None] - 2 * np.sqrt(nu * t)[..., None] * z
    exponent = -z**2 - np.cos(np.pi * y) / (2 * np.pi * nu)
    terms = np.exp(exponent - exponent.max(axis=-1, keepdims=True))
    return -(np.sin(np.pi * y) * terms).sum(-1) / terms.sum(-1)


def test_initial_and_boundary_values_and_symmetry():
    u = burgers_sine(X, T, NU)
    np.testing.assert_allclose(u[:, 0], -np.sin(np.pi * X[:, 0]), atol=1e-15)
    assert np.abs(u[[0, -1], :]).max() < 1e-14  # u(+-1, t) = 0
    np.testing.assert_allclose(u, -u[::-1], atol=1e-14)  # odd in x
    assert np.abs(np.diff(u[:, -1])).max() > 0.3  # the shock at x = 0 is there


def test_quadrature_has_converged_to_round_off():
    u = burgers_sine(X, T, NU)
    assert np.abs(burgers_sine(X, T, NU, nodes=300) - u).max() < 1e-13  # measured 1.9e-15
    assert np.abs(burgers_sine(X, T, NU, nodes=50) - u).max() > 1e-8  # too few nodes do show (1.8e-7)
    assert np.abs(trapezoid(X, T, NU) - u).max() < 1e-13  # measured 1.4e-15


def test_agrees_with_a_fine_spectral_solve_of_the_pde():
    """The solution is odd and 2-periodic, so the periodic problem has it: Fourier-ETDRK4 with
    4096 modes and dt = 1e-4 solves u_t = nu u_xx - u u_x through the shock (about 3 s)."""
    grid = PeriodicGrid(-1.0, 1.0, 4096, False)
    times = np.linspace(0, 0.99, 12)
    u = solve(grid, -np.sin(np.pi * grid.x), {2: NU}, lambda D, t: -D[0] * D[1], [0, 1], times, 0.0, 1e-4)
    x, t = np.meshgrid(grid.x, times, indexing="ij")
    assert np.abs(u - burgers_sine(x, t, NU)).max() < 1e-9  # measured 2.4e-11 (|u_x| up to 150)


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs t >= 0 and nu > 0"):
        burgers_sine(0.0, -1.0, NU)
    with pytest.raises(ValueError, match="needs t >= 0 and nu > 0"):
        burgers_sine(0.0, 1.0, 0.0)


def test_module_reference_is_the_formula_on_the_data_grid():
    problem = load_problem(Path(__file__).resolve().parents[2] / "equations" / "burgers.py")
    grid = problem.reference.on_grid(problem.layout, problem.base_dir, {"x": np.zeros(3), "t": np.zeros(3)})
    assert list(grid.axes) == ["x", "t"] and grid.values["u"].shape == (256, 100)
    np.testing.assert_array_equal(grid.axes["t"], T[0])
    np.testing.assert_allclose(grid.values["u"], burgers_sine(X, T, NU), rtol=0, atol=1e-15)


@pytest.mark.skipif(not (SHARED / "raissi_burgers_shock.mat").exists(), reason="needs ../shared/reference")
def test_agrees_with_the_deepxde_raissi_data():
    data = loadmat(SHARED / "raissi_burgers_shock.mat")
    np.testing.assert_array_equal(data["x"].ravel(), X[:, 0])
    np.testing.assert_array_equal(data["t"].ravel(), T[0])
    u, usol = burgers_sine(X, T, NU), data["usol"]
    assert np.linalg.norm(u - usol) / np.linalg.norm(usol) < 1e-10  # measured 2.9e-12
    assert np.abs(u - usol).max() < 1e-9  # measured 1.4e-11, at the shock


def test_exact_on_grid_checks_its_axes():
    layout = Layout(Interval(-1, 1) * TimeInterval(0, 1), ("x", "t"), ("u",), {})
    with pytest.raises(EquationError, match=r"axes \['x'\] must name every input exactly once \(x, t\)"):
        ExactOnGrid(lambda x, t: x, axes={"x": [0.0, 1.0]}).check(layout, None)
    with pytest.raises(EquationError, match="axis 't' must be increasing 1D coordinates"):
        ExactOnGrid(lambda x, t: x, axes={"x": [0.0, 1.0], "t": [1.0, 0.0]}).check(layout, None)
    with pytest.raises(EquationError, match="unknown parameter 'y'"):
        ExactOnGrid(lambda x, y: x, axes={"x": [0.0, 1.0], "t": [0.0, 1.0]}).check(layout, None)
