"""Time the whole `pinnlab solve` command for each shipped equation with its defaults.

    python benchmarks/defaults.py [--seeds 0 1 2] [--equations burgers poisson heat] [--extra ARGS]

Each run is a separate process, so the time includes start-up, training and writing results,
as a user sees it. Prints a Markdown table and writes it to results/defaults.md.
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

import torch

ROOT = Path(__file__).resolve().parent.parent


def run(equation: str, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "pinnlab.commands.main", "solve", str(ROOT / "equations" / f"{equation}.py"),
                   "--seed", str(seed), "--out", out, "--quiet", *extra]
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    return {"seconds": elapsed, "rel_l2": metrics["rel_l2"], "steps": metrics["steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--equations", nargs="+", default=["burgers", "poisson", "heat"])
    parser.add_argument("--extra", default="", help="extra solve arguments, e.g. '--points 8000'")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "defaults.md")
    args = parser.parse_args()
    extra = shlex.split(args.extra)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    lines = [f"`pinnlab solve equations/<name>.py {args.extra}`".replace(" `", "`") + f" on {machine}", "",
             "| equation | seed | rel. L2 error | steps | whole command (s) |", "|---|---|---|---|---|"]
    for equation in args.equations:
        for seed in args.seeds:
            result = run(equation, seed, extra)
            errors = ", ".join(f"{f} {e:.2e}" for f, e in result["rel_l2"].items())
            lines.append(f"| {equation} | {seed} | {errors} | {result['steps']} | {result['seconds']:.1f} |")
            print(lines[-1], flush=True)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text("\n".join(lines) + "\n")
    print(f"table written to {args.table}")


if __name__ == "__main__":
    main()
