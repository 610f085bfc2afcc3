"""The ``pinnlab control`` subcommand: train a neural feedback law on a control module."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_control_arguments", "run_control_command"]

RESULTS_DIR = Path("results")


def add_control_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", type=Path, help="path to a control module, e.g. equations/control/double_integrator.py")
    parser.add_argument("--steps", type=int, help="Adam steps in all (setting 'steps')")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any setting of pinnlab.control.ControlSettings, e.g. --set method=dopri5 (repeatable)")
    parser.add_argument("--mpc", action="store_true", help="also run MPC (CasADi + IPOPT) from the held-out states")
    parser.add_argument("--out", type=Path, help="output folder (default results/control-<module name>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_control_command(args: argparse.Namespace) -> int:
    import torch

    from pinnlab.control.api import run_control
    from pinnlab.control.problem import load_control
    from pinnlab.control.training import resolve_settings

    overrides: dict[str, object] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects NAME=VALUE, got '{item}'")
        overrides[key.strip()] = value.strip()
    for name in ("steps", "seed"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    problem = load_control(args.module)
    settings = resolve_settings(problem.defaults, overrides)
    out_dir = args.out or RESULTS_DIR / f"control-{problem.name}"
    torch.set_num_threads(1)
    metrics = run_control(problem, settings, out_dir, with_mpc=args.mpc, show_progress=not args.quiet)
    keys = ("policy", "mpc", "cost_ratio_policy_to_mpc", "training_time_s")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2))
    print(f"results written to {out_dir}/ (metrics.json, trajectories.h5, trajectories.png, inputs.png, "
          f"{'margins.png, ' if problem.bounded_states else ''}training.png, model.pt)")
    return 0
