"""Reference data is read in the right orientation, from the data file, onto the problem's inputs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pinnlab import EquationError, GridData, Interval, TimeInterval, load_problem
from pinnlab.problem.conditions import Layout

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference"
LAYOUT = Layout(Interval(0, 1) * TimeInterval(0, 2), ("x", "t"), ("u",), {})


def test_grid_data_transposes_data_axes_to_input_order(tmp_path):
    x, t = np.linspace(0, 1, 5), np.linspace(0, 2, 3)
    u_tx = np.sin(x)[None, :] * np.exp(t)[:, None]  # stored as u[j, i] = u(x_i, t_j)
    np.savez(tmp_path / "d.npz", xs=x, ts=t, u=u_tx)
    grid = GridData("d.npz", axes={"t": "ts", "x": "xs"}, fields={"u": "u"}).on_grid(LAYOUT, tmp_path, {})
    assert list(grid.axes) == ["x", "t"]
    np.testing.assert_array_equal(grid.values["u"], u_tx.T)


def test_grid_data_reports_shape_mismatch_and_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros(4), t=np.zeros(3), u=np.zeros((3, 4)))
    with pytest.raises(EquationError, match=r"'u' has shape \(3, 4\), but the axes \['x', 't'\] give \(4, 3\)"):
        GridData("d.npz", axes={"x": "x", "t": "t"}, fields={"u": "u"}).on_grid(LAYOUT, tmp_path, {})
    with pytest.raises(EquationError, match="no array 'usol' \\(has: x, t, u\\)"):
        GridData("d.npz", axes={"x": "x", "t": "t"}, fields={"u": "usol"}).on_grid(LAYOUT, tmp_path, {})


@pytest.mark.skipif(not (SHARED / "deepxde_Burgers.npz").exists(), reason="needs ../shared/reference")
def test_burgers_reference_matches_its_initial_and_boundary_values():
    problem = load_problem(Path(__file__).resolve().parents[2] / "equations" / "burgers.py")
    grid = problem.reference.on_grid(problem.layout, problem.base_dir, {})
    x, t, u = grid.axes["x"], grid.axes["t"], grid.values["u"]
    assert u.shape == (256, 100) and t[0] == 0.0
    np.testing.assert_allclose(u[:, 0], -np.sin(np.pi * x), atol=1e-12)
    np.testing.assert_allclose(u[[0, -1], :], 0.0, atol=1e-12)
    # the hard constraint reproduces the same initial and boundary values for any network output
    transform = problem.output_transform
    points = torch.tensor(np.stack([x, np.zeros_like(x)], 1))
    from pinnlab.derivatives.derivative import Derivative
    value = transform(points, {Derivative("u", ()): torch.randn(len(x), dtype=torch.float64)})
    np.testing.assert_allclose(value.numpy(), u[:, 0], atol=1e-12)
