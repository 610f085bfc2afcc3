"""Point sources on the unit cube [0, 1)^dim.

Geometries never draw random numbers themselves: they ask a `Sampler` for unit-cube points and map
them onto the domain. Swapping the sampler (pseudo-random, Sobol, Latin hypercube, grid) therefore
changes how points are spread without touching any geometry code.

Each dimension `dim` gets its own generator, created lazily from `(seed, dim)`, because quasi-random
engines are tied to one dimension. Successive calls continue that dimension's stream, and
`state_dict()` holds just enough (seed and counters) to resume it exactly.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.stats import qmc

__all__ = [
    "Sampler",
    "UniformSampler",
    "SobolSampler",
    "LatinHypercubeSampler",
    "GridSampler",
    "SAMPLERS",
    "make_sampler",
]


class Sampler(ABC):
    """Draws points in the unit cube [0, 1)^dim; successive calls continue the stream.

    `unit` checks its arguments once and hands a canonical request to `_draw`, so the concrete
    samplers only say how points are made. `drawn[dim]` counts points and `calls[dim]` counts calls
    per dimension; together with the seed they let `load_state_dict` resume a stream exactly.
    """

    name: ClassVar[str]
    is_grid: ClassVar[bool] = False
    """True when `unit` returns a fixed regular grid: the count may exceed n and repeated calls
    return the same points, so callers must not rely on rejection loops to get fresh points."""

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(
                f"{type(self).__name__}: seed must be a non-negative int, got {seed!r}"
            )
        self.seed = int(seed)
        self._drawn: dict[int, int] = {}
        self._calls: dict[int, int] = {}

    def unit(self, n: int, dim: int) -> np.ndarray:
        """Return the next `n` points of the `dim`-dimensional stream, shape (n, dim), float64.

        `GridSampler` is the exception: it returns the k**dim grid with k = ceil(n**(1/dim)).
        """
        n = _check_count(type(self).__name__, "n", n)
        dim = _check_count(type(self).__name__, "dim", dim)
        if dim == 0:
            raise ValueError(f"{type(self).__name__}: dim must be positive, got 0")
        if n == 0:
            return np.empty((0, dim), dtype=np.float64)
        points = np.asarray(self._draw(n, dim), dtype=np.float64)
        self._drawn[dim] = self._drawn.get(dim, 0) + n
        self._calls[dim] = self._calls.get(dim, 0) + 1
        return points

    @abstractmethod
    def _draw(self, n: int, dim: int) -> np.ndarray:
        """Make the next `n` points in dimension `dim` (n >= 1, counters not yet updated)."""

    def state_dict(self) -> dict[str, Any]:
        """Seed and per-dimension counters: enough to resume every stream deterministically."""
        return {
            "name": self.name,
            "seed": self.seed,
            "drawn": dict(self._drawn),
            "calls": dict(self._calls),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from `state_dict()`; generators are rebuilt lazily and fast-forwarded."""
        if state.get("name") != self.name:
            raise ValueError(
                f"{type(self).__name__}: state is for sampler {state.get('name')!r}, "
                f"not {self.name!r}"
            )
        self.seed = int(state["seed"])
        self._drawn = {int(k): int(v) for k, v in state.get("drawn", {}).items()}
        self._calls = {int(k): int(v) for k, v in state.get("calls", {}).items()}
        self._reset()

    def _reset(self) -> None:
        """Forget cached generators (they are rebuilt from seed and counters on next use)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"


class UniformSampler(Sampler):
    """Independent pseudo-random points (PCG64 seeded from (seed, dim))."""

    name = "uniform"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._generators: dict[int, np.random.Generator] = {}

    def _draw(self, n: int, dim: int) -> np.ndarray:
        gen = self._generators.get(dim)
        if gen is None:
            bit_generator = np.random.PCG64(np.random.SeedSequence([self.seed, dim]))
            # One float64 consumes one 64-bit draw, so resuming is a cheap jump ahead.
            bit_generator.advance(self._drawn.get(dim, 0) * dim)
            gen = self._generators[dim] = np.random.Generator(bit_generator)
        return gen.random((n, dim))

    def _reset(self) -> None:
        self._generators = {}


class SobolSampler(Sampler):
    """Scrambled Sobol' sequence: low discrepancy, so fewer points cover the domain evenly.

    n need not be a power of two; scipy's balance warning is silenced because a continuing
    stream is what training loops want, even if a single batch is not perfectly balanced.
    """

    name = "sobol"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._engines: dict[int, qmc.Sobol] = {}

    def _draw(self, n: int, dim: int) -> np.ndarray:
        engine = self._engines.get(dim)
        if engine is None:
            engine = qmc.Sobol(d=dim, scramble=True, seed=np.random.default_rng([self.seed, dim]))
            if self._drawn.get(dim, 0):  # scipy rejects fast_forward(0)
                engine.fast_forward(self._drawn[dim])
            self._engines[dim] = engine
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
            return engine.random(n)

    def _reset(self) -> None:
        self._engines = {}


class LatinHypercubeSampler(Sampler):
    """Latin hypercube: each call is a fresh design of n points, stratified along every axis.

    A design is not a stream, so call `c` in dimension `dim` is seeded from (seed, dim, c);
    resuming only needs the call counter.
    """

    name = "lhs"

    def _draw(self, n: int, dim: int) -> np.ndarray:
        call = self._calls.get(dim, 0)
        engine = qmc.LatinHypercube(d=dim, seed=np.random.default_rng([self.seed, dim, call]))
        return engine.random(n)


class GridSampler(Sampler):
    """Regular cell-centred grid with k = ceil(n**(1/dim)) points per axis (k**dim >= n points).

    Deterministic: the seed is ignored and every call with the same (n, dim) returns the same grid,
    in C order (last axis fastest).
    """

    name = "grid"
    is_grid = True

    def _draw(self, n: int, dim: int) -> np.ndarray:
        k = _integer_root_ceil(n, dim)
        axis = (np.arange(k, dtype=np.float64) + 0.5) / k
        mesh = np.meshgrid(*([axis] * dim), indexing="ij")
        return np.stack([m.reshape(-1) for m in mesh], axis=1)


SAMPLERS: dict[str, type[Sampler]] = {
    "uniform": UniformSampler,
    "sobol": SobolSampler,
    "lhs": LatinHypercubeSampler,
    "grid": GridSampler,
}


def make_sampler(name: str, seed: int = 0) -> Sampler:
    """Build a sampler from its registry name (used by the CLI and config files)."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        valid = ", ".join(sorted(SAMPLERS))
        raise ValueError(f"unknown sampler {name!r}; valid names: {valid}") from None
    return cls(seed=seed)


def _integer_root_ceil(n: int, dim: int) -> int:
    """Smallest k with k**dim >= n, computed exactly (float roots misround, e.g. 8**(1/3))."""
    k = max(1, int(round(n ** (1.0 / dim))))
    while k**dim < n:
        k += 1
    while k > 1 and (k - 1) ** dim >= n:
        k -= 1
    return k


def _check_count(owner: str, arg: str, value: int) -> int:
    """Accept a non-negative integer (Python or numpy), reject everything else."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}: {arg} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{owner}: {arg} must be non-negative, got {value}")
    return int(value)


@dataclass(frozen=True)
class SamplingSettings:
    """``sampling.*``: interior points, points per boundary or initial condition, the point source,
    and a fresh interior draw every ``resample_every`` Adam steps (0: never)."""

    points: int = 4000
    boundary_points: int = 400
    sampler: str = "sobol"
    resample_every: int = 0

    def problems(self) -> list[str]:
        found = [f"sampling.{name} must be >= 1, got {getattr(self, name)}"
                 for name in ("points", "boundary_points") if getattr(self, name) < 1]
        if self.sampler not in SAMPLERS:
            found.append(f"sampling.sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'")
        if self.resample_every < 0:
            found.append(f"sampling.resample_every must be >= 0, got {self.resample_every}")
        return found
