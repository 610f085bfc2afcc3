"""Adam with an exponentially decaying learning rate: the first phase, which tolerates moving points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdamSettings:
    """``adam.*``: steps, the initial learning rate and its total decay factor over the steps."""

    steps: int = 2000
    lr: float = 1e-3
    lr_decay: float = 0.1
    name = "adam"

    def problems(self) -> list[str]:
        found = []
        if self.steps < 0:
            found.append(f"adam.steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            found.append(f"adam.lr must be > 0, got {self.lr}")
        if not self.lr_decay > 0:
            found.append(f"adam.lr_decay must be > 0, got {self.lr_decay}")
        return found
