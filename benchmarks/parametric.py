"""Cheap-label pretraining for a family: physics alone from a random start against labels first.

    python benchmarks/parametric.py [--family burgers|heat] [--seeds 10] [--sweep] [--out FILE.json]
                                    [--pretrain 300] [--adam 500] [--lbfgs 1000] [--points 2000]
                                    [--then fade|keep] [--weight 1.0] [--pretrain-optimizer adam|lbfgs]
                                    [--labels-grid 256x51 --labels-instances 9 --labels-points 6000]
                                    [--amortised] [--rounds 15]

Both arms train the same network (``--width`` x ``--depth``), on the same points and refinement
(the module's), with the same number of optimizer steps: ``physics`` runs Adam for ``--pretrain``
+ ``--adam`` steps, then ``--lbfgs`` L-BFGS iterations; ``pretrain`` fits the module's cheap labels
(pinnlab/problem/labels.py, or method-of-lines labels on ``--labels-grid``) for ``--pretrain`` steps
of ``--pretrain-optimizer`` (Adam or L-BFGS), then the same Adam and L-BFGS with the labels'
term faded out from ``--weight`` (``--then fade``), or kept at ``--weight`` (``keep``). Seeds run interleaved, the arms' order rotated from
seed to seed. Time is the training thread's CPU time (``time.thread_time``, the labels' own solve
included), so the machine's load does not bias it, and the optimizer steps.

Each run's held-out error (the mean over the module's held-out instances of the relative L2
error, on a coarse evaluation grid, against the closed-form reference) is measured every
``--every`` steps, outside the timed thread time; reported: the time and steps to reach a mean
of ``--target`` (and of 3x it), the final mean and maximum (on the module's own grid), and the
degenerate runs (final mean above 10x the arm's median). ``--sweep`` adds the label-quality
sweep (method-of-lines grids of several coarsenesses; 10%, 30% and 100% of 10 label instances),
3 seeds each. ``--amortised`` comes last: the cost of a new instance from the trained family model
(pinnlab.output.family.predict_instances: parameter values and a grid in, numpy arrays out) on
256 x 101, 101 x 101 and 64 x 64 grids, float32 and float64 (a float64 copy of the model), 1 and
2 torch threads, 1, 8 and 64 instances a call, as the median and quartiles over ``--rounds``
rounds that time every configuration in turn; beside it the older per-instance path (an
InstanceModel through predict_on_grid) and the thread seconds of one instance solved alone at
the same budget.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import machine_description, revision  # noqa: E402  (the sibling modules)
from timing import Load, interleaved  # noqa: E402

from pinnlab.model.field_model import build_model  # noqa: E402
from pinnlab.output.accuracy import box_axes, predict_on_grid  # noqa: E402
from pinnlab.output.evaluation import predict  # noqa: E402
from pinnlab.output.family import evaluate_family, instance_of, predict_instances  # noqa: E402
from pinnlab.problem.equation_module import Problem, load_problem  # noqa: E402
from pinnlab.problem.labels import MethodOfLines, attach_labels, check_labels  # noqa: E402
from pinnlab.problem.reference import ReferenceGrid  # noqa: E402
from pinnlab.runtime.threads import thread_limit  # noqa: E402
from pinnlab.solver.settings import Settings, resolve_settings  # noqa: E402
from pinnlab.training.trainer import train  # noqa: E402

FAMILIES = {"burgers": ROOT / "equations" / "burgers_family.py", "heat": ROOT / "equations" / "heat_family.py"}
SWEEP_GRIDS = {"burgers": ((16, 26), (64, 51), (256, 51)), "heat": ((4, 26), (8, 26), (16, 26))}
SWEEP_FRACTIONS = (0.1, 0.3, 1.0)
POOL = 10  # label instances at 100 %


@dataclass(frozen=True)
class Budget:
    width: int = 20
    depth: int = 4
    points: int = 2000
    pretrain: int = 300
    adam: int = 500
    lbfgs: int = 1000
    every: int = 50
    then: str = "fade"
    weight: float = 1.0
    pretrain_optimizer: str = "adam"


@dataclass
class Run:
    arm: str
    seed: int
    thread_s: float = 0.0
    steps: int = 0
    final_mean: float = float("nan")
    final_max: float = float("nan")
    label_error: float | None = None
    label_s: float = 0.0
    curve: list[tuple[int, float, float]] = field(default_factory=list)  # (step, thread s, mean)

    def reached(self, target: float) -> tuple[int, float] | None:
        """(steps, thread seconds) at the first measurement with a mean error <= target."""
        return next(((s, t) for s, t, e in self.curve if e <= target), None)


class Judge:
    """Mean and max relative L2 over the held-out instances on a coarse grid (references once)."""

    def __init__(self, problem: Problem, grid: tuple[int, int] = (64, 26)) -> None:
        lower, upper = problem.domain.bounds()
        axes = [np.linspace(lo, hi, n) for lo, hi, n in zip(lower, upper, grid)]
        points = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
        self.blocks = []
        for values in problem.held_out:
            instance = problem.instance(values)
            exact = problem.reference.at_points(instance.layout, points)[problem.fields[0]]
            rows = np.column_stack([points, problem.parameters.columns(values, len(points))])
            self.blocks.append((rows, exact))

    def __call__(self, model: torch.nn.Module) -> tuple[float, float]:
        errors = [np.linalg.norm(predict(model, rows)[:, 0] - exact) / np.linalg.norm(exact)
                  for rows, exact in self.blocks]
        return float(np.mean(errors)), float(np.max(errors))


def arm_settings(problem: Problem, arm: str, budget: Budget, seed: int) -> Settings:
    physics = arm == "physics" or arm == "single"
    overrides: dict[str, Any] = {
        "phases": "adam,lbfgs" if physics else "pretrain,adam,lbfgs",
        "network.width": budget.width, "network.depth": budget.depth, "sampling.points": budget.points,
        "adam.steps": budget.adam + (budget.pretrain if physics else 0), "lbfgs.steps": budget.lbfgs,
        "numerics.seed": seed, "numerics.threads": 1, "output.progress": False, "output.log_every": budget.every,
        "checkpoint.every": 10**9,
    }
    if not physics:
        overrides.update({"pretrain.steps": budget.pretrain, "pretrain.then": budget.then,
                          "pretrain.weight": budget.weight, "pretrain.optimizer": budget.pretrain_optimizer})
    return resolve_settings(problem, overrides)


def run_once(problem: Problem, arm: str, seed: int, budget: Budget, judge: Judge,
             labels: MethodOfLines | None = None) -> Run:
    """One training; ``labels`` replaces the module's (the sweep)."""
    run = Run(arm, seed)
    spent = [0.0]  # thread seconds of the error measurements, taken out of the timings
    started = time.thread_time()
    if arm == "pretrain":
        if labels is not None:
            problem = dataclasses.replace(problem, labels=check_labels(labels, problem))
        problem, report = attach_labels(problem)
        run.label_error, run.label_s = report.mean, time.thread_time() - started
    settings = arm_settings(problem, arm, budget, seed)
    torch.manual_seed(seed)
    model = build_model(problem, settings)

    def measure(step: int, losses: dict[str, float]) -> None:
        before = time.thread_time()
        mean, _ = judge(model)
        run.curve.append((step, before - started - spent[0], mean))
        spent[0] += time.thread_time() - before

    result = train(problem, model, settings, on_log=measure)
    run.thread_s, run.steps = time.thread_time() - started - spent[0], result.steps
    if problem.parameters:
        held_out = evaluate_family(problem, model, settings)
        errors = [r.rel_l2[problem.fields[0]] for r in held_out]
        run.final_mean, run.final_max = float(np.mean(errors)), float(np.max(errors))
    return run


def interleaved_runs(problem: Problem, arms: list[str], seeds: int, budget: Budget, judge: Judge,
                     labels: MethodOfLines | None = None, log: bool = True) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {arm: [] for arm in arms}
    for seed in range(seeds):
        order = arms[seed % len(arms):] + arms[:seed % len(arms)]
        for arm in order:
            run = run_once(problem, arm, seed, budget, judge, labels)
            runs[arm].append(run)
            if log:
                print(f"  seed {seed} {arm}: final mean {run.final_mean:.2e} max {run.final_max:.2e}, "
                      f"{run.thread_s:.1f} thread s", file=sys.stderr, flush=True)
    return runs


def summary(runs: list[Run], target: float) -> dict[str, Any]:
    means = [r.final_mean for r in runs]
    median = statistics.median(means)
    found = {}
    for goal in (3 * target, target):
        hits = [r.reached(goal) for r in runs]
        done = [h for h in hits if h is not None]
        found[f"{goal:.0e}"] = {"reached": len(done), "runs": len(runs),
                                "median_steps": statistics.median(h[0] for h in done) if done else None,
                                "median_thread_s": statistics.median(h[1] for h in done) if done else None}
    return {"final_mean_median": median, "final_mean_min": min(means), "final_mean_max": max(means),
            "final_max_median": statistics.median(r.final_max for r in runs),
            "degenerate": sum(1 for m in means if m > 10 * median),
            "thread_s_median": statistics.median(r.thread_s for r in runs),
            "label_error": runs[0].label_error, "label_s": runs[0].label_s, "to_target": found}


def table(rows: dict[str, dict[str, Any]], target: float) -> str:
    goals = [f"{3 * target:.0e}", f"{target:.0e}"]
    head = ("| arm | labels' error | final mean (median, min-max) | final max (median) | degenerate | "
            + " | ".join(f"reached {g}: runs, median steps, median thread s" for g in goals) + " | thread s |")
    lines = [head, "|" + "---|" * (6 + len(goals))]
    for name, s in rows.items():
        cells = []
        for g in goals:
            t = s["to_target"][g]
            cells.append(f"{t['reached']}/{t['runs']}" + (f", {t['median_steps']:.0f}, {t['median_thread_s']:.1f}"
                                                          if t["reached"] else ""))
        label = f"{s['label_error']:.1e}" if s["label_error"] is not None else "-"
        lines.append(f"| {name} | {label} | {s['final_mean_median']:.2e} ({s['final_mean_min']:.1e}-"
                     f"{s['final_mean_max']:.1e}) | {s['final_max_median']:.2e} | {s['degenerate']} | "
                     + " | ".join(cells) + f" | {s['thread_s_median']:.1f} |")
    return "\n".join(lines)


AMORTISED_GRIDS = ((256, 101), (101, 101), (64, 64))
AMORTISED_BATCHES = (1, 8, 64)
AMORTISED_DTYPES = ("float32", "float64")
AMORTISED_THREADS = (1, 2)


@dataclass(frozen=True)
class Timing:
    """One configuration of the new-instance timings: ``path`` ``fast`` is predict_instances,
    ``grid`` the older per-instance path (an InstanceModel through predict_on_grid)."""

    grid: tuple[int, int]
    dtype: str
    threads: int
    batch: int
    path: str = "fast"

    @property
    def name(self) -> str:
        return f"{self.path} {self.grid[0]}x{self.grid[1]} {self.dtype} {self.threads}t x{self.batch}"


def instance_values(problem: Problem, count: int) -> list[dict[str, float]]:
    """``count`` parameter values at the midpoints of ``count`` equal cells of each parameter's
    range (none of them a held-out value of the modules here)."""
    unit = np.repeat(((np.arange(count) + 0.5) / count)[:, None], len(problem.parameters), axis=1)
    return [dict(zip(problem.parameters.names, map(float, row))) for row in problem.parameters.scale(unit)]


def time_instances(problem: Problem, model: torch.nn.Module, rounds: int) -> tuple[list[dict[str, Any]], Load]:
    """Milliseconds per new instance (the call's wall time over its instances; the call returns
    each instance's numpy arrays on the grid) for every grid, dtype, thread count and batch size,
    timed by benchmarks/timing.py's ``interleaved`` (``rounds`` rounds of every configuration,
    one untimed call each first), with the machine's load over the rounds."""
    models = {dtype: copy.deepcopy(model).to(getattr(torch, dtype)) for dtype in AMORTISED_DTYPES}
    values = instance_values(problem, max(AMORTISED_BATCHES))
    configs = [Timing(g, d, t, b) for g in AMORTISED_GRIDS for d in AMORTISED_DTYPES for t in AMORTISED_THREADS
               for b in AMORTISED_BATCHES]
    configs += [Timing(AMORTISED_GRIDS[0], d, 1, 1, "grid") for d in AMORTISED_DTYPES]

    def call(config: Timing) -> Callable[[], object]:
        chosen, model_d = values[:config.batch], models[config.dtype]
        if config.path == "fast":
            return lambda: predict_instances(problem, model_d, chosen, config.grid, threads=config.threads)
        instance, instance_model = instance_of(problem, model_d, chosen[0])  # set up outside the timing
        grid = ReferenceGrid(box_axes(instance, config.grid), {})

        def on_grid() -> None:
            with thread_limit(config.threads, blas=False):
                predict_on_grid(instance_model, instance, grid)
        return on_grid

    timing = interleaved({config.name: call(config) for config in configs}, rounds)
    rows = []
    for config in configs:
        times = [1e3 * seconds / config.batch for seconds in timing.times[config.name]]
        q1, median, q3 = np.percentile(times, [25, 50, 75])
        rows.append({**dataclasses.asdict(config), "points": config.grid[0] * config.grid[1], "calls": len(times),
                     "ms_median": float(median), "ms_q1": float(q1), "ms_q3": float(q3),
                     "ms_min": float(min(times)), "ms_max": float(max(times))})
    return rows, timing.load


def timing_table(rows: list[dict[str, Any]], limit_ms: float = 10.0) -> str:
    lines = ["| path | grid (points) | dtype | threads | instances a call | ms per instance: median (quartiles) "
             "| min - max | <= 10 ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['path']} | {r['grid'][0]} x {r['grid'][1]} ({r['points']}) | {r['dtype']} | "
                     f"{r['threads']} | {r['batch']} | {r['ms_median']:.2f} ({r['ms_q1']:.2f}-{r['ms_q3']:.2f}) | "
                     f"{r['ms_min']:.2f} - {r['ms_max']:.2f} | {'yes' if r['ms_median'] <= limit_ms else 'no'} |")
    return "\n".join(lines)


def amortised(problem: Problem, budget: Budget, rounds: int) -> dict[str, Any]:
    """ms per new instance from a family model (pretrained arm; a float64 copy for the float64
    rows) against one instance's solve at the same budget."""
    settings = arm_settings(problem, "pretrain", budget, 0)
    labelled, _ = attach_labels(problem)
    torch.manual_seed(0)
    model = build_model(labelled, settings)
    train(labelled, model, settings)
    timings, load = time_instances(problem, model, rounds)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    reference = next(r for r in timings if r["path"] == "fast" and tuple(r["grid"]) == AMORTISED_GRIDS[0]
                     and r["dtype"] == dtype and r["threads"] == 1 and r["batch"] == 1)
    middle = problem.held_out[len(problem.held_out) // 2]
    single = problem.instance(middle)
    single_settings = arm_settings(single, "single", budget, 0)
    torch.manual_seed(0)
    single_model = build_model(single, single_settings)
    started = time.thread_time()
    train(single, single_model, single_settings)
    return {"instance": middle, "instance_ms_median": reference["ms_median"], "dtype": dtype,
            "timings": timings, "load_average": [load.load_before, load.load_after],
            "single_solve_thread_s": time.thread_time() - started}


def grid_size(text: str) -> tuple[int, int]:
    """``NxM`` as (N, M), for --labels-grid."""
    parts = text.split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 3 for p in parts):
        raise argparse.ArgumentTypeError(f"expected nodes x times, each >= 3, e.g. 256x51; got '{text}'")
    return int(parts[0]), int(parts[1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), default="burgers")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--target", type=float, default=1e-2)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--sweep-seeds", type=int, default=3)
    parser.add_argument("--amortised", action="store_true")
    parser.add_argument("--rounds", type=int, default=15, help="--amortised: timing rounds")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--labels-grid", type=grid_size, help="the module's labels on this grid instead, "
                        "e.g. 256x51 (nodes in x, times)")
    parser.add_argument("--labels-instances", type=int, help="with --labels-grid: labelled parameter values")
    parser.add_argument("--labels-points", type=int, help="with --labels-grid: label rows kept")
    for name, default in dataclasses.asdict(Budget()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(default), default=default)
    args = parser.parse_args(argv)
    if (args.labels_instances or args.labels_points) and not args.labels_grid:
        parser.error("--labels-instances and --labels-points go with --labels-grid")
    torch.set_num_threads(1)
    budget = Budget(**{name: getattr(args, name) for name in dataclasses.asdict(Budget())})
    problem = load_problem(FAMILIES[args.family])
    judge = Judge(problem)
    started = time.perf_counter()
    print(f"# {args.family} family, {args.seeds} seeds, budget {budget}; {machine_description(1)}; "
          f"commit {revision()}")
    labels = None
    if args.labels_grid:
        labels = dataclasses.replace(problem.labels, grid=args.labels_grid)
        if args.labels_instances:
            labels = dataclasses.replace(labels, instances=args.labels_instances)
        if args.labels_points:
            labels = dataclasses.replace(labels, points=args.labels_points)
        print(f"# labels: {labels}")
    runs = interleaved_runs(problem, ["physics", "pretrain"], args.seeds, budget, judge, labels)
    rows = {arm: summary(r, args.target) for arm, r in runs.items() if r}
    if rows:  # --seeds 0: the sweep or the amortised cost alone
        print(table(rows, args.target))
    result: dict[str, Any] = {"family": args.family, "budget": dataclasses.asdict(budget), "main": rows,
                              "runs": {a: [dataclasses.asdict(r) for r in rs] for a, rs in runs.items()}}
    if args.sweep:
        sweep: dict[str, dict[str, Any]] = {}
        base = problem.labels
        for grid in SWEEP_GRIDS[args.family]:
            spec = dataclasses.replace(base, grid=grid)
            found = interleaved_runs(problem, ["pretrain"], args.sweep_seeds, budget, judge, spec)
            sweep[f"grid {grid[0]}x{grid[1]}, {base.instances} instances"] = summary(found["pretrain"], args.target)
        for fraction in SWEEP_FRACTIONS:
            spec = dataclasses.replace(base, instances=max(1, round(fraction * POOL)))
            found = interleaved_runs(problem, ["pretrain"], args.sweep_seeds, budget, judge, spec)
            sweep[f"{fraction:.0%} of {POOL} instances labelled ({spec.instances})"] = summary(found["pretrain"],
                                                                                               args.target)
        print(table(sweep, args.target))
        result["sweep"] = sweep
    if args.amortised:
        result["amortised"] = amortised(problem, budget, args.rounds)
        a = result["amortised"]
        print(f"new instances (load average {a['load_average'][0]:.1f} before, {a['load_average'][1]:.1f} after):")
        print(timing_table(a["timings"]))
        print(f"amortised: {a['instance_ms_median']:.1f} ms per new instance ({a['dtype']}, 1 thread, one instance "
              f"on {AMORTISED_GRIDS[0][0]} x {AMORTISED_GRIDS[0][1]}), against "
              f"{a['single_solve_thread_s']:.1f} thread s for one instance solved alone at the same budget")
    print(f"total {time.perf_counter() - started:.0f} s wall")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()
