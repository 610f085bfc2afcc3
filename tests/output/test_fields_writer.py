"""A file filled block by block must read back exactly like one written whole."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pinnlab.output.fields_writer import open_fields, write_fields
from pinnlab.output.io import read_fields

AXES = {"x": np.linspace(0.0, 1.0, 13), "y": np.linspace(-1.0, 2.0, 7), "t": np.array([0.0, 0.5, 2.0])}


def _values(points: np.ndarray) -> dict[str, np.ndarray]:
    x, y, t = points.T
    return {"u": np.sin(x) + y * t, "r": x * y - t}


def test_blockwise_equals_whole(tmp_path: Path) -> None:
    grid = np.stack(np.meshgrid(*AXES.values(), indexing="ij"), -1).reshape(-1, 3)
    inside_all = grid[:, 0] + grid[:, 1] <= 1.5
    whole = _values(grid)
    shape = tuple(len(a) for a in AXES.values())
    write_fields(tmp_path / "whole.h5", equation="e", axes=AXES, mask=inside_all.reshape(shape),
                 prediction={"u": whole["u"].reshape(shape)}, residual={"r": whole["r"].reshape(shape)},
                 points={"c": {"coordinates": grid[:4], "v": np.arange(4.0)}})

    blocks = 0
    with open_fields(tmp_path / "blocks.h5", equation="e", axes=AXES,
                     datasets={"prediction": ["u"], "residual": ["r"]}, max_points=10) as writer:
        assert writer.size == grid.shape[0]
        for block in writer.blocks():
            points = writer.points(block)
            inside = points[:, 0] + points[:, 1] <= 1.5
            values = _values(points[inside])
            writer.write(block, inside, {("prediction", "u"): values["u"], ("residual", "r"): values["r"]})
            blocks += 1
        writer.write_points({"c": {"coordinates": grid[:4], "v": np.arange(4.0)}})
    assert blocks > 20

    a, b = read_fields(tmp_path / "whole.h5"), read_fields(tmp_path / "blocks.h5")
    np.testing.assert_array_equal(b.mask, a.mask)
    np.testing.assert_array_equal(b.prediction["u"], a.prediction["u"])  # NaN outside in both
    np.testing.assert_array_equal(b.residual["r"], a.residual["r"])
    np.testing.assert_array_equal(b.points["c"]["v"], np.arange(4.0))
    with h5py.File(tmp_path / "blocks.h5") as f:
        assert f["prediction/u"].chunks == (1, 3, 3)  # one block per chunk: 9 points <= 10
        np.testing.assert_array_equal(f["spatial_grid"][()], h5py.File(tmp_path / "whole.h5")["spatial_grid"][()])


def test_errors_leave_no_file(tmp_path: Path) -> None:
    with (pytest.raises(ValueError, match="prediction/v was not declared"),
          open_fields(tmp_path / "f.h5", equation="e", axes=AXES, datasets={"prediction": ["u"]}) as w):
        block = next(w.blocks())
        w.write(block, np.ones(block.size, bool), {("prediction", "v"): np.zeros(block.size)})
    with (pytest.raises(ValueError, match=r"prediction/u: \(2,\) values for 3 points"),
          open_fields(tmp_path / "f.h5", equation="e", axes=AXES, datasets={"prediction": ["u"]},
                      max_points=4) as w):
        block = next(w.blocks())
        w.write(block, np.ones(block.size, bool), {("prediction", "u"): np.zeros(2)})
    with (pytest.raises(ValueError, match="unknown group 'fields'"),
          open_fields(tmp_path / "f.h5", equation="e", axes=AXES, datasets={"fields": ["u"]})):
        pass
    assert list(tmp_path.iterdir()) == []


def test_unwritten_blocks_read_as_outside(tmp_path: Path) -> None:
    with open_fields(tmp_path / "f.h5", equation="e", axes=AXES, datasets={"prediction": ["u"]}):
        pass
    got = read_fields(tmp_path / "f.h5")
    assert not got.mask.any() and np.isnan(got.prediction["u"]).all()
