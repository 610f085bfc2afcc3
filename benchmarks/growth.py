"""DWR growth against uniform refinement, fixed depth and a torchdiffeq ODE-Net, per data set and seed.

    python benchmarks/growth.py [--datasets spirals peaks ...] [--seeds 0 1 2] [--no-odenet]
                                [--jobs 2] [--cycles 12 --steps 300 --budget 32]
                                [--out results/growth.md]

Protocol (the same for every data set; width, lift and objective per data set in ``CONFIGS``):

* DWR (Doerfler marking, theta = 0.5) and uniform refinement start from the same one-layer
  network (same seed) and run ``CYCLES`` = 12 cycles of ``STEPS`` = 300 full-batch Adam steps
  (lr 1e-2) each: the same optimizer steps per cycle and the same number of cycles.  A run whose
  next refinement would pass the budget of ``BUDGET`` = 32 layers goes on training at its depth
  (``GrowthSettings.train_at_budget``): uniform refinement reaches 32 layers at cycle 6 and trains
  six more cycles there.
* "The best test accuracy uniform refinement reaches" is read two ways, both from the same runs:
  (a) *uniform stops at the budget*: uniform refinement's cycles up to the first one at 32 layers
  (1, 2, 4, ..., 32 layers, 6 cycles) against DWR's 12 cycles, so DWR trains up to twice as long;
  (b) *equal training*: all 12 cycles of both.  For each, ``L_uniform`` is the
  fewest layers at which uniform refinement reaches its best, ``L_dwr`` the fewest at which DWR
  reaches at least that accuracy, and the per-seed ratios ``L_dwr / L_uniform`` are averaged over
  the seeds; a seed where DWR never reaches it is a miss, and the mean is then not given.
* Random marking (``RandomRefinement``), the same loop as DWR: as many layers split per cycle as
  DWR's marking picks from the indicators, but at random places; a control for whether the
  estimate's placement or merely growing gradually is what saves layers.
* Fixed depth: networks of 1, 2, 4, ..., 32 layers trained from scratch for as many cycles as
  uniform refinement spends to reach that depth (``fixed_depth_sweep``).
* ODE-Net (``pinnlab.growth.continuous``): one set of weights for all of [0, T], the same width
  and T, a linear input layer, ``ODENET_STEPS`` = 600 full-batch Adam steps (lr 1e-2; a growth run
  spends 3600: a solve costs 16 to 70 field evaluations per forward pass, and the benchmark has to
  stay well within an hour), through ``torchdiffeq.odeint`` with rk4 (fixed step h = T/4),
  through ``odeint_adjoint`` with the same rk4 steps, and through ``odeint`` with dopri5 (rtol 1e-3,
  atol 1e-4).

Prints each run's (layers, test accuracy) curves and writes the tables to ``--out``.  Every
(data set, seed) pair runs with one thread (``torch.set_num_threads(1)``); ``--jobs N`` runs N
pairs side by side in worker processes, with the same results as one after another.
``--cycles``, ``--steps`` and ``--budget`` shrink the protocol for a quick look (the tables then
say so in the command line they print).  The default run (9 data sets, 3 seeds) with
``--jobs 2`` took 15 minutes wall, 30 minutes CPU on a two-core machine (2026-12-06); of the
CPU time, 21 minutes went to the growth runs (digits 2.5 minutes per seed, the other sets about
half a minute) and 9 to the ODE-Net runs (``--no-odenet`` leaves them out).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import Stopwatch  # noqa: E402  (the sibling module)
from pinnlab.runtime.atomic import write_text  # noqa: E402
from pinnlab.growth import (  # noqa: E402
    Adam,
    ContinuousSettings,
    Doerfler,
    DWRRefinement,
    GrowthSettings,
    Objective,
    RandomRefinement,
    UniformRefinement,
    fixed_depth_sweep,
    grow,
    load_dataset,
    train_ode_net,
)

# Narrow states, so that depth matters (a wide single layer already separates most toy sets).
CONFIGS: dict[str, GrowthSettings] = {
    "spirals": GrowthSettings(width=3, final_time=2.0),
    "spirals3": GrowthSettings(width=3, final_time=2.0),
    "rings": GrowthSettings(width=3, final_time=2.0),
    "peaks": GrowthSettings(width=4, final_time=2.0),
    "circles": GrowthSettings(width=3, final_time=2.0, lift="augment"),
    "spheres": GrowthSettings(width=4, final_time=2.0, lift="augment"),
    "moons": GrowthSettings(width=2, final_time=2.0),
    "digits": GrowthSettings(width=32, final_time=2.0, objective=Objective(alpha=1e-2, beta=1e-4, gamma=1e-2)),
    "breast_cancer": GrowthSettings(width=2, final_time=2.0),
}
BUDGET = 32
CYCLES = 12
STEPS = 300
ODENET_STEPS = 600
# (column title, solver settings); width, T, steps and seed are set per run
ODENETS: list[tuple[str, ContinuousSettings]] = [
    ("rk4, odeint", ContinuousSettings(method="rk4", step_size=0.5)),
    ("rk4, odeint_adjoint", ContinuousSettings(method="rk4", step_size=0.5, adjoint=True)),
    ("dopri5, odeint", ContinuousSettings(method="dopri5", rtol=1e-3, atol=1e-4)),
]


def first_reaching(cycles: list, accuracy: float) -> int | None:
    hits = [c.layers for c in cycles if c.test_accuracy >= accuracy - 1e-12]
    return min(hits) if hits else None


def cycles_to_reach(cycles: list, accuracy: float) -> int | None:
    hits = [c.cycle + 1 for c in cycles if c.test_accuracy >= accuracy - 1e-12]
    return min(hits) if hits else None


def at_best_validation(cycles: list) -> float:
    return max(cycles, key=lambda c: (c.val_accuracy, -c.cycle)).test_accuracy


def until_budget(cycles: list) -> list:
    """Uniform refinement's cycles up to the first one at its largest depth (the loop that stops
    when the next doubling would pass the budget)."""
    top = max(c.layers for c in cycles)
    return cycles[: next(i for i, c in enumerate(cycles) if c.layers == top) + 1]


def comparison(uniform: list, others: dict[str, list]) -> dict:
    best = max(c.test_accuracy for c in uniform)
    layers_uniform = first_reaching(uniform, best)
    out: dict = {"best": best, "layers_uniform": layers_uniform, "cycles_uniform": cycles_to_reach(uniform, best)}
    for name, cycles in others.items():
        layers = first_reaching(cycles, best)
        out[name] = {"layers": layers, "ratio": None if layers is None else layers / layers_uniform,
                     "cycles": cycles_to_reach(cycles, best)}
    return out


def protocol_settings(name: str, seed: int, cycles: int = CYCLES, steps: int = STEPS,
                      budget: int = BUDGET) -> GrowthSettings:
    """The settings every growth strategy of one (data set, seed) run trains with."""
    return replace(CONFIGS[name], budget_layers=budget, max_cycles=cycles, train_at_budget=True,
                   optimizer=Adam(steps, 1e-2), seed=seed)


def run_one(name: str, seed: int, odenet: bool, cycles: int = CYCLES, steps: int = STEPS,
            budget: int = BUDGET) -> dict:
    base = protocol_settings(name, seed, cycles, steps, budget)
    data = load_dataset(name, seed=seed)
    watch, cpu_started = Stopwatch(), time.process_time()
    dwr = grow(data, DWRRefinement(Doerfler(0.5)), base).cycles
    uniform = grow(data, UniformRefinement(), base).cycles
    random = grow(data, RandomRefinement(Doerfler(0.5), seed=seed), base).cycles
    depths = [2**i for i in range(budget.bit_length())]
    fixed = fixed_depth_sweep(data, depths, replace(base, train_at_budget=False))
    growth_s = watch.elapsed()
    best_fixed = max(c.test_accuracy for c in fixed)
    others = {"dwr": dwr, "random": random}
    row = {
        "dataset": name,
        "seed": seed,
        "stops": comparison(until_budget(uniform), others),
        "equal": comparison(uniform, others),
        "best_dwr": max(c.test_accuracy for c in dwr),
        "layers_best_dwr": first_reaching(dwr, max(c.test_accuracy for c in dwr)),
        "dwr_at_best_val": at_best_validation(dwr),
        "uniform_at_best_val": at_best_validation(uniform),
        "best_random": max(c.test_accuracy for c in random),
        "layers_best_random": first_reaching(random, max(c.test_accuracy for c in random)),
        "best_fixed": best_fixed,
        "layers_best_fixed": first_reaching(fixed, best_fixed),
        "curves": {"dwr": [(c.layers, c.test_accuracy) for c in dwr],
                   "uniform": [(c.layers, c.test_accuracy) for c in uniform],
                   "random": [(c.layers, c.test_accuracy) for c in random],
                   "fixed": [(c.layers, c.test_accuracy) for c in fixed]},
        "growth_s": growth_s,
        "odenet": {},
    }
    if odenet:
        for title, spec in ODENETS:
            spec = replace(spec, width=base.width, final_time=base.final_time, steps=ODENET_STEPS, seed=seed)
            result = train_ode_net(data, spec)
            row["odenet"][title] = (result.test_accuracy, result.evaluations_per_forward, result.wall_time_s)
    row["cpu_s"] = time.process_time() - cpu_started
    return row


def _one_thread() -> None:
    torch.set_num_threads(1)


def run_all(datasets: list[str], seeds: list[int], odenet: bool, jobs: int, **protocol: int) -> list[dict]:
    """Every (data set, seed) run, ``jobs`` worker processes side by side, one thread each; rows in
    the order of the arguments, each printed as soon as it and all before it are done."""
    tasks = [(name, seed) for name in datasets for seed in seeds]
    if jobs <= 1:
        _one_thread()
        results = (run_one(name, seed, odenet, **protocol) for name, seed in tasks)
        return [_report(row) for row in results]
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread) as pool:
        futures = [pool.submit(run_one, name, seed, odenet, **protocol) for name, seed in tasks]
        return [_report(future.result()) for future in futures]


def _report(row: dict) -> dict:
    print(curves([row]), f"\n  ({row['growth_s']:.0f} s growth; ODE-Net {row['odenet']})", flush=True)
    return row


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.{0 if seconds >= 600 else 1}f} minutes"


def _pct(values: list[float]) -> str:
    return f"{100 * np.mean(values):.2f}%"


def _ratios(parts: list[dict], strategy: str) -> list[str]:
    """Mean layers over the seeds that reach, per-seed ratios, mean ratio (or miss)."""
    entries = [p[strategy] for p in parts]
    reached = [e for e in entries if e["layers"] is not None]
    layers = _fmt(np.mean([e["layers"] for e in reached]) if reached else None)
    if len(reached) < len(entries):
        layers += f" ({len(reached)}/{len(entries)})"
    ratios = [e["ratio"] for e in entries]
    per_seed = " / ".join("miss" if x is None else f"{x:.2f}" for x in ratios)
    mean = "miss" if any(x is None for x in ratios) else f"**{np.mean(ratios):.2f}**"
    return [layers, per_seed, mean]


def layers_table(rows: list[dict]) -> str:
    lines = [
        ("| data set | width | uniform | uniform best | layers uniform | layers DWR | DWR / uniform per seed | mean "
         "| layers random | random / uniform per seed | mean | cycles uniform / DWR / random |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        for key, label in (("stops", "(a) stops at budget"), ("equal", "(b) equal training")):
            parts = [r[key] for r in rs]

            def cycles(values: list) -> str:
                values = [v for v in values if v is not None]
                return _fmt(np.mean(values)) if values else "-"

            cells = [
                name, str(CONFIGS[name].width), label,
                _pct([p["best"] for p in parts]),
                _fmt(np.mean([p["layers_uniform"] for p in parts])),
                *_ratios(parts, "dwr"),
                *_ratios(parts, "random"),
                " / ".join([cycles([p["cycles_uniform"] for p in parts]), cycles([p["dwr"]["cycles"] for p in parts]),
                            cycles([p["random"]["cycles"] for p in parts])]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def accuracy_table(rows: list[dict], odenet: bool) -> str:
    titles = [title for title, _ in ODENETS] if odenet else []
    lines = [
        "| data set | DWR best (layers) | uniform best (layers) | random best (layers) | fixed best (layers) "
        "| DWR / uniform at best val. "
        + "".join(f"| ODE-Net {t} " for t in titles) + "| growth runs (s) |",
        "|---|---|---|---|---|---" + "|---" * len(titles) + "|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        cells = [
            name,
            f"{_pct([r['best_dwr'] for r in rs])} ({_fmt(np.mean([r['layers_best_dwr'] for r in rs]))})",
            f"{_pct([r['equal']['best'] for r in rs])} ({_fmt(np.mean([r['equal']['layers_uniform'] for r in rs]))})",
            f"{_pct([r['best_random'] for r in rs])} ({_fmt(np.mean([r['layers_best_random'] for r in rs]))})",
            f"{_pct([r['best_fixed'] for r in rs])} ({_fmt(np.mean([r['layers_best_fixed'] for r in rs]))})",
            f"{_pct([r['dwr_at_best_val'] for r in rs])} / {_pct([r['uniform_at_best_val'] for r in rs])}",
        ]
        for title in titles:
            results = [r["odenet"][title] for r in rs]
            cells.append(f"{_pct([a for a, _, _ in results])} ({np.mean([e for _, e, _ in results]):.0f} evals, "
                         f"{np.mean([s for _, _, s in results]):.0f} s)")
        cells.append(f"{np.mean([r['growth_s'] for r in rs]):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curves(rows: list[dict]) -> str:
    def fmt(curve: list) -> str:
        return " ".join(f"{layers}:{100 * acc:.2f}" for layers, acc in curve)

    out = []
    for r in rows:
        out.append(f"{r['dataset']} seed {r['seed']}\n  dwr     {fmt(r['curves']['dwr'])}\n"
                   f"  uniform {fmt(r['curves']['uniform'])}\n  random  {fmt(r['curves']['random'])}\n"
                   f"  fixed   {fmt(r['curves']['fixed'])}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-odenet", action="store_true", help="leave out the torchdiffeq ODE-Net columns")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side, each in its own process with one thread (default 1)")
    parser.add_argument("--cycles", type=int, default=CYCLES, help=f"refinement cycles per run (default {CYCLES})")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"Adam steps per cycle (default {STEPS})")
    parser.add_argument("--budget", type=int, default=BUDGET, help=f"layer budget (default {BUDGET})")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "growth.md")
    args = parser.parse_args()
    for flag in ("jobs", "cycles", "steps", "budget"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    odenet = not args.no_odenet
    cycles, steps, budget = args.cycles, args.steps, args.budget
    watch = Stopwatch()
    rows = run_all(args.datasets, args.seeds, odenet, args.jobs, cycles=cycles, steps=steps, budget=budget)
    total, cpu = watch.elapsed(), sum(row["cpu_s"] for row in rows)
    protocol = {"cycles": (cycles, CYCLES), "steps": (steps, STEPS), "budget": (budget, BUDGET)}
    command = (f"python benchmarks/growth.py --datasets {' '.join(args.datasets)} "
               f"--seeds {' '.join(map(str, args.seeds))}" + (" --no-odenet" if not odenet else "")
               + "".join(f" --{flag} {value}" for flag, (value, default) in protocol.items() if value != default)
               + (f" --jobs {args.jobs}" if args.jobs > 1 else ""))
    uniform_cycles = budget.bit_length()  # 1, 2, 4, ... layers up to the budget
    text = (
        "# Growth benchmark: DWR vs uniform refinement vs fixed depth vs ODE-Net\n\n"
        f"`{command}`: {_minutes(total)} wall, {_minutes(cpu)} CPU, Python {platform.python_version()}, "
        f"torch {torch.__version__}, 1 thread per run, {args.jobs} side by side. Protocol in the docstring of "
        "`benchmarks/growth.py`: full batch, float64, "
        f"{steps} Adam steps (lr 1e-2) per cycle; DWR (Doerfler theta = 0.5), uniform refinement and random "
        f"marking each run {cycles} cycles from the same one-layer network and train on at {budget} layers once "
        "they get there; T = 2; width and lift per data set (circles, spheres: zero-augmented input; digits: "
        f"alpha = gamma = 1e-2, else 1e-4 / 1e-5); mean over seeds {', '.join(map(str, args.seeds))}.\n\n"
        "## Layers DWR needs to reach uniform refinement's best test accuracy\n\n"
        + layers_table(rows)
        + "\n\n(a) *uniform stops at the budget*: uniform refinement's best over 1, 2, 4, ..., "
        f"{budget} layers (its first {uniform_cycles} cycles), against all {cycles} cycles of DWR, which so trains up "
        f"to {cycles / uniform_cycles:.3g} times as long. (b) *equal training*: the best over all {cycles} cycles "
        "of each. Layers: the fewest at which uniform refinement reaches its best, and at which DWR (or random "
        "marking) reaches at least it (mean over the seeds that do, `(k/n)` when only k of n do); the ratio per "
        "seed and its mean (`miss` when a seed never reaches it); the cycles of "
        f"{steps} steps each spent to get there. *Random marking* splits as many layers per cycle as DWR's "
        "marking picks from its own indicators, at random places: a control for where the estimate splits.\n\n"
        "## Test accuracy side by side\n\n"
        + accuracy_table(rows, odenet)
        + "\n\nBest test accuracy over the cycles and the layers where it is first reached (mean over seeds; "
        f"uniform: all {cycles} cycles); fixed depth: networks of 1, 2, 4, ..., {budget} layers trained from scratch "
        "as long as uniform refinement trains to reach that depth; the test accuracy of DWR and of uniform "
        "refinement at the cycle with the best validation accuracy (the model one would pick without the test set); "
        + (f"ODE-Net: one weight set on [0, T], {ODENET_STEPS} Adam steps, final test accuracy, field "
           "evaluations per forward pass and training time per run; " if odenet else "")
        + "wall time of the four growth runs (DWR, uniform, random, fixed) per seed.\n\n"
        "## Per-seed curves (layers:test accuracy %, one entry per cycle)\n\n```\n" + curves(rows) + "\n```\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
