"""Wall time to a relative L2 error: pinnlab's defaults against DeepXDE and PINA, on the same machine.

    python benchmarks/time_to_accuracy.py [--problems burgers poisson]
                                          [--tools pinnlab deepxde-example deepxde-hard pina]
                                          [--seeds 0 1] [--budget 300] [--threads 1]
                                          [--table results/time_to_accuracy.md]
                                          [--figure results/time_to_accuracy.png]
                                          [--curves results/time_to_accuracy.json]

Tools, each trained from scratch in a process of its own with ``--threads`` threads:

- ``pinnlab``: ``pinnlab.solver.job.solve`` on ``equations/<problem>.py`` with its defaults (the
  whole solve: set-up, any compilation, training and writing results; ``--pinnlab-set
  NAME=VALUE`` changes a setting);
- ``deepxde-example``: DeepXDE (torch backend) with the settings of its own example for the
  problem. Burgers: examples/pinn_forward/Burgers.py (a 2-20-20-20-1 tanh network, 2540 interior,
  80 boundary and 160 initial points as soft constraints, Adam lr 1e-3 for 15000 steps, then
  L-BFGS). Poisson (the same manufactured 2-D problem as equations/poisson.py): the settings of its
  Poisson_Lshape.py example (2-50-50-50-50-1, 1200 interior and 120 boundary points, Adam lr 1e-3
  for 50000 steps, then L-BFGS);
- ``deepxde-hard``: the alternative DeepXDE documents for exact initial and boundary values, an
  output transform (``net.apply_output_transform``, the same one equations/burgers.py uses; on
  Poisson the soft example is kept, this tool runs Burgers only), with interior points alone and
  pinnlab's schedule (4000 points, 1000 Adam steps, then L-BFGS);
- ``pina``: PINA 0.3 (``pip install pina-mathlab``, not a pinnlab dependency) with the settings of
  DeepXDE's examples, through PINA's own Trainer (benchmarks/pina_runner.py).

The error is measured at fixed wall-time checkpoints (``--checkpoints`` log-spaced times up to
``--budget`` seconds after the tool's start): a thread copies the network's parameters at each
checkpoint (a copy of a few thousand numbers, which does not slow the training measurably), and
after the run every copy is evaluated on the same reference grid: the 256 x 100 grid of
equations/burgers.py with the Cole-Hopf solution (``pinnlab.problem.burgers_exact``) for Burgers,
a 101 x 101 grid of the closed form for Poisson. A copy taken inside an L-BFGS line search holds
a trial point rather than an accepted iterate; its error is what the network would give there.
DeepXDE and PINA runs are stopped at ``--budget``; pinnlab's default solve runs to its end. The
clock of every tool starts after its imports, before its problem set-up.

Seeds interleave: for each seed every tool runs once, the order rotated from seed to seed. The
table gives, per tool and target (1e-2, 1e-3, 1e-4), the median over seeds of the first
checkpoint time at or below the target, with how many times longer each tool took than pinnlab,
and the figure the error against wall time, one colour per tool, one line style per seed. DeepXDE
is a benchmark dependency: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import machine_description, revision  # noqa: E402  (the sibling modules)
from pina_runner import PINA_MISSING, pina_installed  # noqa: E402
from timing import Stopwatch  # noqa: E402

PROBLEMS = ("burgers", "poisson")
TOOLS = ("pinnlab", "deepxde-example", "deepxde-hard", "pina")
TARGETS = (1e-2, 1e-3, 1e-4)
RESULT_TAG = "RESULT "
NU = 0.01 / math.pi
DEEPXDE_MISSING = ("DeepXDE is not installed: pip install -e '.[bench]' (or pip install deepxde==1.15.0); "
                   "it runs on the torch backend (DDE_BACKEND=pytorch, set by this script)")


# --- the reference grids -----------------------------------------------------------------------

def reference(problem: str) -> tuple[np.ndarray, np.ndarray]:
    """(points (n, 2) in the problem's coordinate order, exact values (n,)), float64."""
    if problem == "burgers":
        from pinnlab.problem.burgers_exact import burgers_sine
        x, t = np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100)
        X, T = np.meshgrid(x, t, indexing="ij")
        return np.stack([X.ravel(), T.ravel()], axis=1), burgers_sine(X, T, NU).ravel()
    x = np.linspace(0, 1, 101)
    X, Y = np.meshgrid(x, x, indexing="ij")
    exact = np.sin(np.pi * X) * np.sin(2 * np.pi * Y) + X * Y / 2
    return np.stack([X.ravel(), Y.ravel()], axis=1), exact.ravel()


def relative_l2(predicted: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(predicted.reshape(-1) - exact) / np.linalg.norm(exact))


# --- parameter copies at wall-time checkpoints ---------------------------------------------------

def checkpoint_times(budget: float, count: int) -> list[float]:
    return list(np.geomspace(0.5, budget, count))


class Snapshots(threading.Thread):
    """Copies ``module()``'s parameters at each checkpoint time of the run's ``watch`` (a module
    that does not exist yet is skipped)."""

    def __init__(self, module: Callable[[], torch.nn.Module | None], times: list[float], watch: Stopwatch) -> None:
        super().__init__(daemon=True)
        self.module, self.times, self.watch = module, times, watch
        self.copies: list[tuple[float, dict[str, torch.Tensor]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        for at in self.times:
            if self.done.wait(max(at - self.watch.elapsed(), 0.0)):
                return
            module = self.module()
            if module is not None:
                state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                self.copies.append((self.watch.elapsed(), state))

    def stop(self) -> None:
        self.done.set()
        self.join()


def errors_of(model: torch.nn.Module, copies: list[tuple[float, dict[str, torch.Tensor]]],
              problem: str, columns: list[int] | None = None) -> list[tuple[float, float]]:
    """(seconds, relative L2 error on the reference grid) of each parameter copy; ``columns``
    reorders the grid's coordinates into the network's input order."""
    points, exact = reference(problem)
    if columns is not None:
        points = points[:, columns]
    parameter = next(model.parameters())
    inputs = torch.as_tensor(points, dtype=parameter.dtype, device=parameter.device)
    curve = []
    with torch.no_grad():
        for seconds, state in copies:
            model.load_state_dict(state)
            curve.append((seconds, relative_l2(model(inputs).double().cpu().numpy(), exact)))
    return curve


# --- pinnlab --------------------------------------------------------------------------------------

def run_pinnlab(problem_name: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    from pinnlab import load_problem
    from pinnlab.solver import job

    problem = load_problem(str(ROOT / "equations" / f"{problem_name}.py"))
    overrides = {"numerics.seed": seed, "numerics.threads": args.threads, **args.overrides}
    settings = job.resolve_settings(problem, overrides)
    with recorded_models(job) as built:
        watch = Stopwatch()
        snapshots = Snapshots(lambda: built[0] if built else None, checkpoint_times(args.budget, args.checkpoints),
                              watch)
        snapshots.start()
        with tempfile.TemporaryDirectory(prefix="tta-pinnlab-") as out:
            result = job.solve(problem, settings, out)
        finished = watch.elapsed()
        snapshots.stop()
    if not built or built[0] is not result.model:
        raise RuntimeError("the parameter copies were not of the model the solve trained: the solver no longer "
                           "builds its model with pinnlab.solver.job.build_model")
    final = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
    return errors_of(result.model, [*snapshots.copies, (finished, final)], problem_name)


@contextlib.contextmanager
def recorded_models(job: Any) -> Iterator[list[torch.nn.Module]]:
    """Every model the solver builds (``job.build_model``) during the block, in order: the first is
    the one it trains (a time-marched solve builds more; its windows are not followed here)."""
    built: list[torch.nn.Module] = []
    original = job.build_model

    def build_and_record(*args: Any, **kwargs: Any) -> torch.nn.Module:
        model = original(*args, **kwargs)
        built.append(model)
        return model

    job.build_model = build_and_record
    try:
        yield built
    finally:
        job.build_model = original


# --- DeepXDE --------------------------------------------------------------------------------------

def import_deepxde():
    os.environ["DDE_BACKEND"] = "pytorch"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import deepxde
    return deepxde


def deepxde_setup(dde, problem: str, tool: str):
    """(model, Adam steps) for DeepXDE's example settings or the hard-constraint alternative."""
    if problem == "burgers":
        def pde(x, u):
            u_x, u_t = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
            return u_t + u * u_x - NU * dde.grad.hessian(u, x, i=0, j=0)

        geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))
        if tool == "deepxde-example":
            walls = dde.icbc.DirichletBC(geometry, lambda x: 0, lambda _, on_boundary: on_boundary)
            initial = dde.icbc.IC(geometry, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
            data = dde.data.TimePDE(geometry, pde, [walls, initial], num_domain=2540, num_boundary=80,
                                    num_initial=160)
            return dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")), 15000
        data = dde.data.TimePDE(geometry, pde, [], num_domain=4000)
        net = dde.nn.FNN([2] + [20] * 4 + [1], "tanh", "Glorot normal")
        net.apply_output_transform(
            lambda x, u: -torch.sin(math.pi * x[:, 0:1]) + x[:, 1:2] * (1 - x[:, 0:1] ** 2) * u)
        return dde.Model(data, net), 1000
    if tool != "deepxde-example":
        raise ValueError(f"{tool} runs Burgers only")

    def pde(x, u):
        source = 5 * math.pi**2 * torch.sin(math.pi * x[:, 0:1]) * torch.sin(2 * math.pi * x[:, 1:2])
        return dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1) + source

    def exact(x):
        return np.sin(np.pi * x[:, 0:1]) * np.sin(2 * np.pi * x[:, 1:2]) + x[:, 0:1] * x[:, 1:2] / 2

    geometry = dde.geometry.Rectangle([0, 0], [1, 1])
    boundary = dde.icbc.DirichletBC(geometry, exact, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geometry, pde, [boundary], num_domain=1200, num_boundary=120)
    return dde.Model(data, dde.nn.FNN([2] + [50] * 4 + [1], "tanh", "Glorot uniform")), 50000


def run_deepxde(problem: str, tool: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    dde = import_deepxde()
    torch.set_num_threads(args.threads)
    watch = Stopwatch()
    dde.config.set_random_seed(seed)
    model, adam_steps = deepxde_setup(dde, problem, tool)
    snapshots = Snapshots(lambda: model.net, checkpoint_times(args.budget, args.checkpoints), watch)
    snapshots.start()

    class Budget(dde.callbacks.Callback):
        def on_batch_end(self) -> None:
            if watch.elapsed() > args.budget:
                self.model.stop_training = True

    with contextlib.redirect_stdout(io.StringIO()):
        model.compile("adam", lr=1e-3)
        model.train(iterations=adam_steps, verbose=0, callbacks=[Budget()])
        if watch.elapsed() < args.budget:
            model.compile("L-BFGS")
            model.train(verbose=0, callbacks=[Budget()])
    finished = watch.elapsed()
    snapshots.stop()
    final = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    return errors_of(model.net, [*snapshots.copies, (finished, final)], problem)


# --- PINA -----------------------------------------------------------------------------------------

def run_pina(problem: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    import pina_runner

    torch.set_num_threads(args.threads)
    pina_runner.import_pina()
    watch = Stopwatch()
    run = pina_runner.setup(problem, seed)
    snapshots = Snapshots(lambda: run.model, checkpoint_times(args.budget, args.checkpoints), watch)
    snapshots.start()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pina_runner.train(run, watch.elapsed, args.budget)
    finished = watch.elapsed()
    snapshots.stop()
    final = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    return errors_of(run.model, [*snapshots.copies, (finished, final)], problem, run.columns())


def run_one(tool: str, problem: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    if tool == "pinnlab":
        torch.set_num_threads(args.threads)
        return run_pinnlab(problem, seed, args)
    if tool == "pina":
        return run_pina(problem, seed, args)
    return run_deepxde(problem, tool, seed, args)


# --- the parent: interleaved processes, table, figure ------------------------------------------------

def runs_for(problem: str, tools: list[str]) -> list[str]:
    return [t for t in tools if not (problem != "burgers" and t == "deepxde-hard")]


def launch(tool: str, problem: str, seed: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    env = {**os.environ, "DDE_BACKEND": "pytorch", "OMP_NUM_THREADS": str(args.threads)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, str(Path(__file__).resolve()), "--one", tool, problem, str(seed),
               "--budget", str(args.budget), "--checkpoints", str(args.checkpoints), "--threads", str(args.threads),
               *(f"--pinnlab-set={item}" for item in args.pinnlab_set)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{tool} on {problem}, seed {seed}, failed (exit {done.returncode}):\n{tail}")
    return [tuple(p) for p in json.loads(lines[-1][len(RESULT_TAG):])]


def time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((seconds for seconds, error in curve if error <= target), None)


def median_seconds(curves: list[list[tuple[float, float]]], target: float) -> float:
    """Median over seeds of the time to ``target``; a seed that never reaches it counts as
    infinitely slow, so the median is finite only when most seeds got there."""
    times = [time_to(c, target) for c in curves]
    ordered = sorted(t for t in times if t is not None) + [math.inf] * sum(t is None for t in times)
    return statistics.median(ordered) if ordered else math.inf


def median_time(curves: list[list[tuple[float, float]]], target: float) -> str:
    """``median_seconds`` as table text, with how many seeds reached the target."""
    median = median_seconds(curves, target)
    count = f"{sum(time_to(c, target) is not None for c in curves)}/{len(curves)} seeds"
    return f"{median:.1f} s ({count})" if math.isfinite(median) else f"not reached ({count})"


def against_pinnlab(by_tool: dict[str, list], tool: str, target: float) -> str:
    """'4.2x' when both ``tool`` and pinnlab reach ``target`` (median time of tool / of pinnlab)."""
    if tool == "pinnlab" or "pinnlab" not in by_tool:
        return ""
    theirs, ours = median_seconds(by_tool[tool], target), median_seconds(by_tool["pinnlab"], target)
    if math.isfinite(theirs) and math.isfinite(ours):
        return f", {theirs / ours:.1f}x pinnlab's"
    if math.isfinite(ours):
        return ", pinnlab reached it"
    return ""


def seed_cell(curve: list[tuple[float, float]], target: float) -> str:
    seconds = time_to(curve, target)
    return "-" if seconds is None else f"{seconds:.1f}"


def report(args: argparse.Namespace, curves: dict[str, dict[str, list]], load: str) -> list[str]:
    command = " ".join(["python benchmarks/time_to_accuracy.py", *args.argv])
    lines = ["# Time to accuracy", "", f"`{command}`, commit {revision()}, {machine_description(args.threads)}; {load}.",
             ""]
    for problem, by_tool in curves.items():
        lines += [f"### {problem}", "", "| tool | " + " | ".join(f"to {t:.0e}" for t in TARGETS)
                  + " | final error (per seed) | run length s (per seed) |", "|---|" + "---|" * (len(TARGETS) + 2)]
        for tool, runs in by_tool.items():
            finals = ", ".join(f"{c[-1][1]:.1e}" for c in runs)
            lengths = ", ".join(f"{c[-1][0]:.0f}" for c in runs)
            cells = [median_time(runs, t) + against_pinnlab(by_tool, tool, t) for t in TARGETS]
            lines.append(f"| {tool} | " + " | ".join(cells) + f" | {finals} | {lengths} |")
        lines += ["", "Per seed, seconds to each target (- : not reached):", "",
                  "| tool | seed | " + " | ".join(f"to {t:.0e}" for t in TARGETS) + " |",
                  "|---|---|" + "---|" * len(TARGETS)]
        for tool, runs in by_tool.items():
            for seed, curve in zip(args.seeds, runs):
                lines.append(f"| {tool} | {seed} | " + " | ".join(seed_cell(curve, t) for t in TARGETS) + " |")
        lines.append("")
    return lines


def plot(curves: dict[str, dict[str, list]], seeds: list[int], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"pinnlab": "tab:blue", "deepxde-example": "tab:red", "deepxde-hard": "tab:orange", "pina": "tab:green"}
    styles = ["-", "--", ":", "-."]
    figure, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4.2), squeeze=False)
    for ax, (problem, by_tool) in zip(axes[0], curves.items()):
        for tool, runs in by_tool.items():
            for index, curve in enumerate(runs):
                seconds, errors = zip(*curve)
                ax.loglog(seconds, errors, color=colours.get(tool, "k"), ls=styles[index % len(styles)], alpha=0.85,
                          lw=1.4, marker=".", ms=4, label=f"{tool}, seed {seeds[index]}")
        for target in TARGETS:
            ax.axhline(target, color="0.6", lw=0.8, ls="--", zorder=0)
        ax.set(xlabel="wall time (s)", ylabel="relative L2 error", title=problem)
        ax.legend(fontsize=7)
    figure.suptitle(textwrap.fill(title, width=int(75 * len(curves))), fontsize=9)  # one panel: two lines
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as handle:
        temporary = Path(handle.name)
    figure.savefig(temporary, dpi=110)
    os.chmod(temporary, 0o644)  # a temporary file is private; the figure is for reading
    os.replace(temporary, path)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--budget", type=float, default=300.0, help="seconds after which DeepXDE runs are stopped")
    parser.add_argument("--checkpoints", type=int, default=40, help="log-spaced error checkpoints up to --budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "time_to_accuracy.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "results" / "time_to_accuracy.png")
    parser.add_argument("--curves", type=Path, default=ROOT / "results" / "time_to_accuracy.json",
                        help="every curve as JSON: {problem: {tool: {seed: [[seconds, error], ...]}}}")
    parser.add_argument("--pinnlab-set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the pinnlab runs (repeatable); the table then shows other than the defaults")
    parser.add_argument("--one", nargs=3, metavar=("TOOL", "PROBLEM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.budget <= 0.5 or args.checkpoints < 2 or args.threads < 1:
        parser.error("--budget must exceed 0.5 s, --checkpoints be >= 2 and --threads >= 1")
    malformed = [item for item in args.pinnlab_set if "=" not in item]
    if malformed:
        parser.error(f"--pinnlab-set expects NAME=VALUE, got {', '.join(malformed)}")
    args.overrides = dict(item.split("=", 1) for item in args.pinnlab_set)
    if args.one is None and any(t.startswith("deepxde") for t in args.tools) \
            and importlib.util.find_spec("deepxde") is None:
        parser.error(DEEPXDE_MISSING + "; or leave it out with --tools pinnlab")
    if args.one is None and "pina" in args.tools and not pina_installed():
        parser.error(PINA_MISSING + "; or leave it out with --tools")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        tool, problem, seed = args.one
        print(RESULT_TAG + json.dumps(run_one(tool, problem, int(seed), args)), flush=True)
        return
    curves: dict[str, dict[str, list]] = {p: {t: [] for t in runs_for(p, args.tools)} for p in args.problems}
    load_before, watch = os.getloadavg()[0], Stopwatch()
    for index, seed in enumerate(args.seeds):
        for problem in args.problems:
            tools = runs_for(problem, args.tools)
            shift = index % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                curve = launch(tool, problem, seed, args)
                curves[problem][tool].append(curve)
                print(f"{problem} {tool} seed {seed}: final error {curve[-1][1]:.2e} after {curve[-1][0]:.0f} s; "
                      + ", ".join(f"{t:.0e} at {seed_cell(curve, t)} s" for t in TARGETS), flush=True)
    children = os.times()
    cpu = children.children_user + children.children_system
    wall = watch.elapsed()
    load = (f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}, runs' CPU {cpu:.0f} s in {wall:.0f} s wall "
            f"({cpu / wall:.2f} CPU s per s)")
    lines = report(args, curves, load)
    print("\n".join(lines), flush=True)
    from pinnlab.runtime.atomic import write_text
    write_text(args.table, "\n".join(lines) + "\n")
    by_seed = {p: {t: dict(zip(map(str, args.seeds), runs)) for t, runs in tools.items()} for p, tools in curves.items()}
    write_text(args.curves, json.dumps(by_seed, indent=1) + "\n")
    plot(curves, args.seeds, args.figure, f"{revision()}, {machine_description(args.threads)}")
    print(f"table written to {args.table}, figure to {args.figure}, curves to {args.curves}")


if __name__ == "__main__":
    main()
