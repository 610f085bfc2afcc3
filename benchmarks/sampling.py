"""Fixed uniform points against residual-based adaptive collocation, same points and steps.

    python benchmarks/sampling.py [--equation burgers] [--seeds 0 1 2] [--methods uniform rad rar-d]
                                  [--extra "--points 1000 --steps 2000 --lbfgs-steps 2000"]

Every method trains the same network for the same number of steps on the same number of interior
points; only where the points are changes. ``uniform`` draws them once, uniformly at random, and
keeps them; the adaptive methods start from such a draw and move (rad) or add (rar-d, with a fixed
budget, replacing the points of smallest residual) points every ``refine_every`` steps. Each run
is a separate ``pinnlab solve`` process. Prints a Markdown table with the mean error per method
and its ratio to uniform's, and writes it to results/sampling.md.
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
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

METHODS = {
    "uniform": ["--set", "sampler=uniform", "--set", "refine=none"],
    "rad": ["--set", "sampler=uniform", "--set", "refine=rad"],
    "rar-d": ["--set", "sampler=uniform", "--set", "refine=rar-d", "--set", "refine_budget=fixed"],
}


def run(equation: str, method: str, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "pinnlab", "solve", str(ROOT / "equations" / f"{equation}.py"),
                   "--seed", str(seed), "--out", out, "--quiet", *METHODS[method], *extra]
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    error = float(np.mean(list(metrics["rel_l2"].values())))
    return {"seconds": elapsed, "rel_l2": error, "steps": metrics["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equation", default="burgers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--extra", default="--points 1000 --set refine_every=500 --set refine_points=100",
                        help="solve arguments shared by every method")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "sampling.md")
    args = parser.parse_args()
    extra = shlex.split(args.extra)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    lines = [f"`pinnlab solve equations/{args.equation}.py {args.extra}` per method, on {machine}", "",
             "| method | seed | rel. L2 error | steps | whole command (s) |", "|---|---|---|---|---|"]
    means: dict[str, float] = {}
    for method in args.methods:
        errors = []
        for seed in args.seeds:
            result = run(args.equation, method, seed, extra)
            errors.append(result["rel_l2"])
            lines.append(f"| {method} | {seed} | {result['rel_l2']:.2e} | {result['steps']} | {result['seconds']:.1f} |")
            print(lines[-1], flush=True)
        means[method] = float(np.mean(errors))
    lines += ["", "| method | mean rel. L2 error | uniform / method |", "|---|---|---|"]
    for method, mean in means.items():
        ratio = means["uniform"] / mean if "uniform" in means else float("nan")
        lines.append(f"| {method} | {mean:.2e} | {ratio:.2f}x |")
    print("\n".join(lines[-len(means) - 2:]))
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text("\n".join(lines) + "\n")
    print(f"table written to {args.table}")


if __name__ == "__main__":
    main()
