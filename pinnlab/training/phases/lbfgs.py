"""L-BFGS with a strong-Wolfe line search, after Adam, on a fixed point set."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LBFGSSettings:
    """``lbfgs.*``: iterations, curvature pairs kept, and fresh starts allowed after a stalled line search."""

    steps: int = 2000
    history: int = 50
    restarts: int = 3
    name = "lbfgs"

    def problems(self) -> list[str]:
        found = [f"lbfgs.{field} must be >= 0, got {value}"
                 for field, value in (("steps", self.steps), ("restarts", self.restarts)) if value < 0]
        if self.history < 1:
            found.append(f"lbfgs.history must be >= 1, got {self.history}")
        return found
