"""The grow loop: train -> estimate -> mark -> refine, and its baselines.

``grow(data, strategy, settings)`` starts from ``settings.initial_layers`` equal steps on
``[0, T]`` and repeats, once per cycle:

1. train the current network (``settings.optimizer``, from the weights it already has),
2. estimate the per-layer DWR indicators (:mod:`.estimator`) and record the cycle,
3. stop when ``|sum eta| < tolerance``, the next refinement would exceed ``budget_layers``
   (with ``train_at_budget``: go on training that depth instead, so that every strategy gets
   ``max_cycles`` cycles of training), the validation accuracy has not improved for
   ``patience`` cycles, or after ``max_cycles``,
4. otherwise mark layers with the strategy and split them.

Strategies: :class:`DWRRefinement` (mark by the indicators), :class:`UniformRefinement`
(split every layer: the depth doubles each cycle), :class:`RandomRefinement` (as many layers as
the DWR marking would split, chosen at random: a control for where the estimate splits) and
:class:`FixedDepth` (never refine: the same number of training cycles on a fixed network).
:func:`fixed_depth_sweep` trains fixed networks of several depths for the training budget
uniform refinement spends to reach them.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from pinnlab.runtime.progress import progress

from pinnlab.growth.datasets import Dataset
from pinnlab.growth.estimator import Estimate, estimate
from pinnlab.growth.marking import Doerfler, Marking
from pinnlab.growth.objective import Objective, accuracy
from pinnlab.growth.ode_net import EulerNet
from pinnlab.growth.optimizers import Adam, Optimizer, train

__all__ = [
    "Cycle",
    "DWRRefinement",
    "FixedDepth",
    "GrowthRun",
    "GrowthSettings",
    "RandomRefinement",
    "Strategy",
    "UniformRefinement",
    "fixed_depth_sweep",
    "grow",
]


class Strategy(ABC):
    name: str

    @abstractmethod
    def select(self, net: EulerNet, est: Estimate, room: int) -> list[int]:
        """Layers to split (0-based); at most ``room`` of them; empty: stop refining."""


@dataclass(frozen=True)
class DWRRefinement(Strategy):
    """Split the layers that ``marking`` picks from the DWR indicators ``|eta_m|``."""

    marking: Marking = field(default_factory=Doerfler)
    name: str = "dwr"

    def select(self, net: EulerNet, est: Estimate, room: int) -> list[int]:
        marked = self.marking.mark(est.indicators)
        if len(marked) > room:  # keep the largest indicators that fit the budget
            order = sorted(marked, key=lambda m: -est.indicators[m])
            marked = sorted(order[:room])
        return marked


@dataclass(frozen=True)
class UniformRefinement(Strategy):
    """Split every layer each cycle."""

    name: str = "uniform"

    def select(self, net: EulerNet, est: Estimate, room: int) -> list[int]:
        return list(range(net.num_layers)) if net.num_layers <= room else []


@dataclass(frozen=True)
class RandomRefinement(Strategy):
    """A control for the placement of the splits: as many layers as ``marking`` picks from the
    DWR indicators, but chosen uniformly at random (seeded by ``seed`` and the current depth,
    so a run is reproducible).  Where this does as well as :class:`DWRRefinement`, the gain over
    uniform refinement comes from growing gradually, not from where the estimate splits."""

    marking: Marking = field(default_factory=Doerfler)
    seed: int = 0
    name: str = "random"

    def select(self, net: EulerNet, est: Estimate, room: int) -> list[int]:
        count = min(len(self.marking.mark(est.indicators)), room)
        rng = np.random.default_rng([self.seed, net.num_layers])
        return sorted(int(m) for m in rng.choice(net.num_layers, size=count, replace=False))


@dataclass(frozen=True)
class FixedDepth(Strategy):
    """Never split: keep training the initial network."""

    name: str = "fixed"

    def select(self, net: EulerNet, est: Estimate, room: int) -> list[int]:
        return []


@dataclass(frozen=True)
class GrowthSettings:
    """Everything a grow run needs besides the data and the strategy."""

    width: int = 8
    final_time: float = 2.0
    activation: str = "tanh"
    lift: str = "linear"
    initial_layers: int = 1
    budget_layers: int = 32
    max_cycles: int = 12
    tolerance: float = 0.0
    patience: int = 0  # 0: never stop for a stalled validation accuracy
    train_at_budget: bool = False  # budget reached: keep training that depth until max_cycles
    optimizer: Optimizer = field(default_factory=lambda: Adam(300, 1e-2))
    objective: Objective = field(default_factory=Objective)
    seed: int = 0
    dtype: torch.dtype = torch.float64

    def __post_init__(self) -> None:
        if self.initial_layers < 1 or self.budget_layers < self.initial_layers:
            raise ValueError(
                f"need 1 <= initial_layers <= budget_layers, got {self.initial_layers} and {self.budget_layers}"
            )
        if self.max_cycles < 1:
            raise ValueError(f"max_cycles must be >= 1, got {self.max_cycles}")
        if self.tolerance < 0 or self.patience < 0:
            raise ValueError("tolerance and patience must be >= 0")
        if not self.final_time > 0:
            raise ValueError(f"final_time must be positive, got {self.final_time}")


@dataclass
class Cycle:
    """One refinement cycle, recorded after training."""

    cycle: int
    layers: int
    parameters: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    objective: dict[str, float]
    estimate_sum: float  # sum of the discretization indicators eta_m
    control_estimate_sum: float  # sum of eta^C_m: the decrease left to the optimizer
    marked: list[int]
    wall_time_s: float
    mesh: np.ndarray  # nodes t_0..t_M
    indicators: np.ndarray  # eta_m (signed), length M
    controls: np.ndarray  # (M, d*d + d)

    def summary(self) -> dict[str, object]:
        """The JSON-able part (arrays go to HDF5)."""
        return {
            "cycle": self.cycle,
            "layers": self.layers,
            "parameters": self.parameters,
            "train_accuracy": self.train_accuracy,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "objective": self.objective,
            "estimate_sum": self.estimate_sum,
            "control_estimate_sum": self.control_estimate_sum,
            "marked": self.marked,
            "wall_time_s": self.wall_time_s,
        }


@dataclass
class GrowthRun:
    """The cycles of one run and its final network."""

    strategy: str
    cycles: list[Cycle]
    net: EulerNet
    stop_reason: str

    @property
    def best(self) -> Cycle:
        """The cycle with the best validation accuracy (the earliest of ties)."""
        return max(self.cycles, key=lambda c: (c.val_accuracy, -c.cycle))


def _stalled(cycles: list[Cycle], patience: int) -> bool:
    if patience == 0 or len(cycles) <= patience:
        return False
    best_before = max(c.val_accuracy for c in cycles[:-patience])
    return max(c.val_accuracy for c in cycles[-patience:]) <= best_before


def grow(
    data: Dataset,
    strategy: Strategy,
    settings: GrowthSettings = GrowthSettings(),
    show_progress: bool = False,
) -> GrowthRun:
    """Run the grow loop with ``strategy`` on ``data``; see the module docstring."""
    generator = torch.Generator().manual_seed(settings.seed)
    net = EulerNet.create(
        data.n_features, data.n_classes, settings.width, settings.initial_layers, settings.final_time,
        settings.activation, settings.lift, generator, settings.dtype,
    )
    objective = settings.objective
    cycles: list[Cycle] = []
    stop_reason = "max_cycles"
    started = time.perf_counter()
    with progress(settings.max_cycles, f"grow {data.name} ({strategy.name})", show_progress) as bar:
        for index in range(settings.max_cycles):
            train(net, objective, data.x_train, data.y_train, settings.optimizer)
            est = estimate(net, objective, data.x_train, data.y_train)
            with torch.no_grad():
                terms = {k: float(v) for k, v in objective.terms(net, data.x_train, data.y_train).items()}
            room = settings.budget_layers - net.num_layers
            marked = strategy.select(net, est, room)
            cycle = Cycle(
                cycle=index,
                layers=net.num_layers,
                parameters=net.num_parameters,
                train_accuracy=accuracy(net, data.x_train, data.y_train),
                val_accuracy=accuracy(net, data.x_val, data.y_val),
                test_accuracy=accuracy(net, data.x_test, data.y_test),
                objective=terms,
                estimate_sum=est.discretization_total,
                control_estimate_sum=est.control_total,
                marked=[],
                wall_time_s=time.perf_counter() - started,
                mesh=net.nodes().detach().numpy().copy(),
                indicators=est.discretization,
                controls=net.controls().numpy().copy(),
            )
            cycles.append(cycle)
            bar.update()
            bar.set_postfix({"layers": net.num_layers, "val": f"{cycle.val_accuracy:.3f}"})
            if abs(est.discretization_total) < settings.tolerance:
                stop_reason = "tolerance"
                break
            if _stalled(cycles, settings.patience):
                stop_reason = "stalled"
                break
            if index == settings.max_cycles - 1:
                break
            if not marked:
                at_budget = room == 0 or isinstance(strategy, UniformRefinement)
                if isinstance(strategy, FixedDepth) or (at_budget and settings.train_at_budget):
                    continue
                stop_reason = "budget" if at_budget else "nothing_marked"
                break
            cycle.marked = marked
            net = net.split(marked)
    return GrowthRun(strategy.name, cycles, net, stop_reason)


def fixed_depth_sweep(data: Dataset, depths: list[int], settings: GrowthSettings) -> list[Cycle]:
    """Fixed networks of each depth, trained from scratch for ``1 + log2(depth / initial)``
    cycles: the training uniform refinement spends to reach that depth.  One cycle each."""
    out = []
    for depth in depths:
        cycles = 1 + max(0, round(math.log2(depth / settings.initial_layers)))
        run = grow(data, FixedDepth(), replace(settings, initial_layers=depth, budget_layers=depth, max_cycles=cycles))
        last = run.cycles[-1]
        last.cycle = 0
        out.append(last)
    return out
