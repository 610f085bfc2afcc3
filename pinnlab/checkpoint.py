"""Checkpoints: everything a solve needs to continue, written atomically as ``last`` and ``best``.

A checkpoint is one ``torch.save`` dictionary (see ``Trainer.state_dict`` in
:mod:`pinnlab.training`): the model, the optimizer and scheduler states, the step, the RNG
states, the sampler state and the current collocation points, the loss weights and history,
the resolved settings and the pinnlab version. It is read back with
``torch.load(weights_only=True)``, so a checkpoint can never run code, and it is checked against
the equation and the network before anything is loaded, so a checkpoint from another problem
or network shape is refused as a whole instead of being loaded partially.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .problem import Problem

FORMAT = "pinnlab-checkpoint"
VERSION = 1
# settings that change the network or the numbers it computes with; a resumed run must match them
SHAPE_SETTINGS = ("width", "depth", "activation", "fourier_features", "fourier_scale", "periodic", "dtype")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or belongs to another problem or network."""


def problem_signature(problem: Problem) -> dict[str, Any]:
    """What a checkpoint must agree on with the problem it resumes: names, not source text,
    so editing a comment in the equation module does not invalidate a checkpoint."""
    return {
        "name": problem.name,
        "inputs": list(problem.inputs),
        "fields": list(problem.fields),
        "residuals": sorted(problem.residuals),
        "conditions": sorted(problem.conditions),
    }


class CheckpointStore:
    """``last.pt`` and ``best.pt`` in one folder; ``best`` is the lowest total loss saved."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def last(self) -> Path:
        return self.directory / "last.pt"

    @property
    def best(self) -> Path:
        return self.directory / "best.pt"

    def save(self, state: dict[str, Any], is_best: bool) -> None:
        with atomic_path(self.last) as tmp:
            torch.save(state, tmp)
        if is_best:
            with atomic_path(self.best) as tmp:
                torch.save(state, tmp)

    def load(self, which: str = "last") -> dict[str, Any]:
        path = self.last if which == "last" else self.best
        if not path.exists():
            raise CheckpointError(
                f"no checkpoint to resume from at {path}; run without --resume to start afresh"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for damaged or foreign files
            raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a pinnlab checkpoint")
        if state.get("version", math.inf) > VERSION:
            raise CheckpointError(
                f"{path} has checkpoint version {state.get('version')}; this pinnlab reads up to {VERSION}"
            )
        state["path"] = str(path)
        return state


def check_compatible(state: dict[str, Any], problem: Problem, settings: dict[str, Any],
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
    saved_settings = json.loads(state["settings"])
    for key in SHAPE_SETTINGS:
        if saved_settings.get(key) != settings[key]:
            raise CheckpointError(
                f"{where} was written with {key}={saved_settings.get(key)!r}, but this run has "
                f"{key}={settings[key]!r}; refusing to resume with a different network"
            )
    mismatches = state_dict_mismatches(model.state_dict(), state["model"])
    if mismatches:
        raise CheckpointError(f"{where} holds a network of another shape ({'; '.join(mismatches[:4])}); "
                              "refusing to resume")


def state_dict_mismatches(expected: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> list[str]:
    """Why ``saved`` weights do not fit a network with ``expected`` ones (empty when they do)."""
    problems = [f"missing {k}" for k in expected if k not in saved]
    problems += [f"unexpected {k}" for k in saved if k not in expected]
    problems += [
        f"{k} has shape {tuple(saved[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items() if k in saved and tuple(saved[k].shape) != tuple(v.shape)
    ]
    return problems
