"""The augmented Lagrangian for inequality constraints c <= 0 (Powell-Hestenes-Rockafellar).

With one multiplier lambda_i >= 0 per constraint value c_i (here: per initial state, step and
bounded state) and the penalty mu, the term added to the objective is

    (1 / n) sum_i [ max(0, lambda_i + mu c_i)^2 - lambda_i^2 ] / (2 mu)

(n: the number of initial states, so the term has the scale of the mean closed-loop cost). After
each outer iteration the multipliers move to lambda_i = max(0, lambda_i + mu c_i) and mu grows by
``mu_factor`` (at most ``mu_max``) unless the largest violation max_i max(c_i, 0) fell to at most
``progress`` times its value after the outer iteration before: the same rule as the
``augmented_lagrangian`` training phase (pinnlab/training/phases/augmented_lagrangian.py), whose
update lives inside the phase class and so is written here for inequalities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Penalty", "lagrangian_term", "max_violation", "update"]


@dataclass(frozen=True)
class Penalty:
    """The penalty's schedule: start ``mu``, growth ``mu_factor``, cap ``mu_max``, and the fraction
    ``progress`` the largest violation must fall to for mu to stay."""

    mu: float = 10.0
    mu_factor: float = 10.0
    mu_max: float = 1e6
    progress: float = 0.25

    def problems(self) -> list[str]:
        found = []
        if not (self.mu > 0 and self.mu_max >= self.mu):
            found.append(f"mu must be > 0 and mu_max >= mu, got {self.mu}, {self.mu_max}")
        if not self.mu_factor >= 1:
            found.append(f"mu_factor must be >= 1, got {self.mu_factor}")
        if not 0 < self.progress <= 1:
            found.append(f"progress must be in (0, 1], got {self.progress}")
        return found


def lagrangian_term(c: torch.Tensor, multipliers: torch.Tensor, mu: float, samples: int) -> torch.Tensor:
    """The augmented Lagrangian's constraint term for values ``c`` (<= 0 when satisfied)."""
    shifted = torch.clamp(multipliers + mu * c, min=0.0)
    return (shifted.square() - multipliers.square()).sum() / (2.0 * mu * samples)


def max_violation(c: torch.Tensor) -> float:
    """The largest violation max_i max(c_i, 0) (0 when there is no constraint)."""
    return float(c.detach().clamp_min(0.0).max()) if c.numel() else 0.0


def update(c: torch.Tensor, multipliers: torch.Tensor, mu: float, previous: float | None,
           penalty: Penalty) -> tuple[torch.Tensor, float, float]:
    """One outer update: the new multipliers, the new mu and the violation it was judged by.

    ``previous`` is the largest violation after the outer iteration before (None at the first)."""
    c = c.detach()
    new_multipliers = torch.clamp(multipliers + mu * c, min=0.0)
    violation = max_violation(c)
    if violation > 0 and (previous is None or violation > penalty.progress * previous):
        mu = min(mu * penalty.mu_factor, penalty.mu_max)
    return new_multipliers, mu, violation
