"""Walk a tensor grid in blocks of at most ``n`` points, so a big grid never needs all its points at once.

A block is both a hyperslab of the grid (fixed indices on the leading axes, a run along one axis,
the full extent of every later axis) and a contiguous range of flat C-order indices. The hyperslab
is what an HDF5 dataset of the grid shape is written through; the flat range is what the block's
points are computed from (``np.unravel_index``), so neither the full ``(N, d)`` point array nor a
full-grid field is ever built. :func:`block_chunks` gives the HDF5 chunk shape that matches the
blocks, so each block fills whole chunks and compresses once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Block", "block_chunks", "block_points", "grid_blocks"]


@dataclass(frozen=True)
class Block:
    """Points ``start:stop`` of the flattened grid; ``index`` selects them in a grid-shaped array."""

    start: int
    stop: int
    index: tuple[slice, ...]
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.stop - self.start


def _split(shape: tuple[int, ...], max_points: int) -> tuple[int, int, int]:
    """The axis ``s`` along which blocks run, the run length and the points per unit of that axis."""
    if max_points < 1:
        raise ValueError(f"blocks need at least 1 point, got max_points={max_points}")
    if math.prod(shape) <= max_points:
        return 0, shape[0], math.prod(shape[1:])
    for s in range(len(shape)):
        tail = math.prod(shape[s + 1:])
        if tail <= max_points:
            return s, min(shape[s], max_points // tail), tail
    raise AssertionError("unreachable: the empty tail always fits")


def grid_blocks(shape: Sequence[int], max_points: int) -> Iterator[Block]:
    """Blocks covering the grid ``shape`` in C order, each of at most ``max_points`` points."""
    shape = tuple(int(n) for n in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"grid shape must have at least one axis and no empty one, got {shape}")
    s, run, tail = _split(shape, max_points)
    for lead in np.ndindex(*shape[:s]):
        lead_start = int(np.ravel_multi_index(lead, shape[:s])) * shape[s] * tail if s else 0
        for j in range(0, shape[s], run):
            count = min(run, shape[s] - j)
            index = (
                tuple(slice(i, i + 1) for i in lead)
                + (slice(j, j + count),)
                + tuple(slice(0, n) for n in shape[s + 1:])
            )
            start = lead_start + j * tail
            yield Block(start, start + count * tail, index, (1,) * s + (count,) + shape[s + 1:])


def block_chunks(shape: Sequence[int], max_points: int) -> tuple[int, ...]:
    """The HDF5 chunk shape whose chunks are exactly the blocks of :func:`grid_blocks`."""
    shape = tuple(int(n) for n in shape)
    s, run, _ = _split(shape, max_points)
    return (1,) * s + (run,) + shape[s + 1:]


def block_points(axes: Sequence[np.ndarray], block: Block) -> np.ndarray:
    """The block's points as float64 ``(n, d)``, in the block's (C) order, from the 1D ``axes``."""
    shape = tuple(len(a) for a in axes)
    indices = np.unravel_index(np.arange(block.start, block.stop), shape)
    return np.stack([np.asarray(a, dtype=np.float64)[i] for a, i in zip(axes, indices)], axis=1)
