"""Solve every shipped equation with its documented accurate settings, next to published figures.

    python benchmarks/suite.py [--equations burgers poisson ...] [--deepxde] [--extra ARGS]
                               [--out results/benchmarks.md]

Each equation runs as its own ``pinnlab solve`` process (the whole command is timed, as a user
sees it) with the settings in ``SUITE``: the module's defaults plus the overrides that buy its
best accuracy. ``--deepxde`` also runs DeepXDE's own Burgers example (its network, points, 15000
Adam steps and L-BFGS, as shipped in DeepXDE's examples) on the same machine. The runs go through
the shared timing helper (benchmarks/timing.py), one round in the order given, and the machine load
over them is printed at the end. Rows are merged into ``--out`` by equation, so a partial run
updates its rows and keeps the others; each row says when, at which commit and on which machine it
was measured.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shlex
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

sys.path.insert(0, str(ROOT))
from pinnlab.runtime.atomic import write_text  # noqa: E402
from pinnlab.problem.burgers_exact import burgers_sine  # noqa: E402
from defaults import run  # noqa: E402  (the sibling scripts)
from machine import machine_description, revision  # noqa: E402
from residuals import deepxde_installed, import_deepxde  # noqa: E402
from timing import interleaved, stopwatch  # noqa: E402


@dataclass(frozen=True)
class Entry:
    """One equation of the suite: the overrides of its accurate run, the accuracy it is checked
    against, and what was published for the same equation, coefficients and domain."""

    overrides: tuple[str, ...] = ()
    target: float | None = None
    published: str = "-"


SUITE: dict[str, Entry] = {
    "burgers": Entry(("--dtype", "float64", "--set", "phases=adam,ssbroyden", "--set", "ssbroyden.steps=15000",
                      "--set", "refine.method=rad", "--set", "refine.every=500"), 1e-5,
                     "Raissi et al. 2019: 6.7e-4"),
    "poisson": Entry(("--set", "phases=adam,lbfgs,ssbroyden", "--set", "ssbroyden.steps=3000"), 1e-6),
    "helmholtz": Entry((), 1e-4),
    "heat": Entry(()),
    "wave": Entry(()),
    "allen_cahn": Entry((), None, "JAX-PI: 5.37e-5 (GPU, 300k Adam steps)"),
    "kdv": Entry((), 1e-3),  # PirateNets solves dispersion 0.022^2, not 0.0025
    "kdv_zabusky_kruskal": Entry(("--set", "ssbroyden.steps=15000"), None, "PirateNets: 4.3e-4"),
    "kovasznay": Entry(()),
    "nls": Entry((), None, "Raissi et al. 2019: 1.97e-3 (on the modulus of h)"),  # no "|": a table cell
    "laplace_holes": Entry((), 5e-3),
    "lid_cavity": Entry((), 1e-2, "PINNacle NS2d-C best: 3.6e-2"),
}

HEADER = ["equation", "rel. L2 error", "target", "whole command (s)", "steps", "settings", "published",
          "measured"]


def shipped() -> list[str]:
    """The suite's equations that exist in equations/, in the suite's order."""
    return [name for name in SUITE if (ROOT / "equations" / f"{name}.py").is_file()]


def solve(equation: str, extra: list[str]) -> dict:
    """Run ``pinnlab solve`` on ``equation`` (seed 0) with its suite overrides and ``extra``."""
    return run(equation, 0, [*SUITE[equation].overrides, *extra])


def verdict(errors: dict[str, float], target: float | None) -> str:
    if target is None:
        return "-"
    missed = [field for field, error in errors.items() if error > target]
    if not missed:
        return f"{target:.0e} met"
    return f"{target:.0e} not met" + (f" ({', '.join(missed)})" if len(missed) < len(errors) else "")


def row(equation: str, result: dict, extra: list[str], machine: str) -> list[str]:
    entry = SUITE[equation]
    errors = ", ".join(f"{f} {e:.2e}" for f, e in result["rel_l2"].items())
    settings = " ".join([*entry.overrides, *extra]) or "defaults"
    return [equation, errors, verdict(result["rel_l2"], entry.target), f"{result['seconds']:.0f}",
            str(result["steps"]), f"`{settings}`", entry.published, f"{date.today()}, {machine}"]


# --- DeepXDE's Burgers example, on the same machine ----------------------------------------------

def deepxde_burgers(seed: int) -> dict:
    """DeepXDE's shipped Burgers example: a 2-20-20-20-1 tanh network, 2540 interior, 80 boundary
    and 160 initial points (soft constraints), Adam (lr 1e-3) for 15000 steps, then L-BFGS;
    the error on the reference grid."""
    dde = import_deepxde()
    dde.config.set_random_seed(seed)
    nu = 0.01 / math.pi

    def pde(x, u):
        u_x, u_t = dde.grad.jacobian(u, x, i=0, j=0), dde.grad.jacobian(u, x, i=0, j=1)
        return u_t + u * u_x - nu * dde.grad.hessian(u, x, i=0, j=0)

    geometry = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))
    walls = dde.icbc.DirichletBC(geometry, lambda x: 0, lambda _, on_boundary: on_boundary)
    initial = dde.icbc.IC(geometry, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geometry, pde, [walls, initial], num_domain=2540, num_boundary=80, num_initial=160)
    model = dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"))
    with stopwatch() as watch, contextlib.redirect_stdout(io.StringIO()):
        model.compile("adam", lr=1e-3)
        model.train(iterations=15000, verbose=0)
        model.compile("L-BFGS")
        model.train(verbose=0)
    seconds = watch.seconds
    lbfgs_iterations = int(model.train_state.step) - 15000
    # the reference grid of equations/burgers.py, from the Cole-Hopf formula
    x, t = np.linspace(-1, 1, 256), np.linspace(0, 0.99, 100)
    u = burgers_sine(x[:, None], t[None, :], 0.01 / math.pi)
    grid = np.stack([g.ravel() for g in np.meshgrid(x, t, indexing="ij")], axis=1)
    predicted = model.predict(grid).reshape(u.shape)
    return {"seconds": seconds, "rel_l2": {"u": float(np.linalg.norm(predicted - u) / np.linalg.norm(u))},
            "steps": int(model.train_state.step), "lbfgs_iterations": lbfgs_iterations}


# --- the table -------------------------------------------------------------------------------------

def read_rows(path: Path) -> dict[str, list[str]]:
    """The rows of an earlier table by equation (empty when there is none)."""
    if not path.is_file():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == len(HEADER) and cells[0] not in ("equation", "---"):
            rows[cells[0]] = cells
    return rows


def write_table(path: Path, rows: dict[str, list[str]]) -> None:
    order = list(SUITE) + ["burgers (DeepXDE example)"]
    lines = ["# Accuracy suite: every shipped equation with its accurate settings", "",
             "`python benchmarks/suite.py` (see its docstring). Relative L2 error against each module's "
             "reference, the whole `pinnlab solve` command's wall time, and the target it is checked against; "
             "published figures are the papers' own, on their hardware.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    ranked = sorted(rows, key=lambda name: order.index(name) if name in order else len(order))
    lines += ["| " + " | ".join(rows[name]) + " |" for name in ranked]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "\n".join(lines) + "\n")


def suite_run(equation: str, extra: list[str], machine: str, out: Path):
    """A call that solves ``equation`` and merges its row into ``out``."""
    def solve_and_write() -> None:
        measured = row(equation, solve(equation, extra), extra, machine)
        print("| " + " | ".join(measured) + " |", flush=True)
        # read the table again just before writing: a suite run alongside may have added rows
        write_table(out, {**read_rows(out), equation: measured})
    return solve_and_write


def deepxde_run(machine: str, out: Path) -> None:
    """DeepXDE's Burgers example (seed 0), its row merged into ``out``."""
    result = deepxde_burgers(seed=0)
    name = "burgers (DeepXDE example)"
    measured = [
        name, f"u {result['rel_l2']['u']:.2e}", "-", f"{result['seconds']:.0f}", str(result["steps"]),
        f"DeepXDE's example as shipped (float32): 2540 points, soft constraints, Adam 15000, then "
        f"L-BFGS, which ran {result['lbfgs_iterations']} iterations", "-",
        f"{date.today()}, {machine}, deepxde {import_deepxde().__version__}, training only"]
    print("| " + " | ".join(measured) + " |", flush=True)
    write_table(out, {**read_rows(out), name: measured})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", nargs="*", default=None, choices=list(SUITE),
                        help="default: every suite equation shipped in equations/; none with --deepxde: "
                             "DeepXDE's example alone")
    parser.add_argument("--deepxde", action="store_true", help="also run DeepXDE's Burgers example")
    parser.add_argument("--extra", default="", help="extra solve arguments for every run, e.g. '--set numerics.threads=1'")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks.md")
    args = parser.parse_args()
    extra = shlex.split(args.extra)
    equations = shipped() if args.equations is None else args.equations
    missing = [name for name in equations if not (ROOT / "equations" / f"{name}.py").is_file()]
    if missing:
        parser.error(f"not shipped in equations/: {', '.join(missing)}")
    if args.deepxde and not deepxde_installed():
        parser.error("--deepxde needs DeepXDE: pip install -e .[bench]")

    if not equations and not args.deepxde:
        parser.error("nothing to run: name --equations, or add --deepxde")
    machine = f"commit {revision()}, {machine_description(None)}"
    runs = {equation: suite_run(equation, extra, machine, args.out) for equation in equations}
    if args.deepxde:
        runs["burgers (DeepXDE example)"] = lambda: deepxde_run(machine, args.out)
    # one round, in the order given: each run writes its row as soon as it ends
    timing = interleaved(runs, 1, warmup=0, cpu_clock=lambda: sum(os.times()[:4]))
    print(f"machine load over the runs: {timing.load.describe()}")
    print(f"table written to {args.out}")


if __name__ == "__main__":
    main()
