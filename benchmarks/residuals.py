"""Residual forward + backward: pinnlab's engine against nested autograd and DeepXDE, interleaved.

    python benchmarks/residuals.py [--problems burgers burgers-hard kdv ks poisson10]
                                   [--sizes 1e4 1e5] [--methods pinnlab pinnlab-compiled autograd deepxde]
                                   [--rounds 7] [--repeats 1] [--warmup 2] [--threads 1] [--device cpu]
                                   [--dtype float32] [--width 20] [--depth 3] [--set NAME=VALUE]
                                   [--memory] [--table results/residuals.md]

One pass is what a training step costs before the optimizer: the mean squared residual at N
points, then ``.backward()`` into the network's parameters. Methods, all on the same network
(built by ``pinnlab.model.field_model.build_model`` from ``pinnlab.solver.job.resolve_settings``,
inputs scaled as the solver scales them, seed 0) and the same points:

- ``network``: the model's output alone, mean of u^2 (no derivatives): a floor;
- ``pinnlab``: the residual's loss term as training computes it
  (``pinnlab.training.losses.residual_terms``) with the engine
  ``pinnlab.derivatives.engines.resolve_engine`` picks from the solver's default settings (engine
  auto, compile auto, residual chunks auto) for a run as long as the shipped Burgers one, so this
  column follows whatever the solver's default path becomes;
- ``pinnlab-compiled``: the same with ``numerics.compile=on`` (the compiled Taylor jets, timed
  after the warm-up compiled them);
- ``autograd``: the same with ``numerics.engine=autograd`` (nested reverse mode);
- ``deepxde``: the residual written with DeepXDE's ``dde.grad.jacobian``/``dde.grad.hessian``
  (a jacobian or hessian of a hessian for 3rd and 4th order) on the same torch network, the
  output transform applied to the network's output first, ``dde.grad.clear()`` every pass.

``--set NAME=VALUE`` passes a pinnlab setting to the pinnlab models (e.g. ``numerics.engine=jets``).

Timing: for each (problem, N) every method is built in this one process, warmed up
(``--warmup`` untimed passes at full size; a compiled engine compiles there), then timed
interleaved by benchmarks/timing.py: ``--rounds`` rounds, each running every method once
(``--repeats`` passes averaged) in an order rotated per round. The table gives each method's
median and, for each ratio, the median of the per-round ratios with its interquartile range and
full range, marked NOT QUOTABLE when the quartiles are more than 1.25x apart; the machine load
during the rounds is recorded under each table.

Memory (``--memory``, CPU): a process of its own per (problem, method, N) measures the peak of
one pass under MALLOC_MMAP_THRESHOLD_=65536, so that glibc hands large freed blocks back to the
OS and the resident set follows the tensors: VmHWM after resetting it through
/proc/self/clear_refs, minus VmRSS before the pass. (The fixed threshold makes every tensor
above 64 KiB a fresh mapping, which slows passes, so timing never runs under it.) On CUDA the
peak comes from ``torch.cuda.max_memory_allocated`` in the same way.

The residuals of pinnlab and DeepXDE are checked against autograd's: before any timing on 1000
points (a relative difference above 1e-3 in float32 stops the run at once), and at every N on
the first 1000 residual values of the timed passes themselves, which is where a compiled or
size-dependent path shows (a failure there is marked in the table and makes the run exit with
status 1 at the end). Prints a Markdown table per problem and writes them all to
results/residuals.md. Without DeepXDE installed (``pip install -e '.[bench]'``) its columns are
left out.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_description, revision  # noqa: E402  (the sibling modules)
from timing import Timing, interleaved, summarise, verdict_note  # noqa: E402

from pinnlab import Hyperbox, Interval, Problem, Settings, TimeInterval  # noqa: E402
from pinnlab.derivatives.engines import Engine, resolve_engine  # noqa: E402
from pinnlab.model.field_model import build_model  # noqa: E402
from pinnlab.runtime.atomic import write_text  # noqa: E402
from pinnlab.solver.job import resolve_settings  # noqa: E402
from pinnlab.training.losses import residual_terms  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("network", "pinnlab", "pinnlab-compiled", "autograd", "deepxde")
MMAP_THRESHOLD = "65536"
CHECK_POINTS = 1000
SAMPLE = 1000  # residual values kept from the timed passes for the agreement check at each N
TOLERANCE = {"float32": 1e-3, "float64": 1e-8}
RESULT_TAG = "RESULT "
NU = 0.01 / math.pi
POISSON_DIM = 10
BURGERS_STEPS = (1000, 4000)  # equations/burgers.py defaults: Adam steps, L-BFGS iterations
RATIOS = (("pinnlab", "deepxde"), ("pinnlab-compiled", "deepxde"), ("pinnlab", "autograd"),
          ("pinnlab-compiled", "pinnlab"))
"""(faster, slower) pairs the table gives as time of slower / time of faster."""

DeepXDEResidual = Callable[[ModuleType, torch.Tensor, torch.Tensor], torch.Tensor]


# --- problems ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A benchmark problem: pinnlab's definition and the same residual written for DeepXDE."""

    problem: Problem
    description: str
    deepxde_residual: DeepXDEResidual
    deepxde_transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None


def burgers_residual(u, u_t, u_x, u_xx):
    return u_t + u * u_x - NU * u_xx


def burgers_transform(x, t, u):
    """The shipped equations/burgers.py transform: -sin(pi x) + t (1 - x^2) u."""
    return -torch.sin(math.pi * x) + t * (1 - x**2) * u


def kdv_residual(u, u_t, u_x, u_xxx):
    return u_t + u * u_x + 0.0025 * u_xxx


def ks_residual(u, u_t, u_x, u_xx, u_xxxx):
    return u_t + u * u_x + u_xx + u_xxxx


def laplacian_residual(u_laplacian):
    """What a pinnlab user writes: the Laplacian by name, which the jet engine carries as one
    stream (the forward Laplacian) instead of one per input."""
    return u_laplacian + 1.0


def dde_burgers(grad: ModuleType, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    u_x, u_t = grad.jacobian(u, x, i=0, j=0), grad.jacobian(u, x, i=0, j=1)
    return u_t + u * u_x - NU * grad.hessian(u, x, i=0, j=0)


def dde_kdv(grad: ModuleType, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    u_x, u_t = grad.jacobian(u, x, i=0, j=0), grad.jacobian(u, x, i=0, j=1)
    u_xxx = grad.jacobian(grad.hessian(u, x, i=0, j=0), x, i=0, j=0)
    return u_t + u * u_x + 0.0025 * u_xxx


def dde_ks(grad: ModuleType, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    u_x, u_t = grad.jacobian(u, x, i=0, j=0), grad.jacobian(u, x, i=0, j=1)
    u_xx = grad.hessian(u, x, i=0, j=0)
    return u_t + u * u_x + u_xx + grad.hessian(u_xx, x, i=0, j=0)


def dde_laplacian(grad: ModuleType, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return sum(grad.hessian(u, x, i=k, j=k) for k in range(x.shape[1])) + 1.0


def make_case(name: str) -> Case:
    line = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
    if name == "burgers":
        problem = Problem.define(name, domain=Interval(-1.0, 1.0) * TimeInterval(0.0, 0.99),
                                 residual=burgers_residual)
        return Case(problem, "u_t + u u_x - (0.01/pi) u_xx, no output transform", dde_burgers)
    if name == "burgers-hard":
        problem = Problem.define(name, domain=Interval(-1.0, 1.0) * TimeInterval(0.0, 0.99),
                                 residual=burgers_residual, output_transform=burgers_transform)
        return Case(problem, "u_t + u u_x - (0.01/pi) u_xx, with the shipped output transform "
                    "-sin(pi x) + t (1 - x^2) u", dde_burgers,
                    lambda x, raw: burgers_transform(x[:, 0:1], x[:, 1:2], raw))
    if name == "kdv":
        problem = Problem.define(name, domain=line, residual=kdv_residual)
        return Case(problem, "u_t + u u_x + 0.0025 u_xxx", dde_kdv)
    if name == "ks":
        problem = Problem.define(name, domain=line, residual=ks_residual)
        return Case(problem, "u_t + u u_x + u_xx + u_xxxx (Kuramoto-Sivashinsky)", dde_ks)
    if name == f"poisson{POISSON_DIM}":
        problem = Problem.define(name, domain=Hyperbox([0.0] * POISSON_DIM, [1.0] * POISSON_DIM),
                                 residual=laplacian_residual)
        return Case(problem, f"u_laplacian + 1 on [0, 1]^{POISSON_DIM}", dde_laplacian)
    raise ValueError(f"unknown problem '{name}'")


PROBLEMS = ("burgers", "burgers-hard", "kdv", "ks", f"poisson{POISSON_DIM}")


# --- one pass ---------------------------------------------------------------------------------

def import_deepxde() -> ModuleType:
    """DeepXDE on the torch backend, its import banner silenced. Importing it sets torch's
    default dtype, and on a CUDA machine the default device; both are put back."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    dtype, device = torch.get_default_dtype(), torch.get_default_device()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import deepxde
    torch.set_default_dtype(dtype)
    torch.set_default_device(device)
    return deepxde


def deepxde_installed() -> bool:
    return importlib.util.find_spec("deepxde") is not None


def model_settings(case: Case, method: str, args: argparse.Namespace) -> Settings:
    """The solver's settings with the benchmark's network and ``--set`` overrides; ``autograd``
    forces nested autograd and ``pinnlab-compiled`` compile=on, every other method keeps the
    engine those settings give. The step counts are those of the shipped Burgers defaults (1000
    Adam + 4000 L-BFGS), so that ``compile=auto`` decides as it does for that solve."""
    overrides = {"network.width": args.width, "network.depth": args.depth, "numerics.dtype": args.dtype,
                 "numerics.device": args.device, "numerics.seed": 0, "adam.steps": BURGERS_STEPS[0],
                 "lbfgs.steps": BURGERS_STEPS[1]}
    if method != "deepxde":
        overrides.update(args.overrides)
    if method == "autograd":
        overrides["numerics.engine"] = "autograd"
    if method == "pinnlab-compiled":
        overrides["numerics.compile"] = "on"
    return resolve_settings(case.problem, overrides)


def make_model(case: Case, method: str, args: argparse.Namespace) -> tuple[torch.nn.Module, Engine]:
    """The model and the derivative engine the solver would train it with."""
    settings = model_settings(case, method, args)
    model = build_model(case.problem, settings)
    numerics = settings.numerics
    engine = resolve_engine(numerics.engine, numerics.compile, case.problem, model, sum(BURGERS_STEPS),
                            numerics.residual_chunk)
    return model, engine


def make_points(case: Case, n: int, args: argparse.Namespace) -> torch.Tensor:
    """n points uniform in the domain's box (every domain here is a box), seed 0."""
    lower, upper = (torch.as_tensor(b, dtype=torch.float64) for b in case.problem.domain.bounds())
    generator = torch.Generator().manual_seed(0)
    unit = torch.rand(n, len(lower), generator=generator, dtype=torch.float64)
    return (lower + (upper - lower) * unit).to(dtype=getattr(torch, args.dtype), device=args.device)


def pinnlab_residual(case: Case, model: torch.nn.Module, points: torch.Tensor, engine: Engine) -> torch.Tensor:
    return pinnlab_loss(case, model, points, engine)[1]


def deepxde_residual(case: Case, dde: ModuleType, model: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    """The residual as a DeepXDE user writes it, on the pinnlab model's network."""
    x = points.detach().requires_grad_(True)
    u = model.network(x)
    if case.deepxde_transform is not None:
        u = case.deepxde_transform(x, u)
    return case.deepxde_residual(dde.grad, x, u).reshape(-1)


def pinnlab_loss(case: Case, model: torch.nn.Module, points: torch.Tensor,
                 engine: Engine) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual's loss term as training computes it (``pinnlab.training.losses.residual_terms``: on
    large point sets chunk by chunk, pinnlab/derivatives/chunked_loss.py), and its pointwise values."""
    values: dict[str, list[torch.Tensor]] = {}
    terms = residual_terms(case.problem, model, points, values=values, engine=engine)
    return sum(terms.values()), torch.cat([torch.cat(v) for v in values.values()])


def mean_square(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return values.square().mean(), values


class Pass:
    """One forward and backward of the loss ``forward()`` returns with its pointwise values
    (gradients accumulate into the model); the first pass keeps the first SAMPLE values, for the
    agreement check."""

    def __init__(self, forward: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                 cleanup: Callable[[], None] = lambda: None) -> None:
        self.forward, self.cleanup = forward, cleanup
        self.sample: list[float] | None = None

    def __call__(self) -> None:
        loss, values = self.forward()
        loss.backward()
        if self.sample is None:
            self.sample = values.detach()[:SAMPLE].reshape(-1).tolist()
        del loss, values
        self.cleanup()


def make_pass(case: Case, method: str, model: torch.nn.Module, points: torch.Tensor,
              dde: ModuleType | None, engine: Engine) -> Pass:
    if method == "network":
        return Pass(lambda: mean_square(model(points)))
    if method in ("pinnlab", "pinnlab-compiled", "autograd"):
        return Pass(lambda: pinnlab_loss(case, model, points, engine))
    if method == "deepxde":
        def forward() -> tuple[torch.Tensor, torch.Tensor]:
            dde.grad.clear()
            return mean_square(deepxde_residual(case, dde, model, points))
        return Pass(forward, cleanup=dde.grad.clear)  # the cache holds derivatives: free them too
    raise ValueError(f"unknown method '{method}'")


# --- measuring, inside the subprocess ---------------------------------------------------------

def proc_status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def release_free_heap() -> None:
    """Hand the free pages inside glibc's heaps back to the OS (``malloc_trim``). Blocks below the
    mmap threshold freed by the warm-up would otherwise stay resident, and the measured pass would
    reuse them without the resident set showing it."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(run: Pass, model: torch.nn.Module, device: torch.device) -> float:
    """Extra memory at the peak of one pass over what was held before it, in MiB."""
    model.zero_grad(set_to_none=True)
    gc.collect()
    if device.type == "cuda":
        synchronize(device)
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
    release_free_heap()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    baseline = proc_status_kb("VmRSS")
    run()
    # the kernel's RSS counters are per-CPU approximations: a pass that frees a little of what
    # was held before it can read a few hundred KiB below the baseline
    return max(proc_status_kb("VmHWM") - baseline, 0) / 1024



def measure_memory(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--one PROBLEM METHOD N`` subprocess: build, warm up at full size, measure the peak."""
    problem_name, method, size = args.one
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    case = make_case(problem_name)
    dde = import_deepxde() if method == "deepxde" else None
    model, engine = make_model(case, method, args)
    run = make_pass(case, method, model, make_points(case, int(float(size)), args), dde, engine)
    for _ in range(max(args.warmup, 1)):
        model.zero_grad(set_to_none=True)
        run()
    if device.type == "cpu" and os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:
        print(f"warning: MALLOC_MMAP_THRESHOLD_ is not {MMAP_THRESHOLD}; freed memory may stay "
              "resident and distort the peak", file=sys.stderr)
    return {"peak_mb": peak_memory_mb(run, model, device)}


def memory_subprocess(args: argparse.Namespace, problem: str, method: str, n: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("DDE_BACKEND", "pytorch")
    if args.device == "cpu":
        env["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD
    command = [sys.executable, str(Path(__file__).resolve()), "--one", problem, method, str(n),
               "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
               "--width", str(args.width), "--depth", str(args.depth), "--warmup", str(args.warmup),
               *(f"--set={item}" for item in args.set)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=args.timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout ({args.timeout:g} s)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if done.returncode == 0 and lines:
        return json.loads(lines[-1][len(RESULT_TAG):])
    if done.returncode in (-9, 137):
        return {"error": "killed (out of memory?)"}
    tail = done.stderr.strip().splitlines()[-3:]
    print(f"memory of {problem} {method} N={n} failed (exit {done.returncode}):\n" + "\n".join(tail), file=sys.stderr)
    return {"error": f"failed (exit {done.returncode})"}


# --- timing, in this process ------------------------------------------------------------------

@dataclass
class SizeResult:
    """Everything measured for one (problem, N)."""

    timing: Timing | None
    samples: dict[str, list[float]]
    memory: dict[str, dict[str, Any]]
    error: str | None = None


def time_size(case: Case, n: int, methods: list[str], args: argparse.Namespace,
              dde: ModuleType | None) -> SizeResult:
    """All methods of one (problem, N) built here, warmed up, then timed interleaved."""
    device = torch.device(args.device)
    points = make_points(case, n, args)
    passes: dict[str, Callable[[], None]] = {}
    runs: dict[str, Pass] = {}
    for method in methods:
        model, engine = make_model(case, method, args)
        run = make_pass(case, method, model, points, dde, engine)

        def one_pass(model: torch.nn.Module = model, run: Pass = run) -> None:
            model.zero_grad(set_to_none=True)
            run()
        passes[method], runs[method] = one_pass, run
    baseline = "pinnlab" if "pinnlab" in methods else methods[0]
    try:
        timing = interleaved(passes, args.rounds, baseline=baseline, warmup=args.warmup, repeats=args.repeats,
                             synchronize=lambda: synchronize(device))
    except (RuntimeError, MemoryError) as error:  # out of memory at this N
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return SizeResult(None, {}, {}, f"failed: {first[:80]}")
    samples = {m: r.sample for m, r in runs.items() if r.sample is not None and m != "network"}
    return SizeResult(timing, samples, {})


def ratio_cell(timing: Timing, faster: str, slower: str) -> str:
    ratios = [s / f for s, f in zip(timing.times[slower], timing.times[faster])]
    return summarise(ratios).describe()


# --- agreement with autograd ------------------------------------------------------------------

def agreement(case: Case, methods: list[str], args: argparse.Namespace, dde: ModuleType | None) -> dict[str, float]:
    """max |r - r_autograd| / max |r_autograd| on CHECK_POINTS points, for pinnlab and deepxde, and
    pinnlab's against DeepXDE's directly (``pinnlab vs deepxde``, scaled by DeepXDE's largest value)."""
    points = make_points(case, CHECK_POINTS, args)
    model, engine = make_model(case, "pinnlab", args)
    reference_model, autograd = make_model(case, "autograd", args)
    reference = pinnlab_residual(case, reference_model, points, autograd).detach()
    values = {"pinnlab": pinnlab_residual(case, model, points, engine).detach()}
    if "deepxde" not in methods:
        return relative_differences(values, reference)
    dde.grad.clear()
    values["deepxde"] = deepxde_residual(case, dde, model, points).detach()
    dde.grad.clear()
    direct = relative_differences({"pinnlab": values["pinnlab"]}, values["deepxde"])["pinnlab"]
    return {**relative_differences(values, reference), "pinnlab vs deepxde": direct}


def relative_differences(values: dict[str, torch.Tensor], reference: torch.Tensor) -> dict[str, float]:
    scale = reference.abs().max().clamp_min(torch.finfo(reference.dtype).tiny)
    return {name: float((v - reference).abs().max() / scale) for name, v in values.items()}


def sample_differences(samples: dict[str, list[float]]) -> dict[str, float]:
    """The same check at a benchmark size, on the first residual values of the timed passes
    (same seed, so the same points and weights for every method)."""
    if "autograd" not in samples:
        return {}
    reference = torch.tensor(samples["autograd"], dtype=torch.float64)
    values = {m: torch.tensor(s, dtype=torch.float64) for m, s in samples.items() if m != "autograd"}
    return relative_differences(values, reference)


def check_agreement(cases: dict[str, Case], methods: list[str], args: argparse.Namespace) -> list[str]:
    """Lines for the report; exits with status 1 if any method disagrees with autograd."""
    dde = import_deepxde() if "deepxde" in methods else None
    limit = TOLERANCE[args.dtype]
    lines, failed = [], []
    for name, case in cases.items():
        differences = agreement(case, methods, args, dde)
        bad = [m for m, d in differences.items() if not d <= limit]
        failed += [f"{name}/{m}" for m in bad]
        shown = ", ".join(f"{m} {d:.1e}" for m, d in differences.items())
        lines.append(f"- {name}: {shown} ({'FAILED' if bad else 'ok'})")
    direct = ("`pinnlab vs deepxde`: max |r_pinnlab - r_deepxde| / max |r_deepxde|; "
              if "deepxde" in methods else "")
    header = (f"Residual agreement before timing, on {CHECK_POINTS} points, max |r - r_autograd| / "
              f"max |r_autograd| ({direct}limit {limit:g}):")
    print(header, *lines, sep="\n", flush=True)
    if failed:
        sys.exit(f"agreement check FAILED for {', '.join(failed)}: the methods do not compute the same "
                 "residual, so their timings are not comparable")
    return [header, "", *lines]


# --- the report -------------------------------------------------------------------------------

def size_label(n: int) -> str:
    exponent = math.log10(n)
    return f"1e{round(exponent)}" if n >= 1000 and exponent.is_integer() else str(n)


def number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def agreement_cell(differences: dict[str, float], limit: float) -> str:
    if not differences:
        return "-"
    shown = ", ".join(f"{m} {d:.0e}" for m, d in differences.items())
    return shown + (" FAILED" if any(not d <= limit for d in differences.values()) else "")


def table(problem: str, case: Case, methods: list[str], rows: dict[int, SizeResult], limit: float,
          memory: bool) -> list[str]:
    ratios = [(a, b) for a, b in RATIOS if a in methods and b in methods]
    checked = "autograd" in methods and len(methods) > 1
    heads = ["N", *(f"{m} ms" for m in methods), *(f"{b} / {a}" for a, b in ratios),
             *([f"peak MB {m}" for m in methods] if memory else []), *(["rel. diff vs autograd"] if checked else [])]
    lines = [f"### {problem}: {case.description}", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    loads = []
    for n, result in rows.items():
        if result.timing is None:
            cells = [size_label(n), *([result.error] * (len(heads) - 1))]
        else:
            cells = [size_label(n), *(number(1e3 * result.timing.median(m)) for m in methods),
                     *(ratio_cell(result.timing, a, b) for a, b in ratios)]
            if memory:
                cells += [number(r["peak_mb"]) if "peak_mb" in r else r.get("error", "-")
                          for r in (result.memory.get(m, {}) for m in methods)]
            if checked:
                cells.append(agreement_cell(sample_differences(result.samples), limit))
            loads.append(f"N={size_label(n)}: {result.timing.load.describe()}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", "Machine load during the rounds: " + "; ".join(loads) + "." if loads else ""]


def preamble(args: argparse.Namespace, methods: list[str], case: Case) -> list[str]:
    command = " ".join(["python benchmarks/residuals.py", *args.argv])
    numerics = model_settings(case, "pinnlab", args).numerics
    extra = ""
    if "deepxde" in methods:
        from importlib.metadata import version
        extra = f", deepxde {version('deepxde')}"
    device = args.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name(torch.device(device))})"
    return [
        "# Residual forward + backward", "",
        f"`{command}`, commit {revision()}, {machine_description(args.threads)}{extra}, {args.dtype}, "
        f"device {device}; MLP tanh width {args.width}, depth {args.depth}.", "",
        (f"Time: median over {args.rounds} interleaved rounds of one pass ({args.repeats} averaged) per "
         f"method, after {args.warmup} warm-up passes (mean squared residual, then backward into the "
         "parameters). `pinnlab`: the solver's default path for a run as long as the shipped Burgers one "
         f"({BURGERS_STEPS[0]} Adam + {BURGERS_STEPS[1]} L-BFGS steps; engine={numerics.engine}, "
         f"compile={numerics.compile}); `pinnlab-compiled`: compile=on; `b / a`: time of b / time of a. "
         + verdict_note() + " `rel. diff vs autograd`: max |r - r_autograd| / max |r_autograd| over the "
         f"first {SAMPLE} residual values of the timed passes (limit {TOLERANCE[args.dtype]:g})."
         + (" Peak MB: extra memory at the peak of one pass over what the process held before it (MiB; "
            f"on CPU the resident set, in a process of its own under MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD})."
            if args.memory else "")), "",
    ]


def run_benchmark(args: argparse.Namespace) -> None:
    methods = list(dict.fromkeys(args.methods))
    if "deepxde" in methods and not deepxde_installed():
        print("DeepXDE is not installed (pip install -e '.[bench]', or pip install deepxde): its "
              "columns are left out.", flush=True)
        methods.remove("deepxde")
    if not methods:
        sys.exit("no method left to measure")
    torch.set_num_threads(args.threads)
    cases = {name: make_case(name) for name in args.problems}
    sizes = [int(float(s)) for s in args.sizes] if args.sizes else default_sizes(args.device)
    dde = import_deepxde() if "deepxde" in methods else None
    document = [*preamble(args, methods, next(iter(cases.values()))), *check_agreement(cases, methods, args), ""]
    limit, disagreements = TOLERANCE[args.dtype], []
    for name, case in cases.items():
        rows: dict[int, SizeResult] = {}
        for n in sizes:
            result = rows[n] = time_size(case, n, methods, args, dde)
            gc.collect()
            if args.memory and result.timing is not None:
                result.memory = {m: memory_subprocess(args, name, m, n) for m in methods}
            differences = sample_differences(result.samples)
            if result.timing is None:
                print(f"{name} N={size_label(n)}: {result.error}", flush=True)
                continue
            shown = ", ".join(f"{m} {1e3 * result.timing.median(m):.2f} ms" for m in methods)
            print(f"{name} N={size_label(n)}: {shown}; rel. diff vs autograd: "
                  f"{agreement_cell(differences, limit)}; {result.timing.load.describe()}", flush=True)
            disagreements += [f"{name}/{m} at N={size_label(n)} ({d:.1e})" for m, d in differences.items()
                              if not d <= limit]
        lines = table(name, case, methods, rows, limit, args.memory)
        print("\n" + "\n".join(lines) + "\n", flush=True)
        document += [*lines, ""]
        write_text(args.table, "\n".join(document))
    print(f"tables written to {args.table}")
    if disagreements:
        sys.exit(f"agreement check FAILED for {', '.join(disagreements)} (limit {limit:g}): these methods "
                 "computed other residuals than autograd, so their timings are not comparable")


def default_sizes(device: str) -> list[int]:
    sizes = [10**4, 10**5]
    return sizes + [10**6, 10**7] if device.startswith("cuda") else sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--sizes", nargs="+", help="point counts, e.g. 1e4 1e5 (default 1e4 1e5, up to 1e7 on CUDA)")
    parser.add_argument("--methods", nargs="+", default=["pinnlab", "pinnlab-compiled", "autograd", "deepxde"],
                        choices=METHODS)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (medians over rounds)")
    parser.add_argument("--repeats", type=int, default=1, help="passes per method per round, averaged")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes before measuring")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a pinnlab setting for the pinnlab models (repeatable), e.g. numerics.engine=jets")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also measure each pass's peak memory (own processes)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per memory process")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "residuals.md")
    parser.add_argument("--one", nargs=3, metavar=("PROBLEM", "METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.rounds < 1 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--rounds, --repeats and --threads must be >= 1 and --warmup >= 0")
    try:
        sizes = [float(s) for s in args.sizes or []]
    except ValueError:
        parser.error(f"--sizes expects point counts such as 1e4, got {' '.join(args.sizes)}")
    if any(s < 1 or not s.is_integer() for s in sizes):
        parser.error(f"--sizes expects whole point counts >= 1, got {' '.join(args.sizes)}")
    malformed = [item for item in args.set if "=" not in item]
    if malformed:
        parser.error(f"--set expects NAME=VALUE, got {', '.join(malformed)}")
    args.overrides = dict(item.split("=", 1) for item in args.set)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        print(RESULT_TAG + json.dumps(measure_memory(args)), flush=True)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
