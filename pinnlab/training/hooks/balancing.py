"""Loss balancing during Adam: the term weights move towards balance every ``balance.every``
steps (pinnlab/training/loss_balancing.py) and stay fixed from L-BFGS on, which never reweighs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from pinnlab.training.hooks import Hook
from pinnlab.training.loss_balancing import LossBalancer

if TYPE_CHECKING:
    from pinnlab.training.context import Context


class Balancing(Hook):
    name = "balance"

    def __init__(self, balancer: LossBalancer) -> None:
        self.balancer = balancer
        self.weight_history: list[tuple[int, dict[str, float]]] = []

    def reweigh(self, context: Context, terms: dict[str, torch.Tensor]) -> bool:
        if not self.balancer.due(context.step):
            return False
        context.weights = self.balancer.update(context.active, context.model, context.collocation, terms,
                                               context.weights, context.step, context.engine)
        self.weight_history.append((context.step, dict(context.weights)))
        return True

    def result_fields(self, context: Context) -> dict[str, Any]:
        return {"weight_history": self.weight_history}

    def state_dict(self) -> dict[str, Any]:
        return {"weight_history": [[step, w] for step, w in self.weight_history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weight_history = [(step, w) for step, w in state["weight_history"]]
