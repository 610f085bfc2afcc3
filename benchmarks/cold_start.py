"""The whole default Burgers solve from a cold torch compile cache, by numerics.compile setting.

    python benchmarks/cold_start.py [--variants auto off] [--rounds 3] [--threads 1]
                                    [--equation equations/burgers.py] [--extra ARGS]
                                    [--table results/cold_start.md]

Each run is a fresh ``pinnlab solve`` process (the whole command is timed, as a user sees it)
whose ``TORCHINDUCTOR_CACHE_DIR`` points at a new empty folder, so any compilation starts cold.
Variants: ``auto``, ``off`` and ``on`` set ``numerics.compile``; ``on-warm`` is ``compile=on``
with a cache that one untimed ``compile=on`` run filled first, which separates the cost of a
cold compilation (on minus on-warm) from the time compiling saves per step (off minus on-warm).
The variants run interleaved (benchmarks/timing.py), ``--rounds`` rounds, the first variant is
the baseline of the ratios. Prints a Markdown table and writes ``--table``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import machine_description, revision  # noqa: E402  (the sibling modules)
from timing import interleaved, verdict_note  # noqa: E402

VARIANTS = ("auto", "off", "on", "on-warm")


def solve_command(equation: str, compile_choice: str, threads: int, out: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pinnlab.commands.main", "solve", equation, "--out", out, "--quiet",
            "--set", f"numerics.compile={compile_choice}", "--set", f"numerics.threads={threads}", *extra]


def run_solve(equation: str, compile_choice: str, threads: int, cache: str, extra: list[str]) -> dict:
    """One solve with ``cache`` as torch inductor's cache folder; its metrics."""
    with tempfile.TemporaryDirectory(prefix="cold-start-out-") as out:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(solve_command(equation, compile_choice, threads, out, extra), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"pinnlab solve {equation} compile={compile_choice} failed "
                               f"(exit {done.returncode}):\n{tail}")
        return json.loads((Path(out) / "metrics.json").read_text())


def make_variant(name: str, args: argparse.Namespace, errors: dict[str, list[float]], extra: list[str]):
    choice = "on" if name.startswith("on") else name
    warm_cache = tempfile.mkdtemp(prefix="cold-start-warm-") if name == "on-warm" else None
    if warm_cache:
        run_solve(args.equation, "on", args.threads, warm_cache, extra)  # fill the cache, untimed

    def run() -> None:
        if warm_cache:
            metrics = run_solve(args.equation, choice, args.threads, warm_cache, extra)
        else:
            with tempfile.TemporaryDirectory(prefix="cold-start-cache-") as cache:
                metrics = run_solve(args.equation, choice, args.threads, cache, extra)
        errors[name].append(max(metrics["rel_l2"].values()))
    return run


def report(args: argparse.Namespace, timing, errors: dict[str, list[float]]) -> list[str]:
    command = " ".join(["python benchmarks/cold_start.py", *args.argv])
    lines = ["# Cold-cache solve by compile setting", "",
             f"`{command}`, commit {revision()}, {machine_description(args.threads)}; {timing.load.describe()}.",
             "", "| numerics.compile | whole command, median s | runs (s) | rel. L2 error (max field) | "
             f"time / time of {args.variants[0]} |", "|---|---|---|---|---|"]
    for name in args.variants:
        ratio = timing.ratios[name].describe() if name in timing.ratios else "baseline"
        runs = ", ".join(f"{t:.1f}" for t in timing.times[name])
        shown = ", ".join(f"{e:.1e}" for e in errors[name])
        lines.append(f"| {name} | {timing.median(name):.1f} | {runs} | {shown} | {ratio} |")
    return lines + ["", verdict_note()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["auto", "off"], choices=VARIANTS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--equation", default="equations/burgers.py")
    parser.add_argument("--extra", default="", help="extra solve arguments, e.g. '--steps 10 --lbfgs-steps 10'")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "cold_start.md")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1")
    if len(set(args.variants)) != len(args.variants):
        parser.error("--variants: each variant once")
    if not (ROOT / args.equation).is_file() and not Path(args.equation).is_file():
        parser.error(f"--equation: no file {args.equation}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    extra = shlex.split(args.extra)
    errors: dict[str, list[float]] = {name: [] for name in args.variants}
    methods = {name: make_variant(name, args, errors, extra) for name in args.variants}
    # the solves are child processes: count their CPU time with this process's
    timing = interleaved(methods, args.rounds, baseline=args.variants[0], warmup=0,
                         cpu_clock=lambda: sum(os.times()[:4]))
    lines = report(args, timing, errors)
    print("\n".join(lines), flush=True)
    from pinnlab.runtime.atomic import write_text
    write_text(args.table, "\n".join(lines) + "\n")
    print(f"table written to {args.table}")


if __name__ == "__main__":
    main()
