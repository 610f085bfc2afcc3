"""PNG figures of solution fields and loss histories.

Figures are built on a private ``matplotlib.figure.Figure`` with the Agg canvas
attached explicitly, so this module never touches pyplot's global state or the
process-wide backend (it works headless, in threads and next to a notebook's
own backend).  Every file is written through :func:`pinnlab.atomic.atomic_path`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from pinnlab.atomic import atomic_path

__all__ = ["plot_collocation", "plot_fields", "plot_loss_history"]

_DPI = 120
_CELL_W, _CELL_H = 4.2, 3.2  # inches per subplot


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Render with Agg and write the PNG atomically."""
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)


def _finite_range(*arrays: np.ndarray) -> tuple[float | None, float | None]:
    """Shared colour limits over the finite values of ``arrays`` (None if there are none)."""
    values = [a[np.isfinite(a)] for a in arrays]
    values = [v for v in values if v.size]
    if not values:
        return None, None
    return float(min(v.min() for v in values)), float(max(v.max() for v in values))


def _image(
    fig: Figure,
    ax: Axes,
    names: Sequence[str],
    coords: Sequence[np.ndarray],
    values: np.ndarray,
    title: str,
    limits: tuple[float | None, float | None],
    label: str,
) -> None:
    """Draw a 2D field with ``names[0]`` horizontal and ``names[1]`` vertical; NaN left blank."""
    grid_x, grid_y = np.meshgrid(coords[0], coords[1], indexing="ij")
    mesh = ax.pcolormesh(
        grid_x,
        grid_y,
        np.ma.masked_invalid(values),
        shading="nearest",
        vmin=limits[0],
        vmax=limits[1],
        cmap="viridis",
    )
    fig.colorbar(mesh, ax=ax, label=label)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(title)


def _no_reference(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "no reference", ha="center", va="center", transform=ax.transAxes)


def _plot_lines(
    fig: Figure,
    name: str,
    coords: np.ndarray,
    prediction: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
) -> None:
    """1 input: per field, prediction and reference overlaid, |error| in a short panel below."""
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
                err_ax.plot(coords, np.abs(pred - reference[field]), color="tab:red")
                err_ax.set_ylabel(f"|error| {field}")
                err_ax.set_xlabel(name)
            else:
                _no_reference(err_ax)


def _plot_images(
    fig: Figure,
    names: Sequence[str],
    coords: Sequence[np.ndarray],
    prediction: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    where: str,
) -> None:
    """2 inputs (or a 2D slice): one row per field, columns prediction / reference / |error|."""
    ncols = 3 if reference else 1
    axes = fig.subplots(len(prediction), ncols, squeeze=False)
    for row, (field, pred) in enumerate(prediction.items()):
        ref = reference.get(field)
        limits = _finite_range(pred) if ref is None else _finite_range(pred, ref)
        _image(fig, axes[row, 0], names, coords, pred, f"{field} prediction{where}", limits, field)
        if ncols == 1:
            continue
        if ref is None:
            _no_reference(axes[row, 1])
            _no_reference(axes[row, 2])
            continue
        _image(fig, axes[row, 1], names, coords, ref, f"{field} reference{where}", limits, field)
        err = np.abs(pred - ref)
        _image(
            fig, axes[row, 2], names, coords, err, f"|error| {field}{where}",
            _finite_range(err), f"|error| {field}",
        )


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
    :mod:`pinnlab.fields_h5`.  With one input each field is a line plot
    (prediction and reference overlaid, |error| below it); with two, one row
    per field with columns prediction / reference / |error| (the last two only
    when a reference is given), the first input horizontal and the second
    vertical, prediction and reference on one colour scale and the error on its
    own; with three, the same for the slice at the middle index of the last
    input, named in each subplot title.  NaN (outside the domain) is left blank.

    Raises ``ValueError`` for 0 or more than 3 inputs, a field whose shape is
    not the grid shape, or a reference for a field not in ``prediction``.
    """
    names = list(axes)
    coords = [np.asarray(axes[n], dtype=np.float64) for n in names]
    if not 1 <= len(names) <= 3:
        raise ValueError(f"plot_fields draws 1 to 3 inputs, got {len(names)}: {names}")
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
    where = ""
    if len(names) == 3:
        mid = shape[2] // 2
        where = f"\n{names[2]} = {coords[2][mid]:.4g} (index {mid} of {shape[2]})"
        pred = {k: v[:, :, mid] for k, v in pred.items()}
        ref = {k: v[:, :, mid] for k, v in ref.items()}

    if len(names) == 1:
        rows = len(pred) * (2 if ref else 1)
        fig = Figure(figsize=(1.6 * _CELL_W, 0.8 * _CELL_H * rows), layout="constrained")
        _plot_lines(fig, names[0], coords[0], pred, ref)
    else:
        ncols = 3 if ref else 1
        fig = Figure(figsize=(_CELL_W * ncols, _CELL_H * len(pred)), layout="constrained")
        _plot_images(fig, names[:2], coords[:2], pred, ref, where)
    fig.suptitle(title)
    _save(fig, path)


def plot_loss_history(
    path: str | os.PathLike[str],
    *,
    loss_history: dict[str, np.ndarray],
    phases: list[tuple[int, str]] | None = None,
) -> None:
    """Save a semilog-y PNG of every loss term against ``loss_history["step"]``.

    A ``"total"`` term (the weighted sum) is drawn in black on top of the
    others.  ``phases`` marks where optimiser phases start, e.g.
    ``[(0, "adam"), (5000, "lbfgs")]``, with labelled dashed vertical lines.
    Non-positive and non-finite values cannot sit on a log axis and are left
    out of the curves.

    Raises ``ValueError`` if ``"step"`` is missing or a term's length differs.
    """
    if "step" not in loss_history:
        raise ValueError(f"loss_history must include 'step', got keys {list(loss_history)}")
    steps = np.asarray(loss_history["step"])
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    terms = [t for t in loss_history if t not in ("step", "total")]
    if "total" in loss_history:
        terms.append("total")
    any_positive = False
    for term in terms:
        values = np.asarray(loss_history[term], dtype=np.float64)
        if values.shape != steps.shape:
            raise ValueError(
                f"loss term {term!r} has shape {values.shape}, expected {steps.shape} like 'step'"
            )
        shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
        any_positive |= bool(np.any(np.isfinite(shown)))
        if term == "total":
            style = {"color": "black", "linewidth": 2.0, "zorder": 3}
        else:
            style = {"linewidth": 1.2}
        ax.plot(steps, shown, label=term, **style)
    if any_positive:
        ax.set_yscale("log")
    label_at = blended_transform_factory(ax.transData, ax.transAxes)
    for start, name in phases or []:
        ax.axvline(start, color="grey", linestyle="--", linewidth=1.0)
        ax.text(
            start, 0.98, f" {name}", transform=label_at, ha="left", va="top", color="dimgray",
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0},
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss history")
    if terms:
        ax.legend(loc="upper right")
    _save(fig, path)


def plot_weight_history(path: str | os.PathLike[str], history: list[tuple[int, dict[str, float]]]) -> None:
    """Save a semilog-y PNG of each loss term's weight at every balancing update (``balance``):
    which terms the balancing found stiff or neglected, and whether the weights settled."""
    if not history:
        raise ValueError("weight history is empty: nothing to plot")
    steps = np.array([step for step, _ in history])
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for name in history[0][1]:
        values = np.array([weights[name] for _, weights in history], dtype=np.float64)
        if np.any(values > 0):
            ax.plot(steps, np.where(values > 0, values, np.nan), marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weight")
    ax.set_title("loss term weights (balancing)")
    ax.legend(loc="best")
    _save(fig, path)


def plot_collocation(
    path: str | os.PathLike[str],
    *,
    axes: dict[str, np.ndarray],
    field: str,
    values: np.ndarray,
    point_sets: Sequence[tuple[str, np.ndarray]],
) -> None:
    """Save a PNG of collocation point sets drawn over one field on a 2D grid, one panel each.

    Why: residual-based refinement should gather points at fronts and shocks; seeing them over
    the solution is how a user checks that it does. ``point_sets`` are (title, (N, 2) points)
    pairs, e.g. the first, a middle and the last refinement. Raises ``ValueError`` unless the
    grid has exactly two inputs.
    """
    names = list(axes)
    if len(names) != 2:
        raise ValueError(f"plot_collocation needs a 2D grid, got inputs {names}")
    coords = [np.asarray(axes[n]) for n in names]
    fig = Figure(figsize=(_CELL_W * max(len(point_sets), 1), _CELL_H), layout="constrained")
    limits = _finite_range(values)
    for k, (title, points) in enumerate(point_sets):
        ax = fig.add_subplot(1, len(point_sets), k + 1)
        _image(fig, ax, names, coords, values, title, limits, field)
        ax.scatter(points[:, 0], points[:, 1], s=1.5, c="red", linewidths=0, alpha=0.6)
    _save(fig, path)
