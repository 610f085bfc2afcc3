"""Optimizer study: every training phase on the same network and points, at an equal CPU budget.

    python benchmarks/optimizers.py [--problems allen_cahn,poisson_hf,burgers] [--methods adam,lm,...]
                                    [--seeds 10] [--budget 6] [--jobs 2] [--quick]
                                    [--json results/optimizers.json] [--table results/optimizers.md]
                                    [--plots DIR] [--from-json FILE]

Three problems whose solutions differ in kind (``PROBLEMS``):

- ``allen_cahn``: ``equations/allen_cahn.py`` with 250 interior points (and 128 initial points),
  where an optimizer can fit its points with a wrong solution;
- ``poisson_hf``: -laplacian u = f on the unit square with u = sum over k in (1, 2, 4) of
  sin(2 pi k x) sin(2 pi k y) / k^2, three frequencies of equal size in f; the error's spectrum (numpy FFT on a periodic
  grid) says which of them each optimizer resolved;
- ``burgers``: ``equations/burgers.py``'s residual, reference and data, with its initial and wall
  conditions trained (soft) instead of imposed, so that they can be held as constraints; a
  small network.

For each seed the network is initialised and the points are drawn from that seed; a common Adam
warm start (``warm_steps``) runs once, then every method starts from its end state on the same
points (fixed: no resampling, no refinement) and trains until it has used ``--budget`` seconds of
its thread's CPU time (``time.thread_time()``, one torch thread), or stops by itself. The methods
of one seed run one after another in one process, the order rotated from seed to seed; at most
``--jobs`` processes run at once, each on one thread.

Per run: the relative L2 error on the reference grid (as ``metrics.json``'s), the weighted
training loss on the training points and on fresh points, the largest condition violation
max |c| at the training points and at fresh points, the thread CPU time, the wall time, and the
peak growth of the process's resident set while the method ran (``VmHWM`` minus ``VmRSS`` at the
start, with the peak reset through ``/proc/self/clear_refs``; Linux only, else left out). A run
is a *wrong solution* when its error is above ``WRONG_ERROR`` while its training loss is below
``WRONG_LOSS`` (it fits the points, not the equation).

``--quick`` runs the smallest configuration (``QUICK``; CI runs it in tests/benchmarks/test_optimizers_benchmark.py);
the options given with it override its values.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from pinnlab import Dirichlet, Exact, Initial, Rectangle, Problem, load_problem
from pinnlab.derivatives.engines import resolve_engine
from pinnlab.geometry.sampling import make_sampler
from pinnlab.model.field_model import build_model
from pinnlab.output.accuracy import evaluation_grid, predict_on_grid, relative_l2
from pinnlab.output.evaluation import predict
from pinnlab.problem.equation_module import from_module, import_module_file
from pinnlab.runtime.atomic import write_text
from pinnlab.runtime.threads import thread_limit
from pinnlab.solver.settings import Settings, resolve_settings
from pinnlab.training.collocation import sample_collocation
from pinnlab.training.context import weighted_total
from pinnlab.training.hooks import Hook
from pinnlab.training.losses import condition_residual, loss_terms, term_weights
from pinnlab.training.plan import build_training
from machine import machine_description, revision  # the sibling script (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
WRONG_ERROR = 0.5  # rel L2 above this ...
WRONG_LOSS = 1e-3  # ... with a weighted training loss below this: a wrong solution that fits the points
FRESH_POINTS = 4000  # interior points of the fresh-point loss (and boundary points per condition: a tenth)
SPECTRUM_GRID = 128  # periodic grid of the error spectrum (poisson_hf)
BIG = 10**7  # a phase's step budget: the CPU-time budget ends it first


# --- the problems -----------------------------------------------------------------------------

def allen_cahn() -> Problem:
    return load_problem(ROOT / "equations" / "allen_cahn.py")


HF_MODES = (1, 2, 4)  # u = sum of sin(2 pi k x) sin(2 pi k y) / k^2 over these k


def hf_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return sum(torch.sin(2 * math.pi * k * x) * torch.sin(2 * math.pi * k * y) / k**2 for k in HF_MODES)


def hf_source(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """f = -laplacian u: every mode with the same amplitude 2 (2 pi)^2, so that none dominates the residual."""
    return sum(2 * (2 * math.pi) ** 2 * torch.sin(2 * math.pi * k * x) * torch.sin(2 * math.pi * k * y)
               for k in HF_MODES)


def poisson_hf() -> Problem:
    """-laplacian u = f on the unit square, u = 0 on the boundary (trained), three frequencies."""
    module = types.ModuleType("poisson_hf")
    module.domain = Rectangle((0.0, 0.0), (1.0, 1.0))
    module.fields = ["u"]
    # scaled by the modes' 2 (2 pi)^2 in f, so that the residual is of the size of u
    scale = 2 * (2 * math.pi) ** 2
    module.residual = lambda x, y, u_xx, u_yy: (u_xx + u_yy + hf_source(x, y)) / scale
    module.conditions = {"boundary": Dirichlet(0.0)}
    module.reference = Exact(hf_exact)
    return from_module(module)


def burgers() -> Problem:
    """equations/burgers.py with its initial and wall conditions trained instead of imposed."""
    shipped = import_module_file(ROOT / "equations" / "burgers.py")
    module = types.ModuleType("burgers_soft")
    module.domain, module.fields, module.residual = shipped.domain, shipped.fields, shipped.residual
    module.conditions = {"initial": Initial(lambda x: -torch.sin(math.pi * x)), "walls": Dirichlet(0.0)}
    module.reference = shipped.reference
    return from_module(module)


@dataclass(frozen=True)
class Case:
    """One problem of the study: how to build it, its settings, the warm start."""

    build: Callable[[], Problem]
    settings: dict[str, Any]
    warm_steps: int
    spectrum: bool = False
    what: str = ""


PROBLEMS: dict[str, Case] = {
    "allen_cahn": Case(allen_cahn, {
        "network.width": 20, "network.depth": 3, "network.periodic": "x",
        "sampling.points": 250, "sampling.boundary_points": 128, "weights": "initial:100"}, 300,
        what="equations/allen_cahn.py, 250 interior and 128 initial points, 20 x 3 network (exactly periodic in x)"),
    "poisson_hf": Case(poisson_hf, {
        "network.width": 24, "network.depth": 3, "sampling.points": 1000, "sampling.boundary_points": 200,
        "weights": "boundary:10"}, 300, spectrum=True,
        what="Poisson on the unit square, u = sum of sin(2 pi k x) sin(2 pi k y) / k^2, k = 1, 2, 4; 1000 interior, "
             "200 boundary points, 24 x 3 network"),
    "burgers": Case(burgers, {
        "network.width": 16, "network.depth": 3, "sampling.points": 1000, "sampling.boundary_points": 200,
        "weights": "initial:10,walls:10"}, 300,
        what="equations/burgers.py with trained initial and wall conditions, 1000 interior and 200 points per "
             "condition, 16 x 3 network"),
}

# Each method: the phase and its settings after the warm start (its budget is the CPU time).
METHODS: dict[str, dict[str, Any]] = {
    "adam": {"phases": "adam", "adam.steps": BIG, "adam.lr": 1e-3, "adam.lr_decay": 1.0},
    "lbfgs": {"phases": "lbfgs", "lbfgs.steps": BIG},
    "ssbroyden": {"phases": "ssbroyden", "ssbroyden.steps": BIG},
    "lm": {"phases": "lm", "lm.steps": BIG},
    "sven": {"phases": "sven", "sven.steps": BIG, "sven.rank": 50},
    "augmented_lagrangian": {"phases": "augmented_lagrangian", "augmented_lagrangian.steps": BIG,
                             "augmented_lagrangian.inner": 20, "augmented_lagrangian.optimizer": "lm",
                             "augmented_lagrangian.mu_factor": 3.0, "augmented_lagrangian.progress": 0.5},
    "trust_constr": {"phases": "trust_constr", "trust_constr.steps": BIG},  # the conditions as equality constraints
}
DEFAULT_METHODS = ("adam", "lbfgs", "ssbroyden", "lm", "sven", "augmented_lagrangian", "trust_constr")

COMMON = {"numerics.dtype": "float64", "numerics.threads": 1, "numerics.compile": "off", "sampling.sampler": "sobol",
          "sampling.resample_every": 0, "refine.method": "none", "output.progress": False, "output.log_every": 5}

# The smallest configuration (``--quick``, run in CI by tests/benchmarks/test_optimizers_benchmark.py):
# Burgers (every method leaves its warm start far behind within 0.25 s) and the Poisson problem (its
# error spectrum), 300 points, a 12 x 3 network, 0.7 s of CPU time per method, one process.
QUICK = {"problems": "burgers,poisson_hf", "methods": "adam,lbfgs,lm", "seeds": 2, "budget": 0.7, "jobs": 1,
         "settings": {"sampling.points": 300, "sampling.boundary_points": 80, "network.width": 12}, "warm_steps": 100}
DEFAULTS = {"problems": ",".join(PROBLEMS), "methods": ",".join(DEFAULT_METHODS), "seeds": 10, "budget": 6.0, "jobs": 2}


# --- one run ----------------------------------------------------------------------------------

class BudgetSpent(Exception):
    """Raised by ``CpuBudget`` between two steps once the thread's CPU budget is used."""


class CpuBudget(Hook):
    """Ends training at the first step boundary after ``seconds`` of this thread's CPU time."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.thread_time) -> None:
        self.seconds, self.clock, self.started = seconds, clock, clock()

    def begin(self, context: Any) -> None:
        self.started = self.clock()

    def advanced(self, context: Any, steps: int) -> None:
        if self.clock() - self.started >= self.seconds:
            raise BudgetSpent


def settings_for(problem: Problem, case_settings: dict[str, Any], seed: int, method: dict[str, Any]) -> Settings:
    return resolve_settings(problem, {**COMMON, **case_settings, **method, "numerics.seed": seed})


def method_available(name: str, problem: Problem | None = None) -> str | None:
    """None when pinnlab knows the phase, else why not (a phase still to come, e.g. trust_constr)."""
    problem = problem or poisson_hf()
    try:
        settings_for(problem, {}, 0, METHODS[name])
    except Exception as error:  # noqa: BLE001 - any refusal means: not available in this pinnlab
        return str(error).splitlines()[0]
    return None


def resident_kib(key: str) -> int | None:
    """VmRSS or VmHWM of this process in KiB (None off Linux)."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def reset_peak() -> bool:
    """Set the peak resident set (VmHWM) to the current one; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def band_edges() -> list[float]:
    """Radial wavenumber bands (cycles per unit length), one around each mode sqrt(2) k, and the rest."""
    return [0.0, 2.0, 4.0, 8.0, float("inf")]


def band_names() -> list[str]:
    return [f"k={k}" for k in HF_MODES] + ["above"]


def error_spectrum(error: np.ndarray, solution: np.ndarray) -> dict[str, Any]:
    """Energy of the error and of the solution per radial wavenumber band, from numpy's 2-D FFT
    on a periodic grid (the fields are periodic on the unit square, so no window is needed).
    By Parseval the bands' energies add up to sum(e^2) * n."""
    n = error.shape[0]
    e_hat, u_hat = np.fft.fft2(error), np.fft.fft2(solution)
    k = np.fft.fftfreq(n, d=1.0 / n)
    radius = np.hypot(*np.meshgrid(k, k, indexing="ij"))
    edges = band_edges()
    e_energy = np.abs(e_hat) ** 2 / error.size
    u_energy = np.abs(u_hat) ** 2 / solution.size
    bands = {}
    for name, low, high in zip(band_names(), edges[:-1], edges[1:]):
        inside = (radius >= low) & (radius < high)
        bands[name] = {"error_energy": float(e_energy[inside].sum()), "solution_energy": float(u_energy[inside].sum())}
    total_u = float(u_energy.sum())
    for band in bands.values():  # band error relative to the solution's band (or, where it has none, to all of it)
        reference = band["solution_energy"] if band["solution_energy"] > 1e-12 * total_u else total_u
        band["relative_error"] = math.sqrt(band["error_energy"] / reference)
    return {"bands": bands, "error_energy": float((error**2).sum()), "solution_energy": float((solution**2).sum())}


def spectrum_of(model: torch.nn.Module) -> dict[str, Any]:
    axis = np.arange(SPECTRUM_GRID) / SPECTRUM_GRID
    x, y = np.meshgrid(axis, axis, indexing="ij")
    points = np.stack([x.ravel(), y.ravel()], axis=1)
    u = predict(model, points)[:, 0].reshape(x.shape)
    exact = hf_exact(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    return error_spectrum(u - exact, exact)


def max_violation(problem: Problem, model: torch.nn.Module, batches: dict[str, Any], engine: Any) -> float:
    """max |c| over every trained condition's points (0 without any)."""
    values = [float(condition_residual(problem, model, name, batch, engine).detach().abs().max())
              for name, batch in batches.items()]
    return max(values, default=0.0)


def judge(problem: Problem, model: torch.nn.Module, settings: Settings, collocation: Any, grid: Any, engine: Any,
          case: Case, seed: int) -> dict[str, Any]:
    """Error, losses, violations (and the error spectrum) of a trained model."""
    weights = term_weights(problem, settings)
    train_total = float(weighted_total(loss_terms(problem, model, collocation, engine=engine), weights).detach())
    parameter = next(model.parameters())
    fresh_sampling = dataclasses.replace(settings.sampling, points=FRESH_POINTS, boundary_points=FRESH_POINTS // 10,
                                         sampler="uniform")
    fresh = sample_collocation(problem, fresh_sampling, make_sampler("uniform", seed=10**6 + seed),
                               parameter.dtype, parameter.device)
    fresh_total = float(weighted_total(loss_terms(problem, model, fresh, engine=engine), weights).detach())
    record = {
        "rel_l2": relative_l2(predict_on_grid(model, problem, grid), grid)["u"],
        "train_loss": train_total, "fresh_loss": fresh_total,
        "violation_train": max_violation(problem, model, collocation.conditions, engine),
        "violation_fresh": max_violation(problem, model, fresh.conditions, engine),
    }
    if case.spectrum:
        record["spectrum"] = spectrum_of(model)
    return record


def train_for(problem: Problem, model: torch.nn.Module, settings: Settings, engine: Any, budget: float | None
              ) -> tuple[Any, dict[str, Any]]:
    """Train with ``settings`` until the phases end or ``budget`` CPU seconds are used; returns
    the training context and the run's clocks and stop reason."""
    training = build_training(problem, model, settings, engine=engine)
    if budget is not None:
        training.hooks.insert(0, CpuBudget(budget))
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    stop = "budget"
    try:
        result = training.run()
        stop = "ended: " + (result.second_order_stop if result.second_order_stop != "not run" else result.lbfgs_stop)
    except BudgetSpent:
        pass
    return training.context, {"cpu_s": time.thread_time() - cpu0, "wall_s": time.perf_counter() - wall0,
                              "steps": training.context.step, "stop": stop}


def run_seed(task: tuple[str, int, list[str], float, dict[str, Any], int | None]) -> list[dict[str, Any]]:
    """The warm start of one (problem, seed), then every method from it, in the given order."""
    name, seed, methods, budget, extra_settings, warm_steps = task
    torch.set_num_threads(1)
    case = PROBLEMS[name]
    problem = case.build()
    case_settings = {**case.settings, **extra_settings}
    warm_steps = case.warm_steps if warm_steps is None else warm_steps
    warm = settings_for(problem, case_settings, seed, {"phases": "adam", "adam.steps": warm_steps,
                                                        "adam.lr": 1e-3, "adam.lr_decay": 1.0})
    records = []
    with thread_limit(1):
        torch.manual_seed(seed)
        model = build_model(problem, warm)
        engine = resolve_engine("auto", "off", problem, model, 0, 0)
        grid = evaluation_grid(problem, warm)  # the reference once (Allen-Cahn's is a spectral solve)
        context, clocks = train_for(problem, model, warm, engine, None)
        start = copy.deepcopy(model.state_dict())
        parameters = sum(p.numel() for p in model.parameters())
        base = {"problem": name, "seed": seed, "parameters": parameters, "warm_steps": warm_steps,
                "points": context.collocation.interior.shape[0]}
        records.append({**base, "method": "warm start", **clocks,
                        **judge(problem, model, warm, context.collocation, grid, engine, case, seed)})
        for method in methods:
            settings = settings_for(problem, case_settings, seed, METHODS[method])
            model.load_state_dict(start)
            gc.collect()
            peak_known = reset_peak()
            rss0 = resident_kib("VmRSS")
            try:
                context, clocks = train_for(problem, model, settings, engine, budget)
            except Exception as error:  # noqa: BLE001 - one method failing must not end the study
                records.append({**base, "method": method, "failed": f"{type(error).__name__}: {error}"[:300]})
                print(f"  {name} seed {seed} {method}: FAILED {records[-1]['failed']}", flush=True)
                continue
            rss1 = resident_kib("VmHWM") if peak_known else None
            record = {**base, "method": method, **clocks, "budget_cpu_s": budget,
                      "rss_start_mib": rss0 / 1024 if rss0 else None,
                      "peak_growth_mib": (rss1 - rss0) / 1024 if rss1 and rss0 else None,
                      **judge(problem, model, settings, context.collocation, grid, engine, case, seed)}
            if method == "augmented_lagrangian":
                phase = next(p for p in context.phases if p.name == method)
                record["al_outer"] = phase.result_fields().get("constraints", {}).get("outer_iterations")
            records.append(record)
            print(f"  {name} seed {seed} {method:<21} rel L2 {record['rel_l2']:.3e} loss {record['train_loss']:.2e} "
                  f"viol {record['violation_fresh']:.1e} cpu {record['cpu_s']:.1f}s wall {record['wall_s']:.1f}s "
                  f"steps {record['steps']} ({record['stop']})", flush=True)
    return records


# --- summary ----------------------------------------------------------------------------------

def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def is_wrong(record: dict[str, Any]) -> bool:
    return record["rel_l2"] > WRONG_ERROR and record["train_loss"] < WRONG_LOSS


def summary(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per problem, per method: the error's median, quartiles and worst, and the medians of the rest."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        if "failed" in record:
            continue
        out.setdefault(record["problem"], {}).setdefault(record["method"], {"runs": []})["runs"].append(record)
    for methods in out.values():
        for entry in methods.values():
            runs = entry.pop("runs")
            errors = [r["rel_l2"] for r in runs]
            q1, median, q3 = quartiles(errors)
            entry.update(runs=len(runs), rel_l2_median=median, rel_l2_q1=q1, rel_l2_q3=q3, rel_l2_worst=max(errors),
                         rel_l2_best=min(errors), wrong=sum(is_wrong(r) for r in runs),
                         above=sum(r["rel_l2"] > WRONG_ERROR for r in runs))
            for key in ("train_loss", "fresh_loss", "violation_train", "violation_fresh", "cpu_s", "wall_s", "steps",
                        "peak_growth_mib"):
                values = [r[key] for r in runs if r.get(key) is not None]
                entry[key] = statistics.median(values) if values else None
            if "spectrum" in runs[0]:
                entry["band_relative_error"] = {
                    band: statistics.median(r["spectrum"]["bands"][band]["relative_error"] for r in runs)
                    for band in band_names()}
    return out


def g(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}e}"


def table_lines(summarised: dict[str, dict[str, dict[str, Any]]], method_order: list[str]) -> list[str]:
    lines = []
    for problem, methods in summarised.items():
        lines += [f"### {problem}", "",
                  "| method | runs | rel L2 median | Q1 - Q3 | worst | rel L2 > 0.5 | wrong solution | train loss | "
                  "fresh-point loss | max violation (train / fresh) | steps | CPU s | wall s | peak RSS growth MiB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for method in ["warm start", *method_order]:
            if method not in methods:
                continue
            e = methods[method]
            memory = "-" if e["peak_growth_mib"] is None else f"{e['peak_growth_mib']:.0f}"
            lines.append(f"| {method} | {e['runs']} | {g(e['rel_l2_median'])} | {g(e['rel_l2_q1'])} - {g(e['rel_l2_q3'])} "
                         f"| {g(e['rel_l2_worst'])} | {e['above']}/{e['runs']} | {e['wrong']}/{e['runs']} "
                         f"| {g(e['train_loss'])} | {g(e['fresh_loss'])} | {g(e['violation_train'], 1)} / "
                         f"{g(e['violation_fresh'], 1)} | {e['steps']:.0f} | {e['cpu_s']:.1f} | {e['wall_s']:.1f} | {memory} |")
        lines.append("")
        spectral = [m for m in ["warm start", *method_order] if m in methods and "band_relative_error" in methods[m]]
        if spectral:
            names = band_names()
            lines += [f"Relative error per wavenumber band ({problem}, median over seeds; band k: the error's energy "
                      "around the mode k over the solution's there; 'above': all higher wavenumbers, over the "
                      "solution's total energy):", "",
                      "| method | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for method in spectral:
                bands = methods[method]["band_relative_error"]
                lines.append(f"| {method} | " + " | ".join(g(bands[b]) for b in names) + " |")
            lines.append("")
    return lines


def plot(records: list[dict[str, Any]], method_order: list[str], folder: Path) -> list[Path]:
    """A strip plot of the errors per problem (box: quartiles) and the spectrum's bands per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    problems = list(dict.fromkeys(r["problem"] for r in records))
    fig, axes = plt.subplots(1, len(problems), figsize=(5.2 * len(problems), 4.2), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        methods = [m for m in ["warm start", *method_order] if any(r["problem"] == problem and r["method"] == m
                                                                  for r in records)]
        data = [[r["rel_l2"] for r in records if r["problem"] == problem and r["method"] == m] for m in methods]
        ax.boxplot(data, positions=range(len(methods)), widths=0.5, showfliers=False)
        for i, values in enumerate(data):
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), values, s=12, alpha=0.7, zorder=3)
        ax.axhline(WRONG_ERROR, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xticks(range(len(methods)), [m.replace("augmented_lagrangian", "aug. Lagr.") for m in methods],
                      rotation=35, ha="right")
        ax.set_title(problem)
        ax.set_ylabel("relative L2 error")
    fig.tight_layout()
    path = folder / "optimizer-study-errors.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    spectral = [r for r in records if "spectrum" in r]
    if spectral:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        names = band_names()
        for method in [m for m in ["warm start", *method_order] if any(r["method"] == m for r in spectral)]:
            values = [[r["spectrum"]["bands"][b]["relative_error"] for r in spectral if r["method"] == method]
                      for b in names]
            ax.plot(range(len(names)), [statistics.median(v) for v in values], marker="o", label=method)
        ax.set_xticks(range(len(names)), names)
        ax.set_yscale("log")
        ax.set_xlabel("wavenumber band")
        ax.set_ylabel("relative error in the band (median over seeds)")
        ax.set_title(spectral[0]["problem"])
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / "optimizer-study-spectrum.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# --- driver -----------------------------------------------------------------------------------

def tasks(args: argparse.Namespace, methods: list[str]) -> list[tuple]:
    """(problem, seed) units, seeds outermost, the methods' order rotated by the seed."""
    units = []
    for seed in range(args.seeds):
        shift = seed % len(methods)
        order = methods[shift:] + methods[:shift]
        for problem in args.problems:
            units.append((problem, seed, order, args.budget, args.settings, args.warm_steps))
    return units


def write_results(args: argparse.Namespace, records: list[dict[str, Any]], methods: list[str],
                  skipped: dict[str, str], started: float, load: tuple[float, float]) -> dict[str, Any]:
    results = {
        "command": " ".join(["python benchmarks/optimizers.py", *args.argv]),
        "commit": revision(), "machine": machine_description(1), "date": time.strftime("%Y-%m-%d"),
        "budget_cpu_s": args.budget, "seeds": args.seeds, "jobs": args.jobs, "methods": methods,
        "skipped_methods": skipped, "problems": {p: PROBLEMS[p].what for p in args.problems},
        "settings": {p: {**COMMON, **PROBLEMS[p].settings, **args.settings} for p in args.problems},
        "method_settings": {m: METHODS[m] for m in methods},
        "wrong_solution": {"rel_l2_above": WRONG_ERROR, "train_loss_below": WRONG_LOSS},
        "wall_s": time.perf_counter() - started, "load_average": list(load),
        "records": records, "summary": summary(records),
    }
    write_text(args.json, json.dumps(results, indent=1) + "\n")
    return results


def report(results: dict[str, Any]) -> list[str]:
    lines = ["# Optimizer study", "",
             f"`{results['command']}`, {results['date']}, commit {results['commit']}, {results['machine']}; budget "
             f"{results['budget_cpu_s']:g} s thread CPU time per method and run, {results['seeds']} seed(s), "
             f"{results['jobs']} process(es) at once; {results['wall_s']:.0f} s in all, load average "
             f"{results['load_average'][0]:.2f} -> {results['load_average'][1]:.2f}.", ""]
    if results["skipped_methods"]:
        lines += ["Not run: " + "; ".join(f"{m} ({why})" for m, why in results["skipped_methods"].items()), ""]
    return lines + table_lines(results["summary"], results["methods"])


def run_study(args: argparse.Namespace) -> dict[str, Any]:
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    skipped = {m: why for m in args.methods if (why := method_available(m)) is not None}
    methods = [m for m in args.methods if m not in skipped]
    for method, why in skipped.items():
        print(f"skipping {method}: {why}", flush=True)
    units = tasks(args, methods)
    records: list[dict[str, Any]] = []
    if args.jobs == 1:
        for unit in units:
            records += run_seed(unit)
            write_results(args, records, methods, skipped, started, (load0, os.getloadavg()[0]))
    else:
        with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            for done in pool.imap(run_seed, units):
                records += done
                write_results(args, records, methods, skipped, started, (load0, os.getloadavg()[0]))
    return write_results(args, records, methods, skipped, started, (load0, os.getloadavg()[0]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", help=f"comma separated, of {', '.join(PROBLEMS)} (default: all)")
    parser.add_argument("--methods", help=f"comma separated, of {', '.join(METHODS)} (default: {DEFAULTS['methods']})")
    parser.add_argument("--seeds", type=int, help=f"default {DEFAULTS['seeds']}")
    parser.add_argument("--budget", type=float, help=f"thread CPU seconds per method and run (default {DEFAULTS['budget']:g})")
    parser.add_argument("--jobs", type=int, help=f"processes at once, one thread each (default {DEFAULTS['jobs']})")
    parser.add_argument("--warm-steps", type=int, default=None, help="Adam warm-start steps (default: per problem)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a pinnlab setting for every problem (repeatable), e.g. sampling.points=500")
    parser.add_argument("--quick", action="store_true",
                        help="the smallest configuration (CI; the options given override it): " + str(QUICK))
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "optimizers.json")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "optimizers.md")
    parser.add_argument("--plots", type=Path, default=None, help="folder for the PNG figures (none: no figures)")
    parser.add_argument("--from-json", type=Path, default=None, help="redo the table and figures of a results file")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    malformed = [item for item in args.set if "=" not in item]
    if malformed:
        parser.error(f"--set expects NAME=VALUE, got {', '.join(malformed)}")
    args.settings = dict(item.split("=", 1) for item in args.set)
    base = QUICK if args.quick else DEFAULTS
    for key in DEFAULTS:  # an option given on the command line wins over --quick's value
        if getattr(args, key) is None:
            setattr(args, key, base[key])
    if args.quick:
        args.settings = {**QUICK["settings"], **args.settings}
        args.warm_steps = QUICK["warm_steps"] if args.warm_steps is None else args.warm_steps
    args.problems = [p for p in args.problems.split(",") if p]
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = [p for p in args.problems if p not in PROBLEMS] + [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown problem or method {', '.join(unknown)}; problems: {', '.join(PROBLEMS)}; "
                     f"methods: {', '.join(METHODS)}")
    if args.seeds < 1 or args.jobs < 1 or not args.budget > 0 or not args.problems or not args.methods:
        parser.error("--seeds and --jobs must be >= 1, --budget > 0, and --problems and --methods not empty")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_study(args)
    lines = report(results)
    print("\n" + "\n".join(lines))
    write_text(args.table, "\n".join(lines) + "\n")
    print(f"results written to {args.json if args.from_json is None else args.from_json}, table to {args.table}")
    if args.plots is not None:
        for path in plot(results["records"], results["methods"], args.plots):
            print(f"figure written to {path}")


if __name__ == "__main__":
    main()
