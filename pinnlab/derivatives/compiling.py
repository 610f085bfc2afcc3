"""``torch.compile`` for the derivative engine's hot path, and when it is worth switching on.

Eager Taylor jets spend most of their time in many small elementwise kernels (tanh and its
derivatives times the derivative streams, layer by layer) and in autograd's bookkeeping for each.
Compiling the propagation fuses each layer's elementwise work into one loop and generates its
backward, which is what makes jets faster than nested autograd. Compilation takes seconds per
request set and input shape, so ``compile=auto`` switches it on only for runs long enough to
repay that even from a cold cache (docs/performance.md has the measurements). The engine that uses it is
``Jets(compile=True)`` (pinnlab/derivatives/engines.py).
"""

from __future__ import annotations

import shutil
import sys
from functools import lru_cache
from typing import Callable

import torch

from pinnlab.derivatives.jets import MultiIndex, jet_function

COMPILE_CHOICES = ("auto", "on", "off")
AUTO_MIN_STEPS = 20000
"""Adam steps plus L-BFGS iterations from which ``compile=auto`` compiles: a fresh install
compiles from a cold torch cache, and the time saved per step repays that only on long runs
(twice the break-even run length measured on the default Burgers solve, docs/derivatives.md).
A warm cache is not consulted: whether it holds this graph is known only after compiling."""

COMPILE_MIN_POINTS = 1024
"""Only training evaluations on at least this many points are compiled: the interior residual,
where the time goes. Small condition batches and gradient-free evaluations (refinement pools,
output grids) stay eager rather than each paying for a compilation of its own."""


def compiler_missing(device: torch.device) -> str | None:
    """Why torch.compile cannot run here, or None: on CPU inductor needs a C++ compiler."""
    if sys.platform == "win32":
        return "torch.compile is not supported by pinnlab on Windows"
    if device.type == "cpu" and not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        return "torch.compile on CPU needs a C++ compiler (g++ or clang++) on PATH"
    return None


def should_compile(choice: str, total_steps: int, device: torch.device, uses_jets: bool) -> bool:
    """Resolve the ``compile`` setting: 'on' fails with a ValueError naming why it cannot work
    (the command line reports it in one line), 'auto' decides."""
    if choice == "off":
        return False
    missing = compiler_missing(device)
    if choice == "on":
        if missing:
            raise ValueError(f"compile=on: {missing}; use compile=off or compile=auto")
        if not uses_jets:
            raise ValueError(
                "compile=on: only the Taylor-jet engine is compiled, and this model uses another "
                "(engine=autograd or func, or a network jets do not support); use compile=auto"
            )
        return True
    return uses_jets and missing is None and total_steps >= AUTO_MIN_STEPS


@lru_cache(maxsize=None)
def compiled_jet_function(indices: tuple[MultiIndex, ...], laplacian: tuple[int, ...] = ()) -> Callable:
    """The compiled propagation for one set of multi-indices (shapes become dynamic on the
    second size seen, so refinement that grows the point set does not recompile each time)."""
    # every request set (residuals, each condition) in each grad mode is one cache entry of the
    # same code object; the default limit of 8 would silently fall back to eager
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    return torch.compile(jet_function(indices, laplacian, for_compile=True))
