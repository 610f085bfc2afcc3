"""Wall time per optimizer step on the default Burgers setup: pinnlab against DeepXDE.

    python benchmarks/training.py [--adam-steps 200] [--lbfgs-iterations 100] [--repeats 5]
                                  [--threads 1] [--set NAME=VALUE] [--table results/training.md]

pinnlab: ``equations/burgers.py`` with its defaults (width 20, depth 4, 4000 Sobol points,
float32, the hard-constraint output transform), the model built once by ``build_model`` from the
default run's settings (so the engine and any compilation are what ``pinnlab solve`` would use)
and trained by ``pinnlab.training.plan.build_training``, the solver's own loop (Adam with its learning-rate
schedule, then L-BFGS in chunks of ``log_every`` iterations with a strong-Wolfe line search).

DeepXDE: its Burgers example set up to match: ``Interval(-1, 1) x TimeDomain(0, 0.99)``, the
residual with ``dde.grad``, the same transform by ``net.apply_output_transform``,
``dde.data.TimePDE`` with the same number of domain points and no boundary or initial points (the
transform imposes them), an FNN of the same size (tanh, Glorot normal), ``compile("adam",
lr=1e-3)``, then ``set_LBFGS_options(maxiter=...)`` and ``compile("L-BFGS")`` (with DeepXDE 1.15's
per-call iteration limit set to maxiter too; see ``set_lbfgs_iterations``).

Each figure is the difference between two runs of different lengths from the same start,
divided by the difference in steps, so set-up, the first and last evaluations and other fixed
costs cancel out: Adam runs of ``--adam-warmup`` and ``--adam-warmup + --adam-steps`` steps; L-BFGS
runs, from the weights the longer Adam run ends with, of ``--lbfgs-warmup`` and ``--lbfgs-warmup +
--lbfgs-iterations`` iterations. L-BFGS iterations differ in cost (the line search evaluates the
loss a varying number of times), so the table also gives the time per loss evaluation (torch's
``func_evals``). Each side runs an untimed warm-up first; the sides alternate (the first side changing
from repeat to repeat, benchmarks/timing.py), ``--repeats`` times; the table gives medians and the
ratio as the median of the per-repeat ratios with its spread. Prints a Markdown table and writes results/training.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pinnlab import Problem, Settings, load_problem
from pinnlab.runtime.atomic import write_text
from pinnlab.model.field_model import build_model
from pinnlab.solver.job import resolve_settings
from pinnlab.training.resume import dotted_settings
from pinnlab.training.plan import build_training
from residuals import deepxde_installed, import_deepxde  # the sibling scripts (benchmarks/ is on sys.path)
from machine import machine_description, revision
from timing import interleaved, summarise, timed, verdict_note

ROOT = Path(__file__).resolve().parent.parent
EQUATION = ROOT / "equations" / "burgers.py"
NU = 0.01 / math.pi
UNTIMED_STEPS = 10

Timing = dict[str, float]


# --- pinnlab ----------------------------------------------------------------------------------

def default_settings(problem: Problem, args: argparse.Namespace) -> Settings:
    """What ``pinnlab solve equations/burgers.py`` runs with (plus ``--set``)."""
    return resolve_settings(problem, {**args.overrides, "output.progress": False})


def pinnlab_settings(problem: Problem, args: argparse.Namespace, steps: int, lbfgs_steps: int) -> Settings:
    """The default settings, with the step counts of one timed run."""
    return default_settings(problem, args).replace({"adam.steps": steps, "lbfgs.steps": lbfgs_steps}, "benchmark")


def pinnlab_model(problem: Problem, args: argparse.Namespace) -> torch.nn.Module:
    """The model the solver builds for the default run, so that the choices made from the whole
    run's settings (the derivative engine, compilation for long runs) are the solver's. One model
    serves every timed run (each loads its start weights), as a compiled engine is compiled for a
    model: fresh models would compile again inside the timed runs."""
    settings = default_settings(problem, args)
    torch.manual_seed(settings.numerics.seed)
    return build_model(problem, settings)


@dataclass
class PinnlabRun:
    seconds: float
    lbfgs_iterations: int
    lbfgs_evaluations: int  # over all of the run's L-BFGS instances (restarts make new ones)
    lbfgs_stop: str
    weights: dict[str, torch.Tensor]  # at the end of the run


def pinnlab_run(problem: Problem, model: torch.nn.Module, settings: Settings,
                start: dict[str, torch.Tensor]) -> PinnlabRun:
    """Time ``build_training(...).run()`` (the solver's training call) from the weights ``start``. L-BFGS
    evaluations are read at every logged step, which includes the end of every L-BFGS chunk,
    before a restart replaces the optimizer."""
    model.load_state_dict(start)
    evaluations: dict[torch.optim.Optimizer, int] = {}

    def count(step: int, losses: dict[str, float]) -> None:
        lbfgs = trainer.phase("lbfgs")
        if lbfgs is not None and lbfgs.optimizer is not None:
            evaluations[lbfgs.optimizer] = lbfgs_counts(lbfgs.optimizer)[1]

    trainer = build_training(problem, model, settings, on_log=count)
    result, seconds = timed(trainer.run)
    return PinnlabRun(seconds, result.lbfgs_iterations, sum(evaluations.values()), result.lbfgs_stop,
                      copy.deepcopy(model.state_dict()))


def lbfgs_counts(optimizer: torch.optim.LBFGS | None) -> tuple[int, int]:
    """(iterations, loss evaluations) of a torch L-BFGS so far."""
    if optimizer is None:
        return 0, 0
    state = optimizer.state_dict()["state"].get(0, {})
    return int(state.get("n_iter", 0)), int(state.get("func_evals", 0))


def pinnlab_adam(problem: Problem, model: torch.nn.Module, initial: dict[str, torch.Tensor],
                 args: argparse.Namespace) -> tuple[Timing, dict[str, torch.Tensor]]:
    """Adam from the initial weights; returns the timing and the longer run's end weights."""
    _, short, long = [pinnlab_run(problem, model, pinnlab_settings(problem, args, steps, 0), initial)
                      for steps in (UNTIMED_STEPS, args.adam_warmup, args.adam_warmup + args.adam_steps)]
    return {"adam_ms": 1e3 * (long.seconds - short.seconds) / args.adam_steps}, long.weights


def pinnlab_lbfgs(problem: Problem, model: torch.nn.Module, args: argparse.Namespace,
                  start: dict[str, torch.Tensor]) -> Timing:
    runs = []
    for iterations in (args.lbfgs_warmup, args.lbfgs_warmup + args.lbfgs_iterations):
        run = pinnlab_run(problem, model, pinnlab_settings(problem, args, 0, iterations), start)
        runs.append((run.seconds, run.lbfgs_iterations, run.lbfgs_evaluations))
    print(f"  pinnlab L-BFGS, longer run: {run.lbfgs_stop}", flush=True)
    return lbfgs_timing(runs)


def lbfgs_timing(runs: list[tuple[float, int, int]]) -> Timing:
    """Per-iteration and per-evaluation time from a short and a long run (seconds, iterations,
    evaluations) that start from the same weights."""
    (t1, i1, e1), (t2, i2, e2) = runs
    if i2 <= i1:
        raise RuntimeError(f"L-BFGS stopped after {i2} iterations, before the timed ones; lower --lbfgs-warmup")
    return {"lbfgs_ms": 1e3 * (t2 - t1) / (i2 - i1), "evals_per_iteration": (e2 - e1) / (i2 - i1),
            "eval_ms": 1e3 * (t2 - t1) / max(e2 - e1, 1), "lbfgs_timed": i2 - i1}


# --- DeepXDE ----------------------------------------------------------------------------------

def deepxde_model(dde: ModuleType, settings: Settings) -> Any:
    """DeepXDE's Burgers example with pinnlab's network size and point count, compiled for Adam."""
    dde.config.set_random_seed(settings.numerics.seed)

    def pde(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        u_x, u_t = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
        return u_t + u * u_x - NU * dde.grad.hessian(u, x, i=0, j=0)

    def hard_constraints(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        space, t = x[:, 0:1], x[:, 1:2]
        return -torch.sin(math.pi * space) + t * (1 - space**2) * u

    geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))
    data = dde.data.TimePDE(geometry, pde, [], num_domain=settings.sampling.points, num_boundary=0, num_initial=0)
    net = dde.nn.FNN([2] + [settings.network.width] * settings.network.depth + [1], "tanh", "Glorot normal")
    net.apply_output_transform(hard_constraints)
    model = dde.Model(data, net)
    with contextlib.redirect_stdout(io.StringIO()):
        model.compile("adam", lr=settings.phase("adam").lr)
    return model


def deepxde_train(model: Any, **kwargs: Any) -> float:
    """Seconds of ``model.train(...)``, its printing silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return timed(model.train, verbose=0, **kwargs)[1]


def deepxde_adam(dde: ModuleType, settings: Settings, args: argparse.Namespace) -> tuple[Timing, Any]:
    model = deepxde_model(dde, settings)
    deepxde_train(model, iterations=UNTIMED_STEPS)
    short = deepxde_train(model, iterations=args.adam_warmup)
    long = deepxde_train(model, iterations=args.adam_warmup + args.adam_steps)
    return {"adam_ms": 1e3 * (long - short) / args.adam_steps}, model


def set_lbfgs_iterations(dde: ModuleType, iterations: int) -> None:
    """``set_LBFGS_options(maxiter=...)``, plus the per-call limits DeepXDE 1.15 derives from it
    only when it is imported (so a later maxiter below 1000 would still run 1000 iterations;
    deepxde pull request #2080)."""
    dde.optimizers.set_LBFGS_options(maxiter=iterations)
    options = dde.optimizers.config.LBFGS_options
    options["iter_per_step"], options["fun_per_step"] = options["maxiter"], options["maxfun"]


def deepxde_lbfgs(dde: ModuleType, model: Any, args: argparse.Namespace) -> Timing:
    start = copy.deepcopy(model.net.state_dict())
    runs = []
    for iterations in (args.lbfgs_warmup, args.lbfgs_warmup + args.lbfgs_iterations):
        model.net.load_state_dict(start)
        set_lbfgs_iterations(dde, iterations)
        with contextlib.redirect_stdout(io.StringIO()):
            model.compile("L-BFGS")
        seconds = deepxde_train(model)
        runs.append((seconds, *lbfgs_counts(model.opt)))
    return lbfgs_timing(runs)


# --- report -----------------------------------------------------------------------------------

def medians(timings: list[Timing]) -> Timing:
    return {key: statistics.median(t[key] for t in timings) for key in timings[0]}


def ratio(pinnlab: list[Timing], deepxde: list[Timing], key: str) -> str:
    """Median of the per-repeat ratios DeepXDE / pinnlab, with its spread (benchmarks/timing.py)."""
    return summarise([d[key] / p[key] for p, d in zip(pinnlab, deepxde)]).describe() if deepxde else "-"


def report(args: argparse.Namespace, settings: Settings, pinnlab_runs: list[Timing], deepxde_runs: list[Timing],
           dde: ModuleType | None, load: str) -> list[str]:
    pinnlab, deepxde = medians(pinnlab_runs), medians(deepxde_runs) if deepxde_runs else None
    command = " ".join(["python benchmarks/training.py", *args.argv])
    versions = f", deepxde {dde.__version__}" if dde else ""
    chosen = dotted_settings(settings.as_nested())
    shown = ", ".join(f"{k}={chosen[k]}" for k in ("network.width", "network.depth", "sampling.points",
                                                   "numerics.dtype", "numerics.engine", "numerics.compile",
                                                   "output.log_every", "lbfgs.history") if k in chosen)
    lines = [
        "# Training step time, default Burgers setup", "",
        (f"`{command}`, commit {revision()}, {machine_description(torch.get_num_threads())}{versions}; "
         f"{load}."), "",
        (f"pinnlab settings: {shown}. Medians of {args.repeats} repeats; Adam over {args.adam_steps} "
         f"steps, L-BFGS over {args.lbfgs_iterations} iterations, after warm-up (see the script's "
         "docstring). The sides alternate, the first side changing each repeat. " + verdict_note()), "",
    ]
    if dde is None:
        lines += ["DeepXDE is not installed (pip install -e '.[bench]'): pinnlab only.", ""]
    heads = ["", "pinnlab"] + (["DeepXDE", "DeepXDE / pinnlab"] if deepxde else [])
    rows = [("Adam, ms per step", "adam_ms"), ("L-BFGS, ms per iteration", "lbfgs_ms"),
            ("L-BFGS, loss evaluations per iteration", "evals_per_iteration"),
            ("L-BFGS, ms per evaluation", "eval_ms")]
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for label, key in rows:
        cells = [label, f"{pinnlab[key]:.2f}"]
        if deepxde:
            cells += [f"{deepxde[key]:.2f}", ratio(pinnlab_runs, deepxde_runs, key) if key != "evals_per_iteration" else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def run_benchmark(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    problem = load_problem(EQUATION)
    settings = default_settings(problem, args)
    model = pinnlab_model(problem, args)
    initial = copy.deepcopy(model.state_dict())
    dde = import_deepxde() if deepxde_installed() else None
    if dde is None:
        print("DeepXDE is not installed (pip install -e '.[bench]'): timing pinnlab only.", flush=True)
    if settings.numerics.dtype == "float64" and dde is not None:
        dde.config.set_default_float("float64")
    pinnlab_timings: list[Timing] = []
    deepxde_timings: list[Timing] = []

    def pinnlab_side() -> None:
        adam, start = pinnlab_adam(problem, model, initial, args)
        pinnlab_timings.append({**adam, **pinnlab_lbfgs(problem, model, args, start)})
        print(f"repeat {len(pinnlab_timings)}: pinnlab " + format_timing(pinnlab_timings[-1]), flush=True)

    def deepxde_side() -> None:
        adam, dde_model = deepxde_adam(dde, settings, args)
        deepxde_timings.append({**adam, **deepxde_lbfgs(dde, dde_model, args)})
        print(f"repeat {len(deepxde_timings)}: deepxde " + format_timing(deepxde_timings[-1]), flush=True)

    sides = {"pinnlab": pinnlab_side, **({"deepxde": deepxde_side} if dde is not None else {})}
    # each side times itself (differences of runs); interleaved gives the alternation and the load
    load = interleaved(sides, args.repeats, warmup=0).load.describe()
    lines = report(args, settings, pinnlab_timings, deepxde_timings, dde, load)
    print("\n" + "\n".join(lines))
    write_text(args.table, "\n".join(lines) + "\n")
    print(f"table written to {args.table}")


def format_timing(t: Timing) -> str:
    return (f"Adam {t['adam_ms']:.2f} ms/step, L-BFGS {t['lbfgs_ms']:.2f} ms/iteration "
            f"({t['evals_per_iteration']:.2f} evaluations each, {t['eval_ms']:.2f} ms/evaluation, "
            f"{t['lbfgs_timed']:.0f} iterations timed)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam-steps", type=int, default=200, help="timed Adam steps")
    parser.add_argument("--adam-warmup", type=int, default=50, help="Adam steps of the shorter run")
    parser.add_argument("--lbfgs-iterations", type=int, default=100, help="timed L-BFGS iterations")
    parser.add_argument("--lbfgs-warmup", type=int, default=50,
                        help="L-BFGS iterations of the shorter run; a multiple of log_every (50) keeps its "
                             "chunks the first chunks of the longer run")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each side, alternating")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a pinnlab setting (repeatable), e.g. numerics.engine=jets; applies to DeepXDE's "
                             "network size, points and dtype too")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "training.md")
    args = parser.parse_args(argv)
    if min(args.adam_steps, args.lbfgs_iterations, args.repeats) < 1 or min(args.adam_warmup, args.lbfgs_warmup) < 1:
        parser.error("step counts and --repeats must be >= 1")
    malformed = [item for item in args.set if "=" not in item]
    if malformed:
        parser.error(f"--set expects NAME=VALUE, got {', '.join(malformed)}")
    args.overrides = dict(item.split("=", 1) for item in args.set)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> None:
    run_benchmark(parse_args(argv))


if __name__ == "__main__":
    main()
