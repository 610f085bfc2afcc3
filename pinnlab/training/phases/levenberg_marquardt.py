"""A Levenberg-Marquardt phase on the vector of residuals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import torch

from pinnlab.derivatives.engines import ForwardMode
from pinnlab.training.gauss_newton import GaussNewtonRun
from pinnlab.training.gauss_newton import LevenbergMarquardt as DampedGaussNewton
from pinnlab.training.phases.second_order import OnIteration, SecondOrderPhase
from pinnlab.training.residual_vector import residual_jacobian, residual_vector

if TYPE_CHECKING:
    from pinnlab.training.context import Context


@dataclass(frozen=True)
class LevenbergMarquardtSettings:
    """``lm.*``: iterations, and the number of the Jacobian's leading singular directions (0: all)."""

    steps: int = 0
    svd_rank: int = 0
    name = "lm"

    def problems(self) -> list[str]:
        return [f"lm.{field} must be >= 0, got {value}"
                for field, value in (("steps", self.steps), ("svd_rank", self.svd_rank)) if value < 0]


@final
class LevenbergMarquardt(SecondOrderPhase):
    """Levenberg-Marquardt on the vector of weighted residuals (pinnlab/training/gauss_newton.py,
    pinnlab/training/residual_vector.py); one process only, and the plain sum of squares (no
    causal weights)."""

    name = "lm"
    restarts_refinement_clock = True

    def __init__(self, settings: LevenbergMarquardtSettings, model: torch.nn.Module) -> None:
        super().__init__(settings.steps)
        self.svd_rank, self.model = settings.svd_rank, model

    def new_method(self) -> DampedGaussNewton:
        return DampedGaussNewton([p for p in self.model.parameters() if p.requires_grad], svd_rank=self.svd_rank)

    def iterate(self, context: Context, iterations: int, on_iteration: OnIteration) -> GaussNewtonRun:
        return iterate_on_residuals(self.method, self.model, context, iterations, on_iteration)


def iterate_on_residuals(method, model: torch.nn.Module, context: Context, iterations: int,
                         on_iteration: OnIteration) -> GaussNewtonRun:
    """Run a Gauss-Newton ``method`` (Levenberg-Marquardt, Sven) on the context's vector of weighted
    residuals and its Jacobian."""
    problem = context.problem

    def residuals() -> torch.Tensor:
        return residual_vector(problem, model, context.collocation, context.weights, engine=context.engine)

    def jacobian() -> torch.Tensor:  # torch.func's vmap of jacrev needs forward-mode derivatives
        return residual_jacobian(problem, model, context.collocation, context.weights, engine=ForwardMode())

    return method.run(residuals, jacobian, iterations, on_iteration)
