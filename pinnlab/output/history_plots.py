"""PNG figures of the training history: every loss term, and the weights of loss balancing.

Built and written like the figures of :mod:`pinnlab.output.plots`: a ``*_figure`` function returns
a private ``Figure`` and the matching ``plot_*`` writes it atomically through the Agg canvas.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pinnlab.output.plots import save_figure

__all__ = ["loss_figure", "plot_loss_history", "plot_weight_history", "weight_figure"]

LOSS_DECADES_BELOW = 2  # the loss axis reaches this many decades below the smallest final term


def _last_positive(values: np.ndarray) -> float | None:
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive[-1]) if positive.size else None


def loss_figure(loss_history: dict[str, np.ndarray], phases: list[tuple[int, str]] | None = None,
                exact: Collection[str] = ()) -> Figure:
    """The figure :func:`plot_loss_history` saves."""
    if "step" not in loss_history:
        raise ValueError(f"loss_history must include 'step', got keys {list(loss_history)}")
    steps = np.asarray(loss_history["step"])
    fig = Figure(figsize=(8.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    terms = [t for t in loss_history if t not in ("step", "total")]
    if "total" in loss_history:
        terms.append("total")
    drawn: list[np.ndarray] = []
    finals: list[float] = []
    notes: list[str] = []
    for term in terms:
        values = np.asarray(loss_history[term], dtype=np.float64)
        if values.shape != steps.shape:
            raise ValueError(
                f"loss term {term!r} has shape {values.shape}, expected {steps.shape} like 'step'"
            )
        if term in exact:  # zero or round-off by construction: not a loss that training moves
            notes.append(f"{term}: imposed exactly")
            continue
        shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
        final = _last_positive(shown)
        if final is None:
            notes.append(f"{term}: 0 throughout")
            continue
        finals.append(final)
        drawn.append(shown)
        if term == "total":  # dashed on top, so a term equal to it still shows between the dashes
            ax.plot(steps, shown, label="total (weighted sum)", color="black", linestyle="--",
                    linewidth=1.4, zorder=3)
        else:
            ax.plot(steps, shown, label=term, linewidth=2.0, alpha=0.85)
    for note in notes:  # a legend entry without a line
        ax.add_line(Line2D([], [], linestyle="none", label=note))
    if drawn:
        ax.set_yscale("log")
        top = float(np.nanmax(np.concatenate(drawn)))
        ax.set_ylim(min(finals) / 10**LOSS_DECADES_BELOW, 2.0 * top)
    label_at = blended_transform_factory(ax.transData, ax.transAxes)
    for k, (start, name) in enumerate(phases or []):
        ax.axvline(start, color="grey", linestyle=":", linewidth=1.0)
        ax.text(
            start, 0.02 + 0.07 * (k % 3), f" {name}", transform=label_at, ha="left", va="bottom",
            color="dimgray", fontsize="small",
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0},
        )
    ax.set_xlabel("step (Adam steps, then L-BFGS / second-order iterations)")
    ax.set_ylabel("loss (mean square, unweighted)")
    ax.set_title("loss history")
    ax.grid(True, which="major", alpha=0.3)
    if terms:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_loss_history(
    path: str | os.PathLike[str],
    *,
    loss_history: dict[str, np.ndarray],
    phases: list[tuple[int, str]] | None = None,
    exact: Collection[str] = (),
) -> None:
    """Save a semilog-y PNG of every loss term against ``loss_history["step"]``.

    Terms are coloured lines; a ``"total"`` term (the weighted sum) is dashed black on top, so
    a term equal to it still shows. Terms named in ``exact`` (conditions the output transform
    imposes exactly, whose history is zero or round-off) are not drawn but listed in the legend
    as imposed exactly; so is a term that is zero throughout. The y-axis runs from
    ``LOSS_DECADES_BELOW`` decades below the smallest final drawn value to twice the largest.
    ``phases`` marks where optimiser phases or curriculum windows start, e.g.
    ``[(0, "adam"), (5000, "lbfgs")]``, with labelled dotted vertical lines. Non-positive and
    non-finite values cannot sit on a log axis and are left out of the curves.

    Raises ``ValueError`` if ``"step"`` is missing or a term's length differs.
    """
    save_figure(loss_figure(loss_history, phases, exact), path)


def weight_figure(history: list[tuple[int, dict[str, float]]]) -> Figure:
    """The figure :func:`plot_weight_history` saves."""
    if not history:
        raise ValueError("weight history is empty: nothing to plot")
    steps = np.array([step for step, _ in history])
    fig = Figure(figsize=(8.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for name in history[0][1]:
        values = np.array([weights[name] for _, weights in history], dtype=np.float64)
        if np.any(values > 0):
            ax.plot(steps, np.where(values > 0, values, np.nan), marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weight")
    ax.set_title("loss term weights (balancing)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot_weight_history(path: str | os.PathLike[str], history: list[tuple[int, dict[str, float]]]) -> None:
    """Save a semilog-y PNG of each loss term's weight at every balancing update (``balance``):
    which terms the balancing found stiff or neglected, and whether the weights settled."""
    save_figure(weight_figure(history), path)
