"""Continuous-depth baseline: an ODE-Net integrated by torchdiffeq.

    x(0) = lift(a),   x' = tanh(W x + b + t c),  t in [0, T],   logits = head(x(T))

with one set of weights for all of ``[0, T]`` (plus a linear dependence on ``t`` through
``c``), integrated by ``torchdiffeq.odeint`` or, with ``adjoint=True``, ``odeint_adjoint``
(gradients by solving the continuous adjoint ODE backwards, O(1) memory).  ``method`` is a
fixed-step solver (``euler``, ``midpoint``, ``rk4``; ``step_size`` must then be given: no
silent default) or an adaptive one (``dopri5``, ``bosh3``; ``rtol``, ``atol``).  Trained by
full-batch Adam on the data loss plus weight decay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy
from torchdiffeq import odeint, odeint_adjoint

from pinnlab.growth.datasets import Dataset

__all__ = ["ContinuousResult", "ContinuousSettings", "ODENet", "train_ode_net"]

FIXED_STEP = ("euler", "midpoint", "rk4")
ADAPTIVE = ("dopri5", "bosh3", "adaptive_heun")


class _Field(nn.Module):
    def __init__(self, width: int, generator: torch.Generator, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width, width, generator=generator, dtype=dtype) * width**-0.5)
        self.bias = nn.Parameter(torch.randn(width, generator=generator, dtype=dtype) * 0.1)
        self.time = nn.Parameter(torch.zeros(width, dtype=dtype))
        self.evaluations = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.evaluations += 1
        return torch.tanh(x @ self.weight.T + self.bias + t * self.time)


class ODENet(nn.Module):
    """Lift, ODE block solved by torchdiffeq, output layer."""

    def __init__(self, n_features: int, n_classes: int, width: int, final_time: float,
                 generator: torch.Generator, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.lift = nn.Linear(n_features, width, dtype=dtype)
        self.head = nn.Linear(width, n_classes, dtype=dtype)
        with torch.no_grad():
            self.lift.weight.copy_(torch.randn(width, n_features, generator=generator, dtype=dtype) * n_features**-0.5)
            self.lift.bias.zero_()
            self.head.weight.copy_(torch.randn(n_classes, width, generator=generator, dtype=dtype) * width**-0.5)
            self.head.bias.zero_()
        self.field = _Field(width, generator, dtype)
        self.register_buffer("times", torch.tensor([0.0, final_time], dtype=dtype))

    def forward(self, features: Tensor, settings: ContinuousSettings) -> Tensor:
        solve = odeint_adjoint if settings.adjoint else odeint
        kwargs: dict = {"method": settings.method}
        if settings.method in FIXED_STEP:
            kwargs["options"] = {"step_size": settings.step_size}
        else:
            kwargs.update(rtol=settings.rtol, atol=settings.atol)
        if settings.adjoint:
            kwargs["adjoint_params"] = tuple(self.field.parameters())
        x = solve(self.field, self.lift(features), self.times, **kwargs)[-1]
        return self.head(x)


@dataclass(frozen=True)
class ContinuousSettings:
    method: str = "dopri5"
    adjoint: bool = False
    step_size: float | None = None
    rtol: float = 1e-5
    atol: float = 1e-7
    width: int = 8
    final_time: float = 2.0
    steps: int = 300
    lr: float = 1e-2
    weight_decay: float = 1e-5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in FIXED_STEP + ADAPTIVE:
            raise ValueError(f"unknown ODE method '{self.method}'; valid: {', '.join(FIXED_STEP + ADAPTIVE)}")
        if self.method in FIXED_STEP and (self.step_size is None or not self.step_size > 0):
            raise ValueError(f"fixed-step method '{self.method}' needs a positive step_size")
        if self.steps < 0 or not self.lr > 0 or self.width < 1 or not self.final_time > 0:
            raise ValueError("need steps >= 0, lr > 0, width >= 1, final_time > 0")

    @property
    def label(self) -> str:
        solver = f"{self.method}(h={self.step_size:g})" if self.method in FIXED_STEP else self.method
        return f"odenet-{solver}{'-adjoint' if self.adjoint else ''}"


@dataclass(frozen=True)
class ContinuousResult:
    label: str
    parameters: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    evaluations_per_forward: float
    wall_time_s: float

    def summary(self) -> dict[str, object]:
        return dict(self.__dict__)


def train_ode_net(data: Dataset, settings: ContinuousSettings = ContinuousSettings()) -> ContinuousResult:
    """Train the ODE-Net baseline on ``data`` and report its accuracies."""
    generator = torch.Generator().manual_seed(settings.seed)
    net = ODENet(data.n_features, data.n_classes, settings.width, settings.final_time, generator, data.x_train.dtype)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    started = time.perf_counter()
    for _ in range(settings.steps):
        optimizer.zero_grad()
        loss = cross_entropy(net(data.x_train, settings), data.y_train)
        decay = sum((p**2).sum() for name, p in net.named_parameters() if name.endswith("weight"))
        (loss + 0.5 * settings.weight_decay * decay).backward()
        optimizer.step()

    def acc(features: Tensor, labels: Tensor) -> float:
        with torch.no_grad():
            return float((net(features, settings).argmax(1) == labels).to(torch.float64).mean())

    net.field.evaluations = 0
    train_acc = acc(data.x_train, data.y_train)
    per_forward = float(net.field.evaluations)
    return ContinuousResult(
        settings.label, sum(p.numel() for p in net.parameters()), train_acc,
        acc(data.x_val, data.y_val), acc(data.x_test, data.y_test), per_forward,
        time.perf_counter() - started,
    )
