"""Loss balancing: term weights that adapt during Adam (``balance.method=grad-norm`` or ``ntk``).

Why: a PINN loss sums terms of very different stiffness (a residual with u_xxxx next to a
boundary value). With fixed weights the stiffest term's gradient dominates, the others are barely
fitted, and good fixed weights are found only by trial. Both methods choose each weight so that
every term pulls on the parameters about equally hard:

* ``grad-norm`` (Wang, Teng & Perdikaris 2021, in the form of Wang et al. 2023, "An expert's
  guide to training PINNs"): lambda_i = sum_j |grad L_j| / |grad L_i|, with the gradient norms
  of the raw (unweighted) terms with respect to the parameters.
* ``ntk`` (Wang, Yu & Perdikaris 2022, "When and why PINNs fail to train"): lambda_i =
  sum_j tr K_j / tr K_i, with tr K_i the mean over term i's points of |d r_i(x) / d theta|^2, the
  per-point trace of the term's block of the neural tangent kernel. It is taken on
  ``balance.points`` points of each term (a fresh seeded subset at each update), with the
  residuals of pinnlab/training/residual_vector.py, their input derivatives taken by the run's
  derivative engine.

Every ``balance.every`` Adam steps the weights move towards the new lambdas as a moving average,
w <- alpha w + (1 - alpha) lambda (alpha = ``balance.alpha``). They start at the configured
``weights``; conditions marked exact keep weight 0. After Adam the weights are frozen: L-BFGS and
the second-order phase need one fixed objective for their line searches and curvature pairs.
The current weights are part of the training state, so checkpoints and resume carry them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch

from pinnlab.derivatives.engines import Engine
from pinnlab.runtime import distributed
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.collocation import Collocation
from pinnlab.problem.equation_module import Problem
from pinnlab.training.residual_vector import term_groups


BALANCE_METHODS = ("none", "grad-norm", "ntk")


@dataclass(frozen=True)
class BalanceSettings:
    """``balance.*``: term weights updated every ``every`` Adam steps (``method`` none: fixed)."""

    method: str = "none"
    every: int = 100
    alpha: float = 0.9
    points: int = 256  # ntk: points per term for the kernel traces

    def problems(self) -> list[str]:
        found = []
        if self.method not in BALANCE_METHODS:
            found.append(f"balance.method must be one of {', '.join(BALANCE_METHODS)}, got '{self.method}'")
        for name in ("every", "points"):
            if getattr(self, name) < 1:
                found.append(f"balance.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.alpha < 1.0:
            found.append(f"balance.alpha must be in [0, 1), got {self.alpha}")
        return found


def balanced(current: Mapping[str, float], scores: Mapping[str, float], alpha: float) -> dict[str, float]:
    """The moving-average update towards lambda_i = sum_j score_j / score_i over the terms in
    ``scores`` (the terms being balanced); other terms keep their weight. A term whose score is
    zero (it does not depend on the parameters, or is already exactly met) keeps its weight."""
    active = {name: s for name, s in scores.items() if s > 0.0 and math.isfinite(s)}
    total = sum(active.values())
    weights = dict(current)
    for name, score in active.items():
        weights[name] = alpha * current[name] + (1.0 - alpha) * total / score
    return weights


def gradient_norms(terms: Mapping[str, torch.Tensor], model: torch.nn.Module,
                   names: list[str]) -> dict[str, float]:
    """|d term / d theta| for each of ``names``; under torchrun the gradient of the mean over the
    ranks. The graph of ``terms`` is kept for the training step's own backward pass."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    norms = {}
    for name in names:
        grads = torch.autograd.grad(terms[name], parameters, retain_graph=True, allow_unused=True)
        flat = torch.cat([g.reshape(-1) for g in grads if g is not None] or [terms[name].new_zeros(1)])
        norms[name] = float(distributed.all_reduce_mean(flat.detach()).norm())
    return norms


def subset(collocation: Collocation, count: int, generator: torch.Generator) -> Collocation:
    """At most ``count`` points of the interior and of each condition's batch, drawn without
    replacement (rows of a batch's fields stay together)."""
    def rows(n: int) -> torch.Tensor:
        return torch.randperm(n, generator=generator)[:count]

    interior = collocation.interior
    picked = interior[rows(interior.shape[0]).to(interior.device)]
    conditions = {}
    for name, batch in collocation.conditions.items():
        index = rows(batch.points.shape[0]).to(batch.points.device)
        conditions[name] = ConditionBatch(*(None if getattr(batch, key) is None else getattr(batch, key)[index]
                                            for key in ("points", "target", "normals", "partners")))
    return Collocation(picked, conditions)


def kernel_traces(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                  names: list[str], engine: Engine | None) -> dict[str, float]:
    """Mean over each term's points of |d r(x) / d theta|^2 (summed over a condition's components):
    the per-point trace of the term's neural tangent kernel block; under torchrun the mean over
    the ranks. The input derivatives in r are taken by ``engine``, the run's; the gradient of
    each residual with respect to the parameters by a backward pass of its own."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    every = list(problem.residuals) + list(problem.conditions)
    traces = []
    for name in names:
        alone = {other: 1.0 if other == name else 0.0 for other in every}
        with torch.enable_grad():
            # rows scaled by sqrt(1 / points): their squared gradients sum to the mean over points
            rows = torch.cat([evaluate(*inputs).reshape(-1) for evaluate, inputs
                              in term_groups(problem, model, collocation, alone, engine)])
        trace = rows.new_zeros(())
        if rows.requires_grad:  # else the term does not depend on the parameters: trace 0
            for row in rows:
                grads = torch.autograd.grad(row, parameters, retain_graph=True, allow_unused=True)
                trace = trace + sum((g.square().sum() for g in grads if g is not None), rows.new_zeros(()))
        traces.append(trace.detach())
    mean = distributed.all_reduce_mean(torch.stack(traces))
    return {name: float(mean[k]) for k, name in enumerate(names)}


class LossBalancer:
    """Updates a trainer's term weights every ``every`` Adam steps (see the module docstring)."""

    def __init__(self, method: str, every: int, alpha: float, points: int, seed: int) -> None:
        if method not in BALANCE_METHODS[1:]:
            raise ValueError(f"balance must be one of {', '.join(BALANCE_METHODS)}, got '{method}'")
        self.method, self.every, self.alpha, self.points, self.seed = method, every, alpha, points, seed

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def update(self, problem: Problem, model: torch.nn.Module, collocation: Collocation,
               terms: Mapping[str, torch.Tensor], weights: Mapping[str, float], step: int,
               engine: Engine | None) -> dict[str, float]:
        """The weights after one update at ``step``, from ``terms`` (evaluated with their graph by
        the run's derivative ``engine``, which ``ntk`` takes its kernel traces with too)."""
        names = [name for name, w in weights.items() if w != 0.0]
        if len(names) < 2:
            return dict(weights)
        if self.method == "grad-norm":
            scores = gradient_norms(terms, model, names)
        else:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            scores = kernel_traces(problem, model, subset(collocation, self.points, generator), names, engine)
        return balanced(weights, scores, self.alpha)
