"""What a solve reports for an inverse problem: metrics.json's ``unknowns``, their history for
fields.h5's ``/unknowns_history`` group, the figure ``unknowns.png``, the summary line, and each
data set's points with the fit there (fields.h5's ``/points/data_<name>``).

metrics.json: ``"unknowns": {name: {"value": v, "true": t or null, "relative_error": (v - t) / |t|
or null, "std": s or null, "std_misfit": s or null, "remaining": d or null}}``; ``std`` is the
Gauss-Newton standard deviation where the last phase was Levenberg-Marquardt or a dense
quasi-Newton method, sqrt(std_misfit^2 + remaining^2): the residuals' misfit and the change one
more Gauss-Newton step would make (pinnlab/training/uncertainty.py).
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from pinnlab.derivatives.derivative import derivative_name
from pinnlab.output.evaluation import evaluate_in_chunks
from pinnlab.output.plots import save_figure
from pinnlab.problem.unknowns import Unknown
from pinnlab.training.uncertainty import UNCERTAINTY_PARTS

__all__ = ["data_clouds", "history_arrays", "plot_unknowns", "summary", "unknowns_figure", "unknowns_metrics"]


def unknowns_metrics(unknowns: Mapping[str, Unknown], record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """metrics.json's ``unknowns`` from the training's record (``TrainingResult.unknowns``)."""
    history = record.get("history", {})
    parts = {part: record.get(part, {}) for part in UNCERTAINTY_PARTS}
    found = {}
    for name, unknown in unknowns.items():
        value = float(history[name][-1])
        true = None if unknown.true is None else float(unknown.true)
        error = None
        if true is not None:
            error = (value - true) / abs(true) if true != 0 else value - true
        found[name] = {"value": value, "true": true, "relative_error": error,
                       **{part: values.get(name) for part, values in parts.items()}}
    return found


def history_arrays(record: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``{"step": int64 (n,), name: float64 (n,)}`` for fields.h5, None without unknowns."""
    history = record.get("history")
    if not history or len(history) < 2:
        return None
    return {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64) for k, v in history.items()}


def summary(metrics: Mapping[str, Any]) -> dict[str, str]:
    """One short text per unknown for the command line: value, +- std, and the error."""
    lines = {}
    for name, entry in metrics.get("unknowns", {}).items():
        text = f"{entry['value']:.6g}"
        if entry.get("std") is not None:
            text += f" +- {entry['std']:.2g}"
        if entry.get("true") is not None:
            text += f" (true {entry['true']:.6g}, relative error {entry['relative_error']:+.2e})"
        lines[name] = text
    return lines


def unknowns_figure(history: Mapping[str, np.ndarray], unknowns: Mapping[str, Unknown],
                    phases: list[tuple[int, str]] | None = None) -> Figure:
    """One panel per unknown: its value against the step, the true value dashed when known,
    phase starts as dotted vertical lines."""
    names = [n for n in history if n != "step"]
    steps = np.asarray(history["step"])
    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, columns, k + 1)
        ax.plot(steps, history[name], color="tab:blue", label="learned")
        true = unknowns[name].true if name in unknowns else None
        if true is not None:
            ax.axhline(true, color="black", linestyle="--", linewidth=1, label=f"true {true:.6g}")
        for step, phase in phases or []:
            ax.axvline(step, color="grey", linestyle=":", linewidth=0.8)
            ax.annotate(f" {phase}", (step, 0.02), xycoords=("data", "axes fraction"), fontsize=7,
                        color="grey", ha="left", va="bottom")
        ax.set_title(f"{name} = {history[name][-1]:.6g}")
        ax.set_xlabel("step")
        ax.legend(fontsize=8, loc="best")
    return fig


def plot_unknowns(path: str | os.PathLike[str], history: Mapping[str, np.ndarray], unknowns: Mapping[str, Unknown],
                  phases: list[tuple[int, str]] | None = None) -> None:
    """Write ``unknowns.png`` (see :func:`unknowns_figure`) atomically."""
    save_figure(unknowns_figure(history, unknowns, phases), path)


def data_clouds(problem: Any, model: Any) -> dict[str, dict[str, np.ndarray]]:
    """``data_<name>`` per data set: its points, and per measured column ``c`` the value used in
    training (noise included), ``c_prediction`` and ``c_misfit`` (prediction - value)."""
    clouds = {}
    for name, observed in problem.data.items():
        found = evaluate_in_chunks(problem, model, observed.points, derivatives=list(observed.derivatives))
        cloud = {"coordinates": observed.points}
        for k, (column, d) in enumerate(zip(observed.names, observed.derivatives)):
            predicted = found.derivatives[derivative_name(d, problem.inputs)]
            cloud.update({column: observed.values[:, k], f"{column}_prediction": predicted,
                          f"{column}_misfit": predicted - observed.values[:, k]})
        clouds[f"data_{name}"] = cloud
    return clouds
