"""Levenberg-Marquardt (damped Gauss-Newton) on the vector of residuals, with a truncated-SVD
variant.

Why: a PINN loss is a sum of squares, L = |r(theta)|^2 with r the residuals at every collocation
and condition point, each scaled by sqrt(weight / points) so that |r|^2 is exactly the weighted
total loss. Gauss-Newton uses the Jacobian J = dr / dtheta for the curvature J^T J, the
natural-gradient metric of the least-squares problem, which is what takes small networks from
the 1e-3 where first-order methods level off to 1e-6 and below. For a network of P parameters
and M residuals one iteration costs the Jacobian (M x P, built point by point with
``torch.func``: ``vmap`` over points of ``jacrev`` with respect to the parameters, in chunks)
and a P x P solve, so it is meant for networks up to a few thousand parameters.

The step delta solves (J^T J + lambda I) delta = -J^T r (Cholesky), with lambda = ``damping``
times the mean diagonal of J^T J. A step is kept only if it lowers |r|^2: then the damping shrinks
threefold, else it grows tenfold and the step is recomputed (up to ``max_tries`` times per
iteration), so the loss never rises. With ``svd_rank = k`` the same damped step is taken within
the span of J's k largest singular directions, -V_k diag(s / (s^2 + lambda)) U_k^T r, a truncated
SVD step as in "Sven" (Bright et al. 2022) that ignores the directions the data hardly determine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.func import functional_call, jacrev, vmap
from torch.nn.utils import parameters_to_vector, vector_to_parameters

ResidualFunction = Callable[[], torch.Tensor]
JacobianFunction = Callable[[], torch.Tensor]


@dataclass
class GaussNewtonRun:
    iterations: int
    loss: float
    stop: str


class LevenbergMarquardt:
    """Minimize |residuals()|^2 over ``parameters``; ``jacobian()`` returns dr/dtheta at the
    current parameters (the residuals there are known already: the accepted trial's)."""

    def __init__(self, parameters: Sequence[torch.Tensor], damping: float = 1e-3, svd_rank: int = 0,
                 max_tries: int = 12) -> None:
        if damping <= 0 or svd_rank < 0 or max_tries < 1:
            raise ValueError(f"Levenberg-Marquardt: damping must be > 0, svd_rank >= 0 and max_tries >= 1; "
                             f"got {damping}, {svd_rank}, {max_tries}")
        self.parameters = list(parameters)
        self.damping = damping  # relative to the mean diagonal of J^T J
        self.svd_rank = svd_rank
        self.max_tries = max_tries

    def vector(self) -> torch.Tensor:
        return parameters_to_vector(self.parameters).detach()

    def assign(self, vector: torch.Tensor) -> None:
        with torch.no_grad():
            vector_to_parameters(vector, self.parameters)

    def run(self, residuals: ResidualFunction, jacobian: JacobianFunction, iterations: int,
            on_iteration: Callable[[int, float], bool | None] | None = None) -> GaussNewtonRun:
        """Up to ``iterations`` accepted steps; ``on_iteration(k, loss)`` may return True to stop."""
        done, stop = 0, f"reached {iterations} iterations"
        r, J = residuals(), jacobian()
        loss = float(r @ r)
        if not math.isfinite(loss):
            return GaussNewtonRun(0, loss, f"the loss is {loss} at the start")
        while done < iterations:
            theta = self.vector()
            accepted = False
            for _ in range(self.max_tries):
                step = self.step(r, J)
                self.assign(theta + step.to(theta.dtype))
                trial = residuals()
                new_loss = float(trial @ trial)
                if math.isfinite(new_loss) and new_loss < loss:
                    accepted = True
                    self.damping = max(self.damping / 3, 1e-15)
                    break
                self.damping *= 10
            if not accepted:
                self.assign(theta)
                stop = (f"no step lowered the loss in {self.max_tries} tries (damping now {self.damping:.3g}); "
                        "the loss is at a minimum of the Gauss-Newton model or at round-off level")
                break
            done += 1
            r, J, loss = trial, jacobian(), new_loss
            if on_iteration is not None and on_iteration(done, loss):
                stop = "stopped by the caller"
                break
        return GaussNewtonRun(done, loss, stop)

    def points_changed(self) -> None:
        """The collocation points changed: nothing to forget, since every iteration builds r and
        J afresh, and the damping carries over."""

    def step(self, r: torch.Tensor, J: torch.Tensor) -> torch.Tensor:
        if self.svd_rank:
            U, S, Vh = torch.linalg.svd(J, full_matrices=False)
            lam = self.damping * float(S.square().sum()) / J.shape[1]  # the same lambda as below
            k = self.svd_rank
            return -(Vh[:k].T @ ((U[:, :k].T @ r) * S[:k] / (S[:k].square() + lam)))
        A = J.T @ J
        lam = self.damping * float(A.diagonal().mean())
        A.diagonal().add_(lam)
        factor, info = torch.linalg.cholesky_ex(A)
        if int(info) == 0:
            return torch.cholesky_solve(-(J.T @ r)[:, None], factor)[:, 0]
        return torch.linalg.lstsq(A, -(J.T @ r)[:, None]).solution[:, 0]

    def state_dict(self) -> dict:
        return {"damping": self.damping}

    def load_state_dict(self, state: dict) -> None:
        self.damping = state["damping"]


class _Substituted(torch.nn.Module):
    """Calls ``evaluate`` with ``model`` registered as a submodule, so that ``functional_call``
    can substitute the model's parameters while ``evaluate`` runs."""

    def __init__(self, model: torch.nn.Module, evaluate: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.evaluate = evaluate

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        return self.evaluate(*inputs)


def pointwise_jacobian(model: torch.nn.Module, evaluate: Callable[..., torch.Tensor],
                       inputs: Sequence[torch.Tensor | None], chunk: int = 512) -> torch.Tensor:
    """Rows d evaluate(*inputs_i) / d theta for every point i (``evaluate`` maps one point's
    inputs to its k residual values, using ``model``), as an (N k, P) matrix, columns in the
    order of ``model.parameters()``; ``None`` inputs are passed as None."""
    holder = _Substituted(model, evaluate)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = {f"model.{n}": p.detach() for n, p in named}
    present = [x is not None for x in inputs]
    batched = [x for x in inputs if x is not None]

    def one(p: dict[str, torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
        it = iter(xs)
        return functional_call(holder, p, tuple(next(it) if here else None for here in present)).reshape(-1)

    rows = vmap(jacrev(one), in_dims=(None, *[0] * len(batched)), chunk_size=chunk)(params, *batched)
    n = batched[0].shape[0]
    blocks = [rows[f"model.{name}"].reshape(n, -1, p.numel()) for name, p in named]
    return torch.cat(blocks, dim=2).reshape(-1, sum(p.numel() for _, p in named))
