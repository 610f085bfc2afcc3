"""The files of a ``pinnlab control`` run folder.

``trajectories.h5`` (format ``pinnlab-control``, version 1)::

    /                     attrs: format, format_version, problem, states, inputs (JSON), settings
                          (JSON), metrics (JSON), run_id
    /policy/states        float64 (K+1, n, states): closed-loop states from the held-out initial states
    /policy/inputs        float64 (K, n, inputs)
    /policy/cost          float64 (n,): closed-loop cost of each run
    /policy/margins       float64 (K, n, bounded states): margin to the state bounds (< 0: violated)
    /mpc/...              the same for MPC from the same initial states (with ``--mpc``)
    /training/<key>       float64 (outer iterations,): step, cost, max_violation, mu, multiplier_norm

Figures use a private ``Figure`` with the Agg canvas and atomic writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import h5py
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pinnlab.control.problem import ControlProblem
from pinnlab.control.rollout import Trajectory, margins
from pinnlab.runtime.atomic import atomic_path, jsonable

__all__ = ["FORMAT", "plot_history", "plot_runs", "write_h5"]

FORMAT = "pinnlab-control"
FORMAT_VERSION = 1


def _save(fig: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def write_h5(path: str | os.PathLike[str], problem: ControlProblem, runs: Mapping[str, Trajectory],
             history: Mapping[str, list[float]], settings: Mapping[str, object], metrics: Mapping[str, object],
             run_id: str) -> None:
    """Write ``trajectories.h5`` (layout in the module docstring); ``runs`` maps policy/mpc to runs."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION, "problem": problem.name,
                        "states": json.dumps(list(problem.states)), "inputs": json.dumps(list(problem.inputs)),
                        "settings": json.dumps(jsonable(dict(settings))),
                        "metrics": json.dumps(jsonable(dict(metrics))), "run_id": run_id})
        for name, run in runs.items():
            f[f"{name}/states"] = run.states.detach().numpy()
            f[f"{name}/inputs"] = run.inputs.detach().numpy()
            f[f"{name}/cost"] = run.cost.detach().numpy()
            f[f"{name}/margins"] = margins(problem, run.states).detach().numpy()
        for key, values in history.items():
            f[f"training/{key}"] = np.asarray(values, dtype=float)


def plot_runs(folder: str | os.PathLike[str], problem: ControlProblem, runs: Mapping[str, Trajectory],
              count: int = 8, highlight: Mapping[str, np.ndarray] | None = None) -> list[str]:
    """``trajectories.png`` (each state against time), ``inputs.png`` and, with state bounds,
    ``margins.png``, for the first ``count`` runs; MPC dashed beside the policy. ``highlight``:
    per run kind, a boolean per run drawn in red (e.g. the policy's failures). Returns the names."""
    styles = {"policy": "-", "mpc": "--"}
    time = np.arange(problem.horizon + 1) * problem.dt
    panels = [("trajectories.png", list(problem.states), lambda r: r.states.detach().numpy(), time),
              ("inputs.png", list(problem.inputs), lambda r: r.inputs.detach().numpy(), time[:-1])]
    if problem.bounded_states:
        names = [f"margin of {problem.states[i]}" for i in problem.bounded_states]
        panels.append(("margins.png", names, lambda r: margins(problem, r.states).detach().numpy(), time[1:]))
    written = []
    for file, names, values, axis in panels:
        fig = Figure(figsize=(6.5, 2.4 * len(names) + 0.6))
        for j, label in enumerate(names):
            ax = fig.add_subplot(len(names), 1, j + 1)
            for kind, run in runs.items():
                data = values(run)
                marked = (highlight or {}).get(kind)
                for i in range(min(count, data.shape[1])):
                    colour = "tab:red" if marked is not None and marked[i] else f"C{i % 10}"
                    ax.plot(axis, data[:, i, j], styles.get(kind, ":"), color=colour, lw=1.0,
                            drawstyle="steps-post" if file == "inputs.png" else "default",
                            label=kind if i == 0 else None)
            if file == "trajectories.png":
                lo, hi = problem.state_bounds[j]
                for bound in (lo, hi):
                    if np.isfinite(bound):
                        ax.axhline(bound, color="k", lw=0.8, ls=":")
            if file == "margins.png":
                ax.axhline(0.0, color="k", lw=0.8, ls=":")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
        ax.set_xlabel("t")
        fig.axes[0].legend(fontsize=8, loc="best")
        fig.axes[0].set_title(f"{problem.name}: {file[:-4]} (policy solid, MPC dashed)")
        _save(fig, os.path.join(folder, file))
        written.append(file)
    return written


def plot_history(path: str | os.PathLike[str], history: Mapping[str, list[float]]) -> None:
    """Mean closed-loop cost and largest constraint violation per outer iteration."""
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot()
    ax.plot(history["step"], history["cost"], "o-", label="mean closed-loop cost")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("cost")
    other = ax.twinx()
    other.semilogy(history["step"], np.maximum(history["max_violation"], 1e-16), "s--", color="C3",
                   label="max violation")
    other.set_ylabel("max violation")
    ax.set_title("augmented Lagrangian outer iterations")
    ax.legend(loc="upper left", fontsize=8)
    other.legend(loc="upper right", fontsize=8)
    _save(fig, path)
