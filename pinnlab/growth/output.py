"""Files of a grow run: ``metrics.json``, ``growth.h5`` and PNG figures.

``growth.h5`` (format ``pinnlab-growth``, version 1)::

    /                        attrs: format, format_version, dataset, strategy, settings (JSON),
                             metrics (JSON)
    /cycles/<i>/mesh         float64 (M_i + 1,): time nodes t_0..t_M of cycle i
    /cycles/<i>/indicators   float64 (M_i,): signed DWR indicators eta_m after training
    /cycles/<i>/controls     float64 (M_i, d*d + d): theta_m = (W_m flattened, b_m)
    /cycles/<i>              attrs: layers, test_accuracy, val_accuracy, estimate_sum, marked (JSON)
    /final/mesh, /final/controls     the trained network of the last cycle
    /trajectories/states     float64 (M + 1, n, d): sample test points through depth (final net)
    /trajectories/labels     int64 (n,)
    /trajectories/features   float64 (n, n_features)
    /baselines/<name>/layers, /baselines/<name>/test_accuracy   (n_cycles,) per baseline

Figures use a private ``Figure`` with the Agg canvas (no pyplot state) and atomic writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import h5py
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pinnlab.runtime.atomic import atomic_path, jsonable

from pinnlab.growth.datasets import Dataset
from pinnlab.growth.loop import Cycle, GrowthRun

__all__ = ["FORMAT", "plot_accuracy", "plot_decision_boundary", "plot_indicators", "write_h5"]

FORMAT = "pinnlab-growth"
FORMAT_VERSION = 1
_DPI = 120


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)


def write_h5(
    path: str | os.PathLike[str],
    run: GrowthRun,
    data: Dataset,
    settings: Mapping[str, object],
    metrics: Mapping[str, object],
    baselines: Mapping[str, Sequence[Cycle]] | None = None,
    samples: int = 64,
) -> None:
    """Write ``growth.h5`` for ``run`` (layout in the module docstring)."""
    features, labels = data.x_test[:samples], data.y_test[:samples]
    with torch.no_grad():
        states = torch.stack(run.net.states(features)).numpy()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["dataset"] = data.name
        f.attrs["strategy"] = run.strategy
        f.attrs["settings"] = json.dumps(jsonable(dict(settings)))
        f.attrs["metrics"] = json.dumps(jsonable(dict(metrics)))
        for cycle in run.cycles:
            group = f.create_group(f"cycles/{cycle.cycle}")
            group["mesh"] = cycle.mesh
            group["indicators"] = cycle.indicators
            group["controls"] = cycle.controls
            group.attrs["layers"] = cycle.layers
            group.attrs["test_accuracy"] = cycle.test_accuracy
            group.attrs["val_accuracy"] = cycle.val_accuracy
            group.attrs["estimate_sum"] = cycle.estimate_sum
            group.attrs["marked"] = json.dumps(cycle.marked)
        f["final/mesh"] = run.net.nodes().detach().numpy()
        f["final/controls"] = run.net.controls().numpy()
        f["trajectories/states"] = states
        f["trajectories/labels"] = labels.numpy()
        f["trajectories/features"] = features.numpy()
        for name, cycles in (baselines or {}).items():
            f[f"baselines/{name}/layers"] = np.array([c.layers for c in cycles], dtype=np.int64)
            f[f"baselines/{name}/test_accuracy"] = np.array([c.test_accuracy for c in cycles])


def plot_decision_boundary(path: str | os.PathLike[str], run: GrowthRun, data: Dataset, resolution: int = 200) -> bool:
    """Predicted classes over the (standardized) plane with the test points; 2D data only.

    Returns False (and writes nothing) for data with other than two features."""
    if data.n_features != 2:
        return False
    points = torch.cat([data.x_train, data.x_test])
    lo, hi = points.min(0).values.numpy() - 0.3, points.max(0).values.numpy() + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution), indexing="ij")
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=data.x_train.dtype)
    with torch.no_grad():
        classes = run.net(grid).argmax(1).numpy().reshape(gx.shape)
    fig = Figure(figsize=(5.0, 4.4))
    ax = fig.add_subplot()
    ax.pcolormesh(gx, gy, classes, shading="nearest", cmap="Pastel1", vmin=0, vmax=8)
    x, y = data.x_test.numpy(), data.y_test.numpy()
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="Set1", vmin=0, vmax=8, s=8, edgecolors="k", linewidths=0.2)
    last = run.cycles[-1]
    ax.set_title(f"{data.name}: {last.layers} layers, test accuracy {last.test_accuracy:.3f}")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_indicators(path: str | os.PathLike[str], run: GrowthRun) -> None:
    """|eta_m| as a step function of depth t, one line per cycle (log scale)."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    n = len(run.cycles)
    for i, cycle in enumerate(run.cycles):
        values = np.abs(cycle.indicators) / np.diff(cycle.mesh)  # density per unit depth
        values = np.maximum(values, 1e-16)
        colour = (0.1, 0.2 + 0.6 * i / max(n - 1, 1), 0.9 - 0.7 * i / max(n - 1, 1))
        ax.stairs(values, cycle.mesh, color=colour, label=f"cycle {cycle.cycle} ({cycle.layers} layers)")
    ax.set_yscale("log")
    ax.set_xlabel("depth t")
    ax.set_ylabel("|eta_m| / k_m")
    ax.set_title(f"DWR indicators per cycle ({run.strategy})")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, path)


def plot_accuracy(path: str | os.PathLike[str], curves: Mapping[str, Sequence[Cycle]], title: str) -> None:
    """Test accuracy against the number of layers, one line per strategy."""
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    markers = {"dwr": "o", "uniform": "s", "fixed": "^"}
    for name, cycles in curves.items():
        layers = [c.layers for c in cycles]
        acc = [c.test_accuracy for c in cycles]
        ax.plot(layers, acc, marker=markers.get(name, "x"), label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("layers")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
