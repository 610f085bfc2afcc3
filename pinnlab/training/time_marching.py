"""Time marching: window k = [t_{k-1}, t_k] trained alone, starting from window k-1's end state.

``curriculum=K`` with ``curriculum_mode=march`` cuts [t0, t1] into K equal windows. The design:

* **One network is trained**, window after window. When window k-1 ends, its parameters are
  kept (a frozen snapshot) and training goes on from them on window k, so each window starts
  from a network that already continues the solution smoothly across t_{k-1}.
* **The handoff is data, not a second network.** Window k's points are drawn on
  [t_{k-1}, t_k]; each ``Initial`` (and ``InitialRate``) condition is drawn at t_{k-1}, and its
  target there is replaced by what the network gives at that moment, i.e. the end state of
  window k-1 (u, or u_t for ``InitialRate``), evaluated once when the window starts
  (:func:`hand_over`). The targets live in the condition's point batch like any other target, so
  checkpoints, resuming and rollbacks keep them with nothing added.
* **Each window is trained once.** ``curriculum_every`` steps (all phases together) per
  window; left at 0, the first window gets all Adam steps (it starts from scratch) and every
  window, the first one included, an equal share of the L-BFGS iterations, since a window that
  starts from its predecessor's network is already close and L-BFGS converges fast from there.
  L-BFGS starts afresh in each window (a new loss). With ``lbfgs_steps=0`` and a second-order
  method (``second_order=ssbroyden``...), that method takes L-BFGS's place in every window
  (pinnlab/training/phases/second_order.py). ``curriculum_loss`` still ends a window early, and so does
  an optimizer that ends on its own (converged, or no step found): the next window starts, and
  the leftover iterations go to the last window.
* **The solution is piecewise**: window k's snapshot on [t_{k-1}, t_k) (the last window up to
  t1), as :class:`TimeMarchedModel`. The output grid, the error, the plots, ``model.pt`` and
  ``pinnlab export`` all use it, so every time is evaluated by the network trained there.

Why not one network for the whole interval? Trained on window k alone it forgets the earlier
windows; keeping them would need their residuals (the growing curriculum, ``curriculum_mode=grow``)
or a data fit to stored earlier predictions, both of which ask one network to represent the
whole solution, which is where the error of stiff problems comes from (Allen-Cahn with L-BFGS:
docs/benchmarks/allen-cahn.md).
Snapshots cost only the parameters, and each network only has to represent one short window.

The equation's own ``output_transform`` stays as it is in every window: a transform that
imposes the initial condition at t0 is harmless later (no window but the first contains t0),
and an initial condition marked ``exact=True`` (because the transform imposes it at t0) is
trained as a handoff term in windows 2..K, where the transform no longer imposes it, with its
weight from ``weights`` (default 1).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, Mapping, Sequence, TypeVar

import torch
from torch import nn

from pinnlab.problem.conditions import Initial, InitialRate
from pinnlab.training.losses import condition_residual
from pinnlab.training.collocation import Collocation
from pinnlab.problem.equation_module import Problem

T = TypeVar("T")


def handoff_conditions(problem: Problem) -> list[str]:
    """Names of the conditions that hold at the start of a window (initial value and rate)."""
    return [name for name, c in problem.conditions.items() if isinstance(c, (Initial, InitialRate))]


def hand_over(problem: Problem, model: nn.Module, collocation: Collocation, engine: Any = None) -> Collocation:
    """``collocation`` with the target of each initial condition replaced by ``model``'s own value
    at its points (u for ``Initial``, u_t for ``InitialRate``): the end state of the window
    ``model`` was trained on becomes the next window's initial condition."""
    conditions = dict(collocation.conditions)
    for name in handoff_conditions(problem):
        if name not in conditions:
            continue
        batch = conditions[name]
        unset = dataclasses.replace(batch, target=torch.zeros_like(batch.target))
        with torch.enable_grad():  # a residual with a zero target is the value itself
            value = condition_residual(problem, model, name, unset, engine=engine).detach()
        conditions[name] = dataclasses.replace(batch, target=value.reshape(batch.target.shape))
    return Collocation(collocation.interior, conditions)


def marching_weights(problem: Problem, configured: Mapping[str, float], weights: Mapping[str, float],
                     stage: int) -> dict[str, float]:
    """Loss weights in window ``stage``: after the first window, an initial condition that the
    output transform imposes (``exact=True``) at t0 is a handoff term to train, with its weight
    from ``configured`` (the user's ``weights``, default 1)."""
    if stage <= 1:
        return dict(weights)
    changed = dict(weights)
    for name in handoff_conditions(problem):
        if problem.conditions[name].exact:
            changed[name] = float(configured.get(name, 1.0))
    return changed


class TimeMarchedModel(nn.Module):
    """The solution of a time-marched run: ``pieces[k]`` on [starts[k], starts[k + 1]).

    The first piece also serves times before ``starts[1]`` and the last one times from its start
    on, so the model is defined on the whole domain (times outside the windows trained are
    extrapolated by the nearest window's network)."""

    def __init__(self, pieces: Sequence[nn.Module], starts: Sequence[float], time_index: int,
                 fields: Sequence[str]) -> None:
        super().__init__()
        if len(pieces) != len(starts) or not pieces:
            raise ValueError(f"TimeMarchedModel: {len(pieces)} pieces for {len(starts)} window starts")
        if any(b <= a for a, b in zip(starts[:-1], starts[1:])):
            raise ValueError(f"TimeMarchedModel: window starts must increase, got {list(starts)}")
        self.pieces = nn.ModuleList(pieces)
        self.starts = [float(s) for s in starts]
        self.time_index = time_index
        self.fields = tuple(fields)

    def window_of(self, points: torch.Tensor) -> torch.Tensor:
        """The window index (0-based) of each point, by its time."""
        inner = torch.tensor(self.starts[1:], dtype=points.dtype, device=points.device)
        return torch.searchsorted(inner, points[:, self.time_index].detach().contiguous(), right=True)

    def by_window(self, points: torch.Tensor, evaluate: Callable[[nn.Module, torch.Tensor], T]
                  ) -> list[tuple[torch.Tensor, T]]:
        """``evaluate(piece, its points)`` for every window that has points, with the indices
        of those points: callers reassemble results with the fast path of each piece."""
        window = self.window_of(points)
        parts = []
        for k, piece in enumerate(self.pieces):
            where = torch.nonzero(window == k).flatten()
            if len(where):
                parts.append((where, evaluate(piece, points[where])))
        return parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.by_window(x, lambda piece, part: piece(part))
        out = x.new_zeros(x.shape[0], len(self.fields))
        for where, values in parts:
            out = out.index_copy(0, where, values)
        return out


def marched_model(model: nn.Module, snapshots: Sequence[Mapping[str, torch.Tensor]],
                  starts: Sequence[float], time_index: int) -> TimeMarchedModel:
    """The piecewise solution: a copy of ``model`` per finished window (its snapshot), then the
    live ``model`` itself for the current window."""
    pieces = []
    for state in snapshots:
        piece = copy.deepcopy(model)
        piece.load_state_dict(state)
        pieces.append(piece)
    return TimeMarchedModel(pieces + [model], starts, time_index, model.fields)
