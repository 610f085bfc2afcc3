"""TableData: COMSOL-style text tables as a grid (any row order) or as scattered points."""

import math

import numpy as np
import pytest
import torch

from pinnlab import EquationError, Rectangle, TableData
from pinnlab.problem.conditions import Layout
from pinnlab.output.accuracy import predict_at_reference_points, scattered_relative_l2
from pinnlab.output.run_files import reference_cloud

LAYOUT = Layout(Rectangle((0, 0), (1, 2)), ("x", "y"), ("u", "v"), {})
HEADER = "% Model: test.mph\n% Nodes: 6\n% x                       y                        u (1)                    v (1)\n"


def write_table(path, rows, header=HEADER):
    path.write_text(header + "\n".join(" ".join(repr(float(c)) for c in row) for row in rows) + "\n")
    return path


def test_grid_rows_in_any_order_become_a_reference_grid(tmp_path):
    x, y = np.array([0.0, 0.1, 1.0]), np.array([0.0, 0.5, 1.5, 2.0])  # non-uniform
    X, Y = np.meshgrid(x, y, indexing="ij")
    rows = np.stack([X.ravel(), Y.ravel(), X.ravel() + 10 * Y.ravel(), -X.ravel()], 1)
    shuffled = rows[np.random.default_rng(0).permutation(len(rows))]
    write_table(tmp_path / "g.dat", shuffled)
    grid = TableData("g.dat", inputs={"x": "X", "y": "y"}, fields={"u": "u", "v": 3}).on_grid(LAYOUT, tmp_path, {})
    assert grid.scattered is None and grid.shape == (3, 4)
    np.testing.assert_array_equal(grid.axes["x"], x)
    np.testing.assert_array_equal(grid.axes["y"], y)
    np.testing.assert_array_equal(grid.values["u"], X + 10 * Y)  # u[i, j] = u(x_i, y_j), not transposed
    np.testing.assert_array_equal(grid.values["v"], -X)


def test_columns_default_to_inputs_then_fields_and_inputs_may_be_swapped(tmp_path):
    rows = [[0, 0, 1, 2], [0, 1, 3, 4], [1, 0, 5, 6], [1, 1, 7, 8]]
    write_table(tmp_path / "g.dat", rows)
    grid = TableData(tmp_path / "g.dat").on_grid(LAYOUT, None, {})
    np.testing.assert_array_equal(grid.values["u"], [[1, 3], [5, 7]])
    swapped = TableData(tmp_path / "g.dat", inputs={"y": 0, "x": 1}, fields={"u": 2}).on_grid(LAYOUT, None, {})
    np.testing.assert_array_equal(swapped.values["u"], [[1, 5], [3, 7]])


class Linear(torch.nn.Module):
    """u = x + y, v = 2 at every point: a model with known values."""

    fields = ("u", "v")

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, p):
        return torch.stack([self.scale * (p[:, 0] + p[:, 1]), 2 * torch.ones_like(p[:, 0])], 1)


def test_scattered_points_keep_the_default_grid_and_measure_the_error_at_the_points(tmp_path):
    rows = [[0.1, 0.2, 0.3, 2.0], [0.5, 0.5, 1.0, 2.0], [0.9, 1.7, 2.0, 1.0]]  # u = x + y off by 0.3 at the last
    write_table(tmp_path / "s.dat", rows)
    axes = {"x": np.linspace(0, 1, 5), "y": np.linspace(0, 2, 7)}
    grid = TableData("s.dat").on_grid(LAYOUT, tmp_path, axes)
    assert grid.values == {} and grid.shape == (5, 7)
    np.testing.assert_array_equal(grid.scattered.points, np.array(rows)[:, :2])
    at_points = predict_at_reference_points(Linear(), grid)
    errors = scattered_relative_l2(at_points, grid)
    assert errors["u"] == pytest.approx(0.6 / math.sqrt(0.09 + 1 + 4), rel=1e-12)
    assert errors["v"] == pytest.approx(1 / math.sqrt(9), rel=1e-12)
    cloud = reference_cloud(at_points, grid)["reference"]
    np.testing.assert_allclose(cloud["u_error"], [0, 0, 0.6], atol=1e-15)


def test_bad_tables_fail_naming_the_file(tmp_path):
    with pytest.raises(EquationError, match=r"missing\.dat does not exist"):
        TableData("missing.dat").on_grid(LAYOUT, tmp_path, {})
    ragged = tmp_path / "ragged.dat"
    ragged.write_text("% x y u\n0 0 1\n1 0\n")
    with pytest.raises(EquationError, match=r"ragged\.dat: expected a table of numbers, the same count on every row"):
        TableData(ragged).on_grid(LAYOUT, None, {})
    write_table(tmp_path / "narrow.dat", [[0, 0, 1], [1, 1, 2]])
    with pytest.raises(EquationError, match=r"narrow\.dat: column 3 for 'v' does not exist; the table has 3 columns"):
        TableData(tmp_path / "narrow.dat").on_grid(LAYOUT, None, {})
    with pytest.raises(EquationError, match=r"narrow\.dat: no column named 'w' for 'v'"):
        TableData(tmp_path / "narrow.dat", fields={"u": 2, "v": "w"}).on_grid(LAYOUT, None, {})
    with pytest.raises(EquationError, match=r"inputs \['x'\] must name every input"):
        TableData(tmp_path / "narrow.dat", inputs={"x": 0}).on_grid(LAYOUT, None, {})
