"""A trained feedback law against MPC (CasADi + IPOPT) on held-out initial states.

    python benchmarks/control.py [--problems double_integrator van_der_pol] [--states 200]
                                 [--set NAME=VALUE ...] [--out results/control.md]
                                 [--plots results/control-plots]

For each control module in ``equations/control/``: a policy is trained with the module's
settings (``pinnlab.control.train_policy``, one thread), then policy and MPC run closed loop
from the same ``--states`` initial states, drawn from a stream training never draws
(``pinnlab.control.held_out_states``), on the same plant (RK4 with the module's substeps).
Reported: the closed-loop cost of the policy relative to MPC's, per initial state (mean and
worst); state-bound violations above 1e-3 (runs) and the largest; time per control action: the
policy's forward pass for all states at once (divided by their number) and for one state (through
torch, and through the policy's numpy form), against one warm-started MPC solve (median). Figures: a few runs side by side, the policy's failures (a violation
above 1e-3 or a cost 10% above MPC's) first, in red.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine_description, revision  # noqa: E402
from pinnlab.control import (MPC, Trajectory, closed_loop, held_out_states, load_control, mpc_closed_loop,  # noqa: E402
                             resolve_settings, summary, train_policy)
from pinnlab.control.output import plot_runs  # noqa: E402
from pinnlab.runtime.atomic import write_text  # noqa: E402

FAILED_RATIO = 1.10


def per_action_us(policy: torch.nn.Module, x: torch.Tensor, rounds: int) -> tuple[float, float, float]:
    """Median microseconds per action: all states in one forward pass, one state through torch,
    and one state through the policy's numpy form (``Policy.as_numpy``)."""
    batched, single, plain = [], [], []
    law, state = policy.as_numpy(), x[0].numpy()
    with torch.no_grad():
        for _ in range(rounds):
            started = time.perf_counter()
            policy(x)
            batched.append((time.perf_counter() - started) / len(x))
            one = x[:1]
            started = time.perf_counter()
            policy(one)
            single.append(time.perf_counter() - started)
            started = time.perf_counter()
            law(state)
            plain.append(time.perf_counter() - started)
    return 1e6 * float(np.median(batched)), 1e6 * float(np.median(single)), 1e6 * float(np.median(plain))


def pick(run: Trajectory, order: np.ndarray) -> Trajectory:
    return Trajectory(run.states[:, order], run.inputs[:, order], run.cost[order])


def bench(name: str, states: int, overrides: dict[str, str], plots: Path | None, quiet: bool) -> dict:
    problem = load_control(ROOT / "equations" / "control" / f"{name}.py")
    settings = resolve_settings(problem.defaults, overrides)
    trained = train_policy(problem, settings, show_progress=not quiet)
    x0 = held_out_states(problem, states)
    with torch.no_grad():
        policy_run = closed_loop(problem, trained.policy, x0)
    mpc = MPC(problem, substeps=settings.substeps)
    mpc_run = mpc_closed_loop(mpc, x0, show_progress=not quiet)
    ratio = (policy_run.cost / mpc_run.cost).numpy()
    batched, single, plain = per_action_us(trained.policy, x0, rounds=200)
    mpc_ms = 1e3 * float(np.median(mpc.solve_times))
    found = {"name": name, "policy": summary(problem, policy_run), "mpc": summary(problem, mpc_run),
             "ratio_mean": float(ratio.mean()), "ratio_worst": float(ratio.max()),
             "ratio_of_means": float(policy_run.cost.mean() / mpc_run.cost.mean()),
             "batched_us": batched, "single_us": single, "numpy_us": plain, "mpc_ms": mpc_ms, "mpc_failures": mpc.failures,
             "train_s": trained.wall_time_s, "states": states}
    worst = (-torch.minimum(policy_run.states.new_zeros(()), problem_margin(problem, policy_run))).numpy()
    failed = (worst > 1e-3) | (ratio > FAILED_RATIO)
    found["failures"] = int(failed.sum())
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        order = np.concatenate([np.flatnonzero(failed), np.flatnonzero(~failed)])[:6]
        runs = {"policy": pick(policy_run, order), "mpc": pick(mpc_run, order)}
        for file in plot_runs(plots, problem, runs, count=6, highlight={"policy": failed[order]}):
            (plots / file).rename(plots / f"{name}-{file}")
    return found


def problem_margin(problem, run: Trajectory) -> torch.Tensor:
    from pinnlab.control.rollout import margins

    if not problem.bounded_states:
        return run.cost.new_zeros(run.cost.shape)
    return margins(problem, run.states).amin(dim=(0, 2))


def table(results: list[dict], command: str) -> str:
    lines = [f"Machine: {machine_description(1)}; commit {revision()}; {time.strftime('%Y-%m-%d')}.",
             f"Command: `{command}`", "",
             "| problem | cost policy / MPC, mean | worst | ratio of mean costs | violations > 1e-3 policy | "
             "largest policy | violations > 1e-3 MPC | largest MPC | policy us/action batched | single (torch) | "
             "single (numpy) | MPC ms/action | MPC / policy single (numpy) | MPC solver failures | policy failures | training s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        p, m = r["policy"], r["mpc"]
        lines.append(
            f"| {r['name']} | {r['ratio_mean']:.4f} | {r['ratio_worst']:.4f} | {r['ratio_of_means']:.4f} | "
            f"{p.get('violating_runs', 0)} / {r['states']} | {p.get('max_violation', 0):.1e} | "
            f"{m.get('violating_runs', 0)} / {r['states']} | {m.get('max_violation', 0):.1e} | "
            f"{r['batched_us']:.2f} | {r['single_us']:.1f} | {r['numpy_us']:.1f} | {r['mpc_ms']:.2f} | "
            f"{1e3 * r['mpc_ms'] / r['numpy_us']:.0f}x | {r['mpc_failures']} | {r['failures']} | {r['train_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["double_integrator", "van_der_pol"])
    parser.add_argument("--states", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "control.md")
    parser.add_argument("--plots", type=Path, default=ROOT / "results" / "control-plots")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.states < 1:
        print(f"benchmarks/control.py: --states must be at least 1, got {args.states}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    overrides = dict(item.partition("=")[::2] for item in args.set)
    results = [bench(name, args.states, overrides, args.plots, args.quiet) for name in args.problems]
    command = "python benchmarks/control.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = table(results, command.strip())
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
