"""Time the whole `pinnlab solve` command for each shipped equation with its defaults.

    python benchmarks/defaults.py [--seeds 0 1 2] [--equations burgers poisson heat] [--extra ARGS]
                                  [--table results/defaults.md]

Each run is a separate process, so the time includes start-up, training and writing results,
as a user sees it. The equations run interleaved (benchmarks/timing.py): one round per seed, each
round every equation once, the order rotated from round to round, so a change of machine load
between rounds does not land on one equation alone; the load is recorded under the table. Prints
a Markdown table (one row per run, then each equation's median time and its range over the seeds)
and writes it to results/defaults.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import machine_description, revision  # noqa: E402  (the sibling modules)
from timing import interleaved, timed  # noqa: E402

from pinnlab.runtime.atomic import write_text  # noqa: E402


def run(equation: str, seed: int, extra: list[str]) -> dict:
    """``pinnlab solve equations/<equation>.py --seed SEED`` with ``extra``: its wall time and metrics."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "pinnlab.commands.main", "solve", str(ROOT / "equations" / f"{equation}.py"),
                   "--seed", str(seed), "--out", out, "--quiet", *extra]
        _, elapsed = timed(subprocess.run, command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    return {"seconds": elapsed, "rel_l2": metrics["rel_l2"], "steps": metrics["steps"]}


def seeded_runs(equation: str, seeds: list[int], extra: list[str], results: list[dict]) -> Callable[[], None]:
    """A call that solves ``equation`` with the next seed each time ``interleaved`` runs it (once a
    round), keeping each run's result in ``results``."""
    remaining = iter(seeds)

    def solve_next() -> None:
        seed = next(remaining)
        result = {"equation": equation, "seed": seed, **run(equation, seed, extra)}
        results.append(result)
        errors = ", ".join(f"{f} {e:.2e}" for f, e in result["rel_l2"].items())
        print(f"{equation} seed {seed}: {errors}, {result['steps']} steps, {result['seconds']:.1f} s", flush=True)
    return solve_next


def report(args: argparse.Namespace, results: list[dict], timing) -> list[str]:
    command = " ".join(["python benchmarks/defaults.py", *args.argv])
    lines = [f"`{command}`, commit {revision()}, {machine_description(None)}; "
             f"{timing.load.describe()}.", "",
             "| equation | seed | rel. L2 error | steps | whole command (s) |", "|---|---|---|---|---|"]
    for result in sorted(results, key=lambda r: (args.equations.index(r["equation"]), r["seed"])):
        errors = ", ".join(f"{f} {e:.2e}" for f, e in result["rel_l2"].items())
        lines.append(f"| {result['equation']} | {result['seed']} | {errors} | {result['steps']} | "
                     f"{result['seconds']:.1f} |")
    lines += ["", "| equation | median whole command (s) | range (s) |", "|---|---|---|"]
    for equation in args.equations:
        times = [r["seconds"] for r in results if r["equation"] == equation]
        lines.append(f"| {equation} | {statistics.median(times):.1f} | {min(times):.1f}-{max(times):.1f} |")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--equations", nargs="+", default=["burgers", "poisson", "heat"])
    parser.add_argument("--extra", default="", help="extra solve arguments, e.g. '--points 8000'")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "defaults.md")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    missing = [name for name in args.equations if not (ROOT / "equations" / f"{name}.py").is_file()]
    if missing:
        parser.error(f"--equations: not shipped in equations/: {', '.join(missing)}")
    if len(set(args.equations)) != len(args.equations):
        parser.error("--equations: each equation once")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    extra = shlex.split(args.extra)
    results: list[dict] = []
    methods = {equation: seeded_runs(equation, args.seeds, extra, results) for equation in args.equations}
    # the solves are child processes: count their CPU time with this process's
    timing = interleaved(methods, len(args.seeds), warmup=0, cpu_clock=lambda: sum(os.times()[:4]))
    lines = report(args, results, timing)
    print("\n".join(lines), flush=True)
    args.table.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.table, "\n".join(lines) + "\n")
    print(f"table written to {args.table}")


if __name__ == "__main__":
    main()
