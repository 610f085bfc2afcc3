"""The feedback law u = pi(x): an MLP whose output is squashed into the input bounds.

The states are scaled by the initial-state box (centre 0, half-width 1) before the first layer,
and the last layer's output z becomes u = centre + half_width * tanh(z) per input, so every
input the policy gives lies within its bounds by construction and needs no constraint.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from pinnlab.control.problem import ControlProblem

__all__ = ["Policy"]


class Policy(torch.nn.Module):
    """An MLP feedback law for ``problem``: ``depth`` hidden layers of ``width`` tanh units."""

    def __init__(self, problem: ControlProblem, width: int = 32, depth: int = 2, dtype: torch.dtype = torch.float64,
                 seed: int = 0) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            sizes = [len(problem.states)] + [width] * depth
            layers: list[torch.nn.Module] = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [torch.nn.Linear(a, b, dtype=dtype), torch.nn.Tanh()]
            last = torch.nn.Linear(sizes[-1], len(problem.inputs), dtype=dtype)
            torch.nn.init.zeros_(last.bias)
            self.net = torch.nn.Sequential(*layers, last)
        finally:
            torch.random.set_rng_state(generator_state)
        box = torch.tensor(problem.initial_box, dtype=dtype)
        bounds = torch.tensor(problem.input_bounds, dtype=dtype)
        self.register_buffer("x_centre", box.mean(1))
        self.register_buffer("x_scale", ((box[:, 1] - box[:, 0]) / 2).clamp_min(1e-12))
        self.register_buffer("u_centre", bounds.mean(1))
        self.register_buffer("u_half", (bounds[:, 1] - bounds[:, 0]) / 2)
        self.width, self.depth = width, depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net((x - self.x_centre) / self.x_scale)
        return self.u_centre + self.u_half * torch.tanh(z)

    def as_numpy(self) -> Callable[[np.ndarray], np.ndarray]:
        """The same law as a plain numpy function of one state (states,) -> inputs (inputs,): what
        a controller deploys, without torch's per-call overhead."""
        with torch.no_grad():
            layers = [(m.weight.numpy().copy(), m.bias.numpy().copy()) for m in self.net if isinstance(m, torch.nn.Linear)]
            x_centre, x_scale = self.x_centre.numpy().copy(), self.x_scale.numpy().copy()
            u_centre, u_half = self.u_centre.numpy().copy(), self.u_half.numpy().copy()
        *hidden, (w_last, b_last) = layers

        def law(x: np.ndarray) -> np.ndarray:
            z = (x - x_centre) / x_scale
            for w, b in hidden:
                z = np.tanh(w @ z + b)
            return u_centre + u_half * np.tanh(w_last @ z + b_last)

        return law
