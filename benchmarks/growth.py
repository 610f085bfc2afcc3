"""DWR growth against uniform refinement and fixed depth, per data set and seed.

    python benchmarks/growth.py [--datasets spirals peaks digits ...] [--seeds 0 1 2] [--odenet]
                                [--out results/growth.md]

For each data set and seed: a DWR run (Doerfler marking, theta = 0.5), a uniform-refinement
run (depth 1, 2, 4, ..., 32) and fixed networks of depth 1, 2, 4, ... trained as long as uniform
refinement trains to reach that depth, all with the same settings, optimizer steps per cycle
and seed.  The comparison the issue asks for: ``best`` is the best test accuracy uniform
refinement reaches, ``L_uniform`` the fewest layers at which it reaches it, ``L_dwr`` the fewest
layers at which DWR reaches at least that accuracy; ``L_dwr / L_uniform`` is averaged over seeds
(a seed where DWR never reaches ``best`` counts as a miss).  With ``--odenet`` a torchdiffeq
dopri5 ODE-Net is trained as long as the DWR run.  Prints a Markdown table and writes it.
Runs single-threaded (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pinnlab.atomic import write_text  # noqa: E402
from pinnlab.growth import (  # noqa: E402
    Adam,
    ContinuousSettings,
    Doerfler,
    DWRRefinement,
    GrowthSettings,
    Objective,
    UniformRefinement,
    fixed_depth_sweep,
    grow,
    load_dataset,
    train_ode_net,
)

# Narrow states, so that depth matters (a wide single layer already separates most toy sets).
CONFIGS: dict[str, GrowthSettings] = {
    "spirals": GrowthSettings(width=3, final_time=2.0),
    "circles": GrowthSettings(width=3, final_time=2.0, lift="augment"),
    "spheres": GrowthSettings(width=4, final_time=2.0, lift="augment"),
    "moons": GrowthSettings(width=2, final_time=2.0),
    "peaks": GrowthSettings(width=4, final_time=2.0),
    "digits": GrowthSettings(width=32, final_time=2.0, objective=Objective(alpha=1e-2, beta=1e-4, gamma=1e-2)),
    "breast_cancer": GrowthSettings(width=2, final_time=2.0),
}
BUDGET = 32
DWR_CYCLES = 12
STEPS = 300


def first_reaching(cycles: list, accuracy: float) -> int | None:
    hits = [c.layers for c in cycles if c.test_accuracy >= accuracy - 1e-12]
    return min(hits) if hits else None


def cycles_to_reach(cycles: list, accuracy: float) -> int | None:
    hits = [c.cycle + 1 for c in cycles if c.test_accuracy >= accuracy - 1e-12]
    return min(hits) if hits else None


def at_best_validation(cycles: list) -> float:
    return max(cycles, key=lambda c: (c.val_accuracy, -c.cycle)).test_accuracy


def run_one(name: str, seed: int, odenet: bool) -> dict:
    base = replace(CONFIGS[name], budget_layers=BUDGET, optimizer=Adam(STEPS, 1e-2), seed=seed)
    data = load_dataset(name, seed=seed)
    started = time.perf_counter()
    dwr = grow(data, DWRRefinement(Doerfler(0.5)), replace(base, max_cycles=DWR_CYCLES))
    dwr_time = time.perf_counter() - started
    started = time.perf_counter()
    uniform = grow(data, UniformRefinement(), replace(base, max_cycles=20))
    uniform_time = time.perf_counter() - started
    fixed = fixed_depth_sweep(data, [1, 2, 4, 8, 16, 32], base)
    best = max(c.test_accuracy for c in uniform.cycles)
    row = {
        "dataset": name,
        "seed": seed,
        "best_uniform": best,
        "layers_uniform": first_reaching(uniform.cycles, best),
        "layers_dwr": first_reaching(dwr.cycles, best),
        "best_dwr": max(c.test_accuracy for c in dwr.cycles),
        "dwr_at_best_val": at_best_validation(dwr.cycles),
        "uniform_at_best_val": at_best_validation(uniform.cycles),
        "cycles_uniform": cycles_to_reach(uniform.cycles, best),
        "cycles_dwr": cycles_to_reach(dwr.cycles, best),
        "best_fixed": max(c.test_accuracy for c in fixed),
        "layers_fixed": first_reaching(fixed, best),
        "dwr_curve": [(c.layers, c.test_accuracy) for c in dwr.cycles],
        "uniform_curve": [(c.layers, c.test_accuracy) for c in uniform.cycles],
        "fixed_curve": [(c.layers, c.test_accuracy) for c in fixed],
        "dwr_s": dwr_time,
        "uniform_s": uniform_time,
    }
    if odenet:
        spec = ContinuousSettings(width=base.width, final_time=base.final_time, steps=STEPS * len(dwr.cycles), seed=seed)
        row["odenet"] = train_ode_net(data, spec).test_accuracy
    return row


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict], odenet: bool) -> str:
    lines = [
        "| data set | width | best test acc. (uniform) | layers uniform | layers DWR | DWR / uniform | cycles uniform / DWR "
        "| best DWR | DWR / uniform at best val. | best fixed | layers fixed"
        + (" | ODE-Net dopri5" if odenet else "") + " | seeds reaching |",
        "|---|---|---|---|---|---|---|---|---|---|---" + ("|---" if odenet else "") + "|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == name]
        reached = [r for r in rs if r["layers_dwr"] is not None]
        ratios = [r["layers_dwr"] / r["layers_uniform"] for r in reached]
        ratio = np.mean(ratios) if len(reached) == len(rs) else None
        fixed_layers = [r["layers_fixed"] for r in rs if r["layers_fixed"] is not None]
        cells = [
            name,
            str(CONFIGS[name].width),
            f"{100 * np.mean([r['best_uniform'] for r in rs]):.2f}%",
            _fmt(np.mean([r["layers_uniform"] for r in rs])),
            _fmt(np.mean([r["layers_dwr"] for r in reached]) if reached else None),
            _fmt(ratio, 2) if ratio is not None else "miss",
            f"{_fmt(np.mean([r['cycles_uniform'] for r in rs]))} / "
            + (_fmt(np.mean([r["cycles_dwr"] for r in reached])) if reached else "-"),
            f"{100 * np.mean([r['best_dwr'] for r in rs]):.2f}%",
            f"{100 * np.mean([r['dwr_at_best_val'] for r in rs]):.2f}% / {100 * np.mean([r['uniform_at_best_val'] for r in rs]):.2f}%",
            f"{100 * np.mean([r['best_fixed'] for r in rs]):.2f}%",
            _fmt(np.mean(fixed_layers)) if len(fixed_layers) == len(rs) else "miss",
        ]
        if odenet:
            cells.append(f"{100 * np.mean([r['odenet'] for r in rs]):.2f}%")
        cells.append(f"{len(reached)}/{len(rs)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--odenet", action="store_true", help="add the torchdiffeq dopri5 ODE-Net baseline")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "growth.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            row = run_one(name, seed, args.odenet)
            rows.append(row)
            print(f"{name} seed {seed}: uniform {row['uniform_curve']}\n    dwr {row['dwr_curve']}\n"
                  f"    fixed {row['fixed_curve']}  ({row['dwr_s']:.0f}s / {row['uniform_s']:.0f}s)", flush=True)
    text = (
        "# Growth benchmark: DWR vs uniform refinement vs fixed depth\n\n"
        f"`python benchmarks/growth.py --datasets {' '.join(args.datasets)} --seeds {' '.join(map(str, args.seeds))}"
        f"{' --odenet' if args.odenet else ''}`; Adam {STEPS} steps (lr 1e-2) per cycle, full batch, float64, "
        f"DWR: Doerfler theta = 0.5, {DWR_CYCLES} cycles; budget {BUDGET} layers; T = 2; per-data-set width and "
        "lift in `CONFIGS` (circles, spheres: zero-augmented input; digits: alpha = gamma = 1e-2, else 1e-4 / 1e-5); "
        f"mean over seeds. Python {platform.python_version()}, torch {torch.__version__}, 1 thread.\n\n"
        + table(rows, args.odenet)
        + "\n\nColumns: best test accuracy uniform refinement reaches (1, 2, 4, ..., 32 layers); the fewest layers "
        "at which uniform refinement reaches it; the fewest at which DWR reaches at least it, and the ratio "
        "(mean of per-seed ratios; `miss` if a seed never reaches it); the training cycles (of "
        f"{STEPS} steps each) uniform refinement and DWR spend to get there; the best test accuracy of DWR; the test "
        "accuracy of DWR and of uniform refinement at the cycle with the best validation accuracy (the "
        "model one would pick without looking at the test set); the best test accuracy of fixed-depth "
        "networks; the fewest fixed layers reaching uniform's best.\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
