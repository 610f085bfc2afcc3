"""The one writer of fields files (layout: :mod:`pinnlab.output.fields_h5`).

:func:`open_fields` creates a file with every grid dataset of the full grid shape, then the caller
walks ``writer.blocks()``, computes each block's values and hands them to ``writer.write``
(``pinnlab export``, for grids too large to hold in memory). Datasets are chunked exactly like the
blocks, so each block is compressed and written once and memory holds one block.
:func:`write_fields` writes arrays already in memory (``pinnlab solve``) through the same writer.
The file appears at its path only when writing ends without an error; a full disk ends it at the
next ``write`` with ``OSError(ENOSPC)`` naming the file, and nothing is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from pinnlab.output.fields_h5 import (
    GRID_GROUPS,
    WriteGuard,
    check_axes,
    check_history,
    check_name,
    check_points,
    compression,
    create_dataset,
    encode_attrs,
    open_for_writing,
    write_header,
    write_points,
)
from pinnlab.output.grid_blocks import Block, block_chunks, block_points, grid_blocks
from pinnlab.runtime.atomic import atomic_path

__all__ = ["BLOCK", "FieldsWriter", "open_fields", "write_fields"]

BLOCK = 65536
"""Grid points per block (and HDF5 chunk) unless the caller asks for another size."""

Key = tuple[str, str]


class FieldsWriter:
    """An open fields file whose grid datasets are filled one block at a time."""

    def __init__(self, f: h5py.File, axes: Mapping[str, np.ndarray], datasets: Mapping[str, Sequence[str]],
                 max_points: int, guard: WriteGuard | None = None,
                 dtypes: Mapping[Key, np.dtype] | None = None) -> None:
        self._file = f
        self._guard = guard
        self.axes = dict(axes)
        self.shape = tuple(len(a) for a in self.axes.values())
        self.max_points = max_points
        chunks = block_chunks(self.shape, max_points)
        f.create_dataset("mask", shape=self.shape, dtype=np.uint8, chunks=chunks, fillvalue=0,
                         **compression(self.size))
        self._names = [(group, name) for group, names in datasets.items() for name in names]  # in order
        for group, name in self._names:
            f[group].create_dataset(name, shape=self.shape, dtype=(dtypes or {}).get((group, name), np.float64),
                                    chunks=chunks, fillvalue=np.nan, **compression(self.size))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def blocks(self) -> Iterator[Block]:
        """The grid's blocks, matching the datasets' chunks."""
        return grid_blocks(self.shape, self.max_points)

    def points(self, block: Block) -> np.ndarray:
        """The block's points (n, d), computed from the axes."""
        return block_points(list(self.axes.values()), block)

    def write(self, block: Block, inside: np.ndarray, values: Mapping[Key, np.ndarray]) -> None:
        """Store one block: ``inside`` (n,) marks points in the domain, ``values`` hold one value
        per inside point for each ``(group, name)`` declared at open; outside points stay NaN."""
        if self._guard is not None and self._guard.error is not None:
            raise self._guard.error  # the disk is full: stop computing (open_for_writing reports it)
        inside = np.asarray(inside, dtype=bool)
        if inside.shape != (block.size,):
            raise ValueError(f"inside has shape {inside.shape}, expected ({block.size},) for the block")
        self._file["mask"][block.index] = inside.astype(np.uint8).reshape(block.shape)
        count = int(inside.sum())
        for key, part in values.items():
            if key not in self._names:
                raise ValueError(f"{'/'.join(key)} was not declared when the file was opened "
                                 f"(declared: {sorted('/'.join(k) for k in self._names)})")
            part = np.asarray(part)
            if part.shape != (count,):
                raise ValueError(f"{'/'.join(key)}: {part.shape} values for {count} points inside the block")
            full = np.full(block.size, np.nan, dtype=self._file[key[0]][key[1]].dtype)
            full[inside] = part
            self._file[key[0]][key[1]][block.index] = full.reshape(block.shape)

    def write_points(self, clouds: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Scattered points: cloud name -> ``{"coordinates": (N, d), value name: (N,)}``."""
        write_points(self._file, check_points(clouds, len(self.axes)))

    def write_history(self, loss_history: Mapping[str, np.ndarray]) -> None:
        """The loss history: ``"step"`` and one array per loss term, all of one length."""
        for term, values in check_history(loss_history).items():
            create_dataset(self._file["loss_history"], term, values)

    def write_unknowns_history(self, history: Mapping[str, np.ndarray]) -> None:
        """``/unknowns_history``: ``"step"`` and each unknown's value at those steps (inverse
        problems; not a grid group, so the XDMF leaves it out)."""
        group = self._file.create_group("unknowns_history")
        for name, values in check_history(history).items():
            create_dataset(group, name, values)


@contextmanager
def open_fields(path: str | os.PathLike[str], *, equation: str, axes: Mapping[str, np.ndarray],
                datasets: Mapping[str, Sequence[str]], attrs: Mapping[str, Any] | None = None,
                max_points: int = BLOCK, dtypes: Mapping[Key, np.dtype] | None = None) -> Iterator[FieldsWriter]:
    """Create a fields file at ``path`` and yield a :class:`FieldsWriter` to fill it.

    ``datasets`` maps grid groups (``prediction``, ``reference``, ``error``, ``residual``,
    ``derivatives``) to the names to create there, in order; ``prediction``'s names become the
    ``fields`` attribute. Every dataset is float64 unless ``dtypes`` names another for its
    ``(group, name)``, and starts as NaN (mask 0), so an unwritten block reads as outside.
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
        yield FieldsWriter(f, coordinates, datasets, max_points, guard, dtypes)


def _as_field(kind: str, name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as a float array of the grid shape (a floating dtype is kept), or raise naming it."""
    check_name(kind, name)
    array = np.asarray(values)
    if array.shape != shape:
        raise ValueError(f"{kind} field {name!r} has shape {array.shape}, expected the grid shape {shape}")
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def _grid_arrays(kind: str, arrays: Mapping[str, np.ndarray] | None,
                 shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {name: _as_field(kind, name, values, shape) for name, values in (arrays or {}).items()}


def write_fields(
    path: str | os.PathLike[str],
    *,
    equation: str,
    axes: dict[str, np.ndarray],
    mask: np.ndarray,
    prediction: dict[str, np.ndarray],
    reference: dict[str, np.ndarray] | None = None,
    loss_history: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
    residual: dict[str, np.ndarray] | None = None,
    derivatives: dict[str, np.ndarray] | None = None,
    points: dict[str, dict[str, np.ndarray]] | None = None,
    unknowns_history: dict[str, np.ndarray] | None = None,
) -> None:
    """Atomically write solution fields on the grid spanned by ``axes``, all given as arrays.

    ``axes`` maps each input name to its 1D coordinates, in input order; fields are indexed
    ``[i0, i1, ...]`` along those axes (``indexing="ij"``). Points where ``mask`` is false are NaN
    in every grid-shaped array, so the file always honours "NaN outside the domain"; ``error`` is
    ``prediction - reference``. ``residual`` and ``derivatives`` are grid-shaped arrays by name;
    ``points`` maps a cloud name to ``{"coordinates": (N, d), value name: (N,), ...}``;
    ``loss_history`` holds ``"step"`` plus one 1D array per loss term, all of one length;
    ``unknowns_history`` the same for each unknown's value (group ``/unknowns_history``).

    Raises ``ValueError`` for an array whose shape is not the expected one (naming it and both
    shapes), a reference for a field not in ``prediction``, a malformed axis, mask, point cloud or
    loss history, or an extra attribute that reuses a reserved name; ``TypeError`` for an
    attribute value it cannot store. Nothing is written when validation fails.
    """
    coordinates = check_axes(axes)
    shape = tuple(len(a) for a in coordinates.values())
    mask_array = np.asarray(mask)
    if mask_array.shape != shape:
        raise ValueError(f"mask has shape {mask_array.shape}, expected the grid shape {shape}")
    if not prediction:
        raise ValueError("prediction must contain at least one field")
    grid = {"prediction": _grid_arrays("prediction", prediction, shape)}
    for name in reference or {}:
        if name not in grid["prediction"]:
            raise ValueError(f"reference given for field {name!r}, which is not in prediction "
                             f"(fields: {list(grid['prediction'])})")
    grid["reference"] = _grid_arrays("reference", reference, shape)
    grid["error"] = {name: grid["prediction"][name] - values for name, values in grid["reference"].items()}
    grid["residual"] = _grid_arrays("residual", residual, shape)
    grid["derivatives"] = _grid_arrays("derivative", derivatives, shape)
    clouds = check_points(points, len(coordinates))
    history = check_history(loss_history)
    check_history(unknowns_history)
    encode_attrs(attrs)  # fails before the file is created

    inside = mask_array.astype(bool).ravel()
    flat = {(group, name): values.ravel() for group, arrays in grid.items() for name, values in arrays.items()}
    with open_fields(path, equation=equation, axes=coordinates, attrs=attrs,
                     datasets={group: list(arrays) for group, arrays in grid.items()},
                     dtypes={key: values.dtype for key, values in flat.items()}) as writer:
        for block in writer.blocks():
            part = inside[block.start:block.stop]
            writer.write(block, part, {key: values[block.start:block.stop][part] for key, values in flat.items()})
        writer.write_points(clouds)
        if loss_history is not None:
            writer.write_history(history)
        if unknowns_history is not None:
            writer.write_unknowns_history(unknowns_history)
