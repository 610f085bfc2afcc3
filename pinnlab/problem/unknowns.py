"""Unknown coefficients: numbers an inverse problem learns together with the network.

An equation module declares ``unknowns = {"nu": Unknown(0.05, positive=True)}``. Residuals and
output transforms then take ``nu`` by parameter name, as they take a constant, but its value is
a trainable parameter of the model (``pinnlab.model.field_model.UnknownValues``), read afresh at
every call: every optimizer trains it with the network and checkpoints carry it.

The optimizer sees a raw number, mapped to the value so that a known sign or range holds:

=====================  ==============================================  =====================
declared               value                                           raw at ``initial``
=====================  ==============================================  =====================
``positive=True``      ``exp(raw)``                                    ``log(initial)``
``lower`` and ``upper``  ``lower + (upper - lower) * sigmoid(raw)``     ``logit(...)``
``lower`` only         ``lower + exp(raw)``                            ``log(initial - lower)``
``upper`` only         ``upper - exp(raw)``                            ``log(upper - initial)``
neither                ``raw``                                         ``initial``
=====================  ==============================================  =====================

``true`` is the value the module knows (a synthetic test), used only to report the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from pinnlab.derivatives.derivative import DerivativeNameError, parse_derivative
from pinnlab.problem.binding import EquationError

RESERVED = ("step",)
"""Names an unknown may not take: ``step`` is the step column of its history in fields.h5."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Unknown:
    """A scalar the training learns: its initial guess, an optional sign or range, and the true
    value when the module knows it (for reporting the error only)."""

    initial: float
    positive: bool = False
    lower: float | None = None
    upper: float | None = None
    true: float | None = None

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when nothing)."""
        for what, value in (("initial", self.initial), ("lower", self.lower), ("upper", self.upper),
                            ("true", self.true)):
            if (value is not None or what == "initial") and not _finite(value):
                return [f"{what} must be a finite number, got {value!r}"]
        if self.positive and (self.lower is not None or self.upper is not None):
            return ["give positive=True or lower=/upper=, not both (lower=0, upper=... bounds a positive value)"]
        if self.positive and self.initial <= 0:
            return [f"positive=True needs initial > 0, got {self.initial}"]
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            return [f"needs lower < upper, got lower={self.lower}, upper={self.upper}"]
        if self.lower is not None and not self.initial > self.lower:
            return [f"initial {self.initial} must lie above lower={self.lower}"]
        if self.upper is not None and not self.initial < self.upper:
            return [f"initial {self.initial} must lie below upper={self.upper}"]
        return []

    @property
    def kind(self) -> str:
        """How the raw parameter maps to the value: log, bounded, above, below or plain."""
        if self.positive:
            return "log"
        if self.lower is not None and self.upper is not None:
            return "bounded"
        if self.lower is not None:
            return "above"
        if self.upper is not None:
            return "below"
        return "plain"

    def raw(self, value: float) -> float:
        """The raw parameter that gives ``value`` (inverse of :meth:`value`)."""
        kind = self.kind
        if kind == "log":
            return math.log(value)
        if kind == "bounded":
            s = (value - self.lower) / (self.upper - self.lower)
            return math.log(s / (1.0 - s))
        if kind == "above":
            return math.log(value - self.lower)
        if kind == "below":
            return math.log(self.upper - value)
        return float(value)

    def value(self, raw: torch.Tensor) -> torch.Tensor:
        """The value for the raw parameter ``raw`` (differentiable)."""
        kind = self.kind
        if kind == "log":
            return torch.exp(raw)
        if kind == "bounded":
            return self.lower + (self.upper - self.lower) * torch.sigmoid(raw)
        if kind == "above":
            return self.lower + torch.exp(raw)
        if kind == "below":
            return self.upper - torch.exp(raw)
        return raw

    def slope(self, raw: float) -> float:
        """d value / d raw at ``raw``: turns a standard deviation of the raw parameter into one of
        the value (to first order)."""
        kind = self.kind
        if kind == "log":
            return math.exp(raw)
        if kind == "bounded":
            s = 1.0 / (1.0 + math.exp(-raw))
            return (self.upper - self.lower) * s * (1.0 - s)
        if kind == "above":
            return math.exp(raw)
        if kind == "below":
            return -math.exp(raw)
        return 1.0


def check_unknowns(given: Any, inputs: tuple[str, ...], fields: tuple[str, ...],
                   constants: Mapping[str, Any], fail: Callable[[str], EquationError]) -> dict[str, Unknown]:
    """The module's ``unknowns`` dict, checked: Unknown values, valid specs, names that are
    identifiers and not an input, field, constant, derivative name or reserved."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise fail(f"'unknowns' must be a dict {{name: Unknown(...)}}, got {type(given).__name__}")
    checked = {}
    for name, unknown in given.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise fail(f"unknowns: names must be identifiers, got {name!r}")
        if not isinstance(unknown, Unknown):
            raise fail(f"unknown '{name}' must be Unknown(initial, ...), got {type(unknown).__name__} {unknown!r:.40}")
        clash = ("an input" if name in inputs else "a field" if name in fields
                 else "a constant" if name in constants else "reserved" if name in RESERVED else None)
        if clash is None:
            try:
                parse_derivative(name, fields, inputs)
                clash = "the name of a derivative"
            except DerivativeNameError:
                pass
        if clash is not None:
            raise fail(f"unknown '{name}': the name is {clash}; choose another")
        problems = unknown.problems()
        if problems:
            raise fail(f"unknown '{name}': {problems[0]}")
        checked[name] = unknown
    return checked


def initial_values(unknowns: Mapping[str, Unknown], dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Each unknown's initial value as a 0-d tensor: what load-time checks call functions with."""
    return {name: torch.tensor(float(u.initial), dtype=dtype) for name, u in unknowns.items()}
