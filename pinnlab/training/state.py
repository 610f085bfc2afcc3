"""Saving and restoring training state: deep copies for snapshots, CPU copies for other ranks,
and the saved forms of points, refinements and redraws.

A snapshot must not share memory with the live model and optimizers (they would change it in
place), and a checkpoint written under torchrun holds every rank's own points and sampler, of
which each rank takes back its own part.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch

from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.checkpoint import CheckpointError
from pinnlab.training.collocation import Collocation
from pinnlab.training.refinement import Redraw, Refinement


def map_tensors(tree: Any, on_tensor: Callable[[torch.Tensor], Any],
                on_other: Callable[[Any], Any] = lambda value: value) -> Any:
    """``tree`` (dicts, lists, tuples) with every tensor passed through ``on_tensor`` and every
    other leaf through ``on_other``."""
    if isinstance(tree, torch.Tensor):
        return on_tensor(tree)
    if isinstance(tree, dict):
        return {k: map_tensors(v, on_tensor, on_other) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(v, on_tensor, on_other) for v in tree)
    return on_other(tree)


def cloned(tree: Any) -> Any:
    """A deep copy whose tensors no longer share memory with the live model and optimizers."""
    return map_tensors(tree, lambda t: t.detach().clone(), copy.copy)


def on_cpu(tree: Any) -> Any:
    """``tree`` with its tensors on the CPU, to send to other ranks."""
    return map_tensors(tree, lambda t: t.detach().cpu())


def collocation_state(collocation: Collocation) -> dict[str, Any]:
    conditions = {
        name: {"points": b.points, "target": b.target, "normals": b.normals, "partners": b.partners}
        for name, b in collocation.conditions.items()
    }
    return {"interior": collocation.interior, "conditions": conditions}


def collocation_from_state(state: dict[str, Any], dtype: torch.dtype, device: torch.device) -> Collocation:
    """A ``Collocation`` from its saved form (:func:`collocation_state`), on ``device``."""
    move = {"dtype": dtype, "device": device}
    conditions = {
        name: ConditionBatch(**{k: None if v is None else v.to(**move) for k, v in batch.items()})
        for name, batch in state["conditions"].items()
    }
    return Collocation(state["interior"].to(**move), conditions)


def refinement_state(record: Refinement) -> dict[str, Any]:
    return {"step": record.step, "method": record.method, "points": torch.from_numpy(record.points),
            "residual": torch.from_numpy(record.residual)}


def refinement_from_state(record: dict[str, Any]) -> Refinement:
    return Refinement(record["step"], record["method"], record["points"].numpy(), record["residual"].numpy())


def redraw_state(record: Redraw) -> dict[str, Any]:
    return {"step": record.step, "kind": record.kind, "index": record.index,
            "points": torch.from_numpy(record.points), "residual": torch.from_numpy(record.residual)}


def redraw_from_state(record: dict[str, Any]) -> Redraw:
    return Redraw(record["step"], record["kind"], record["index"], record["points"].numpy(),
                  record["residual"].numpy())


def own_part(state: dict[str, Any], rank: int, world: int) -> dict[str, Any]:
    """A checkpoint with ``rank``'s points, sampler and refinements in place of rank 0's; refused
    when it was written by another number of processes (the shares would not fit)."""
    saved = state.get("world", 1)
    if saved != world:
        raise CheckpointError(
            f"{state.get('path', 'checkpoint')} was written by {saved} process(es), but this run has "
            f"{world}; resume with the same number of processes (torchrun --nproc_per_node)"
        )
    return {**state, **state["ranks"][rank]} if "ranks" in state else state
