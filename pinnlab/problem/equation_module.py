"""The equation-module contract: a plain Python module becomes an immutable ``Problem``.

An equation module defines, at top level:

``domain``            a Geometry (``Interval(-1, 1) * TimeInterval(0, 1)``, ``Rectangle``, CSG...)
``fields``            output names, e.g. ``["u"]`` or ``["u", "v", "p"]`` (default ``["u"]``)
``residual``          a function whose parameter names are inputs, fields, derivatives (``u_xx``)
 or ``residuals``     or constants; or a dict {name: function} for several equations
``conditions``        optional dict {name: Dirichlet(...) / Neumann / Robin / Periodic / Initial / InitialRate}
``output_transform``  optional function of inputs and fields returning the fields (hard constraints)
``reference``         optional ``Exact(fn)`` (or a plain function) or ``GridData(...)``
``constants``         optional dict {name: value}; functions may take these as parameters
``unknowns``          optional dict {name: Unknown(initial, positive=..., lower=..., upper=..., true=...)}:
                      coefficients learned with the network; residuals and output transforms take
                      them by name (see ``pinnlab.problem.unknowns``)
``data``              optional dict {name: Observations(source, inputs=..., fields=..., noise=...)}:
                      measured values, each set one loss term (see ``pinnlab.problem.observations``)
``parameters``        optional dict {name: (lower, upper)}: a family of problems solved at once, the
                      parameters being extra network inputs (see ``pinnlab.problem.parameters``)
``held_out``          optional dict {parameter: [values]}: the instances a family is judged on
``labels``            optional Observations, FunctionLabels or MethodOfLines: inexact solutions the
                      ``pretrain`` phase fits first (see ``pinnlab.problem.labels``)
``defaults``          optional dict of settings (see ``pinnlab.Settings``)
``constraints``       optional dict {name: Bound(field, lower=..., upper=...)}: pointwise inequalities
                      that the ``trust_constr`` phase holds (see ``pinnlab.problem.constraints``)
``gauges``            optional dict {field: Mean() / PinnedAt(x=..., ...)} for fields known only up
                      to a constant (see ``pinnlab.problem.gauges``)
``inputs``            optional input names (default: the domain's, e.g. x, y, t)
``name``              optional (default: the module's file name)

Everything is checked once, here, so a malformed module fails before training with its file and
the name at fault in the message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from pinnlab.problem.binding import BoundFunction, EquationError, as_mapping, bind, check_uses_network, parameter_names
from pinnlab.problem.conditions import Condition, Layout
from pinnlab.problem.constraints import Bound, check_constraints
from pinnlab.problem.gauges import Gauge, check_gauges
from pinnlab.problem.observations import ObservationSet, load_data
from pinnlab.problem.parameters import ParameterBox, check_held_out, check_parameters
from pinnlab.problem.unknowns import Unknown, check_unknowns, initial_values
from pinnlab.geometry import Geometry
from pinnlab.problem.reference import Exact, Reference
from pinnlab.geometry.sampling import make_sampler

KNOWN_NAMES = (
    "domain", "fields", "inputs", "residual", "residuals", "conditions", "output_transform",
    "reference", "constants", "defaults", "name", "gauges", "unknowns", "data",
    "parameters", "held_out", "labels", "constraints",
)


@dataclass(frozen=True)
class Problem:
    """A PDE problem, checked and ready to solve. Build with ``load_problem`` or ``Problem.define``."""

    name: str
    domain: Geometry
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    residuals: Mapping[str, BoundFunction]
    conditions: Mapping[str, Condition]
    output_transform: BoundFunction | None = None
    reference: Reference | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    gauges: Mapping[str, Gauge] = field(default_factory=dict)
    unknowns: Mapping[str, Unknown] = field(default_factory=dict)
    data: Mapping[str, ObservationSet] = field(default_factory=dict)
    parameters: ParameterBox = ParameterBox()
    held_out: tuple[dict[str, float], ...] = ()
    constraints: Mapping[str, Bound] = field(default_factory=dict)
    labels: Any = None  # pinnlab/problem/labels.py: FunctionLabels, MethodOfLines or an ObservationSet
    source_path: Path | None = None
    source_text: str = ""

    @property
    def layout(self) -> Layout:
        return Layout(self.domain, self.inputs, self.fields, self.constants, self.parameters)

    @property
    def point_names(self) -> tuple[str, ...]:
        """The columns of a point: the inputs, then the parameters."""
        return self.inputs + self.parameters.names

    def instance(self, values: Mapping[str, float]) -> "Problem":
        """One member of a family: the parameters fixed at ``values`` (checked), as constants,
        so the result is an ordinary problem over the physical inputs (without the family's data,
        whose points carry parameter columns)."""
        import dataclasses

        values = self.parameters.instance_values(values, f"{self.origin}: instance")
        constants = {**self.constants, **values}
        unknowns = tuple(self.unknowns)

        def rebind(f: BoundFunction, allow_derivatives: bool = True) -> BoundFunction:
            return bind(f.function, f.owner, inputs=self.inputs, fields=self.fields, constants=constants,
                        allow_derivatives=allow_derivatives, unknowns=unknowns)

        return dataclasses.replace(
            self, residuals={n: rebind(r) for n, r in self.residuals.items()},
            output_transform=None if self.output_transform is None else rebind(self.output_transform, False),
            constants=constants, parameters=ParameterBox(), held_out=(), data={}, labels=None)

    @property
    def origin(self) -> str:
        """Where the problem came from, to start error messages with."""
        return str(self.source_path) if self.source_path else f"problem '{self.name}'"

    @property
    def base_dir(self) -> Path | None:
        return self.source_path.parent if self.source_path else None

    @classmethod
    def define(cls, name: str = "problem", **namespace: Any) -> "Problem":
        """Build a problem from keyword arguments named as in an equation module."""
        return build_problem(namespace, origin=f"problem '{name}'", default_name=name)

    def without_reference(self) -> "Problem":
        import dataclasses

        return dataclasses.replace(self, reference=None)


def build_problem(namespace: Mapping[str, Any], origin: str, default_name: str,
                  source_path: Path | None = None, source_text: str = "") -> Problem:
    """Check an equation's definitions and assemble the Problem; errors start with ``origin``."""

    def fail(message: str) -> EquationError:
        return EquationError(f"{origin}: {message}")

    domain = namespace.get("domain")
    if domain is None:
        raise fail("defines no 'domain' (a Geometry such as Interval(-1, 1) * TimeInterval(0, 1))")
    if not isinstance(domain, Geometry):
        raise fail(f"'domain' must be a pinnlab Geometry, got {type(domain).__name__}")

    fields = namespace.get("fields", ("u",))
    fields = (fields,) if isinstance(fields, str) else tuple(fields)
    inputs = namespace.get("inputs", domain.names)
    inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    check_names(fields, "fields", fail)
    check_names(inputs, "inputs", fail)
    if len(inputs) != domain.dim:
        raise fail(f"'inputs' has {len(inputs)} names but the domain has {domain.dim} coordinates")
    overlap = set(fields) & set(inputs)
    if overlap:
        raise fail(f"{', '.join(sorted(overlap))} is both a field and an input")
    try:
        constants = as_mapping(namespace.get("constants"), "constants")
    except EquationError as error:
        raise fail(str(error)) from None
    clash = set(constants) & (set(fields) | set(inputs))
    if clash:
        raise fail(f"constant(s) {', '.join(sorted(clash))} share a name with a field or input")
    unknowns = check_unknowns(namespace.get("unknowns"), inputs, fields, constants, fail)
    taken = {**{n: "a constant" for n in constants}, **{n: "an unknown" for n in unknowns},
             **{n: "a field" for n in fields}, **{n: "an input" for n in inputs}}
    parameters = check_parameters(namespace.get("parameters"), taken, fail)
    held_out = check_held_out(namespace.get("held_out"), parameters, fail)
    if parameters and namespace.get("gauges"):
        raise fail("'gauges' cannot be combined with 'parameters' yet")

    try:
        residuals = bind_residuals(namespace, inputs, fields, constants, tuple(unknowns), parameters.names)
        layout = Layout(domain, inputs, fields, constants, parameters)
        conditions = check_conditions(namespace.get("conditions", {}) or {}, layout)
        data = load_data(namespace.get("data"), domain, inputs, fields, source_path.parent if source_path else None,
                         parameters)
        check_term_names(residuals, conditions, data)
        constraints = check_constraints(namespace.get("constraints"), layout, {*residuals, *conditions, *data})
        transform = namespace.get("output_transform")
        bound_transform = None
        if transform is not None:
            bound_transform = bind(transform, "output_transform", inputs=inputs, fields=fields,
                                   constants=constants, allow_derivatives=False, unknowns=tuple(unknowns),
                                   parameters=parameters.names)
            check_uses_network(bound_transform, domain, fields, initial_values(unknowns), parameters)
        check_unknowns_used(unknowns, [*residuals.values(), bound_transform])
        reference = namespace.get("reference")
        if reference is not None and not isinstance(reference, Reference):
            if not callable(reference):
                raise EquationError(
                    f"'reference' must be Exact(fn), GridData(...) or a function, got {type(reference).__name__}"
                )
            reference = Exact(reference)
        if reference is not None:
            reference.check(layout, source_path.parent if source_path else None)
        defaults = as_mapping(namespace.get("defaults"), "defaults")  # checked by pinnlab.solver.settings
        gauges = check_gauges(namespace.get("gauges"), layout, residuals, conditions)
    except (EquationError, ValueError) as error:
        raise fail(str(error)) from None

    name = namespace.get("name", default_name)
    problem = Problem(
        name=str(name), domain=domain, inputs=inputs, fields=fields, residuals=residuals,
        conditions=conditions, output_transform=bound_transform, reference=reference,
        constants=constants, defaults=defaults, gauges=gauges, unknowns=unknowns, data=data,
        parameters=parameters, held_out=held_out, constraints=constraints, source_path=source_path, source_text=source_text,
    )
    if namespace.get("labels") is None:
        return problem
    from pinnlab.problem.labels import LABELS, check_labels

    try:
        check_term_names(residuals, conditions, {**data, LABELS: None})
        return dataclasses.replace(problem, labels=check_labels(namespace["labels"], problem))
    except (EquationError, ValueError) as error:
        raise fail(str(error)) from None


def check_names(names: tuple[str, ...], what: str, fail: Callable[[str], EquationError]) -> None:
    if not names:
        raise fail(f"'{what}' is empty")
    for n in names:
        if not isinstance(n, str) or not n.isidentifier() or (what == "fields" and "_" in n):
            rule = "identifiers without '_'" if what == "fields" else "identifiers"
            raise fail(f"'{what}' entries must be {rule} (the '_' starts a derivative), got {n!r}")
    if len(set(names)) != len(names):
        raise fail(f"'{what}' has duplicates: {list(names)}")


def check_term_names(residuals: Mapping[str, Any], conditions: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Residuals, conditions and data sets are loss terms named alike: the names must differ."""
    names = [*residuals, *conditions, *data]
    shared = {n for n in names if names.count(n) > 1} | ({"total", "step"} & set(names))
    if shared:
        raise EquationError(
            f"loss term name(s) {', '.join(sorted(shared))} used twice or reserved: residuals, "
            f"conditions and data sets need distinct names, other than 'total' and 'step'"
        )


def check_unknowns_used(unknowns: Mapping[str, Unknown], functions: list[BoundFunction | None]) -> None:
    """An unknown no residual or output transform takes would never be trained: say so."""
    used = {name for f in functions if f is not None for name in f.unknowns_used}
    idle = [name for name in unknowns if name not in used]
    if idle:
        raise EquationError(f"unknown(s) {', '.join(idle)} appear in no residual or output_transform, "
                            "so training could not learn them; take them as parameters or remove them")


def bind_residuals(namespace: Mapping[str, Any], inputs, fields, constants,
                   unknowns: tuple[str, ...] = (), parameters: tuple[str, ...] = ()) -> dict[str, BoundFunction]:
    if "residuals" in namespace and "residual" in namespace:
        raise EquationError("define either 'residual' or 'residuals', not both")
    if "residuals" in namespace:
        given = namespace["residuals"]
        if not isinstance(given, Mapping) or not given:
            raise EquationError("'residuals' must be a non-empty dict {name: function}")
    elif "residual" in namespace:
        given = {"residual": namespace["residual"]}
    else:
        raise EquationError(
            "defines no 'residual' (a function such as def residual(u, u_t, u_xx): ...) "
            "nor 'residuals' (a dict of them)"
        )
    bound = {}
    for name, function in given.items():
        owner = f"residual '{name}'"
        parameter_names(function, owner)
        bound[str(name)] = bind(function, owner, inputs=inputs, fields=fields, constants=constants,
                                unknowns=unknowns, parameters=parameters)
        if not bound[str(name)].derivatives:
            raise EquationError(f"{owner} uses no field; its parameters must include a field or derivative")
    return bound


def check_conditions(conditions: Any, layout: Layout) -> dict[str, Condition]:
    """Validate each condition by sampling a few points: parts, predicates, value shapes."""
    if isinstance(conditions, (list, tuple)):
        conditions = {f"condition{i}": c for i, c in enumerate(conditions)}
    if not isinstance(conditions, Mapping):
        raise EquationError("'conditions' must be a dict {name: condition}")
    sampler = make_sampler("uniform", seed=0)
    for name, condition in conditions.items():
        if not isinstance(condition, Condition):
            raise EquationError(
                f"condition '{name}' must be Dirichlet, Neumann, Robin, Periodic, Initial or "
                f"InitialRate, got {type(condition).__name__}"
            )
        condition.derivatives(name, layout)
        condition.sample(name, layout, 16, sampler, torch.float64, torch.device("cpu"))
    return dict(conditions)


def load_problem(path: str | Path) -> Problem:
    """Import an equation module from its file and check it."""
    path = Path(path)
    if path.is_dir():
        raise EquationError(f"equation module {path} is a directory; pass a Python file, e.g. equations/heat.py")
    if not path.is_file():
        raise EquationError(f"equation module {path} does not exist")
    module = import_module_file(path)
    return from_module(module, path)


def from_module(module: types.ModuleType, path: Path | None = None) -> Problem:
    namespace = {k: v for k, v in vars(module).items() if k in KNOWN_NAMES}
    origin = str(path) if path else module.__name__
    source = path.read_text() if path else ""
    default_name = path.stem if path else module.__name__.rsplit(".", 1)[-1]
    return build_problem(namespace, origin, default_name, source_path=path.resolve() if path else None,
                         source_text=source)


def import_module_file(path: Path) -> types.ModuleType:
    """Import ``path`` as a module, with its folder importable so that an equation module can
    import helpers that sit beside it. (``geometries`` is installed with pinnlab.)"""
    path = path.resolve()
    added = [p for p in [str(path.parent)] if p not in sys.path]
    sys.path[:0] = added
    try:
        # registered in sys.modules (under a name unique to the file) because torch.compile
        # looks up the module of every function it traces, such as an output transform
        name = f"pinnlab_equation_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise EquationError(f"{path}: not an importable Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except EquationError:
            sys.modules.pop(name, None)
            raise
        except Exception as error:
            sys.modules.pop(name, None)
            raise EquationError(f"{path}: importing the module failed: {type(error).__name__}: {error}") from error
    finally:
        for p in added:
            sys.path.remove(p)
    return module
