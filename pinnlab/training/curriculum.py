"""Time curriculum and causal weighting for time-dependent problems.

PINNs trained on the whole time interval at once often fit late times before early ones and
then settle on a wrong solution that still has a small residual. Two remedies, usable together:

* a **time curriculum** trains on a growing window [t0, t0 + (t1 - t0) k / K], k = 1..K, moving
  to the next window every ``curriculum_every`` steps, or earlier once the total loss is below
  ``curriculum_loss``; collocation points are redrawn inside the window at each stage. With
  ``curriculum_mode=march`` the windows do not grow but march: window k is
  [t_{k-1}, t_k] alone, its initial condition the previous window's end state (see
  :mod:`pinnlab.training.time_marching`);
* **causal weighting** (Wang, Sankaran & Perdikaris 2022) splits the interior points into
  ``causal_bins`` time slices with mean squared residuals L_i and weights slice i by
  w_i = exp(-eps * sum_{j<i} L_j), so later times only count once earlier ones are resolved.
  Epsilon grows tenfold whenever every weight exceeds 0.99, up to ``causal_eps_max``, and
  starts again from ``causal_eps`` when the time window changes (a new window has unresolved
  late times again). During an L-BFGS chunk the weights are held fixed (``hold``/``release``):
  recomputed at every closure call, they would make the objective shift under the line search.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from pinnlab.geometry import SpaceTime, TimeInterval
from pinnlab.problem.equation_module import Problem


CURRICULUM_MODES = ("grow", "march")


@dataclass(frozen=True)
class CurriculumSettings:
    """``curriculum.*``: ``windows`` growing (or marched) time windows; 0: the whole interval at once."""

    windows: int = 0
    every: int = 0
    loss: float = 0.0
    mode: str = "grow"  # grow: windows [t0, t_k]; march: windows [t_{k-1}, t_k], one network each

    def problems(self) -> list[str]:
        found = [f"curriculum.{name} must be >= 0, got {getattr(self, name)}"
                 for name in ("windows", "every", "loss") if getattr(self, name) < 0]
        if self.mode not in CURRICULUM_MODES:
            found.append(f"curriculum.mode must be one of {', '.join(CURRICULUM_MODES)}, got '{self.mode}'")
        return found


@dataclass(frozen=True)
class CausalSettings:
    """``causal.*``: weights that let later times count once earlier ones are fitted; eps 0: off."""

    eps: float = 0.0
    eps_max: float = 100.0
    bins: int = 32

    def problems(self) -> list[str]:
        found = []
        if min(self.eps, self.eps_max) < 0:
            found.append(f"causal.eps and causal.eps_max must be >= 0, got {self.eps}, {self.eps_max}")
        if not math.isfinite(self.eps_max):
            found.append(f"causal.eps_max must be finite, got {self.eps_max}")
        if self.bins < 1:
            found.append(f"causal.bins must be >= 1, got {self.bins}")
        return found

ALL_RESOLVED = 0.99  # causal weights above this everywhere: time to sharpen epsilon


def time_bounds(problem: Problem, what: str) -> tuple[float, float]:
    if not isinstance(problem.domain, SpaceTime):
        raise ValueError(f"{what} needs a space-time domain (space * TimeInterval(t0, t1)); "
                         f"{problem.origin} has {problem.domain!r}")
    return problem.domain.time.t0, problem.domain.time.t1


class TimeCurriculum:
    """Which time window is being trained, and when to move on."""

    def __init__(self, problem: Problem, settings: CurriculumSettings, adam_steps: int, lbfgs_steps: int,
                 second_order_steps: int) -> None:
        """``*_steps``: the phases' budgets, over which the windows are scheduled."""
        self.t0, self.t1 = time_bounds(problem, "curriculum")
        self.stages = settings.windows
        self.marching = settings.mode == "march"
        total = adam_steps + lbfgs_steps
        self.every = self.first = settings.every or max(total // self.stages, 1)
        # when marching, the second-order phase takes L-BFGS's place in every window (lbfgs_steps=0)
        per_window = lbfgs_steps or second_order_steps
        if self.marching and not settings.every and per_window:
            # each window is trained once: Adam (from scratch) on the first window only, then an
            # equal share of the L-BFGS (or second-order) iterations for every window, the first
            # one included
            self.every = max(per_window // self.stages, 1)
            self.first = adam_steps + self.every
        self.loss_threshold = settings.loss
        self.stage = 1
        self.steps_in_stage = 0

    @property
    def finished(self) -> bool:
        return self.stage >= self.stages

    def boundary(self, k: int) -> float:
        """t_k = t0 + (t1 - t0) k / K."""
        return self.t0 + (self.t1 - self.t0) * k / self.stages

    @property
    def window_start(self) -> float:
        """t0 for growing windows; t_{k-1} when marching."""
        return self.boundary(self.stage - 1) if self.marching else self.t0

    @property
    def window_end(self) -> float:
        return self.boundary(self.stage)

    def due(self, loss: float | None = None) -> bool:
        """True when the current window has had its steps, or its loss is below the threshold."""
        if self.finished:
            return False
        reached = self.loss_threshold > 0 and loss is not None and loss < self.loss_threshold
        return self.steps_in_stage >= self.share or reached

    @property
    def share(self) -> int:
        """The steps the current window trains for."""
        return self.first if self.stage == 1 else self.every

    def steps_left(self) -> int | None:
        """Steps until the current window has had its share; None in the last window, which
        trains until the phases end."""
        if self.finished:
            return None
        return max(self.share - self.steps_in_stage, 0)

    def advance(self) -> None:
        self.stage += 1
        self.steps_in_stage = 0

    def windowed(self, problem: Problem) -> Problem:
        """``problem`` on [window start, window end]: points and conditions are drawn there."""
        if self.finished and not self.marching:
            return problem
        domain = SpaceTime(problem.domain.space, TimeInterval(self.window_start, self.window_end))
        return dataclasses.replace(problem, domain=domain)

    def state_dict(self) -> dict[str, int]:
        return {"stage": self.stage, "steps_in_stage": self.steps_in_stage}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.stage, self.steps_in_stage = state["stage"], state["steps_in_stage"]


class CausalWeights:
    """Weights of time slices of the residual loss; ``eps`` follows its schedule."""

    def __init__(self, problem: Problem, settings: CausalSettings) -> None:
        self.t0, self.t1 = time_bounds(problem, "causal weighting")
        self.eps_start = self.eps = settings.eps
        self.eps_max = settings.eps_max
        self.bins = settings.bins
        self.window_start, self.window_end = self.t0, self.t1
        self.smallest_weight = 0.0
        self.terms = len(problem.residuals)  # loss() calls per evaluation, one per residual
        self.held: list[torch.Tensor] | None = None  # weights held fixed, in call order (see hold)
        self.calls = 0

    def reset(self, window_start: float, window_end: float) -> None:
        """A new time window: slices span it, and epsilon starts again from ``causal_eps``."""
        self.window_start, self.window_end = window_start, window_end
        self.eps = self.eps_start
        self.smallest_weight = 0.0

    def hold(self) -> None:
        """Keep the weights of the next evaluation for every later one until ``release``: an
        L-BFGS line search must see one objective, not one whose weights move with each trial
        point. The weights are kept per call (one per residual), in call order."""
        self.held, self.calls = [], 0

    def release(self) -> None:
        self.held = None

    def loss(self, squared: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Causally weighted mean of ``squared`` residuals at times ``t`` in the window."""
        span = max(self.window_end - self.window_start, 1e-300)
        index = ((t.detach() - self.window_start) / span * self.bins).floor().clamp(0, self.bins - 1).long()
        sums = squared.new_zeros(self.bins).index_add(0, index, squared)
        counts = squared.new_zeros(self.bins).index_add(0, index, torch.ones_like(squared))
        slices = sums / counts.clamp(min=1)
        if self.held is not None and len(self.held) == self.terms:
            weights = self.held[self.calls % self.terms]
        else:
            earlier = torch.cumsum(slices.detach(), 0) - slices.detach()
            weights = torch.exp(-self.eps * earlier)
            self.smallest_weight = float(weights[counts > 0].min()) if bool((counts > 0).any()) else 1.0
            if self.held is not None:
                self.held.append(weights)
        if self.held is not None:
            self.calls += 1
        return (weights * slices).sum() / max(int((counts > 0).sum()), 1)

    def update(self) -> None:
        """Sharpen epsilon once every slice is resolved (all weights near 1)."""
        if self.smallest_weight > ALL_RESOLVED and self.eps * 10 <= self.eps_max * (1 + 1e-12):
            self.eps *= 10
            self.smallest_weight = 0.0

    def state_dict(self) -> dict[str, float]:
        return {"eps": self.eps, "window_start": self.window_start, "window_end": self.window_end,
                "smallest_weight": self.smallest_weight}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.eps, self.window_end = state["eps"], state["window_end"]
        self.window_start = state.get("window_start", self.t0)  # checkpoints before time marching
        self.smallest_weight = state["smallest_weight"]

