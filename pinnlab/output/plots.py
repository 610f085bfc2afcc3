"""PNG figures of solution fields and of collocation points over a field (loss and weight
histories: :mod:`pinnlab.output.history_plots`).

Each figure is built by a ``*_figure`` function that returns a private
``matplotlib.figure.Figure`` (for notebooks and tests), and written by the matching ``plot_*``
function, which renders it with the Agg canvas attached explicitly: this module never touches
pyplot's global state or the process-wide backend, so it works headless, in threads and next to a
notebook's own backend. Every file is written through :func:`pinnlab.runtime.atomic.atomic_path`.

Colours: a signed quantity (an error, or a field whose values take both signs) is drawn with the
diverging ``RdBu_r`` map, centred on zero with symmetric limits; a one-signed field with the
sequential ``viridis``. Every axis is labelled with its input's name and every colour bar with
the field and the quantity shown.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from pinnlab.runtime.atomic import atomic_path

__all__ = ["collocation_figure", "fields_figure", "plot_collocation", "plot_fields", "save_figure"]

_DPI = 120
_CELL_W, _CELL_H = 4.2, 3.2  # inches per subplot
SIGNED_CMAP = "RdBu_r"
SEQUENTIAL_CMAP = "viridis"
# a field counts as signed when its values reach beyond 10 % of its largest magnitude on both sides
# of zero, so a non-negative field a network undershoots by a few per cent keeps the sequential map
SIGN_TOLERANCE = 0.1
SLAB_FRACTION = 0.05  # collocation.png, 3+ inputs: points within 5 % of an axis' range of the slice


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Render with Agg and write the PNG atomically."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)


def _finite(*arrays: np.ndarray) -> np.ndarray:
    """The finite values of ``arrays``, flattened into one array."""
    values = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    joined = np.concatenate(values) if values else np.zeros(0)
    return joined[np.isfinite(joined)]


def is_signed(values: np.ndarray) -> bool:
    """True when the finite values take both signs beyond ``SIGN_TOLERANCE`` of their magnitude."""
    finite = _finite(values)
    if not finite.size:
        return False
    scale = float(np.abs(finite).max())
    return bool(finite.min() < -SIGN_TOLERANCE * scale and finite.max() > SIGN_TOLERANCE * scale)


def colour_norm(arrays: Sequence[np.ndarray], signed: bool) -> Normalize:
    """One colour scale over ``arrays``: symmetric about zero when ``signed``, else min to max."""
    finite = _finite(*arrays)
    if signed:
        half = float(np.abs(finite).max()) if finite.size else 0.0
        half = half if half > 0 else 1.0
        return Normalize(vmin=-half, vmax=half)
    if not finite.size:
        return Normalize(vmin=0.0, vmax=1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:  # a constant field: a scale around it, not a degenerate one
        pad = 0.5 * abs(lo) if lo else 0.5
        lo, hi = lo - pad, hi + pad
    return Normalize(vmin=lo, vmax=hi)


def _rms(values: np.ndarray) -> float:
    finite = _finite(values)
    return float(np.sqrt(np.mean(finite**2))) if finite.size else math.nan


def _image(fig: Figure, ax: Axes, names: Sequence[str], coords: Sequence[np.ndarray],
           values: np.ndarray, title: str, norm: Normalize, signed: bool, label: str) -> None:
    """Draw a 2D field with ``names[0]`` horizontal and ``names[1]`` vertical; NaN left blank."""
    grid_x, grid_y = np.meshgrid(coords[0], coords[1], indexing="ij")
    mesh = ax.pcolormesh(grid_x, grid_y, np.ma.masked_invalid(values), shading="nearest",
                         norm=norm, cmap=SIGNED_CMAP if signed else SEQUENTIAL_CMAP)
    fig.colorbar(mesh, ax=ax, label=label)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title)


def _no_reference(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no reference", ha="center", va="center", transform=ax.transAxes)


def _error_label(field: str) -> str:
    return f"{field} error (prediction − reference)"


def _plot_lines(fig: Figure, name: str, coords: np.ndarray, prediction: dict[str, np.ndarray],
                reference: dict[str, np.ndarray]) -> None:
    """1 input: per field, prediction and reference overlaid, the signed error below it."""
    has_error = bool(reference)
    ratios = [3, 1] * len(prediction) if has_error else [1] * len(prediction)
    axes = fig.subplots(len(ratios), 1, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    rows_per_field = 2 if has_error else 1
    for k, (field, pred) in enumerate(prediction.items()):
        ax = axes[rows_per_field * k]
        ax.plot(coords, pred, label="prediction")
        if field in reference:
            ax.plot(coords, reference[field], "--", label="reference")
        ax.set_ylabel(field)
        ax.set_xlabel(name)
        ax.legend(loc="best")
        if has_error:
            err_ax = axes[rows_per_field * k + 1]
            if field in reference:
                error = pred - reference[field]
                err_ax.axhline(0.0, color="grey", linewidth=0.8)
                err_ax.plot(coords, error, color="tab:red")
                err_ax.set_ylabel(f"{field} error")
                err_ax.set_xlabel(name)
                err_ax.set_title(f"{_error_label(field)}: RMS {_rms(error):.2e}", fontsize="medium")
            else:
                _no_reference(err_ax)


@dataclass(frozen=True)
class SliceRow:
    """One row of ``solution.png``: a field on the 2D slice at ``index`` of the inputs after the
    first two (``()`` for a 2-input grid), with how the slice was chosen."""

    field: str
    index: tuple[int, ...]
    where: str  # e.g. "t = 0.52 (middle)"; empty for a 2-input grid


def _where(names: Sequence[str], coords: Sequence[np.ndarray], index: tuple[int, ...]) -> str:
    return ", ".join(f"{n} = {c[i]:.3g}" for n, c, i in zip(names, coords, index))


def slice_rows(names: Sequence[str], coords: Sequence[np.ndarray], prediction: dict[str, np.ndarray],
               reference: dict[str, np.ndarray]) -> list[SliceRow]:
    """Which 2D slices to show per field: for 3+ inputs the middle one and, with a reference, the
    one of largest RMS error (one row when they coincide); for 2 inputs the grid itself."""
    if len(names) == 2:
        return [SliceRow(field, (), "") for field in prediction]
    extra = tuple(len(c) for c in coords[2:])
    middle = tuple(n // 2 for n in extra)
    rows = []
    for field, pred in prediction.items():
        chosen = {middle: "middle"}
        if field in reference:
            error = (pred - reference[field]).reshape(pred.shape[0] * pred.shape[1], -1)
            squares = np.where(np.isfinite(error), error**2, 0.0).sum(axis=0)
            if np.isfinite(error).any():
                worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(squares)), extra))
                chosen[worst] = "middle; largest error" if worst == middle else "largest error"
        for index in sorted(chosen):
            rows.append(SliceRow(field, index, f"{_where(names[2:], coords[2:], index)} ({chosen[index]})"))
    return rows


def _plot_images(fig: Figure, names: Sequence[str], coords: Sequence[np.ndarray],
                 prediction: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """2+ inputs: one row per field and slice, columns prediction / reference / error."""
    rows = slice_rows(names, coords, prediction, reference)
    ncols = 3 if reference else 1
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    plane = names[:2], coords[:2]
    for field, pred in prediction.items():
        ref = reference.get(field)
        mine = [(r, axes[k]) for k, r in enumerate(rows) if r.field == field]
        cut = {r.index: (slice(None), slice(None), *r.index) for r, _ in mine}
        signed = is_signed(pred if ref is None else ref)
        norm = colour_norm([pred[c] for c in cut.values()] + ([] if ref is None else [ref[c] for c in cut.values()]),
                           signed)
        errors = {} if ref is None else {i: pred[c] - ref[c] for i, c in cut.items()}
        error_norm = colour_norm(list(errors.values()), signed=True)
        for row, ax_row in mine:
            where = f"\n{row.where}" if row.where else ""
            at = cut[row.index]
            _image(fig, ax_row[0], *plane, pred[at], f"{field} prediction{where}", norm, signed,
                   f"{field} (prediction)")
            if ncols == 1:
                continue
            if ref is None:
                _no_reference(ax_row[1])
                _no_reference(ax_row[2])
                continue
            _image(fig, ax_row[1], *plane, ref[at], f"{field} reference{where}", norm, signed,
                   f"{field} (reference)")
            error = errors[row.index]
            ref_norm = float(np.linalg.norm(_finite(ref[at])))
            relative = float(np.linalg.norm(_finite(error))) / ref_norm if ref_norm > 0 else math.inf
            numbers = f"RMS {_rms(error):.2g}, rel. L2 {relative:.2g}"
            title = f"{field} error{where}\n{numbers}" if row.where else f"{field} error: {numbers}"
            _image(fig, ax_row[2], *plane, error, title, error_norm, True, _error_label(field))


def fields_figure(*, axes: dict[str, np.ndarray], prediction: dict[str, np.ndarray],
                  reference: dict[str, np.ndarray] | None, title: str) -> Figure:
    """The figure :func:`plot_fields` saves."""
    names = list(axes)
    coords = [np.asarray(axes[n], dtype=np.float64) for n in names]
    if not names:
        raise ValueError("plot_fields needs at least one input, got none")
    if not prediction:
        raise ValueError("prediction must contain at least one field")
    shape = tuple(len(c) for c in coords)
    reference = dict(reference or {})
    for kind, fields in (("prediction", prediction), ("reference", reference)):
        for field, values in fields.items():
            if np.shape(values) != shape:
                raise ValueError(
                    f"{kind} field {field!r} has shape {np.shape(values)}, "
                    f"expected the grid shape {shape}"
                )
    unknown = set(reference) - set(prediction)
    if unknown:
        raise ValueError(f"reference given for fields not in prediction: {sorted(unknown)}")

    pred = {k: np.asarray(v, dtype=np.float64) for k, v in prediction.items()}
    ref = {k: np.asarray(v, dtype=np.float64) for k, v in reference.items()}
    if len(names) == 1:
        rows = len(pred) * (2 if ref else 1)
        fig = Figure(figsize=(1.6 * _CELL_W, 0.8 * _CELL_H * rows), layout="constrained")
        _plot_lines(fig, names[0], coords[0], pred, ref)
    else:
        rows = len(slice_rows(names, coords, pred, ref))
        ncols = 3 if ref else 1
        fig = Figure(figsize=(_CELL_W * ncols, (_CELL_H + (0.5 if len(names) > 2 else 0)) * rows),
                     layout="constrained")
        _plot_images(fig, names, coords, pred, ref)
    fig.suptitle(title)
    return fig


def plot_fields(
    path: str | os.PathLike[str],
    *,
    axes: dict[str, np.ndarray],
    prediction: dict[str, np.ndarray],
    reference: dict[str, np.ndarray] | None,
    title: str,
) -> None:
    """Save a PNG comparing predicted fields with their reference (if any).

    Fields are indexed along ``axes`` in order (``indexing="ij"``), as in
    :mod:`pinnlab.output.fields_h5`. With one input each field is a line plot (prediction and
    reference overlaid, the signed error below it); with two, one row per field with columns
    prediction / reference / error (prediction − reference; the last two only when a reference
    is given), the first input horizontal and the second vertical, prediction and reference on
    one colour scale and the error on its own, symmetric about zero. With three or more inputs,
    the same on 2D slices through the first two: the slice at the middle index of the others and,
    with a reference, the slice of largest RMS error, each named with its coordinates, and the
    error panels with the slice's RMS and relative L2 error. NaN (outside the domain) is left blank.

    Raises ``ValueError`` for 0 inputs, a field whose shape is not the grid shape, or a
    reference for a field not in ``prediction``.
    """
    save_figure(fields_figure(axes=axes, prediction=prediction, reference=reference, title=title), path)


def collocation_figure(*, axes: dict[str, np.ndarray], field: str, values: np.ndarray,
                       point_sets: Sequence[tuple[str, np.ndarray]], quantity: str = "prediction",
                       at: tuple[int, ...] | None = None) -> Figure:
    """The figure :func:`plot_collocation` saves."""
    names = list(axes)
    if len(names) < 2:
        raise ValueError(f"plot_collocation needs a grid of 2 or more inputs, got inputs {names}")
    coords = [np.asarray(axes[n], dtype=np.float64) for n in names]
    shape = tuple(len(c) for c in coords)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != shape:
        raise ValueError(f"plot_collocation: {field!r} has shape {values.shape}, expected the grid shape {shape}")
    for title, points in point_sets:
        if np.ndim(points) != 2 or np.shape(points)[1] != len(names):
            raise ValueError(f"plot_collocation: point set {title!r} has shape {np.shape(points)}, "
                             f"expected (N, {len(names)}) for inputs {names}")
    index = tuple(at) if at is not None else tuple(n // 2 for n in shape[2:])
    if len(index) != len(shape) - 2 or any(not 0 <= i < n for i, n in zip(index, shape[2:])):
        raise ValueError(f"plot_collocation: at={at} is not an index into the axes {names[2:]} of sizes {shape[2:]}")
    plane = values[(slice(None), slice(None), *index)]
    centres = [c[i] for c, i in zip(coords[2:], index)]
    halves = [max(SLAB_FRACTION * float(np.ptp(c)), 0.5 * float(np.ptp(c)) / max(len(c) - 1, 1))
              for c in coords[2:]]
    signed = is_signed(values)
    norm = colour_norm([plane], signed)
    fig = Figure(figsize=(_CELL_W * max(len(point_sets), 1), _CELL_H + (0.4 if index else 0)),
                 layout="constrained")
    for k, (title, points) in enumerate(point_sets):
        points = np.asarray(points, dtype=np.float64)
        near = np.ones(len(points), dtype=bool)
        for j, (centre, half) in enumerate(zip(centres, halves)):
            near &= np.abs(points[:, 2 + j] - centre) <= half
        ax = fig.add_subplot(1, len(point_sets), k + 1)
        if index:
            slab = ", ".join(f"|{n} − {c:.3g}| ≤ {h:.2g}" for n, c, h in zip(names[2:], centres, halves))
            title = f"{title}\n{int(near.sum())} of {len(points)} with {slab}"
        _image(fig, ax, names, coords, plane, title, norm, signed, f"{field} ({quantity})")
        size = min(8.0, max(1.5, 6000.0 / max(int(near.sum()), 1)))  # few points: larger dots
        ax.scatter(points[near, 0], points[near, 1], s=size, c="black" if signed else "red",
                   linewidths=0, alpha=0.7)
    if index:
        fig.suptitle(f"collocation points over {field} at {_where(names[2:], coords[2:], index)}")
    return fig


def plot_collocation(
    path: str | os.PathLike[str],
    *,
    axes: dict[str, np.ndarray],
    field: str,
    values: np.ndarray,
    point_sets: Sequence[tuple[str, np.ndarray]],
    quantity: str = "prediction",
    at: tuple[int, ...] | None = None,
) -> None:
    """Save a PNG of collocation point sets drawn over one field on the grid, one panel each.

    Why: residual-based refinement should gather points at fronts and shocks; seeing them over
    the solution is how a user checks that it does. ``point_sets`` are (title, (N, d) points)
    pairs, e.g. the first, a middle and the last refinement; ``quantity`` names what ``values``
    are on the colour bar. With 3 or more inputs the field is drawn on the 2D slice through the
    first two at index ``at`` of the others (default: the middle), with the points that lie
    within ``SLAB_FRACTION`` of each other axis' range of it. Raises ``ValueError`` for fewer
    than two inputs, values off the grid shape, points of the wrong width or an ``at`` off the grid.
    """
    save_figure(collocation_figure(axes=axes, field=field, values=values, point_sets=point_sets,
                             quantity=quantity, at=at), path)
