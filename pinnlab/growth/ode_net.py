"""The residual network as an explicit-Euler discretization of a neural ODE.

The network maps a feature vector ``a`` to class scores by

    x_0 = lift(a)                                   (input layer)
    x_m = x_{m-1} + k_m f(x_{m-1}, theta_m),  m = 1..M   (Euler steps = residual layers)
    logits = head(x_M)                              (output layer)

with ``f(x, theta_m) = sigma(W_m x + b_m)`` and ``theta_m = (W_m, b_m)`` constant on the time
interval ``I_m = (t_{m-1}, t_m]`` of length ``k_m``.  The time mesh ``0 = t_0 < ... < t_M = T``
may be non-uniform.  The lift is either a trainable linear map (``lift="linear"``) or the data
padded with zero channels (``lift="augment"``, as in augmented neural ODEs).

Splitting interval ``I_m`` into two halves that both keep ``theta_m`` leaves the *continuous*
network function unchanged: the neural ODE with piecewise-constant controls is the same
(:meth:`EulerNet.flow_output` evaluates it), and so is the regularization of the objective.
Its Euler discretization changes by the local error of step ``m`` (one step of length ``k_m``
becomes two of length ``k_m / 2``), which is ``O(k_m^2)`` and exactly what the DWR estimator
predicts; where ``f`` does not depend on ``x`` (``W_m = 0``) the Euler step is exact and the
discrete output does not change at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "Activation", "EulerNet"]


@dataclass(frozen=True)
class Activation:
    """An activation ``sigma`` with its derivative (the adjoint sweep needs ``sigma'``)."""

    name: str
    value: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2),
    "relu": Activation("relu", torch.relu, lambda z: (z > 0).to(z.dtype)),
    "softplus": Activation("softplus", nn.functional.softplus, torch.sigmoid),
    "identity": Activation("identity", lambda z: z, torch.ones_like),
}

LIFTS = ("linear", "augment")


def _activation(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class EulerNet(nn.Module):
    """Input layer, ``M`` explicit-Euler residual layers on a time mesh, output layer.

    Parameters live in ``weight`` (shape ``(M, d, d)``), ``bias`` (``(M, d)``), ``lift`` and
    ``head``; the step sizes ``k_m`` are the buffer ``steps`` (shape ``(M,)``).  Build one with
    :meth:`create`; :meth:`split` returns a refined copy.
    """

    def __init__(
        self,
        lift: nn.Linear | None,
        weight: Tensor,
        bias: Tensor,
        head: nn.Linear,
        steps: Tensor,
        n_features: int,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        if weight.ndim != 3 or weight.shape[1] != weight.shape[2]:
            raise ValueError(f"weight must have shape (M, d, d), got {tuple(weight.shape)}")
        if bias.shape != weight.shape[:2] or steps.shape != weight.shape[:1]:
            raise ValueError("bias must be (M, d) and steps (M,) for weight (M, d, d)")
        if not torch.all(steps > 0):
            raise ValueError("time steps must be positive")
        self.lift = lift
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)
        self.head = head
        self.register_buffer("steps", steps)
        self.n_features = n_features
        self.activation = _activation(activation)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        n_features: int,
        n_classes: int,
        width: int,
        layers: int = 1,
        final_time: float = 1.0,
        activation: str = "tanh",
        lift: str = "linear",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> EulerNet:
        """A network of ``layers`` equal steps on ``[0, final_time]``, seeded by ``generator``.

        ``width`` is the state dimension ``d``; with ``lift="augment"`` it must be at least
        ``n_features`` and the state is the data followed by ``width - n_features`` zeros.
        """
        if layers < 1 or width < 1 or n_features < 1 or n_classes < 2:
            raise ValueError("need layers >= 1, width >= 1, n_features >= 1, n_classes >= 2")
        if not final_time > 0:
            raise ValueError(f"final_time must be positive, got {final_time}")
        if lift not in LIFTS:
            raise ValueError(f"unknown lift '{lift}'; valid: {', '.join(LIFTS)}")
        if lift == "augment" and width < n_features:
            raise ValueError(f"lift='augment' needs width >= n_features ({n_features}), got {width}")
        gen = generator if generator is not None else torch.Generator().manual_seed(0)

        def normal(*shape: int, std: float) -> Tensor:
            return torch.randn(*shape, generator=gen, dtype=dtype) * std

        lift_layer = None
        if lift == "linear":
            lift_layer = nn.Linear(n_features, width, dtype=dtype)
            with torch.no_grad():
                lift_layer.weight.copy_(normal(width, n_features, std=n_features**-0.5))
                lift_layer.bias.zero_()
        weight = normal(1, width, width, std=width**-0.5).repeat(layers, 1, 1)
        bias = normal(1, width, std=0.1).repeat(layers, 1)
        head = nn.Linear(width, n_classes, dtype=dtype)
        with torch.no_grad():
            head.weight.copy_(normal(n_classes, width, std=width**-0.5))
            head.bias.zero_()
        steps = torch.full((layers,), final_time / layers, dtype=dtype)
        return cls(lift_layer, weight, bias, head, steps, n_features, activation)

    # ------------------------------------------------------------------ geometry of the mesh
    @property
    def num_layers(self) -> int:
        return int(self.steps.shape[0])

    @property
    def width(self) -> int:
        return int(self.weight.shape[1])

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def final_time(self) -> float:
        return float(self.steps.sum())

    def nodes(self) -> Tensor:
        """The mesh ``t_0 = 0, t_1, ..., t_M = T``."""
        return torch.cat([self.steps.new_zeros(1), torch.cumsum(self.steps, 0)])

    # ------------------------------------------------------------------ evaluation
    def initial_state(self, features: Tensor) -> Tensor:
        """``x_0``: the lifted (or zero-augmented) features, shape ``(N, d)``."""
        if self.lift is not None:
            return self.lift(features)
        pad = features.new_zeros(features.shape[0], self.width - features.shape[1])
        return torch.cat([features, pad], dim=1)

    def pre_activation(self, m: int, x: Tensor) -> Tensor:
        """``W_m x + b_m`` for layer ``m`` (0-based)."""
        return x @ self.weight[m].T + self.bias[m]

    def rhs(self, m: int, x: Tensor) -> Tensor:
        """``f(x, theta_m)`` for layer ``m`` (0-based)."""
        return self.activation.value(self.pre_activation(m, x))

    def step(self, m: int, x: Tensor, k: Tensor | float | None = None) -> Tensor:
        """One Euler step of layer ``m`` with step ``k`` (default ``k_m``)."""
        return x + (self.steps[m] if k is None else k) * self.rhs(m, x)

    def states(self, features: Tensor) -> list[Tensor]:
        """The trajectory ``[x_0, x_1, ..., x_M]`` through depth."""
        x = self.initial_state(features)
        trajectory = [x]
        # the same steps as `step`, with fewer autograd nodes (one unbind instead of a select
        # per layer and parameter, fused multiply-adds): training is mostly this loop
        sigma = self.activation.value
        for w, b, k in zip(self.weight.unbind(0), self.bias.unbind(0), self.steps.unbind(0)):
            x = torch.addcmul(x, k, sigma(torch.addmm(b, x, w.T)))
            trajectory.append(x)
        return trajectory

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.states(features)[-1])

    def flow_output(self, features: Tensor, substeps: int = 64) -> Tensor:
        """Logits of the *continuous* model: each interval integrated by ``substeps`` RK4 steps.

        This is the network function of the neural ODE with piecewise-constant controls that
        the Euler network discretizes; a split leaves it unchanged (to the RK4 accuracy).
        """
        x = self.initial_state(features)
        for m in range(self.num_layers):
            h = self.steps[m] / substeps
            for _ in range(substeps):
                s1 = self.rhs(m, x)
                s2 = self.rhs(m, x + 0.5 * h * s1)
                s3 = self.rhs(m, x + 0.5 * h * s2)
                s4 = self.rhs(m, x + h * s3)
                x = x + h / 6.0 * (s1 + 2.0 * s2 + 2.0 * s3 + s4)
        return self.head(x)

    # ------------------------------------------------------------------ refinement
    def split(self, marked: Sequence[int]) -> EulerNet:
        """A copy with each marked interval split into two halves that both keep ``theta_m``."""
        marked_set = {int(m) for m in marked}
        bad = [m for m in marked_set if not 0 <= m < self.num_layers]
        if bad:
            raise ValueError(f"cannot split layers {sorted(bad)}: the network has {self.num_layers}")
        index: list[int] = []
        steps: list[Tensor] = []
        for m in range(self.num_layers):
            copies = 2 if m in marked_set else 1
            index.extend([m] * copies)
            steps.extend([self.steps[m] / copies] * copies)
        idx = torch.tensor(index)
        with torch.no_grad():
            lift = None
            if self.lift is not None:
                lift = nn.Linear(self.lift.in_features, self.lift.out_features, dtype=self.lift.weight.dtype)
                lift.load_state_dict(self.lift.state_dict())
            head = nn.Linear(self.head.in_features, self.head.out_features, dtype=self.head.weight.dtype)
            head.load_state_dict(self.head.state_dict())
            return EulerNet(
                lift,
                self.weight.detach()[idx].clone(),
                self.bias.detach()[idx].clone(),
                head,
                torch.stack(steps).clone(),
                self.n_features,
                self.activation.name,
            )

    def split_all(self) -> EulerNet:
        """Uniform refinement: every interval split in two."""
        return self.split(range(self.num_layers))

    def controls(self) -> Tensor:
        """``theta_m`` flattened per layer, shape ``(M, d * d + d)`` (for output and plots)."""
        return torch.cat([self.weight.detach().flatten(1), self.bias.detach()], dim=1)
