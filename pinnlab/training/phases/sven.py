"""Sven: minimum-norm steps within the residual Jacobian's k leading singular directions.

Each iteration builds the vector r of weighted residuals, takes the k largest singular triplets of
its Jacobian J = dr/dtheta (J ~ U_k S_k V_k^T) and the step

    delta = -V_k S_k^-1 U_k^T r

(singular values below ``rcond`` times the largest are left out), the minimum-norm solution of
the linearised J delta = -r within those directions (Bright et al. 2022, "Sven"). A backtracking
line search halves the step length until |r|^2 falls by the Armijo fraction 1e-4 of the
decrease the linear model predicts; the loss never rises.

J is held whole only while it is small (64 MiB). Beyond that its rows are computed block by
block with torch.func (pinnlab/training/residual_vector.py, ``jacobian_blocks``, about 8 MiB a
block) and enter a randomised SVD (a Gaussian sketch, two power iterations) as products J X and
J^T Y, one pass over the blocks each: memory is then a block plus the (N + P) x (k + 10)
sketches, never N x P or P x P, which is what lets Sven run where ``lm`` (which forms and
factors J^T J) cannot. Where k is more than a fifth of J's smaller side, J is small in one
direction: it is assembled and decomposed exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence, final

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.training.gauss_newton import GaussNewtonRun
from pinnlab.training.phases.second_order import OnIteration, SecondOrderPhase
from pinnlab.training.residual_vector import jacobian_blocks, residual_vector

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem
    from pinnlab.training.collocation import Collocation
    from pinnlab.training.context import Context

ARMIJO = 1e-4
POWER_ITERATIONS = 2
OVERSAMPLING = 10
BLOCK_BYTES = 2**23  # the Jacobian rows computed at a time
HELD_BYTES = 2**26  # a Jacobian up to this size is held whole (one pass), a larger one streamed
POINTS_AT_ONCE = 64  # vmap's chunk within a block: its per-point intermediates are the peak

Blocks = Callable[[], Iterable[torch.Tensor]]


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


def leading_singular_triplets(blocks: Blocks, rows: int, columns: int, k: int,
                              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """U (rows x k), S (k), V (columns x k) of the k largest singular values of the matrix whose
    row blocks ``blocks()`` yields in order: exact when k is more than a fifth of its smaller
    side (randomised sketches lose accuracy there), else a randomised SVD from a seeded Gaussian
    sketch with two power iterations, streaming the blocks (Halko, Martinsson and Tropp 2011)."""
    small = min(rows, columns)
    if 5 * k > small:
        U, S, Vh = torch.linalg.svd(torch.cat(list(blocks())), full_matrices=False)
        return U[:, :k], S[:k], Vh[:k].T
    generator, sketched = torch.Generator().manual_seed(seed), []
    for block in blocks():  # J times a Gaussian sketch, drawn from the first block's dtype
        if not sketched:
            sketch = torch.randn(columns, min(k + OVERSAMPLING, small), generator=generator,
                                 dtype=block.dtype).to(block.device)
        sketched.append(block @ sketch)
    Q = orthonormal(torch.cat(sketched))
    for _ in range(POWER_ITERATIONS):
        Q = orthonormal(times(blocks, orthonormal(transposed_times(blocks, Q))))
    W, S, Zh = torch.linalg.svd(transposed_times(blocks, Q), full_matrices=False)  # J^T Q = W S Z^T
    return (Q @ Zh.T)[:, :k], S[:k], W[:, :k]


def times(blocks: Blocks, X: torch.Tensor) -> torch.Tensor:
    """J X, one pass over J's row blocks."""
    return torch.cat([block @ X for block in blocks()])


def transposed_times(blocks: Blocks, Y: torch.Tensor) -> torch.Tensor:
    """J^T Y, one pass over J's row blocks."""
    total, start = None, 0
    for block in blocks():
        part = block.T @ Y[start:start + block.shape[0]]
        total, start = part if total is None else total + part, start + block.shape[0]
    return total


def orthonormal(X: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(X).Q


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

    def step(self, r: torch.Tensor, blocks: Blocks) -> tuple[torch.Tensor, float]:
        """The step -V_k S_k^-1 U_k^T r and the decrease |U_k^T r|^2 the linear model predicts,
        for the Jacobian whose row blocks ``blocks()`` yields."""
        rows, columns = r.numel(), sum(p.numel() for p in self.parameters)
        if rows * columns * r.element_size() <= HELD_BYTES:
            J = torch.cat(list(blocks()))
            blocks = lambda: [J]  # noqa: E731 - one pass instead of one per product
        U, S, V = leading_singular_triplets(blocks, rows, columns, self.rank, seed=self.iterations)
        kept = S > self.rcond * S[0]
        U, S, V = U[:, kept], S[kept], V[:, kept]
        projected = U.T @ r
        return -(V @ (projected / S)), float(projected @ projected)

    def direction(self, r: torch.Tensor, J: torch.Tensor) -> tuple[torch.Tensor, float]:
        """``step`` for a whole J."""
        return self.step(r, lambda: [J])

    def run(self, residuals: Callable[[], torch.Tensor], blocks: Blocks, iterations: int,
            on_iteration: Callable[[int, float], bool | None] | None = None) -> GaussNewtonRun:
        """``blocks()`` yields the Jacobian's row blocks, in the order of ``residuals()``."""
        done, stop = 0, f"reached {iterations} iterations"
        r = residuals()
        loss = float(r @ r)
        if not math.isfinite(loss):
            return GaussNewtonRun(0, loss, f"the loss is {loss} at the start")
        while done < iterations:
            theta = self.vector()
            step, predicted = self.step(r, blocks)
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
        problem, model = context.problem, self.model

        def residuals() -> torch.Tensor:
            return residual_vector(problem, model, context.collocation, context.weights, engine=context.engine)

        def blocks() -> Iterable[torch.Tensor]:
            return streamed_jacobian(problem, model, context.collocation, context.weights)

        return self.method.run(residuals, blocks, iterations, on_iteration)


def streamed_jacobian(problem: Problem, model: torch.nn.Module, collocation: Collocation,
                      weights: Mapping[str, float]) -> Iterator[torch.Tensor]:
    """The residual Jacobian's rows in blocks of about ``BLOCK_BYTES``, as Sven passes over them
    (forward-mode derivatives: torch.func's vmap of jacrev needs them)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    points = max(1, BLOCK_BYTES // (sum(p.numel() for p in parameters) * parameters[0].element_size()))
    return jacobian_blocks(problem, model, collocation, weights, points, chunk=POINTS_AT_ONCE, engine=ForwardMode())
