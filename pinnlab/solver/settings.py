"""Solver settings: typed groups, each defined and checked beside the code that uses it.

pinnlab's defaults are overridden by the equation module's ``defaults``, then by the command line
(``resolve_settings``). A setting is named ``group.field`` (``refine.method``, ``adam.lr``,
``numerics.dtype``); the training phases are a sequence (``phases=adam,lbfgs,ssbroyden``), each
phase's settings named by the phase (``ssbroyden.steps``). ``Settings.as_nested()`` is the record
every output file and checkpoint stores. The flat names of pinnlab 0.1 (``refine_every``,
``steps``, ``second_order``) are still accepted as input, each with a one-line note naming its new
name.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Union

from pinnlab.derivatives.compiling import COMPILE_CHOICES
from pinnlab.derivatives.engines import ENGINES
from pinnlab.geometry.sampling import SamplingSettings
from pinnlab.model.network import NetworkSettings
from pinnlab.problem.binding import EquationError
from pinnlab.solver.legacy_names import LEGACY_NAMES, SECOND_ORDER
from pinnlab.training.checkpoint import CheckpointSettings
from pinnlab.training.curriculum import CausalSettings, CurriculumSettings
from pinnlab.training.loss_balancing import BalanceSettings
from pinnlab.training.phases.adam import AdamSettings
from pinnlab.training.phases.augmented_lagrangian import AugmentedLagrangianSettings
from pinnlab.training.phases.lbfgs import LBFGSSettings
from pinnlab.training.phases.levenberg_marquardt import LevenbergMarquardtSettings
from pinnlab.training.phases.quasi_newton import QuasiNewtonSettings
from pinnlab.training.phases.pretrain import PretrainSettings
from pinnlab.training.phases.sven import SvenSettings
from pinnlab.training.phases.trust_constr import TrustConstrSettings
from pinnlab.training.quasi_newton import UPDATES
from pinnlab.training.refinement import RefinementSettings
from pinnlab.training.resume import dotted_settings

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem


@dataclass(frozen=True)
class NumericsSettings:
    """``numerics.*``: derivative engine, torch.compile, residual chunk (0: auto), precision,
    device, seed and CPU threads (0: torch's choice)."""

    engine: str = "auto"
    compile: str = "auto"
    residual_chunk: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    seed: int = 0
    threads: int = 0

    def problems(self) -> list[str]:
        found = []
        if self.engine not in ENGINES:
            found.append(f"numerics.engine must be one of {', '.join(ENGINES)}, got '{self.engine}'")
        if self.compile not in COMPILE_CHOICES:
            found.append(f"numerics.compile must be one of {', '.join(COMPILE_CHOICES)}, got '{self.compile}'")
        if self.dtype not in ("float32", "float64"):
            found.append(f"numerics.dtype must be float32 or float64, got '{self.dtype}'")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            found.append(f"numerics.device must be cpu or cuda[:N], got '{self.device}'")
        found += [f"numerics.{name} must be >= 0, got {getattr(self, name)}"
                  for name in ("residual_chunk", "threads") if getattr(self, name) < 0]
        return found


@dataclass(frozen=True)
class OutputSettings:
    """``output.*``: the evaluation grid (() : a default per dimension), how often losses are
    logged, and the progress bar."""

    grid: tuple[int, ...] = ()
    log_every: int = 50
    progress: bool = True

    def problems(self) -> list[str]:
        found = []
        if any(g < 2 for g in self.grid):
            found.append(f"output.grid sizes must be >= 2, got {self.grid}")
        if self.log_every < 1:
            found.append(f"output.log_every must be >= 1, got {self.log_every}")
        return found


PhaseSettings = Union[AdamSettings, LBFGSSettings, QuasiNewtonSettings, LevenbergMarquardtSettings,
                      AugmentedLagrangianSettings, SvenSettings, TrustConstrSettings, PretrainSettings]
PHASES: dict[str, Callable[[], PhaseSettings]] = {
    "adam": AdamSettings, "lbfgs": LBFGSSettings,
    **{update: (lambda update=update: QuasiNewtonSettings(update)) for update in UPDATES},
    "lm": LevenbergMarquardtSettings, "augmented_lagrangian": AugmentedLagrangianSettings,
    "sven": SvenSettings, "trust_constr": TrustConstrSettings, "pretrain": PretrainSettings,
}
GROUPS = {
    "network": NetworkSettings, "sampling": SamplingSettings, "refine": RefinementSettings,
    "curriculum": CurriculumSettings, "causal": CausalSettings, "balance": BalanceSettings,
    "checkpoint": CheckpointSettings, "numerics": NumericsSettings, "output": OutputSettings,
}


@dataclass(frozen=True)
class Settings:
    network: NetworkSettings = NetworkSettings()
    sampling: SamplingSettings = SamplingSettings()
    refine: RefinementSettings = RefinementSettings()
    curriculum: CurriculumSettings = CurriculumSettings()
    causal: CausalSettings = CausalSettings()
    phases: tuple[PhaseSettings, ...] = (AdamSettings(), LBFGSSettings())
    balance: BalanceSettings = BalanceSettings()
    weights: Mapping[str, float] = field(default_factory=dict)
    checkpoint: CheckpointSettings = CheckpointSettings()
    numerics: NumericsSettings = NumericsSettings()
    output: OutputSettings = OutputSettings()

    def phase(self, name: str) -> PhaseSettings | None:
        """The phase called ``name`` (``adam``, ``lbfgs``, ``ssbroyden``, ``lm``...), or None."""
        return next((p for p in self.phases if p.name == name), None)

    def replace(self, overrides: Mapping[str, Any], source: str, notes: list[str] | None = None) -> "Settings":
        """A copy with ``overrides`` applied, checked; ``source`` names where they came from.

        Keys are dotted names (``refine.every``), group names with a mapping of fields
        (``{"refine": {"every": 200}}``), ``phases``, ``weights``, or flat names of pinnlab 0.1,
        for which a note naming the new one goes into ``notes``."""
        dotted = dotted_settings(overrides)
        result = self
        if "phases" in dotted:
            result = dataclasses.replace(result, phases=parse_phases(dotted.pop("phases"), self, source))
        legacy = set()
        for key in [k for k in dotted if k in LEGACY_NAMES]:
            value = dotted.pop(key)
            if key == "second_order":
                result = with_second_order(result, str(value), source)
                new = f"phases={','.join(p.name for p in result.phases)}"
            else:
                new = LEGACY_NAMES[key]
                if new not in dotted:
                    dotted[new] = value
                    legacy.add(new)
            if notes is not None and key not in ("weights", "second_order_steps"):
                notes.append(f"{source}: setting '{key}' is now '{new}'")
        if "second_order.steps" in dotted:  # the phase after L-BFGS, whichever it is
            value = dotted.pop("second_order.steps")
            extra = [p.name for p in result.phases if p.name not in ("adam", "lbfgs", "pretrain")]
            if extra:
                dotted.setdefault(f"{extra[-1]}.steps", value)
                legacy.add(f"{extra[-1]}.steps")
                if notes is not None:
                    notes.append(f"{source}: setting 'second_order_steps' is now '{extra[-1]}.steps'")
        for key, value in dotted.items():
            phase, _, name = key.partition(".")
            if phase in PHASES and result.phase(phase) is None:
                steps = coerce(key, value, 0, source) if name == "steps" else None
                if steps == 0 or steps is None and key in legacy:
                    continue  # no steps of a phase not run; lm_svd_rank without lm
                if steps is None:
                    raise ValueError(f"{source}: '{key}' is set, but {phase} is not among the phases "
                                     f"({','.join(p.name for p in result.phases)}); add it to phases")
                result = dataclasses.replace(result, phases=in_order(result.phases, PHASES[phase]()))
            result = result.with_value(key, value, source)
        result.check(source)
        return result

    def with_value(self, key: str, value: Any, source: str) -> "Settings":
        if key == "weights":
            return dataclasses.replace(self, weights=coerce(key, value, {}, source))
        group, _, name = key.partition(".")
        if group in GROUPS:
            current = getattr(self, group)
            if not name or name not in {f.name for f in dataclasses.fields(current)}:
                raise ValueError(f"{source}: unknown setting '{key}'; {group} has "
                                 f"{', '.join(group + '.' + f.name for f in dataclasses.fields(current))}")
            changed = dataclasses.replace(current, **{name: coerce(key, value, getattr(current, name), source)})
            return dataclasses.replace(self, **{group: changed})
        if group in PHASES:  # replace() has put the phase into the sequence before
            phase = self.phase(group)
            names = [f.name for f in dataclasses.fields(phase) if f.name != "update"]
            if name not in names:
                raise ValueError(f"{source}: unknown setting '{key}'; {group} has "
                                 f"{', '.join(group + '.' + n for n in names)}")
            changed = dataclasses.replace(phase, **{name: coerce(key, value, getattr(phase, name), source)})
            return dataclasses.replace(self, phases=tuple(changed if p.name == group else p for p in self.phases))
        raise ValueError(f"{source}: unknown setting '{key}'{suggestion(key)}; settings are "
                         f"{', '.join(valid_names())}")

    def check(self, source: str) -> None:
        found = [problem for group in GROUPS for problem in getattr(self, group).problems()]
        names = [p.name for p in self.phases]
        if len(set(names)) < len(names):
            found.append(f"phases must not repeat a phase, got {','.join(names)}")
        found += [problem for phase in self.phases for problem in phase.problems()]
        if found:
            raise ValueError(f"{source}: " + "; ".join(found))

    def as_nested(self) -> dict[str, Any]:
        """Every setting, grouped as in the dotted names (JSON-ready: metrics.json, checkpoints)."""
        data: dict[str, Any] = {group: group_dict(getattr(self, group)) for group in GROUPS}
        data["phases"] = [{"name": p.name, **group_dict(p)} for p in self.phases]
        data["weights"] = dict(self.weights)
        return data


def resolve_settings(problem: Problem, overrides: dict[str, Any] | None = None,
                     notes: list[str] | None = None) -> Settings:
    """pinnlab defaults, then the equation's ``defaults``, then ``overrides``. A flat name of
    pinnlab 0.1 gets a note naming its dotted name: appended to ``notes`` (the command line prints
    them), or, from Python, a DeprecationWarning."""
    found: list[str] = []
    try:
        settings = Settings().replace(problem.defaults, f"{problem.origin}: defaults", found)
    except ValueError as error:  # the equation module's mistake
        raise EquationError(str(error)) from None
    settings = settings.replace(overrides or {}, "settings", found)
    if notes is not None:
        notes.extend(found)
    else:
        for note in found:
            warnings.warn(note, DeprecationWarning, stacklevel=2)
    return settings


def suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, [*valid_names(), *LEGACY_NAMES], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def group_dict(group: Any) -> dict[str, Any]:
    data = dataclasses.asdict(group)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def valid_names() -> list[str]:
    names = [f"{group}.{f.name}" for group, cls in GROUPS.items() for f in dataclasses.fields(cls)]
    names += [f"{name}.{f.name}" for name, make in PHASES.items() for f in dataclasses.fields(make())
              if f.name != "update"]
    return ["phases", *names, "weights"]


def parse_phases(value: Any, settings: Settings, source: str) -> tuple[PhaseSettings, ...]:
    names = [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else [str(n) for n in value]
    unknown = [n for n in names if n not in PHASES]
    if unknown or not names:
        raise ValueError(f"{source}: phases must be a list of {', '.join(PHASES)}, got {value!r}")
    return tuple(settings.phase(n) or PHASES[n]() for n in names)


def in_order(phases: tuple[PhaseSettings, ...], new: PhaseSettings) -> tuple[PhaseSettings, ...]:
    """``phases`` with ``new`` inserted where pinnlab 0.1 ran it: Adam first, then L-BFGS, then
    any other method last (``--lbfgs-steps 100`` on an equation whose phases are adam,ssbroyden)."""
    rank = {"pretrain": -1, "adam": 0, "lbfgs": 1}
    position = sum(1 for p in phases if rank.get(p.name, 2) <= rank.get(new.name, 2))
    return (*phases[:position], new, *phases[position:])


def with_second_order(settings: Settings, method: str, source: str) -> Settings:
    """``second_order=METHOD`` of pinnlab 0.1: METHOD becomes the phase after Adam and L-BFGS."""
    if method not in SECOND_ORDER:
        raise ValueError(f"{source}: second_order must be one of {', '.join(SECOND_ORDER)}, got '{method}'")
    kept = tuple(p for p in settings.phases if p.name in ("pretrain", "adam", "lbfgs"))
    if method == "none":
        return dataclasses.replace(settings, phases=kept)
    old = [p for p in settings.phases if p.name not in ("adam", "lbfgs", "pretrain")]
    steps = old[-1].steps if old else 0
    return dataclasses.replace(settings, phases=(*kept, dataclasses.replace(PHASES[method](), steps=steps)))


def coerce(key: str, value: Any, current: Any, source: str) -> Any:
    """Convert a setting from text (command line) or Python to the type of its default."""
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(current, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                return tuple(int(v) for v in value.lower().replace(",", "x").split("x") if v)
            return tuple(int(v) for v in value)
        if isinstance(current, Mapping):
            if isinstance(value, str):
                pairs = [item.split(":") for item in value.split(",") if item]
                return {k.strip(): float(v) for k, v in pairs}
            return {str(k): float(v) for k, v in dict(value).items()}
        return str(value)
    except (TypeError, ValueError):
        kind = type(current).__name__
        raise ValueError(f"{source}: setting '{key}' expects {kind}, got {value!r}") from None
