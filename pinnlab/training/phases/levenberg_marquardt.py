"""A Levenberg-Marquardt phase on the vector of residuals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LevenbergMarquardtSettings:
    """``lm.*``: iterations, and the number of the Jacobian's leading singular directions (0: all)."""

    steps: int = 0
    svd_rank: int = 0
    name = "lm"

    def problems(self) -> list[str]:
        return [f"lm.{field} must be >= 0, got {value}"
                for field, value in (("steps", self.steps), ("svd_rank", self.svd_rank)) if value < 0]
