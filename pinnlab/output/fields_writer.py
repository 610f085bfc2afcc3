"""Fill a fields file block by block, for grids too large to hold in memory (``pinnlab export``).

:func:`open_fields` creates a file in the layout of :mod:`pinnlab.output.fields_h5` with every dataset
of the full grid shape, then the caller walks ``writer.blocks()``, computes the block's values
and hands them to ``writer.write``. Datasets are chunked exactly like the blocks, so each block
is compressed and written once and memory holds one block, whatever the grid size. The file
appears at its path only when the ``with`` block ends without an error; a full disk ends the
block at the next ``write`` with ``OSError(ENOSPC)`` naming the file, and nothing is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from pinnlab.runtime.atomic import atomic_path
from pinnlab.output.fields_h5 import (
    GRID_GROUPS,
    check_axes,
    check_name,
    check_points,
    WriteGuard,
    compression,
    encode_attrs,
    open_for_writing,
    write_header,
    write_points,
)
from pinnlab.output.grid_blocks import Block, block_chunks, block_points, grid_blocks

__all__ = ["FieldsWriter", "open_fields"]


class FieldsWriter:
    """An open fields file whose grid datasets are filled one block at a time."""

    def __init__(self, f: h5py.File, axes: Mapping[str, np.ndarray],
                 datasets: Mapping[str, Sequence[str]], max_points: int,
                 guard: WriteGuard | None = None) -> None:
        self._file = f
        self._guard = guard
        self.axes = dict(axes)
        self.shape = tuple(len(a) for a in self.axes.values())
        self.max_points = max_points
        chunks = block_chunks(self.shape, max_points)
        size = int(np.prod(self.shape))
        f.create_dataset("mask", shape=self.shape, dtype=np.uint8, chunks=chunks, fillvalue=0,
                         **compression(size))
        self._names = {(group, name) for group, names in datasets.items() for name in names}
        for group, name in self._names:
            f[group].create_dataset(name, shape=self.shape, dtype=np.float64, chunks=chunks,
                                    fillvalue=np.nan, **compression(size))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def blocks(self) -> Iterator[Block]:
        """The grid's blocks, matching the datasets' chunks."""
        return grid_blocks(self.shape, self.max_points)

    def points(self, block: Block) -> np.ndarray:
        """The block's points (n, d), computed from the axes."""
        return block_points(list(self.axes.values()), block)

    def write(self, block: Block, inside: np.ndarray,
              values: Mapping[tuple[str, str], np.ndarray]) -> None:
        """Store one block: ``inside`` (n,) marks points in the domain, ``values`` hold one value
        per inside point for each ``(group, name)`` declared at open; outside points stay NaN."""
        if self._guard is not None and self._guard.error is not None:
            raise self._guard.error  # the disk is full: stop computing (open_fields reports it)
        inside = np.asarray(inside, dtype=bool)
        if inside.shape != (block.size,):
            raise ValueError(f"inside has shape {inside.shape}, expected ({block.size},) for the block")
        self._file["mask"][block.index] = inside.astype(np.uint8).reshape(block.shape)
        count = int(inside.sum())
        for key, part in values.items():
            if key not in self._names:
                raise ValueError(f"{'/'.join(key)} was not declared when the file was opened "
                                 f"(declared: {sorted('/'.join(k) for k in self._names)})")
            part = np.asarray(part, dtype=np.float64)
            if part.shape != (count,):
                raise ValueError(f"{'/'.join(key)}: {part.shape} values for {count} points inside the block")
            full = np.full(block.size, np.nan)
            full[inside] = part
            self._file[key[0]][key[1]][block.index] = full.reshape(block.shape)

    def write_points(self, clouds: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Scattered points, as in :func:`pinnlab.output.fields_h5.write_fields`."""
        write_points(self._file, check_points(clouds, len(self.axes)))


@contextmanager
def open_fields(path: str | os.PathLike[str], *, equation: str, axes: Mapping[str, np.ndarray],
                datasets: Mapping[str, Sequence[str]], attrs: Mapping[str, Any] | None = None,
                max_points: int = 65536) -> Iterator[FieldsWriter]:
    """Create a fields file at ``path`` and yield a :class:`FieldsWriter` to fill it.

    ``datasets`` maps grid groups (``prediction``, ``reference``, ``error``, ``residual``,
    ``derivatives``) to the names to create there; ``prediction``'s names become the ``fields``
    attribute. Every dataset starts as NaN (mask 0), so an unwritten block reads as outside.
    """
    coordinates = check_axes(axes)
    for group, names in datasets.items():
        if group not in GRID_GROUPS:
            raise ValueError(f"unknown group {group!r}; grid groups are {', '.join(GRID_GROUPS)}")
        for name in names:
            check_name(group, name)
    encoded = encode_attrs(attrs)
    with atomic_path(path) as tmp, open_for_writing(tmp, report_as=path) as (f, guard):
        write_header(f, equation, coordinates, list(datasets.get("prediction", ())), encoded)
        yield FieldsWriter(f, coordinates, datasets, max_points, guard)
