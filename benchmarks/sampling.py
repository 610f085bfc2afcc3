"""Fixed uniform points against adaptive collocation in space and time, same points and steps.

    python benchmarks/sampling.py [--equation burgers] [--seeds 0 1 2] [--methods uniform rad rar-d]
                                  [--extra "--points 1000 --steps 2000 --lbfgs-steps 2000"] [--jobs 2]

Every method trains the same network for the same number of steps on the same number of interior
points; only where (and when) the points are changes. ``uniform`` draws them once, uniformly at
random, over the whole domain and keeps them; the adaptive methods start from such a draw and move
(rad) or add (rar-d, with a fixed budget, replacing the points of smallest residual) points every
``refine_every`` steps. ``march`` trains a time-dependent problem window by window (10 windows,
each from the previous one's end state) on fixed points per window, ``march-rad`` moves them by
rad inside each window. Each run is a separate ``pinnlab solve`` process, ``--jobs`` of them side
by side. Prints a Markdown table with the mean error per method and its ratio to uniform's, and
writes it to results/sampling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from pinnlab.runtime.atomic import write_text  # noqa: E402
from timing import timed  # noqa: E402  (the sibling module)

METHODS = {
    "uniform": ["--set", "sampler=uniform", "--set", "refine=none"],
    "rad": ["--set", "sampler=uniform", "--set", "refine=rad"],
    "rar-d": ["--set", "sampler=uniform", "--set", "refine=rar-d", "--set", "refine_budget=fixed"],
    "march": ["--set", "sampler=uniform", "--set", "refine=none", "--set", "curriculum=10",
              "--set", "curriculum_mode=march"],
    "march-rad": ["--set", "sampler=uniform", "--set", "refine=rad", "--set", "curriculum=10",
                  "--set", "curriculum_mode=march"],
}


def run(equation: str, method: str, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "pinnlab", "solve", str(ROOT / "equations" / f"{equation}.py"),
                   "--seed", str(seed), "--out", out, "--quiet", *METHODS[method], *extra]
        _, elapsed = timed(subprocess.run, command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    error = float(np.mean(list(metrics["rel_l2"].values())))
    return {"seconds": elapsed, "rel_l2": error, "steps": metrics["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equation", default="burgers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--extra", default="--points 1000 --set refine.every=500 --set refine.points=100",
                        help="solve arguments shared by every method")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "sampling.md")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (give each one thread)")
    args = parser.parse_args()
    extra = shlex.split(args.extra)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    own = "; ".join(f"`{method}`: `{' '.join(METHODS[method])}`" for method in args.methods)
    lines = [f"`pinnlab solve equations/{args.equation}.py {args.extra}` per method, on {machine}", "",
             f"Each method adds its own settings: {own}.", "",
             "| method | seed | rel. L2 error | steps | whole command (s) |", "|---|---|---|---|---|"]
    runs = [(method, seed) for method in args.methods for seed in args.seeds]
    errors: dict[str, list[float]] = {method: [] for method in args.methods}
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        for (method, seed), result in zip(runs, pool.map(lambda r: run(args.equation, *r, extra), runs)):
            errors[method].append(result["rel_l2"])
            lines.append(f"| {method} | {seed} | {result['rel_l2']:.2e} | {result['steps']} | {result['seconds']:.1f} |")
            print(lines[-1], flush=True)
    means = {method: float(np.mean(values)) for method, values in errors.items()}
    lines += ["", "| method | mean rel. L2 error | uniform / method |", "|---|---|---|"]
    for method, mean in means.items():
        ratio = means["uniform"] / mean if "uniform" in means else float("nan")
        lines.append(f"| {method} | {mean:.2e} | {ratio:.2f}x |")
    print("\n".join(lines[-len(means) - 2:]))
    args.table.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.table, "\n".join(lines) + "\n")
    print(f"table written to {args.table}")


if __name__ == "__main__":
    main()
