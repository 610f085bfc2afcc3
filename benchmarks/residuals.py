"""Residual forward + backward: pinnlab's default engine against nested autograd and DeepXDE.

    python benchmarks/residuals.py [--problems burgers burgers-hard kdv ks poisson10]
                                   [--sizes 1e3 1e4 1e5 1e6] [--methods network pinnlab autograd deepxde]
                                   [--reps 5] [--warmup 2] [--threads 2] [--device cpu] [--dtype float32]
                                   [--width 20] [--depth 3] [--set NAME=VALUE] [--table results/residuals.md]

One pass is what a training step costs before the optimizer: the mean squared residual at N
points, then ``.backward()`` into the network's parameters. Methods, all on the same network
(built by ``pinnlab.model.field_model.build_model`` from ``pinnlab.solver.job.resolve_settings``, inputs scaled as
the solver scales them) and the same points:

- ``network``: the model's output alone, mean of u^2 (no derivatives): a floor;
- ``pinnlab``: the residual's loss term as training computes it (``pinnlab.training.losses.residual_terms``)
  with the solver's default settings (engine auto, compile auto, residual chunks auto) for a run
  as long as the shipped Burgers one, so this column follows whatever the solver's default path
  becomes;
- ``autograd``: the same with ``engine=autograd`` (nested reverse mode);
- ``deepxde``: the residual written with DeepXDE's ``dde.grad.jacobian``/``dde.grad.hessian``
  (a jacobian or hessian of a hessian for 3rd and 4th order) on the same torch network, the
  output transform applied to the network's output first, ``dde.grad.clear()`` every pass.

``--set NAME=VALUE`` passes a pinnlab setting to the models (e.g. ``engine=jets``).

Each (problem, method, N) runs in fresh processes, after ``--warmup`` untimed passes at full
size (a compiled engine compiles there). On CPU one process measures the peak memory of one pass
under MALLOC_MMAP_THRESHOLD_=65536, so that glibc hands large freed blocks back to the OS and the
resident set follows the tensors: VmHWM after resetting it through /proc/self/clear_refs, minus
VmRSS before the pass. Another process measures the time (median of ``--reps`` passes) with
glibc's default behaviour, because the fixed threshold makes every tensor above 64 KiB a fresh
mapping, which slowed 1e4-point passes about 3x when tried. On CUDA one process does both, the
memory from ``torch.cuda.max_memory_allocated``.

The residuals of pinnlab and DeepXDE are checked against autograd's: before any timing on 1000
points in this process (a relative difference above 1e-3 in float32 stops the run at once), and
at every N on the first 1000 residual values of the measuring processes' own passes, which is
where a compiled or size-dependent path shows (a failure there is marked in the table and makes
the run exit with status 1 at the end). Prints a Markdown table per problem and writes them all
to results/residuals.md. Without DeepXDE installed its columns are left out.
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
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from pinnlab import Hyperbox, Interval, Problem, Settings, TimeInterval
from pinnlab.runtime.atomic import write_text
from pinnlab.training.losses import residual_terms, residual_values
from pinnlab.model.field_model import build_model
from pinnlab.solver.job import resolve_settings

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("network", "pinnlab", "autograd", "deepxde")
MMAP_THRESHOLD = "65536"
CHECK_POINTS = 1000
SAMPLE = 1000  # residual values each measuring process returns for the agreement check at its N
TOLERANCE = {"float32": 1e-3, "float64": 1e-8}
RESULT_TAG = "RESULT "
NU = 0.01 / math.pi
POISSON_DIM = 10
BURGERS_STEPS = (1000, 4000)  # equations/burgers.py defaults: Adam steps, L-BFGS iterations

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
    forces nested autograd, every other method keeps the engine those settings give. The step
    counts are those of the shipped Burgers defaults (1000 Adam + 4000 L-BFGS), so that
    ``compile=auto`` decides as it does for that solve."""
    overrides = {"width": args.width, "depth": args.depth, "dtype": args.dtype, "device": args.device,
                 "seed": 0, "steps": BURGERS_STEPS[0], "lbfgs_steps": BURGERS_STEPS[1], **args.overrides}
    if method == "autograd":
        overrides["engine"] = "autograd"
    return resolve_settings(case.problem, overrides)


def make_model(case: Case, method: str, args: argparse.Namespace) -> torch.nn.Module:
    return build_model(case.problem, model_settings(case, method, args))


def make_points(case: Case, n: int, args: argparse.Namespace) -> torch.Tensor:
    """n points uniform in the domain's box (every domain here is a box), seed 0."""
    lower, upper = (torch.as_tensor(b, dtype=torch.float64) for b in case.problem.domain.bounds())
    generator = torch.Generator().manual_seed(0)
    unit = torch.rand(n, len(lower), generator=generator, dtype=torch.float64)
    return (lower + (upper - lower) * unit).to(dtype=getattr(torch, args.dtype), device=args.device)


def pinnlab_residual(case: Case, model: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    return torch.cat(list(residual_values(case.problem, model, points).values()))


def deepxde_residual(case: Case, dde: ModuleType, model: torch.nn.Module, points: torch.Tensor) -> torch.Tensor:
    """The residual as a DeepXDE user writes it, on the pinnlab model's network."""
    x = points.detach().requires_grad_(True)
    u = model.network(x)
    if case.deepxde_transform is not None:
        u = case.deepxde_transform(x, u)
    return case.deepxde_residual(dde.grad, x, u).reshape(-1)


def pinnlab_loss(case: Case, model: torch.nn.Module, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual's loss term as training computes it (``pinnlab.training.losses.residual_terms``: on
    large point sets chunk by chunk, pinnlab/derivatives/chunked_loss.py), and its pointwise values."""
    values: dict[str, list[torch.Tensor]] = {}
    terms = residual_terms(case.problem, model, points, values=values)
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
              dde: ModuleType | None) -> Pass:
    if method == "network":
        return Pass(lambda: mean_square(model(points)))
    if method in ("pinnlab", "autograd"):
        return Pass(lambda: pinnlab_loss(case, model, points))
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


def median_ms(run: Pass, model: torch.nn.Module, device: torch.device, reps: int,
              budget: float) -> tuple[float, int]:
    """Median wall time of up to ``reps`` passes; fewer once the timed passes exceed ``budget``
    seconds (at least one)."""
    times: list[float] = []
    while len(times) < reps and sum(times) < budget:
        model.zero_grad(set_to_none=True)
        synchronize(device)
        started = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times), len(times)


def measure_one(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--one PROBLEM METHOD N`` subprocess: build, warm up at full size (a compiled engine
    compiles there, per input shape), then measure."""
    problem_name, method, size = args.one
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    case = make_case(problem_name)
    dde = import_deepxde() if method == "deepxde" else None
    model = make_model(case, method, args)
    points = make_points(case, int(float(size)), args)
    run = make_pass(case, method, model, points, dde)
    for _ in range(args.warmup):
        model.zero_grad(set_to_none=True)
        run()
    result: dict[str, Any] = {}
    if "memory" in args.measure:
        if device.type == "cpu" and os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:
            print(f"warning: MALLOC_MMAP_THRESHOLD_ is not {MMAP_THRESHOLD}; freed memory may stay "
                  "resident and distort the peak", file=sys.stderr)
        result["peak_mb"] = peak_memory_mb(run, model, device)
    if "time" in args.measure:
        result["ms"], result["reps"] = median_ms(run, model, device, args.reps, args.budget)
    result["sample"] = run.sample
    return result


# --- the parent: subprocesses, agreement check, tables ----------------------------------------

def shared_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
             "--width", str(args.width), "--depth", str(args.depth), "--reps", str(args.reps),
             "--warmup", str(args.warmup), "--budget", str(args.budget)]
    return flags + [f"--set={item}" for item in args.set]


def run_subprocess(args: argparse.Namespace, problem: str, method: str, n: int,
                   measure: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("DDE_BACKEND", "pytorch")
    env.pop("MALLOC_MMAP_THRESHOLD_", None)
    if "memory" in measure and args.device == "cpu":
        env["MALLOC_MMAP_THRESHOLD_"] = MMAP_THRESHOLD
    command = [sys.executable, str(Path(__file__).resolve()), "--one", problem, method, str(n),
               "--measure", *measure, *shared_flags(args)]
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
    if any("out of memory" in line.lower() or "can't allocate memory" in line for line in tail):
        return {"error": "out of memory"}
    print(f"{problem} {method} N={n} failed (exit {done.returncode}):\n" + "\n".join(tail), file=sys.stderr)
    return {"error": f"failed (exit {done.returncode})"}


def measure_case(args: argparse.Namespace, problem: str, method: str, n: int) -> dict[str, Any]:
    """Memory and time of one case: two processes on CPU (see the module docstring), one on CUDA."""
    if args.device != "cpu":
        return run_subprocess(args, problem, method, n, ["memory", "time"])
    memory = run_subprocess(args, problem, method, n, ["memory"])
    if "error" in memory:
        return memory
    return {**memory, **run_subprocess(args, problem, method, n, ["time"])}


def agreement(case: Case, methods: list[str], args: argparse.Namespace, dde: ModuleType | None) -> dict[str, float]:
    """max |r - r_autograd| / max |r_autograd| on CHECK_POINTS points, for pinnlab and deepxde."""
    points = make_points(case, CHECK_POINTS, args)
    model = make_model(case, "pinnlab", args)
    reference = pinnlab_residual(case, make_model(case, "autograd", args), points).detach()
    values = {"pinnlab": pinnlab_residual(case, model, points).detach()}
    if "deepxde" in methods:
        dde.grad.clear()
        values["deepxde"] = deepxde_residual(case, dde, model, points).detach()
        dde.grad.clear()
    return relative_differences(values, reference)


def relative_differences(values: dict[str, torch.Tensor], reference: torch.Tensor) -> dict[str, float]:
    scale = reference.abs().max().clamp_min(torch.finfo(reference.dtype).tiny)
    return {name: float((v - reference).abs().max() / scale) for name, v in values.items()}


def sample_differences(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The same check at a benchmark size: the residual samples the measuring processes of
    pinnlab and deepxde returned, against autograd's (same seeds, so the same points and weights)."""
    if "sample" not in results.get("autograd", {}):
        return {}
    reference = torch.tensor(results["autograd"]["sample"], dtype=torch.float64)
    values = {m: torch.tensor(results[m]["sample"], dtype=torch.float64)
              for m in ("pinnlab", "deepxde") if "sample" in results.get(m, {})}
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
    header = (f"Residual agreement before timing, on {CHECK_POINTS} points, max |r - r_autograd| / "
              f"max |r_autograd| (limit {limit:g}):")
    print(header, *lines, sep="\n", flush=True)
    if failed:
        sys.exit(f"agreement check FAILED for {', '.join(failed)}: the methods do not compute the same "
                 "residual, so their timings are not comparable")
    return [header, "", *lines]


def size_label(n: int) -> str:
    exponent = math.log10(n)
    return f"1e{round(exponent)}" if n >= 1000 and exponent.is_integer() else str(n)


def number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def cell(result: dict[str, Any], key: str) -> str:
    if "error" in result:
        return result["error"]
    return number(result[key]) if key in result else "-"


def agreement_cell(differences: dict[str, float], limit: float) -> str:
    if not differences:
        return "-"
    shown = ", ".join(f"{m} {d:.0e}" for m, d in differences.items())
    return shown + (" FAILED" if any(not d <= limit for d in differences.values()) else "")


def table(problem: str, case: Case, methods: list[str], rows: dict[int, dict[str, dict[str, Any]]],
          reps: int, limit: float) -> list[str]:
    ratios = [(a, b) for a, b in (("pinnlab", "deepxde"), ("pinnlab", "autograd")) if a in methods and b in methods]
    checked = "autograd" in methods and ("pinnlab" in methods or "deepxde" in methods)
    heads = ["N", *(f"{m} ms" for m in methods), *(f"{a} vs {b}" for a, b in ratios),
             *(f"peak MB {m}" for m in methods), *(["rel. diff vs autograd"] if checked else [])]
    lines = [f"### {problem}: {case.description}", "", "| " + " | ".join(heads) + " |",
             "|" + "---|" * len(heads)]
    notes = []
    for n, results in rows.items():
        cells = [size_label(n), *(cell(results[m], "ms") for m in methods)]
        for a, b in ratios:
            ok = "ms" in results[a] and "ms" in results[b]
            cells.append(f"{results[b]['ms'] / results[a]['ms']:.2f}x" if ok else "-")
        cells += [cell(results[m], "peak_mb") for m in methods]
        if checked:
            cells.append(agreement_cell(sample_differences(results), limit))
        lines.append("| " + " | ".join(cells) + " |")
        notes += [f"{m} at N={size_label(n)}: {r['reps']} timed pass(es), cut by --budget"
                  for m, r in results.items() if r.get("reps", reps) < reps]
    return lines + ([""] + notes if notes else [])


def machine_line(args: argparse.Namespace, methods: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")]
        cpu = models[0] if models else cpu
    device = args.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name(torch.device(device))})"
    extra = ""
    if "deepxde" in methods:
        from importlib.metadata import version
        extra = f", deepxde {version('deepxde')}"
    return (f"{platform.platform()}, {cpu}, {os.cpu_count()} cores, torch {torch.__version__}{extra}, "
            f"{args.threads} threads, {args.dtype}, device {device}; MLP tanh width {args.width}, "
            f"depth {args.depth}")


def preamble(args: argparse.Namespace, methods: list[str], case: Case) -> list[str]:
    command = " ".join(["python benchmarks/residuals.py", *args.argv])
    settings = model_settings(case, "pinnlab", args).as_dict()
    engine = ", ".join(f"{k}={settings[k]}" for k in ("engine", "compile") if k in settings)
    return [
        "# Residual forward + backward", "",
        f"`{command}` on {machine_line(args, methods)}.", "",
        (f"Time: median of up to {args.reps} passes after {args.warmup} warm-up passes (mean squared "
         "residual, then backward into the parameters), each case in a fresh process. Peak MB: extra "
         "memory at the peak of one pass over what the process held before it, after the warm-up "
         "(MiB; on CPU the resident set, in a process of its own run under "
         f"MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD}, good to about 0.5 MB as the kernel counts it per "
         "CPU). `pinnlab`: the solver's default path for a run as long as the shipped Burgers one "
         f"({BURGERS_STEPS[0]} Adam + {BURGERS_STEPS[1]} L-BFGS steps; settings {engine}); `a vs b`: time of b / time of a; `rel. diff vs autograd`: max |r - r_autograd| / "
         f"max |r_autograd| over the first {SAMPLE} residual values of the measured passes at that N "
         f"(limit {TOLERANCE[args.dtype]:g})."), "",
    ]


def run_benchmark(args: argparse.Namespace) -> None:
    methods = list(dict.fromkeys(args.methods))
    if "deepxde" in methods and not deepxde_installed():
        print("DeepXDE is not installed (pip install -e '.[bench]'): its columns are left out.", flush=True)
        methods.remove("deepxde")
    if not methods:
        sys.exit("no method left to measure")
    torch.set_num_threads(args.threads)
    cases = {name: make_case(name) for name in args.problems}
    sizes = [int(float(s)) for s in args.sizes] if args.sizes else default_sizes(args.device)
    document = [*preamble(args, methods, next(iter(cases.values()))), *check_agreement(cases, methods, args), ""]
    limit, disagreements = TOLERANCE[args.dtype], []
    for name, case in cases.items():
        rows: dict[int, dict[str, dict[str, Any]]] = {}
        failed: set[str] = set()
        for n in sizes:
            rows[n] = {}
            for method in methods:
                skip = method in failed
                rows[n][method] = {"error": "skipped"} if skip else measure_case(args, name, method, n)
                if "error" in rows[n][method]:
                    failed.add(method)
            differences = sample_differences(rows[n])
            print(f"{name} N={size_label(n)}: " + ", ".join(
                f"{m} {cell(rows[n][m], 'ms')} ms / {cell(rows[n][m], 'peak_mb')} MB" for m in methods)
                + f"; rel. diff vs autograd: {agreement_cell(differences, limit)}", flush=True)
            disagreements += [f"{name}/{m} at N={size_label(n)} ({d:.1e})" for m, d in differences.items()
                              if not d <= limit]
        lines = table(name, case, methods, rows, args.reps, limit)
        print("\n" + "\n".join(lines) + "\n", flush=True)
        document += [*lines, ""]
        write_text(args.table, "\n".join(document))
    print(f"tables written to {args.table}")
    if disagreements:
        sys.exit(f"agreement check FAILED for {', '.join(disagreements)} (limit {limit:g}): these methods "
                 "computed other residuals than autograd, so their timings are not comparable")


def default_sizes(device: str) -> list[int]:
    sizes = [10**3, 10**4, 10**5, 10**6]
    return sizes + [10**7] if device.startswith("cuda") else sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--sizes", nargs="+", help="point counts, e.g. 1e3 1e4 (default 1e3..1e6, 1e7 on CUDA)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--reps", type=int, default=5, help="timed passes per case (median)")
    parser.add_argument("--budget", type=float, default=60.0, help="stop timing a case after this many seconds")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes before measuring")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a pinnlab setting for the models (repeatable), e.g. engine=jets")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measuring process")
    parser.add_argument("--table", type=Path, default=ROOT / "results" / "residuals.md")
    parser.add_argument("--one", nargs=3, metavar=("PROBLEM", "METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs="+", default=["memory", "time"], choices=("memory", "time"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.reps < 1 or args.warmup < 0:
        parser.error("--reps must be >= 1 and --warmup >= 0")
    malformed = [item for item in args.set if "=" not in item]
    if malformed:
        parser.error(f"--set expects NAME=VALUE, got {', '.join(malformed)}")
    args.overrides = dict(item.split("=", 1) for item in args.set)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.one:
        print(RESULT_TAG + json.dumps(measure_one(args)), flush=True)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
