"""Marking: which layers to split, given the indicators ``|eta_m|``.

``Doerfler(theta)``: the smallest set of layers (largest indicators first) whose indicators
sum to at least ``theta`` times the total (bulk criterion).  ``MaximumMarking(theta)``: every
layer whose indicator is at least ``theta`` times the largest.  Both mark at least one layer
when any indicator is positive, and none when all vanish.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

__all__ = ["Doerfler", "Marking", "MaximumMarking"]


class Marking(ABC):
    """A rule choosing the layers to refine."""

    @abstractmethod
    def mark(self, indicators: np.ndarray) -> list[int]:
        """0-based indices of the marked layers, in increasing order."""


def _check_theta(theta: float) -> None:
    if not 0.0 < theta <= 1.0:
        raise ValueError(f"marking parameter theta must lie in (0, 1], got {theta}")


def _check(indicators: np.ndarray) -> np.ndarray:
    values = np.asarray(indicators, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("indicators must be a 1D array of finite non-negative numbers")
    return values


@dataclass(frozen=True)
class Doerfler(Marking):
    theta: float = 0.5

    def __post_init__(self) -> None:
        _check_theta(self.theta)

    def mark(self, indicators: np.ndarray) -> list[int]:
        values = _check(indicators)
        total = values.sum()
        if total <= 0:
            return []
        order = np.argsort(-values, kind="stable")
        cumulative = np.cumsum(values[order])
        count = int(np.searchsorted(cumulative, self.theta * total * (1 - 1e-12))) + 1
        return sorted(int(i) for i in order[:count])


@dataclass(frozen=True)
class MaximumMarking(Marking):
    theta: float = 0.5

    def __post_init__(self) -> None:
        _check_theta(self.theta)

    def mark(self, indicators: np.ndarray) -> list[int]:
        values = _check(indicators)
        top = values.max(initial=0.0)
        if top <= 0:
            return []
        return [int(i) for i in np.flatnonzero(values >= self.theta * top)]


MARKINGS: dict[str, type[Marking]] = {"doerfler": Doerfler, "maximum": MaximumMarking}
