"""Fourier spectral solver for periodic 1D equations u_t = L u + N(u, u_x, ...), with ETDRK4.

Space: u on ``modes`` equispaced points of a period [a, b), derivatives by FFT (numpy). For a
real u the state is its ``rfft`` spectrum, for a complex one (NLS) its ``fft`` spectrum. The
Nyquist mode of every odd derivative is set to zero, so a real u stays real.

Time: exponential time differencing, fourth order, with Runge-Kutta stages (ETDRK4; Kassam and
Trefethen, "Fourth-order time-stepping for stiff PDEs", SIAM J. Sci. Comput. 26(4), 2005). The
linear part is diagonal in Fourier space and integrated exactly; one step of size h is

    a = E2 v + Q N(v),   b = E2 v + Q N(a),   c = E2 a + Q (2 N(b) - N(v)),
    v <- E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c),

with E = exp(hL), E2 = exp(hL/2) and Q, f1, f2, f3 the phi-function combinations below. Written
out, they cancel catastrophically for small |hL|; each is therefore evaluated as the mean of the
same expression over points on a circle of radius 1 around hL (the value of an analytic function
at the centre of a circle is its mean over the circle), which is accurate for every hL.

Dealiasing (``dealias=True``): the 2/3 rule, i.e. the nonlinear term's modes above 2/3 of the
Nyquist wavenumber are dropped. That removes the aliasing of quadratic terms exactly and damps
the pile-up of energy at the highest modes; where the spectrum has decayed to round-off before
N/3 it changes nothing. It is off by default: a resolved solution does not need it.

Results are cached in the user's cache folder (``cache_folder``), keyed by a hash of everything
that defines them (``cached``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pinnlab.runtime.atomic import atomic_path

SOLVER_VERSION = "1"
"""Part of every cache key: raise it when a change to the solver changes its results."""

CONTOUR_POINTS = 64
"""Points on the circle around each hL (the trapezoidal rule on a circle converges
geometrically for these entire functions: 64 points give round-off)."""

NonlinearTerm = Callable[[dict[int, np.ndarray], float], np.ndarray]
"""N as the solver calls it: ({order: d^order u / dx^order on the grid}, t) -> N on the grid."""


@dataclass(frozen=True)
class PeriodicGrid:
    """``modes`` equispaced points x_j = a + j (b - a) / modes, j < modes, and their wavenumbers."""

    a: float
    b: float
    modes: int
    complex_field: bool

    @property
    def x(self) -> np.ndarray:
        return self.a + (self.b - self.a) * np.arange(self.modes) / self.modes

    @property
    def k(self) -> np.ndarray:
        """Angular wavenumbers in the order of ``rfft`` (real field) or ``fft`` (complex)."""
        scale = 2 * math.pi / (self.b - self.a)
        if self.complex_field:
            return scale * np.fft.fftfreq(self.modes, 1.0 / self.modes)
        return scale * np.fft.rfftfreq(self.modes, 1.0 / self.modes)

    def derivative(self, order: int) -> np.ndarray:
        """The multiplier (ik)^order, with the Nyquist mode zero for odd orders."""
        multiplier = (1j * self.k) ** order
        if order % 2 == 1:
            multiplier[self.modes // 2] = 0.0
        return multiplier

    def symbol(self, coefficients: Mapping[int, complex]) -> np.ndarray:
        """The linear operator sum_n c_n d^n/dx^n in Fourier space; real where it is real."""
        total = np.zeros(len(self.k), dtype=complex)
        for order, c in coefficients.items():
            total += complex(c) * self.derivative(order)
        return total.real.copy() if not np.any(total.imag) else total

    def forward(self, u: np.ndarray) -> np.ndarray:
        return np.fft.fft(u) if self.complex_field else np.fft.rfft(u)

    def inverse(self, v: np.ndarray) -> np.ndarray:
        return np.fft.ifft(v) if self.complex_field else np.fft.irfft(v, n=self.modes)

    def dealias_mask(self) -> np.ndarray:
        """1 for modes |k| <= (2/3) k_Nyquist, 0 above (the 2/3 rule)."""
        index = np.abs(self.k) * (self.b - self.a) / (2 * math.pi)
        return (index <= self.modes / 3).astype(float)


def phi_coefficients(L: np.ndarray, h: float) -> tuple[np.ndarray, ...]:
    """E, E2, Q, f1, f2, f3 of an ETDRK4 step of size h for the diagonal operator L."""
    circle = np.exp(2j * math.pi * (np.arange(CONTOUR_POINTS) + 0.5) / CONTOUR_POINTS)
    z = h * L[:, None] + circle[None, :]
    ez = np.exp(z)
    z3 = z**3

    def mean(values: np.ndarray) -> np.ndarray:
        m = values.mean(axis=1)
        return m.real if np.isrealobj(L) else m

    Q = h * mean((np.exp(z / 2) - 1) / z)
    f1 = h * mean((-4 - z + ez * (4 - 3 * z + z**2)) / z3)
    f2 = h * mean((2 + z + ez * (z - 2)) / z3)
    f3 = h * mean((-4 - 3 * z - z**2 + ez * (4 - z)) / z3)
    return np.exp(h * L), np.exp(h * L / 2), Q, f1, f2, f3


def step_counts(times: np.ndarray, t0: float, dt: float) -> list[tuple[int, float]]:
    """For each output time, the (steps, step size) from the previous one (t0 first): equal
    steps no larger than ``dt`` that land on the output time."""
    plan, previous = [], t0
    for t in times:
        span = float(t) - previous
        n = 0 if span <= 0 else max(1, math.ceil(span / dt - 1e-9))
        plan.append((n, span / n if n else 0.0))
        previous = float(t)
    return plan


def etdrk4(v: np.ndarray, L: np.ndarray, N: Callable[[np.ndarray, float], np.ndarray],
           times: np.ndarray, t0: float, dt: float) -> list[np.ndarray]:
    """March the spectrum ``v`` of u(t0) to each of ``times``; ``N(v, t)`` is the nonlinear term
    in Fourier space. Returns the spectrum at every output time."""
    out, coefficients, h_last, t = [], None, None, t0
    for n, h in step_counts(times, t0, dt):
        if n and (h_last is None or abs(h - h_last) > 1e-12 * h):
            coefficients, h_last = phi_coefficients(L, h), h
        if n:
            E, E2, Q, f1, f2, f3 = coefficients  # type: ignore[misc]
        for _ in range(n):
            Nv = N(v, t)
            a = E2 * v + Q * Nv
            Na = N(a, t + h / 2)
            b = E2 * v + Q * Na
            Nb = N(b, t + h / 2)
            c = E2 * a + Q * (2 * Nb - Nv)
            Nc = N(c, t + h)
            v = E * v + f1 * Nv + 2 * f2 * (Na + Nb) + f3 * Nc
            t += h
            if not np.all(np.isfinite(v)):
                raise FloatingPointError(f"the spectral solution blew up at t = {t:.6g} (step {h:.3g}); "
                                         "try a smaller dt or more modes")
        out.append(v.copy())
    return out


def solve(grid: PeriodicGrid, initial: np.ndarray, linear: Mapping[int, complex],
          nonlinear: NonlinearTerm | None, orders: Sequence[int], times: np.ndarray, t0: float,
          dt: float, dealias: bool = False) -> np.ndarray:
    """u at ``times`` on the grid, shape (modes, len(times)).

    ``nonlinear(derivatives, t)`` receives ``{order: d^order u / dx^order}`` on the grid for each
    of ``orders`` and returns N there (None: a linear equation)."""
    L = grid.symbol(linear)
    if nonlinear is None:
        N = lambda v, t: np.zeros_like(v)  # noqa: E731
    else:
        multipliers = {order: grid.derivative(order) for order in orders}
        mask = grid.dealias_mask() if dealias else None

        def N(v: np.ndarray, t: float) -> np.ndarray:
            derivatives = {order: grid.inverse(v if order == 0 else m * v) for order, m in multipliers.items()}
            values = np.broadcast_to(np.asarray(nonlinear(derivatives, t)), (grid.modes,))
            spectrum = grid.forward(values)
            return spectrum * mask if mask is not None else spectrum

    v0 = grid.forward(initial)
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported by etdrk4
        spectra = etdrk4(v0.astype(complex), L, N, np.asarray(times, dtype=float), t0, dt)
    return np.stack([grid.inverse(v) for v in spectra], axis=1)


def cache_folder() -> Path:
    """``$PINNLAB_CACHE``, else ``$XDG_CACHE_HOME/pinnlab``, else ``~/.cache/pinnlab``."""
    if os.environ.get("PINNLAB_CACHE"):
        return Path(os.environ["PINNLAB_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "pinnlab"
    return Path.home() / ".cache" / "pinnlab"


def function_fingerprint(function: Callable[..., Any] | None) -> str:
    """A function's bytecode, constants and names (its behaviour, independent of formatting)."""
    if function is None:
        return "none"
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function)
    parts = []

    def walk(c: Any) -> None:
        parts.extend([c.co_code.hex(), repr(c.co_names)])
        for const in c.co_consts:
            if hasattr(const, "co_code"):
                walk(const)
            else:
                parts.append(repr(const))

    walk(code)
    return "|".join(parts)


def cache_key(description: Mapping[str, Any], arrays: Sequence[np.ndarray]) -> str:
    """sha256 over a JSON description and the bytes of some arrays (sampled functions)."""
    digest = hashlib.sha256(json.dumps({"solver": SOLVER_VERSION, **description}, sort_keys=True,
                                       default=repr).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def read_cached(path: Path, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached values if ``path`` holds a complete, finite result for ``key``; else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            values = np.array(data["values"])
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: recompute
        return None
    if values.shape != shape or not np.all(np.isfinite(values)):
        return None
    return values


def cached(key: str, shape: tuple[int, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` once per ``key``: read from the cache folder, else computed and written
    there atomically. A file that is damaged or holds another key is recomputed; a cache folder
    that cannot be written only costs the recomputation next time (a warning says so)."""
    path = cache_folder() / f"spectral-{key[:40]}.npz"
    values = read_cached(path, key, shape)
    if values is not None:
        return values
    values = compute()
    try:
        with atomic_path(path) as tmp:
            np.savez(tmp, key=np.array(key), values=values)
    except OSError as error:
        warnings.warn(f"spectral reference not cached in {path.parent}: {error}", stacklevel=2)
    return values
