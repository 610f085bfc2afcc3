"""Python entry point of ``pinnlab control``: train a policy, evaluate it on held-out initial
states (and, optionally, MPC from the same states) and write the run folder.

    from pinnlab.control import load_control, resolve_settings, run_control
    problem = load_control("equations/control/double_integrator.py")
    metrics = run_control(problem, resolve_settings(problem.defaults), "results/control-double_integrator")
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from pathlib import Path
from typing import Any

import torch

from pinnlab.control.mpc import MPC, mpc_closed_loop
from pinnlab.control.output import plot_history, plot_runs, write_h5
from pinnlab.control.problem import ControlProblem
from pinnlab.control.rollout import Trajectory, closed_loop, margins
from pinnlab.control.training import ControlSettings, train_policy
from pinnlab.runtime.atomic import check_writable, write_json
from pinnlab.runtime.run_folder import staged_results
from pinnlab.training.checkpoint import write_torch_file

__all__ = ["HELD_OUT_SEED", "held_out_states", "run_control", "summary"]

HELD_OUT_SEED = 1_000_003  # initial states for evaluation: a stream no training seed draws


def held_out_states(problem: ControlProblem, n: int) -> torch.Tensor:
    """``n`` initial states drawn from a stream apart from the training samples'."""
    return problem.sample_initial(n, torch.Generator().manual_seed(HELD_OUT_SEED))


def summary(problem: ControlProblem, run: Trajectory) -> dict[str, Any]:
    """Mean and worst closed-loop cost; count and size of state-bound violations (runs with a
    margin below -1e-3, and the largest violation)."""
    found: dict[str, Any] = {"mean_cost": float(run.cost.mean()), "worst_cost": float(run.cost.max())}
    if problem.bounded_states:
        worst = margins(problem, run.states).amin(dim=(0, 2))
        found["violating_runs"] = int((worst < -1e-3).sum())
        found["max_violation"] = max(0.0, float(-worst.min()))
    return found


def run_control(problem: ControlProblem, settings: ControlSettings, out_dir: str | os.PathLike[str],
                with_mpc: bool = False, show_progress: bool = False) -> dict[str, Any]:
    """Train, evaluate on ``settings.evaluate`` held-out initial states, write ``out_dir``
    (checked writable before training); returns metrics.json's content."""
    out = Path(out_dir)
    check_writable(out)
    started = time.perf_counter()
    trained = train_policy(problem, settings, show_progress)
    x0 = held_out_states(problem, settings.evaluate)
    with torch.no_grad():
        runs = {"policy": closed_loop(problem, trained.policy, x0)}
    metrics: dict[str, Any] = {"problem": problem.name, "policy": summary(problem, runs["policy"]),
                               "training": {k: v[-1] for k, v in trained.history.items()},
                               "training_time_s": trained.wall_time_s}
    if with_mpc:
        mpc = MPC(problem, substeps=settings.substeps)
        runs["mpc"] = mpc_closed_loop(mpc, x0, show_progress=show_progress)
        metrics["mpc"] = {**summary(problem, runs["mpc"]), "solver_failures": mpc.failures,
                          "mean_solve_ms": 1e3 * sum(mpc.solve_times) / len(mpc.solve_times)}
        ratio = runs["policy"].cost / runs["mpc"].cost
        metrics["cost_ratio_policy_to_mpc"] = {"mean": float(ratio.mean()), "worst": float(ratio.max())}
    run_id = secrets.token_hex(8)
    settings_dict = dataclasses.asdict(settings)
    with staged_results(out, run_id) as staging:
        write_h5(staging / "trajectories.h5", problem, runs, trained.history, settings_dict, metrics, run_id)
        plot_runs(staging, problem, runs)
        plot_history(staging / "training.png", trained.history)
        write_torch_file({"state_dict": trained.policy.state_dict(), "width": settings.width,
                          "depth": settings.depth, "problem": problem.name, "source": problem.source_text,
                          "run_id": run_id}, staging / "model.pt")
        metrics.update({"settings": settings_dict, "history": trained.history,
                        "wall_time_s": time.perf_counter() - started})
        write_json(staging / "metrics.json", metrics)
    return metrics
