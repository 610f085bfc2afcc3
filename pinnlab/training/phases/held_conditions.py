"""Which condition terms a constrained phase holds as equations c(theta) = 0, and what such a
phase refuses before training.

Both constrained phases (``augmented_lagrangian``, ``trust_constr``) select their terms alike:
the names in ``<phase>.constraints`` (comma separated), else the conditions marked
``constraint=True``, else every trained (not exact) condition. Both keep their points and loss
fixed while they run, so both refuse torchrun, a time curriculum and causal weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnlab.runtime import distributed

if TYPE_CHECKING:
    from pinnlab.problem.equation_module import Problem
    from pinnlab.solver.settings import Settings


def held_condition_names(problem: Problem, phase: str, named: str, required: bool = True) -> list[str]:
    """The condition terms ``phase`` holds as constraints, from ``named`` (its ``constraints``
    setting); a name that is not a trained condition fails with one line, and so does finding
    none when ``required``."""
    conditions = problem.conditions
    names = [n.strip() for n in named.split(",") if n.strip()]
    if not names:
        marked = [n for n, c in conditions.items() if c.constraint]
        names = marked or [n for n, c in conditions.items() if not c.exact]
    if not names and required:
        raise ValueError(f"{phase}: {problem.name} has no trained condition to hold as a constraint")
    for name in names:
        if name not in conditions:
            raise ValueError(f"{phase}.constraints: '{name}' is not a condition of {problem.name} "
                             f"(conditions: {', '.join(conditions) or 'none'})")
        if conditions[name].exact:
            raise ValueError(f"{phase}.constraints: condition '{name}' is exact (the output transform "
                             "imposes it); it cannot be a constraint")
    return names


def check_fixed_loss_phase(settings: Settings, phase: str) -> None:
    """Refuse what a phase with fixed points and a fixed loss cannot honour: torchrun, a time
    curriculum, causal weights."""
    if distributed.active():
        raise ValueError(f"phase {phase} runs in one process; it is not available under torchrun")
    if settings.curriculum.windows:
        raise ValueError(f"phase {phase} keeps its points and loss fixed; it does not run with a time "
                         f"curriculum (curriculum.windows={settings.curriculum.windows})")
    if settings.causal.eps:
        raise ValueError(f"phase {phase} keeps its loss fixed; causal weights (causal.eps) change it: "
                         "use causal.eps=0")
