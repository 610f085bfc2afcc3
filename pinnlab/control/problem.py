"""The control-module contract: a plain Python module becomes an immutable ``ControlProblem``.

A control module defines, at top level:

``states``          state names, e.g. ``["p", "v"]``
``inputs``          input names, e.g. ``["a"]``
``dynamics``        a function of state and input names (and constants) returning
                    ``{state: dx/dt}`` for every state; the input is held over each sampling interval
``input_bounds``    ``{input: (lower, upper)}``, finite, for every input
``state_bounds``    optional ``{state: (lower, upper)}``; ``None`` for an open side
``stage_cost``      a function of state and input names: the cost of one sampling interval
``terminal_cost``   optional function of state names: the cost of the final state (default 0)
``horizon``         steps of a closed-loop run, and the prediction horizon of MPC
``dt``              sampling time
``initial_states``  ``{state: (lower, upper)}`` for every state: initial states are uniform in this box
``constants``       optional ``{name: value}`` the functions may take by name
``defaults``        optional settings (``pinnlab.control.training.ControlSettings`` field names)
``name``            optional (default: the file name)

Functions are evaluated on torch tensors (training, simulation) and on CasADi symbols (MPC), so
they use arithmetic only, or take a parameter named ``math`` whose ``sin``, ``cos``, ``exp``,
``tanh`` and ``sqrt`` are those of the backend in use. Every name is checked at load, so a
mistake fails with one line naming the module and the field.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from pinnlab.problem.binding import BoundFunction, EquationError, as_mapping, bind
from pinnlab.problem.equation_module import import_module_file

__all__ = ["ControlProblem", "TORCH_MATH", "define_control", "load_control"]

KNOWN_NAMES = ("states", "inputs", "dynamics", "input_bounds", "state_bounds", "stage_cost", "terminal_cost",
               "horizon", "dt", "initial_states", "constants", "defaults", "name")
TORCH_MATH = types.SimpleNamespace(sin=torch.sin, cos=torch.cos, exp=torch.exp, tanh=torch.tanh, sqrt=torch.sqrt)


def casadi_math() -> types.SimpleNamespace:
    import casadi

    return types.SimpleNamespace(sin=casadi.sin, cos=casadi.cos, exp=casadi.exp, tanh=casadi.tanh,
                                 sqrt=casadi.sqrt)


@dataclass(frozen=True)
class ControlProblem:
    """A checked control problem. Build with :func:`load_control` or :func:`define_control`."""

    name: str
    states: tuple[str, ...]
    inputs: tuple[str, ...]
    dynamics: Callable[..., Any]
    stage_cost: Callable[..., Any]
    terminal_cost: Callable[..., Any] | None
    input_bounds: tuple[tuple[float, float], ...]
    state_bounds: tuple[tuple[float, float], ...]  # -inf/inf for an open side
    initial_box: tuple[tuple[float, float], ...]
    horizon: int
    dt: float
    constants: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    source_text: str = ""

    @property
    def bounded_states(self) -> list[int]:
        """Indices of the states with at least one finite bound."""
        return [i for i, (lo, hi) in enumerate(self.state_bounds) if math.isfinite(lo) or math.isfinite(hi)]

    def bound(self, function: Callable[..., Any], owner: str, names: tuple[str, ...], backend: Any) -> BoundFunction:
        return bind(function, owner, inputs=names, constants={**self.constants, "math": backend})

    def functions(self, backend: Any = TORCH_MATH) -> tuple[BoundFunction, BoundFunction, BoundFunction | None]:
        """Dynamics, stage cost and terminal cost bound to ``backend`` (``TORCH_MATH`` or CasADi's)."""
        both = self.states + self.inputs
        terminal = (self.bound(self.terminal_cost, "terminal_cost", self.states, backend)
                    if self.terminal_cost is not None else None)
        return (self.bound(self.dynamics, "dynamics", both, backend),
                self.bound(self.stage_cost, "stage_cost", both, backend), terminal)

    def sample_initial(self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``n`` initial states drawn uniformly from the initial box, shape (n, states)."""
        lo = torch.tensor([b[0] for b in self.initial_box], dtype=dtype)
        hi = torch.tensor([b[1] for b in self.initial_box], dtype=dtype)
        return lo + (hi - lo) * torch.rand(n, len(self.states), generator=generator, dtype=dtype)


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise EquationError(f"'{what}' must be a non-empty list of names, got {value!r:.60}")
    names = tuple(value)
    if not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise EquationError(f"'{what}' must hold Python identifiers, got {list(names)}")
    if len(set(names)) != len(names):
        raise EquationError(f"'{what}' names a variable twice: {list(names)}")
    return names


def _interval(value: Any, what: str, finite: bool) -> tuple[float, float]:
    try:
        lo, hi = value
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
    except (TypeError, ValueError):
        raise EquationError(f"{what} must be a pair (lower, upper), got {value!r:.60}") from None
    if math.isnan(lo) or math.isnan(hi) or finite and not (math.isfinite(lo) and math.isfinite(hi)):
        raise EquationError(f"{what} must be finite numbers, got ({lo}, {hi})")
    if lo > hi:
        raise EquationError(f"{what}: lower bound {lo} > upper bound {hi}")
    return lo, hi


def _bounds(value: Any, what: str, names: tuple[str, ...], every: bool, finite: bool) -> tuple[tuple[float, float], ...]:
    given = as_mapping(value, what)
    for name in given:
        if name not in names:
            raise EquationError(f"{what}: '{name}' is not one of {', '.join(names)}")
    missing = [n for n in names if n not in given]
    if every and missing:
        raise EquationError(f"{what} must give (lower, upper) for every one of {', '.join(names)}; "
                            f"missing: {', '.join(missing)}")
    return tuple(_interval(given[n], f"{what}['{n}']", finite) if n in given else (-math.inf, math.inf)
                 for n in names)


def _check_functions(problem: ControlProblem) -> None:
    """Bind every function and call it once on a few initial states, so that a wrong name, a
    missing state or a wrong shape fails at load, not in training."""
    dynamics, stage, terminal = problem.functions()
    x = problem.sample_initial(4, torch.Generator().manual_seed(0))
    u = torch.tensor([[(lo + hi) / 2 for lo, hi in problem.input_bounds]] * 4, dtype=x.dtype)
    from pinnlab.control.rollout import evaluate_cost, evaluate_dynamics

    evaluate_dynamics(dynamics, problem.states, x, u)
    evaluate_cost(stage, "stage_cost", torch.cat([x, u], 1))
    if terminal is not None:
        evaluate_cost(terminal, "terminal_cost", x)


def define_control(namespace: Mapping[str, Any], origin: str = "control module", default_name: str = "control",
                   source_text: str = "") -> ControlProblem:
    """Check a control module's names (see the module docstring) and build the problem;
    raises ``EquationError`` with one line naming ``origin`` and the field at fault."""
    try:
        for required in ("states", "inputs", "dynamics", "input_bounds", "stage_cost", "horizon", "dt",
                         "initial_states"):
            if namespace.get(required) is None:
                raise EquationError(f"'{required}' is missing")
        states, inputs = _names(namespace["states"], "states"), _names(namespace["inputs"], "inputs")
        clash = set(states) & set(inputs)
        if clash:
            raise EquationError(f"'states' and 'inputs' share the name(s) {', '.join(sorted(clash))}")
        horizon = namespace["horizon"]
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon <= 0:
            raise EquationError(f"'horizon' must be a whole number of steps > 0, got {horizon!r}")
        dt = namespace["dt"]
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
            raise EquationError(f"'dt' must be a number > 0, got {dt!r}")
        constants = as_mapping(namespace.get("constants"), "constants")
        if "math" in constants or set(constants) & set(states + inputs):
            raise EquationError("'constants' may not reuse 'math' or a state or input name")
        problem = ControlProblem(
            name=str(namespace.get("name") or default_name), states=states, inputs=inputs,
            dynamics=namespace["dynamics"], stage_cost=namespace["stage_cost"],
            terminal_cost=namespace.get("terminal_cost"),
            input_bounds=_bounds(namespace["input_bounds"], "input_bounds", inputs, every=True, finite=True),
            state_bounds=_bounds(namespace.get("state_bounds"), "state_bounds", states, every=False, finite=False),
            initial_box=_bounds(namespace["initial_states"], "initial_states", states, every=True, finite=True),
            horizon=horizon, dt=float(dt), constants=constants,
            defaults=as_mapping(namespace.get("defaults"), "defaults"), source_text=source_text)
        _check_functions(problem)
    except EquationError as error:
        raise EquationError(f"{origin}: {error}") from error.__cause__
    return problem


def load_control(path: str | Path) -> ControlProblem:
    """Import a control module from its file and check it."""
    path = Path(path)
    if not path.is_file():
        raise EquationError(f"control module {path} does not exist or is not a file")
    module = import_module_file(path)
    namespace = {k: v for k, v in vars(module).items() if k in KNOWN_NAMES}
    return define_control(namespace, str(path), path.stem, path.read_text())
