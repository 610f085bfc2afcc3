"""``Spectral(...)``: a reference that pinnlab computes itself, for a periodic 1D equation
u_t = L u + N(u, u_x, ...).

The declaration is checked against the problem (domain, fields, the functions' parameters) in
:meth:`Spectral.setup`; :meth:`Spectral.on_grid` solves it with :mod:`pinnlab.problem.spectral`
(Fourier in x, ETDRK4 in t) and caches the result, keyed by everything that determines it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from pinnlab.problem.binding import EquationError
from pinnlab.problem.conditions import Layout
from pinnlab.problem.reference import Reference, ReferenceGrid

__all__ = ["Spectral", "SpectralSetup"]


@dataclass(frozen=True)
class SpectralSetup:
    """A checked ``Spectral`` declaration, as the solver takes it."""

    grid: Any  # pinnlab.problem.spectral.PeriodicGrid
    t0: float
    times: np.ndarray
    points: int
    initial: np.ndarray
    linear: dict[int, complex]
    orders: list[int]
    nonlinear: Callable[[dict[int, np.ndarray], float], np.ndarray] | None
    probe: np.ndarray  # the nonlinear term at the initial state (part of the cache key)


@dataclass(frozen=True)
class Spectral(Reference):
    """A periodic 1D equation u_t = L u + N solved by pinnlab itself (``pinnlab.problem.spectral``:
    Fourier in x, ETDRK4 in t), cached in the user's cache folder.

    ``linear`` maps derivative names of ``variable`` to coefficients ({"u_xx": 1e-4},
    {"h_xx": 0.5j}; "u" itself is the zeroth derivative). ``nonlinear`` is a numpy function whose
    parameters name what it needs: ``variable`` and its x-derivatives (``u``, ``u_x``...), the space
    input, ``t``, constants; None for a linear equation. ``initial`` is a numpy function of x.
    ``modes`` Fourier modes on the domain's interval (the period), time steps at most ``dt``, output
    at ``times`` (the first is the time of ``initial``; they may reach beyond the domain's time
    interval, as a data file's may) on ``points`` of the periodic grid (default ``modes``; it must
    divide ``modes``).
    Without ``parts`` the unknown is real and ``variable`` is a field; with
    ``parts={"u": "real", "v": "imag"}`` it is complex and those fields are its parts."""

    linear: Mapping[str, complex]
    nonlinear: Callable[..., Any] | None
    initial: Callable[..., Any]
    modes: int
    dt: float
    times: Any
    points: int | None = None
    variable: str = "u"
    parts: Mapping[str, str] = field(default_factory=dict)
    dealias: bool = False

    def check(self, layout, base_dir):
        self.setup(layout)

    def on_grid(self, layout, base_dir, default_axes):
        from pinnlab.problem.spectral import cache_key, cached, function_fingerprint, solve

        s = self.setup(layout)
        stride = s.grid.modes // s.points
        description = {
            "interval": [s.grid.a, s.grid.b], "t0": s.t0, "modes": s.grid.modes, "points": s.points,
            "dt": float(self.dt), "complex": s.grid.complex_field, "dealias": bool(self.dealias),
            "linear": {str(n): [c.real, c.imag] for n, c in sorted(s.linear.items())},
            "orders": s.orders, "nonlinear": function_fingerprint(self.nonlinear),
        }
        key = cache_key(description, [s.times, s.initial, s.probe])

        def compute() -> np.ndarray:
            u = solve(s.grid, s.initial, s.linear, s.nonlinear, s.orders, s.times, s.t0, float(self.dt),
                      bool(self.dealias))
            return u[::stride]

        values = cached(key, (s.points, len(s.times)), compute)
        if self.parts:
            fields = {f: np.ascontiguousarray(getattr(values, part)) for f, part in self.parts.items()}
        else:
            fields = {self.variable: np.ascontiguousarray(values.real)}
        return ReferenceGrid({layout.inputs[0]: s.grid.x[::stride], layout.inputs[-1]: s.times}, fields)

    def fail(self, message: str) -> EquationError:
        return EquationError(f"Spectral reference: {message}")

    def setup(self, layout: Layout) -> SpectralSetup:
        """Check every argument against the problem (one clear line on the first mistake)."""
        from pinnlab.geometry import Interval, SpaceTime
        from pinnlab.problem.spectral import PeriodicGrid

        domain = layout.domain
        if not isinstance(domain, SpaceTime) or not isinstance(domain.space, Interval):
            raise self.fail(f"needs a domain Interval(a, b) * TimeInterval(t0, t1), periodic in x; got {domain!r}")
        (a, _), (b, _) = domain.bounds()
        if not isinstance(self.modes, (int, np.integer)) or self.modes < 4 or self.modes % 2:
            raise self.fail(f"modes must be an even integer >= 4, got {self.modes!r}")
        points = self.modes if self.points is None else self.points
        if not isinstance(points, (int, np.integer)) or points < 1 or self.modes % points:
            raise self.fail(f"points ({points!r}) must divide modes ({self.modes})")
        if not isinstance(self.dt, (int, float)) or not np.isfinite(self.dt) or self.dt <= 0:
            raise self.fail(f"dt must be a positive number, got {self.dt!r}")
        times = np.asarray(self.times, dtype=np.float64).ravel()
        if len(times) < 2 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise self.fail(f"times must be 2 or more increasing numbers (the first is the initial time), "
                            f"got {len(times)}")
        for f, part in self.parts.items():
            if f not in layout.fields or part not in ("real", "imag"):
                raise self.fail(f"parts must map fields ({', '.join(layout.fields)}) to 'real' or 'imag', "
                                f"got {f!r}: {part!r}")
        if not self.parts and self.variable not in layout.fields:
            raise self.fail(f"variable '{self.variable}' is not a field ({', '.join(layout.fields)}); for a "
                            f"complex unknown, name its real and imaginary fields with parts=...")
        grid = PeriodicGrid(float(a), float(b), int(self.modes), bool(self.parts))
        initial = self.initial_values(layout, grid)
        nonlinear, orders, probe = self.nonlinear_term(layout, grid, initial, float(times[0]))
        return SpectralSetup(grid, float(times[0]), times, int(points), initial, self.linear_operator(layout),
                             orders, nonlinear, probe)

    def order(self, name: str, layout: Layout) -> int | None:
        """The x-derivative of ``variable`` that ``name`` means (``u`` 0, ``u_xx`` 2), else None."""
        space = layout.inputs[0]
        if name == self.variable:
            return 0
        prefix = f"{self.variable}_"
        tail = name[len(prefix):] if name.startswith(prefix) else ""
        if tail and tail == space * (len(tail) // len(space)):
            return len(tail) // len(space)
        return None

    def linear_operator(self, layout: Layout) -> dict[int, complex]:
        """``linear`` as {derivative order: coefficient}."""
        space, operator = layout.inputs[0], {}
        for name, c in self.linear.items():
            order = self.order(name, layout)
            if order is None:
                raise self.fail(f"linear: '{name}' is not {self.variable} or one of its x-derivatives "
                                f"({self.variable}_{space}, {self.variable}_{space * 2}, ...)")
            if not isinstance(c, (int, float, complex, np.number)) or isinstance(c, bool):
                raise self.fail(f"linear: the coefficient of '{name}' must be a number, got {c!r}")
            if complex(c).imag and not self.parts:
                raise self.fail(f"linear: '{name}' has a complex coefficient, so the unknown is complex: "
                                "name its real and imaginary fields with parts=...")
            operator[order] = operator.get(order, 0) + complex(c)
        return operator

    def evaluate(self, function: Callable[..., Any], owner: str, kwargs: dict[str, Any], n: int) -> np.ndarray:
        """``function(**kwargs)`` as n finite numbers (real for a real unknown), or one clear error."""
        from pinnlab.problem.binding import user_code_error

        try:
            value = np.asarray(function(**kwargs))
        except EquationError:
            raise
        except Exception as error:  # noqa: BLE001 - the equation module's function failed
            raise user_code_error(function, f"Spectral reference {owner}", error) from error
        try:
            value = np.array(np.broadcast_to(value, (n,)))
        except ValueError:
            raise self.fail(f"{owner} returned shape {value.shape}; expected ({n},) or a scalar") from None
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise self.fail(f"{owner} returned values that are not finite numbers")
        if np.iscomplexobj(value) and not self.parts:
            if np.any(value.imag):
                raise self.fail(f"{owner} returned complex values for the real unknown '{self.variable}'")
            value = value.real
        return value

    def initial_values(self, layout: Layout, grid: Any) -> np.ndarray:
        """The initial condition on the grid; it must take the same value at both ends."""
        from pinnlab.problem.binding import parameter_names

        space = layout.inputs[0]
        kwargs: dict[str, Any] = {}
        for name in parameter_names(self.initial, "Spectral reference initial"):
            if name not in (space, *layout.constants):
                raise self.fail(f"initial: unknown parameter '{name}' (it may use: {space}, constants)")
            kwargs[name] = layout.constants.get(name)
        at = lambda x: {**kwargs, space: x} if space in kwargs else kwargs  # noqa: E731
        values = self.evaluate(self.initial, "initial", at(grid.x), grid.modes)
        ends = self.evaluate(self.initial, "initial", at(np.array([grid.a, grid.b])), 2)
        if abs(ends[0] - ends[1]) > 1e-6 * max(1.0, float(np.abs(values).max())):
            raise self.fail(f"the initial condition is not periodic on [{grid.a:g}, {grid.b:g}]: {ends[0]:.6g} "
                            f"at {space} = {grid.a:g}, {ends[1]:.6g} at {space} = {grid.b:g}")
        return values.astype(complex) if self.parts else values

    def nonlinear_term(self, layout: Layout, grid: Any, initial: np.ndarray, t0: float):
        """N as the solver calls it ({order: derivative}, t), the orders it needs, N at t0."""
        from pinnlab.problem.binding import parameter_names, user_code_error

        if self.nonlinear is None:
            return None, [], np.zeros(0)
        space, time, function = layout.inputs[0], layout.inputs[-1], self.nonlinear
        orders, fixed = {}, {}
        for name in parameter_names(function, "Spectral reference nonlinear"):
            order = self.order(name, layout)
            if order is not None:
                orders[name] = order
            elif name == space:
                fixed[name] = grid.x
            elif name in layout.constants:
                fixed[name] = layout.constants[name]
            elif name != time:
                raise self.fail(f"nonlinear: unknown parameter '{name}' (it may use: {self.variable}, "
                                f"{self.variable}_{space}, {self.variable}_{space * 2}, ..., {space}, {time}, constants)")
        takes_time = time in parameter_names(function, "Spectral reference nonlinear")
        real = not self.parts

        def call(derivatives: dict[int, np.ndarray], t: float) -> np.ndarray:
            kwargs = {**fixed, **{name: derivatives[n] for name, n in orders.items()}}
            if takes_time:
                kwargs[time] = t
            try:
                value = function(**kwargs)
            except Exception as error:  # noqa: BLE001 - the equation module's function failed
                raise user_code_error(function, "Spectral reference nonlinear", error) from error
            return np.real(value) if real and np.iscomplexobj(value) else value

        spectrum = grid.forward(initial)
        first = {n: grid.inverse(grid.derivative(n) * spectrum) for n in set(orders.values())}
        kwargs = {**fixed, **{name: first[n] for name, n in orders.items()}, **({time: t0} if takes_time else {})}
        probe = self.evaluate(function, "nonlinear", kwargs, grid.modes)
        return call, sorted(set(orders.values())), probe
