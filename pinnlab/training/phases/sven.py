"""Sven: minimum-norm steps within the residual Jacobian's k leading singular directions.

Each iteration builds the vector r of weighted residuals and its Jacobian J = dr/dtheta point by
point with torch.func (pinnlab/training/residual_vector.py, in chunks), takes J's k largest
singular triplets (J ~ U_k S_k V_k^T: ``torch.svd_lowrank`` when k is small against J, the
exact ``torch.linalg.svd`` otherwise) and the step

    delta = -V_k S_k^-1 U_k^T r

(singular values below ``rcond`` times the largest are left out), the minimum-norm solution of
the linearised J delta = -r within those directions (Bright et al. 2022, "Sven"). A backtracking
line search halves the step length until |r|^2 falls by the Armijo fraction 1e-4 of the
decrease the linear model predicts; the loss never rises. Memory is the Jacobian (N x P for N
residuals and P parameters) and the k singular vectors, never a P x P matrix, which is what lets
it run on networks too large for ``lm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence, final

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pinnlab.training.gauss_newton import GaussNewtonRun
from pinnlab.training.phases.levenberg_marquardt import iterate_on_residuals
from pinnlab.training.phases.second_order import OnIteration, SecondOrderPhase

if TYPE_CHECKING:
    from pinnlab.training.context import Context

ARMIJO = 1e-4


@dataclass(frozen=True)
class SvenSettings:
    """``sven.*``: iterations, the number k of singular directions, the relative cutoff of small
    singular values, and the most step halvings of one line search."""

    steps: int = 0
    rank: int = 50
    rcond: float = 1e-10
    halvings: int = 30
    name = "sven"

    def problems(self) -> list[str]:
        found = []
        if self.steps < 0:
            found.append(f"sven.steps must be >= 0, got {self.steps}")
        if self.rank < 1:
            found.append(f"sven.rank must be >= 1, got {self.rank}")
        if not 0 <= self.rcond < 1:
            found.append(f"sven.rcond must be in [0, 1), got {self.rcond}")
        if self.halvings < 0:
            found.append(f"sven.halvings must be >= 0, got {self.halvings}")
        return found


def leading_singular_triplets(J: torch.Tensor, k: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """U (N x k), S (k), V (P x k) of J's k largest singular values: the exact SVD when k is
    more than a fifth of J's smaller side (randomised sketches lose accuracy there), else
    ``torch.svd_lowrank`` with 4 power iterations from a seeded sketch (reproducible)."""
    small = min(J.shape)
    if 5 * k > small:
        U, S, Vh = torch.linalg.svd(J, full_matrices=False)
        return U[:, :k], S[:k], Vh[:k].T
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # svd_lowrank draws its sketch from torch's stream: keep training's intact
    try:
        U, S, V = torch.svd_lowrank(J, q=min(k + 10, small), niter=4)
    finally:
        torch.set_rng_state(state)
    return U[:, :k], S[:k], V[:, :k]


class SvenMethod:
    """Minimise |residuals()|^2 over ``parameters`` with truncated-SVD minimum-norm steps."""

    def __init__(self, parameters: Sequence[torch.Tensor], rank: int, rcond: float, halvings: int) -> None:
        self.parameters = list(parameters)
        self.rank, self.rcond, self.halvings = rank, rcond, halvings
        self.length = 1.0  # the last accepted step length; the next search starts at twice it
        self.iterations = 0

    def vector(self) -> torch.Tensor:
        return parameters_to_vector(self.parameters).detach()

    def assign(self, vector: torch.Tensor) -> None:
        with torch.no_grad():
            vector_to_parameters(vector, self.parameters)

    def direction(self, r: torch.Tensor, J: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The step -V_k S_k^-1 U_k^T r and the decrease |U_k^T r|^2 the linear model predicts."""
        U, S, V = leading_singular_triplets(J, self.rank, seed=self.iterations)
        kept = S > self.rcond * S[0]
        U, S, V = U[:, kept], S[kept], V[:, kept]
        projected = U.T @ r
        return -(V @ (projected / S)), float(projected @ projected)

    def run(self, residuals: Callable[[], torch.Tensor], jacobian: Callable[[], torch.Tensor],
            iterations: int, on_iteration: Callable[[int, float], bool | None] | None = None) -> GaussNewtonRun:
        done, stop = 0, f"reached {iterations} iterations"
        r = residuals()
        loss = float(r @ r)
        if not math.isfinite(loss):
            return GaussNewtonRun(0, loss, f"the loss is {loss} at the start")
        while done < iterations:
            theta = self.vector()
            step, predicted = self.direction(r, jacobian())
            # |r + J a delta|^2 = loss - a (2 - a) predicted: slope -2 predicted at a = 0
            length, accepted = min(1.0, 2 * self.length), False
            for _ in range(self.halvings + 1):
                self.assign(theta + length * step)
                trial = residuals()
                new_loss = float(trial @ trial)
                if math.isfinite(new_loss) and new_loss <= loss - ARMIJO * 2 * length * predicted and new_loss < loss:
                    accepted = True
                    break
                length /= 2
            if not accepted:
                self.assign(theta)
                stop = (f"no step length down to 2^-{self.halvings} lowered the loss; the loss is at a "
                        "minimum within the leading singular directions or at round-off level")
                break
            self.length = length
            self.iterations += 1
            done += 1
            r, loss = trial, new_loss
            if on_iteration is not None and on_iteration(done, loss):
                stop = "stopped by the caller"
                break
        return GaussNewtonRun(done, loss, stop)

    def points_changed(self) -> None:
        """New points: every iteration builds r and J afresh; the step length carries over."""

    def state_dict(self) -> dict:
        return {"length": self.length, "iterations": self.iterations}

    def load_state_dict(self, state: dict) -> None:
        self.length, self.iterations = state["length"], state["iterations"]


@final
class Sven(SecondOrderPhase):
    """Sven on the vector of weighted residuals; one process only, the plain sum of squares (no
    causal weights), as ``lm``."""

    name = "sven"
    restarts_refinement_clock = True

    def __init__(self, settings: SvenSettings, model: torch.nn.Module) -> None:
        super().__init__(settings.steps)
        self.settings, self.model = settings, model

    def new_method(self) -> SvenMethod:
        s = self.settings
        return SvenMethod([p for p in self.model.parameters() if p.requires_grad], s.rank, s.rcond, s.halvings)

    def iterate(self, context: Context, iterations: int, on_iteration: OnIteration) -> GaussNewtonRun:
        return iterate_on_residuals(self.method, self.model, context, iterations, on_iteration)
