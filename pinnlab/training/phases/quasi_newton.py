"""A dense quasi-Newton phase (BFGS, self-scaled BFGS or self-scaled Broyden) for small networks."""

from __future__ import annotations

from dataclasses import dataclass

from pinnlab.training.quasi_newton import UPDATES


@dataclass(frozen=True)
class QuasiNewtonSettings:
    """``bfgs.*``, ``ssbfgs.*`` or ``ssbroyden.*`` (the phase is named by its update): iterations."""

    update: str = "ssbroyden"
    steps: int = 0

    @property
    def name(self) -> str:
        return self.update

    def problems(self) -> list[str]:
        found = []
        if self.update not in UPDATES:
            found.append(f"quasi-Newton update must be one of {', '.join(UPDATES)}, got '{self.update}'")
        if self.steps < 0:
            found.append(f"{self.update}.steps must be >= 0, got {self.steps}")
        return found
