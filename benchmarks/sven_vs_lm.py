"""Sven against Levenberg-Marquardt at equal CPU time on a network of about 10 000 parameters.

    python benchmarks/sven_vs_lm.py [--seconds 150] [--rank 200] [--width 70] [--depth 3]
                                    [--points 1000] [--boundary-points 200] [--json FILE]

``equations/poisson.py`` (float64, boundary weight 100), a width x depth tanh network; 300 Adam
steps from seed 0 give the common start, then each method (``lm``:
``pinnlab.training.gauss_newton.LevenbergMarquardt``, ``sven``:
``pinnlab.training.phases.sven.SvenMethod``) runs on the same points until it has used
``--seconds`` of CPU time (one thread). Each method runs in a process of its own, so that its
peak resident set (``resource.getrusage``'s ``ru_maxrss``) is its own; the table gives it before
the method started and at the end, and their difference, what the method itself added.
Prints one JSON line per method, then the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_description, revision  # noqa: E402

METHODS = ("lm", "sven")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_one(method: str, args: argparse.Namespace) -> dict:
    """The common start, then ``method`` for ``args.seconds`` of CPU time; one JSON-able record."""
    import torch

    torch.set_num_threads(1)
    from pinnlab import load_problem, resolve_settings
    from pinnlab.derivatives.engines import ForwardMode
    from pinnlab.model.field_model import build_model
    from pinnlab.training.gauss_newton import LevenbergMarquardt
    from pinnlab.training.phases import sven
    from pinnlab.training.residual_vector import residual_jacobian, residual_vector
    from pinnlab.training.trainer import train

    problem = load_problem(ROOT / "equations" / "poisson.py")
    settings = resolve_settings(problem, {
        "network.width": args.width, "network.depth": args.depth, "sampling.points": args.points,
        "sampling.boundary_points": args.boundary_points, "adam.steps": 300, "lbfgs.steps": 0,
        "numerics.dtype": "float64", "numerics.threads": 1, "numerics.compile": "off", "output.progress": False})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    collocation = train(problem, model, settings).collocation
    weights = {"residual": 1.0, "boundary": 100.0}
    parameters = [p for p in model.parameters() if p.requires_grad]
    count = sum(p.numel() for p in parameters)
    axis = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    exact = problem.reference.function(grid[:, 0], grid[:, 1])  # the module's exact(x, y)

    def rel_l2() -> float:
        with torch.no_grad():
            return float((model(grid)[:, 0] - exact).norm() / exact.norm())

    def residuals() -> torch.Tensor:
        return residual_vector(problem, model, collocation, weights)

    r0 = residuals()
    start_loss, start_error, before = float(r0 @ r0), rel_l2(), peak_mib()
    clock0 = time.process_time()
    trace: list[tuple[float, float]] = []

    def on_iteration(_k: int, loss: float) -> bool:
        trace.append((round(time.process_time() - clock0, 1), loss))
        return time.process_time() - clock0 > args.seconds

    if method == "lm":
        optimizer = LevenbergMarquardt(parameters)
        run = optimizer.run(residuals, lambda: residual_jacobian(problem, model, collocation, weights,
                                                                 engine=ForwardMode()), 10**6, on_iteration)
    else:
        optimizer = sven.SvenMethod(parameters, args.rank, 1e-10, 30)
        run = optimizer.run(residuals, lambda: sven.streamed_jacobian(problem, model, collocation, weights),
                            10**6, on_iteration)  # the blocks the sven phase streams
    return {"method": method, "rank": args.rank if method == "sven" else None, "parameters": count,
            "residual_rows": int(r0.numel()), "cpu_s": round(time.process_time() - clock0, 1),
            "iterations": run.iterations, "start_loss": start_loss, "start_rel_l2": start_error,
            "loss": run.loss, "rel_l2": rel_l2(), "peak_rss_before_mib": round(before),
            "peak_rss_mib": round(peak_mib()), "stop": run.stop, "trace": trace[:: max(1, len(trace) // 10)]}


def table(records: list[dict]) -> list[str]:
    lines = ["| method | iterations | loss (start {:.3g}) | rel L2 on the 101 x 101 grid (start {:.3g}) | "
             "peak RSS before / end / added |".format(records[0]["start_loss"], records[0]["start_rel_l2"]),
             "|---|---|---|---|---|"]
    for r in records:
        name = r["method"] + (f", rank {r['rank']}" if r["rank"] else "")
        lines.append(f"| `{name}` | {r['iterations']} | {r['loss']:.3g} | {r['rel_l2']:.3g} | "
                     f"{r['peak_rss_before_mib']} / {r['peak_rss_mib']} / "
                     f"{r['peak_rss_mib'] - r['peak_rss_before_mib']} MiB |")
    added = {r["method"]: r["peak_rss_mib"] - r["peak_rss_before_mib"] for r in records}
    whole = {r["method"]: r["peak_rss_mib"] for r in records}
    if set(added) == set(METHODS) and added["sven"] > 0:
        lines.append("")
        lines.append(f"sven / lm: final rel L2 {records[1]['rel_l2'] / records[0]['rel_l2']:.3g}; peak RSS "
                     f"1/{whole['lm'] / whole['sven']:.1f} whole, 1/{added['lm'] / added['sven']:.1f} added")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=150.0, help="CPU seconds per method")
    parser.add_argument("--rank", type=int, default=200, help="sven.rank")
    parser.add_argument("--width", type=int, default=70)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--boundary-points", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="write the records here")
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    for name in ("seconds", "rank", "width", "depth", "points", "boundary_points"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return
    print(f"{machine_description(1)}; commit {revision()}", flush=True)
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    records = []
    for method in METHODS:
        done = subprocess.run([sys.executable, __file__, *forwarded, "--one", method], capture_output=True,
                              text=True)
        if done.returncode != 0:
            sys.exit(f"benchmarks/sven_vs_lm.py: the {method} run failed: "
                     + (done.stderr.strip().splitlines() or ["no message"])[-1])
        record = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(record), flush=True)
        records.append(record)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.json.with_suffix(".tmp")
        temporary.write_text(json.dumps(records, indent=1))
        temporary.replace(args.json)
    print("\n".join(table(records)))


if __name__ == "__main__":
    main()
