"""Dense quasi-Newton minimization for small networks: BFGS, self-scaled BFGS and self-scaled
Broyden (SSBroyden), each with a strong-Wolfe line search.

Why dense: L-BFGS keeps a few dozen curvature pairs and forgets the rest; for a PINN with a few
thousand parameters the whole inverse-Hessian approximation H (P x P, 32 MB at P = 2000 in float64)
is cheap next to one loss evaluation, and keeping it is what lets quasi-Newton methods go on
lowering the loss by orders of magnitude where Adam and L-BFGS level off (Urban, Kiyani et al.,
"Unveiling the optimization process of PINNs", 2025).

What is computed, at iterate x with gradient g and inverse-Hessian approximation H:

- the direction d = -H g and a step length alpha satisfying the strong Wolfe conditions
  (``scipy.optimize.line_search``; c1 = 1e-4, c2 = 0.9), s = alpha d, y = g_new - g; the first
  trial step comes from the last decrease of the loss, or where there is none (the start, new
  points, a reset H) is Polyak's step f / -d.g, capped at 1;
- with rho = 1 / y.s, the Broyden-family update of the inverse Hessian, scaled by 1 / tau:

      H+ = (H - (H y)(H y)^T / (y.H y) + phi (y.H y) v v^T) / tau + rho s s^T,
      v = rho s - H y / (y.H y);

- ``bfgs``: tau = 1, phi = 1 (H is scaled once, by y.s / y.y, before the first update, as usual);
- ``ssbfgs``: phi = 1 and tau = min(1, 1 / b) (tau = h at the first update), with
  h = rho y.H y and b = -alpha rho s.g, which is 1 when H is the exact inverse Hessian of a
  quadratic: the scaling shrinks H when steps overshoot;
- ``ssbroyden``: phi and tau from the parameter theta chosen per iteration as in Urban et al.
  (after Al-Baali): with a = h b - 1, c = sqrt(|a / (1 + a)|), rho- = min(1, h (1 - c)),
  theta = max((rho- - 1) / a, min(1 / rho-, (1 - b) / b)), phi = (1 - theta) / (1 + a theta);
  tau = h / (1 + a theta) at the first update, later with sigma = 1 + a theta and
  sigma' = |sigma|^(1 / (1 - P)): tau = min(min(1, 1 / b) sigma', sigma) if theta <= 0, else
  min(1, 1 / b) min(sigma', 1 / theta).

An update is skipped when y.s is not positive (curvature condition broken) or it would give
non-finite values; a failed line search resets H to the identity once before the run stops.
Every stop says why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.linalg.blas import dger
from scipy.optimize import line_search
from torch.nn.utils import parameters_to_vector, vector_to_parameters

UPDATES = ("bfgs", "ssbfgs", "ssbroyden")
MAX_DENSE_PARAMETERS = 20_000
"""Above this H alone would take more than 3 GB in float64: use L-BFGS instead."""


@dataclass
class QuasiNewtonRun:
    iterations: int
    evaluations: int
    loss: float
    stop: str


def polyak_previous_loss(loss: float) -> float | None:
    """The "previous loss" to give the line search where there is none: at the run's start, after
    new points or a reset of H. scipy tries min(1, 2.02 (f - f_prev) / -d.g) first; with f_prev =
    1.5 f that is about f / -d.g, the step at which the loss's linear model reaches zero (Polyak's
    step: a PINN loss has its minimum near zero). Trying 1 instead, right after a refinement, gave
    losses of 1e13 and the search ran out of its iterations before it came back down."""
    return 1.5 * loss if loss > 0 else None


class DenseQuasiNewton:
    """Minimize ``closure`` (which zeroes the gradients, computes the loss, calls backward and
    returns the loss) over ``parameters`` with a dense inverse-Hessian approximation."""

    def __init__(self, parameters: Sequence[torch.Tensor], update: str = "ssbroyden",
                 gradient_tolerance: float = 1e-12, line_search_iterations: int = 25) -> None:
        if update not in UPDATES:
            raise ValueError(f"quasi-Newton update must be one of {', '.join(UPDATES)}, got '{update}'")
        self.parameters = list(parameters)
        size = sum(p.numel() for p in self.parameters)
        if size > MAX_DENSE_PARAMETERS:
            raise ValueError(
                f"{update}: the network has {size} parameters; a dense inverse Hessian is kept only "
                f"up to {MAX_DENSE_PARAMETERS} (use L-BFGS, or a smaller network)"
            )
        self.update = update
        self.gradient_tolerance = gradient_tolerance
        self.line_search_iterations = line_search_iterations
        self.inverse_hessian = np.eye(size)
        self.updates = 0  # updates applied to the current H (0: identity)
        self.evaluations = 0
        self.previous_loss: float | None = None

    # --- the loss on a flat float64 vector ------------------------------------------------------
    def evaluate(self, closure: Callable[[], torch.Tensor], x: np.ndarray) -> tuple[float, np.ndarray]:
        reference = self.parameters[0]
        with torch.no_grad():
            vector_to_parameters(torch.as_tensor(x, dtype=reference.dtype, device=reference.device),
                                 self.parameters)
        loss = float(closure())
        self.evaluations += 1
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.parameters]
        return loss, parameters_to_vector(grads).detach().to("cpu", torch.float64).numpy().copy()

    def run(self, closure: Callable[[], torch.Tensor], iterations: int,
            on_iteration: Callable[[int, float], bool | None] | None = None) -> QuasiNewtonRun:
        """Up to ``iterations`` steps; ``on_iteration(k, loss)`` after each may return True to stop."""
        x = parameters_to_vector(self.parameters).detach().to("cpu", torch.float64).numpy().copy()
        cache: dict[bytes, tuple[float, np.ndarray]] = {}

        def value_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
            key = z.tobytes()
            if key not in cache:
                cache.clear()  # the line search asks for f and f' at the same point, in turn
                cache[key] = self.evaluate(closure, z)
            return cache[key]

        loss, g = value_and_gradient(x)
        if not math.isfinite(loss):
            return QuasiNewtonRun(0, self.evaluations, loss, f"the loss is {loss} at the start")
        done, stop, reset = 0, f"reached {iterations} iterations", False
        while done < iterations:
            if float(np.linalg.norm(g)) <= self.gradient_tolerance:
                stop = f"gradient norm below {self.gradient_tolerance:g}"
                break
            d = -self.inverse_hessian @ g
            if not float(d @ g) < 0:  # H lost positive definiteness to round-off
                self.reset()
                d = -g
            with warnings.catch_warnings():  # a failed search is handled below, not warned about
                warnings.filterwarnings("ignore", message=".*line search")
                alpha, _, _, new_loss, _, _ = line_search(
                    lambda z: value_and_gradient(z)[0], lambda z: value_and_gradient(z)[1], x, d, g, loss,
                    self.previous_loss if self.previous_loss is not None else polyak_previous_loss(loss),
                    maxiter=self.line_search_iterations,
                )
            if alpha is None or new_loss is None or not math.isfinite(new_loss):
                if reset:
                    stop = "the line search found no step satisfying the strong Wolfe conditions twice, " \
                           "after a reset of H (the loss is at round-off level or the step is tiny)"
                    break
                self.reset()
                reset = True
                continue
            reset = False
            s = alpha * d
            x_new = x + s
            new_loss, g_new = value_and_gradient(x_new)
            self.apply_update(s, g_new - g, g, alpha)
            self.previous_loss, loss, x, g = loss, new_loss, x_new, g_new
            done += 1
            if on_iteration is not None and on_iteration(done, loss):
                stop = "stopped by the caller"
                break
        value_and_gradient(x)  # leave the parameters (and their gradients) at the last iterate
        return QuasiNewtonRun(done, self.evaluations, loss, stop)

    def points_changed(self) -> None:
        """The collocation points changed: H is kept (the curvature of the new loss is much the
        same), but the last loss, which guides the line search's first step, belongs to the old one."""
        self.previous_loss = None

    def reset(self) -> None:
        self.inverse_hessian = np.eye(len(self.inverse_hessian))
        self.updates = 0
        self.previous_loss = None

    # --- the update -----------------------------------------------------------------------------
    def apply_update(self, s: np.ndarray, y: np.ndarray, g: np.ndarray, alpha: float) -> None:
        """The update of the module docstring, done in place as three symmetric rank-one updates
        (BLAS ``dger``): building H+ out of place would stream the P x P matrix through memory
        several times more, which at P ~ 2000 costs as much as a loss evaluation."""
        ys = float(y @ s)
        if not ys > 0:
            return  # curvature condition broken: keep H positive definite by not updating
        H = self.inverse_hessian
        if self.update == "bfgs" and self.updates == 0:
            H *= ys / float(y @ y)
        rho = 1.0 / ys
        Hy = H @ y
        yHy = float(y @ Hy)
        try:
            tau, phi = self.scaling(rho, yHy, float(s @ g), alpha, len(s))
        except ZeroDivisionError:  # a degenerate self-scaling parameter: a plain BFGS update
            tau, phi = 1.0, 1.0
        v = rho * s - Hy / yHy
        coefficients = np.array([1.0 / tau, -1.0 / (yHy * tau), phi * yHy / tau, rho])
        if not (np.isfinite(coefficients).all() and np.isfinite(v).all() and np.isfinite(Hy).all()):
            return  # a non-finite update would spoil H: skip it
        H *= coefficients[0]
        # H is C-ordered and symmetric, so H.T is the same matrix in the Fortran order BLAS
        # updates in place; each term below is symmetric, so updating H.T updates H.
        for c, u in zip(coefficients[1:], (Hy, v, s)):
            result = dger(c, u, u, a=H.T, overwrite_a=True)
            if not np.shares_memory(result, H):  # BLAS worked on a copy: take its result
                H[...] = result.T
        self.updates += 1

    def scaling(self, rho: float, yHy: float, sg: float, alpha: float, size: int) -> tuple[float, float]:
        """(tau, phi) of the update; see the module docstring."""
        if self.update == "bfgs":
            return 1.0, 1.0
        h = rho * yHy
        b = -alpha * rho * sg
        first = self.updates == 0
        if self.update == "ssbfgs":
            return (h if first else min(1.0, 1.0 / b)), 1.0
        a = h * b - 1.0
        c = math.sqrt(abs(a / (1.0 + a)))
        rho_minus = min(1.0, h * (1.0 - c))
        theta = max((rho_minus - 1.0) / a, min(1.0 / rho_minus, (1.0 - b) / b))
        phi = (1.0 - theta) / (1.0 + a * theta)
        if first:
            return h / (1.0 + a * theta), phi
        sigma = 1.0 + a * theta
        sigma_root = abs(sigma) ** (1.0 / (1.0 - size))
        shrink = min(1.0, 1.0 / b)
        tau = min(shrink * sigma_root, sigma) if theta <= 0 else shrink * min(sigma_root, 1.0 / theta)
        return tau, phi

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"inverse_hessian": torch.from_numpy(self.inverse_hessian.copy()), "updates": self.updates,
                "evaluations": self.evaluations, "previous_loss": self.previous_loss}

    def load_state_dict(self, state: dict) -> None:
        self.inverse_hessian = state["inverse_hessian"].numpy().copy()
        self.updates, self.evaluations = state["updates"], state["evaluations"]
        self.previous_loss = state["previous_loss"]
