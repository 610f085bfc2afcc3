"""Checks before resuming: a checkpoint must have been written for this problem and network, and
the settings of the resumed run must be ones that can apply to the saved state.

Settings are compared by dotted name (``network.width``, ``adam.steps``) between the checkpoint's
record (``Settings.as_nested()`` as JSON) and the run's. Without these checks a resumed run would
go on with the saved network, points and optimizer while its results recorded other settings.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import torch

from pinnlab.problem.equation_module import Problem
from pinnlab.training.checkpoint import CheckpointError, CheckpointStore, problem_signature, state_dict_mismatches

# settings that change the network or the numbers it computes with; a resumed run must match them
SHAPE_SETTINGS = (*(f"network.{name}" for name in ("width", "depth", "activation", "fourier_features",
                                                    "fourier_scale", "periodic")), "numerics.dtype")
# settings a resumed run may change freely: they do not change what the saved state means
FREE_SETTINGS = ("output.progress", "output.grid", "numerics.threads", "numerics.device", "numerics.compile",
                 "numerics.engine", "numerics.residual_chunk", "checkpoint.rollbacks", "checkpoint.every")
# iteration budgets (``<phase>.steps`` of a phase the saved run has) may change on resume (see
# ``budget_refusal``)


def resume_state(store: CheckpointStore, problem: Problem, record: Mapping[str, Any], model: torch.nn.Module,
                 report: bool = True) -> dict[str, Any]:
    """The state ``store`` resumes from (``CheckpointStore.latest``), checked against the
    problem, the network and the run's settings ``record`` (``Settings.as_nested()``; see
    :func:`check_compatible`, :func:`check_resumable`)."""
    state = store.latest(report)
    check_compatible(state, problem, record, model)
    check_resumable(state, record)
    return state


def dotted_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """A settings record (``Settings.as_nested()``: groups of fields, ``phases`` as a list of
    each phase's fields) by dotted name: ``network.width``, ``phases`` (the names, comma
    separated), ``adam.steps``, ``weights``. Keys already dotted, and a ``phases`` given as names,
    pass through."""
    names: dict[str, Any] = {}
    for key, value in record.items():
        key = str(key).strip()
        if key == "phases" and isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
            names["phases"] = ",".join(str(phase["name"]) for phase in value)
            for phase in value:
                names.update({f"{phase['name']}.{k}": v for k, v in phase.items() if k not in ("name", "update")})
        elif isinstance(value, Mapping) and key != "weights":
            names.update({f"{key}.{name}": inner for name, inner in value.items()})
        else:
            names[key] = value
    return names


def record_names(record: Mapping[str, Any]) -> dict[str, Any]:
    """A settings record by dotted name, as JSON gives it back (tuples as lists), as it is saved."""
    return dotted_settings(json.loads(json.dumps(record)))


def check_compatible(state: dict[str, Any], problem: Problem, record: Mapping[str, Any],
                     model: torch.nn.Module) -> None:
    """Refuse, naming the difference, a checkpoint written for another problem or network."""
    where = state.get("path", "checkpoint")
    saved_problem = state["problem"]
    expected = problem_signature(problem)
    for key, value in expected.items():
        if saved_problem.get(key) != value:
            raise CheckpointError(
                f"{where} was written for {key} {saved_problem.get(key)!r}, but this run has {value!r}; "
                "refusing to resume (use another --out, or run without --resume to start afresh)"
            )
    saved, now = dotted_settings(json.loads(state["settings"])), record_names(record)
    for key in SHAPE_SETTINGS:
        if saved.get(key) != now[key]:
            raise CheckpointError(
                f"{where} was written with {key}={saved.get(key)!r}, but this run has "
                f"{key}={now[key]!r}; refusing to resume with a different network"
            )
    mismatches = state_dict_mismatches(model.state_dict(), state["model"])
    if mismatches:
        raise CheckpointError(f"{where} holds a network of another shape ({'; '.join(mismatches[:4])}); "
                              "refusing to resume")


def settings_changes(state: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings (as ``{dotted name: (saved, now)}``, None where one side has no such setting)
    that differ from the checkpoint's, other than the free ones (``FREE_SETTINGS``); compared
    as JSON, as they are saved."""
    saved, now = dotted_settings(json.loads(state["settings"])), record_names(record)
    keys = [*now, *(key for key in saved if key not in now)]
    return {key: (saved.get(key), now.get(key)) for key in keys
            if key not in FREE_SETTINGS and saved.get(key) != now.get(key)}


def is_budget(state: Mapping[str, Any], key: str, new: Any) -> bool:
    """Whether ``key`` is the iteration budget (``<phase>.steps``) of a phase that both the saved
    run and this one have."""
    phase, _, name = key.partition(".")
    return name == "steps" and phase in state["phases"] and new is not None


def budget_refusal(state: Mapping[str, Any], saved: Mapping[str, Any], key: str, new: int) -> str:
    """Why the budget ``key`` (``adam.steps``, ``lbfgs.steps`` or a later phase's ``steps``)
    cannot change to ``new`` on this checkpoint ('' when it can).

    A budget may change while its phase can still use it: Adam's steps until L-BFGS or the
    dense phase after it starts, L-BFGS's until that dense phase starts (also on a finished run,
    which then trains on), the dense phase's until the run finishes; never below what is done,
    and never with a time curriculum, whose windows were scheduled over the saved budgets."""
    step, finished = state["step"], state["finished"]
    phases = state["phases"]
    order = list(phases)
    dense = [name for name in order if name not in ("adam", "lbfgs")]
    lbfgs_started = ("lbfgs" in phases and phases["lbfgs"]["optimizer"] is not None) or any(
        p[1] == "lbfgs" for p in state["phase_log"])
    second_started = any(phases[name].get("method") is not None or phases[name].get("done", 0) > 0
                         for name in dense)
    if saved.get("curriculum.windows"):
        return "the time windows of the curriculum were scheduled over the saved budgets"
    if key == "adam.steps":
        if finished or lbfgs_started or second_started:
            return "Adam's phase is over in the saved run"
        if new < step:
            return f"the saved run is at step {step} already"
        return ""
    if key == "lbfgs.steps":
        done = phases["lbfgs"]["done"]
        if second_started:
            return "the second-order phase has started in the saved run"
        if finished and new < saved[key]:
            return "the saved run has finished"
        if new < done:
            return f"the saved run has done {done} L-BFGS iterations already"
        return ""
    if finished:
        return "the saved run has finished"
    done = phases[key.partition(".")[0]]["done"]
    if new < done:
        return f"the saved run has done {done} second-order iterations already"
    return ""


def check_resumable(state: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Refuse settings that cannot apply to the saved run, listing every difference by its dotted
    name; return the changes that do apply (budgets, see :func:`budget_refusal`).

    Without this, a resumed run would go on with the saved network, points and optimizer while
    its results recorded the new settings."""
    changes = settings_changes(state, record)
    saved = dotted_settings(json.loads(state["settings"]))
    fixed = [f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items() if not is_budget(state, k, new)]
    budgets = [f"{k} {old!r} -> {new!r} ({why})" for k, (old, new) in changes.items()
               if is_budget(state, k, new) and (why := budget_refusal(state, saved, k, new))]
    if fixed or budgets:
        parts = []
        if fixed:
            parts.append(f"{', '.join(fixed)} (fixed once training has started)")
        parts += budgets
        raise CheckpointError(
            f"{state.get('path', 'checkpoint')} cannot resume with these settings: {'; '.join(parts)}; "
            "resume with the saved values, or run without --resume to start afresh"
        )
    return changes
