"""Solver settings: pinnlab's defaults, overridden by the equation module's ``defaults``, then
by the command line. Unknown names are refused with the list of valid ones."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from pinnlab.derivatives.compiling import COMPILE_CHOICES
from pinnlab.derivatives.derivative import ENGINES
from pinnlab.geometry.sampling import SAMPLERS
from pinnlab.model.network import ACTIVATIONS
from pinnlab.training.quasi_newton import UPDATES

REFINE_METHODS = ("none", "rar", "rar-d", "rad")
SECOND_ORDER = ("none", *UPDATES, "lm")
CURRICULUM_MODES = ("grow", "march")
BALANCE_METHODS = ("none", "grad-norm", "ntk")


@dataclass(frozen=True)
class Settings:
    # network
    width: int = 32
    depth: int = 3
    activation: str = "tanh"
    fourier_features: int = 0
    fourier_scale: float = 1.0
    periodic: str = ""  # inputs in which the network is exactly periodic over the domain's box, e.g. "x"
    # collocation
    points: int = 4000
    boundary_points: int = 400
    sampler: str = "sobol"
    resample_every: int = 0
    # residual-based adaptive collocation (see pinnlab/training/refinement.py)
    refine: str = "none"
    refine_every: int = 500
    refine_points: int = 500
    refine_pool: int = 20000
    refine_k: float = 1.0
    refine_c: float = 1.0
    refine_budget: str = "grow"
    # time-dependent problems (see pinnlab/training/curriculum.py): growing time windows, causal weights
    curriculum: int = 0
    curriculum_every: int = 0
    curriculum_loss: float = 0.0
    curriculum_mode: str = "grow"  # grow: windows [t0, t_k]; march: windows [t_{k-1}, t_k], one network each
    causal_eps: float = 0.0
    causal_eps_max: float = 100.0
    causal_bins: int = 32
    # optimizer schedule: Adam, then L-BFGS with strong-Wolfe line search
    steps: int = 2000
    lr: float = 1e-3
    lr_decay: float = 0.1
    lbfgs_steps: int = 2000
    lbfgs_history: int = 50
    lbfgs_restarts: int = 3
    # then optionally a dense quasi-Newton or Levenberg-Marquardt phase (pinnlab/training/second_order_phase.py)
    second_order: str = "none"  # none, bfgs, ssbfgs, ssbroyden, lm
    second_order_steps: int = 0
    lm_svd_rank: int = 0  # lm: steps within the Jacobian's leading singular directions; 0: all
    weights: Mapping[str, float] = field(default_factory=dict)
    # adaptive term weights during Adam (see pinnlab/training/loss_balancing.py)
    balance: str = "none"  # none, grad-norm, ntk
    balance_every: int = 100
    balance_alpha: float = 0.9
    balance_points: int = 256  # ntk: points per term for the kernel traces
    # numerics and reproducibility
    engine: str = "auto"
    compile: str = "auto"  # torch.compile the jets: on, off, auto (long runs; see pinnlab/derivatives/compiling.py)
    residual_chunk: int = 0  # points per chunk of the training residual's pass; 0: auto (pinnlab/derivatives/chunked_loss.py)
    dtype: str = "float64"
    device: str = "cpu"
    seed: int = 0
    threads: int = 0
    # output
    grid: tuple[int, ...] = ()
    log_every: int = 50
    progress: bool = True
    # fault tolerance: checkpoints every k steps (and at the end); rollbacks after a non-finite loss
    checkpoint_every: int = 1000
    rollbacks: int = 3

    def replace(self, overrides: Mapping[str, Any], source: str) -> "Settings":
        """A copy with ``overrides`` applied; ``source`` names where they came from for errors."""
        valid = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in valid:
                raise ValueError(
                    f"{source}: unknown setting '{key}'; valid settings: {', '.join(valid)}"
                )
            changes[key] = coerce(key, value, getattr(self, key), source)
        result = dataclasses.replace(self, **changes)
        result.check(source)
        return result

    def check(self, source: str) -> None:
        problems = []
        if self.dtype not in ("float32", "float64"):
            problems.append(f"dtype must be float32 or float64, got '{self.dtype}'")
        if self.engine not in ENGINES:
            problems.append(f"engine must be one of {', '.join(ENGINES)}, got '{self.engine}'")
        if self.compile not in COMPILE_CHOICES:
            problems.append(f"compile must be one of {', '.join(COMPILE_CHOICES)}, got '{self.compile}'")
        if self.sampler not in SAMPLERS:
            problems.append(f"sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation must be one of {', '.join(ACTIVATIONS)}, got '{self.activation}'")
        for name in ("points", "boundary_points", "width", "depth", "log_every", "refine_every", "refine_pool", "causal_bins",
                     "checkpoint_every", "balance_every", "balance_points"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "lbfgs_steps", "resample_every", "fourier_features", "refine_points", "threads", "lbfgs_restarts",
                     "rollbacks", "curriculum", "curriculum_every", "residual_chunk", "second_order_steps",
                     "lm_svd_rank"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.second_order not in SECOND_ORDER:
            problems.append(f"second_order must be one of {', '.join(SECOND_ORDER)}, got '{self.second_order}'")
        if self.balance not in BALANCE_METHODS:
            problems.append(f"balance must be one of {', '.join(BALANCE_METHODS)}, got '{self.balance}'")
        if not 0.0 <= self.balance_alpha < 1.0:
            problems.append(f"balance_alpha must be in [0, 1), got {self.balance_alpha}")
        if self.refine not in REFINE_METHODS:
            problems.append(f"refine must be one of {', '.join(REFINE_METHODS)}, got '{self.refine}'")
        if self.curriculum_mode not in CURRICULUM_MODES:
            problems.append(f"curriculum_mode must be one of {', '.join(CURRICULUM_MODES)}, got '{self.curriculum_mode}'")
        if self.refine_budget not in ("grow", "fixed"):
            problems.append(f"refine_budget must be grow or fixed, got '{self.refine_budget}'")
        if self.refine_k < 0 or self.refine_c < 0:
            problems.append(f"refine_k and refine_c must be >= 0, got {self.refine_k}, {self.refine_c}")
        if min(self.curriculum_loss, self.causal_eps, self.causal_eps_max) < 0:
            problems.append("curriculum_loss, causal_eps and causal_eps_max must be >= 0")
        if not math.isfinite(self.causal_eps_max):
            problems.append(f"causal_eps_max must be finite, got {self.causal_eps_max}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if any(g < 2 for g in self.grid):
            problems.append(f"grid sizes must be >= 2, got {self.grid}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            problems.append(f"device must be cpu or cuda[:N], got '{self.device}'")
        if problems:
            raise ValueError(f"{source}: " + "; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["weights"] = dict(self.weights)
        data["grid"] = list(self.grid)
        return data


def coerce(key: str, value: Any, current: Any, source: str) -> Any:
    """Convert a setting from text (command line) or Python to the type of its default."""
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(current, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                return tuple(int(v) for v in value.lower().replace(",", "x").split("x") if v)
            return tuple(int(v) for v in value)
        if isinstance(current, Mapping):
            if isinstance(value, str):
                pairs = [item.split(":") for item in value.split(",") if item]
                return {k.strip(): float(v) for k, v in pairs}
            return {str(k): float(v) for k, v in dict(value).items()}
        return str(value)
    except (TypeError, ValueError):
        kind = type(current).__name__
        raise ValueError(f"{source}: setting '{key}' expects {kind}, got {value!r}") from None
