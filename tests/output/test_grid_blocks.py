"""Blocks must tile the grid exactly once, in C order, with the right points."""

from __future__ import annotations

import numpy as np
import pytest

from pinnlab.output.grid_blocks import block_chunks, block_points, grid_blocks


@pytest.mark.parametrize("shape, max_points", [
    ((7,), 3), ((7,), 100), ((5, 4), 7), ((5, 4), 4), ((5, 4), 20), ((3, 4, 5), 11), ((3, 4, 5), 3),
    ((3, 4, 5), 1), ((2, 3, 4, 5), 13),
])
def test_blocks_tile_the_grid_in_order(shape, max_points):
    axes = [np.linspace(-1.0, 1.0, n) * (k + 1) for k, n in enumerate(shape)]
    expected = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape))
    covered = np.zeros(shape, dtype=int)
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    chunks = block_chunks(shape, max_points)
    position = 0
    for block in grid_blocks(shape, max_points):
        assert block.start == position and 0 < block.size <= max_points
        covered[block.index] += 1
        # the hyperslab and the flat range are the same points, in the same order
        np.testing.assert_array_equal(flat[block.index].ravel(), np.arange(block.start, block.stop))
        assert flat[block.index].shape == block.shape
        assert all(b <= c for b, c in zip(block.shape, chunks))
        np.testing.assert_array_equal(block_points(axes, block), expected[block.start:block.stop])
        position = block.stop
    assert position == expected.shape[0]
    assert (covered == 1).all()


def test_blocks_are_as_large_as_allowed():
    sizes = [b.size for b in grid_blocks((100, 30), 1000)]
    assert sizes == [990] * 3 + [30]  # 33 rows of 30 points fit
    assert block_chunks((100, 30), 1000) == (33, 30)
    assert block_chunks((4, 5), 1000) == (4, 5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 1 point"):
        list(grid_blocks((3, 3), 0))
    with pytest.raises(ValueError, match="no empty"):
        list(grid_blocks((3, 0), 10))
