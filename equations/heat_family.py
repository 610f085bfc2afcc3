"""A family of heat problems, one network for every diffusivity k in [0.02, 0.2].

    u_t = k u_xx   on x in [0, 1], t in [0, 1],   u(x, 0) = sin(pi x) + 0.5 sin(3 pi x),   u(0, t) = u(1, t) = 0

The exact solution is the two modes decaying at their own rates,
u = exp(-k pi^2 t) sin(pi x) + 0.5 exp(-9 k pi^2 t) sin(3 pi x); the small k keep the fine mode
to the end, the large ones lose it early. The initial and wall values are imposed by
``output_transform``. ``labels``: the method of lines on 16 nodes (u_t = k u_xx read off the
residual) at 4 diffusivities; used by the ``pretrain`` phase (docs/parametric.md).
"""

import math

import numpy as np
import torch

from pinnlab import Dirichlet, ExactOnGrid, Initial, Interval, TimeInterval
from pinnlab.problem.labels import MethodOfLines

domain = Interval(0.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]
parameters = {"k": (0.02, 0.2)}


def initial_value(x):
    return torch.sin(math.pi * x) + 0.5 * torch.sin(3 * math.pi * x)


def residual(u_t, u_xx, k):
    return u_t - k * u_xx


def output_transform(x, t, u):
    return initial_value(x) + t * x * (1 - x) * u


def exact(x, t, k):
    decay = k * math.pi**2 * t
    return torch.exp(-decay) * torch.sin(math.pi * x) + 0.5 * torch.exp(-9 * decay) * torch.sin(3 * math.pi * x)


conditions = {
    "initial": Initial(initial_value, exact=True),
    "walls": Dirichlet(0.0, exact=True),
}

reference = ExactOnGrid(exact, axes={"x": np.linspace(0, 1, 128), "t": np.linspace(0, 1, 101)})
labels = MethodOfLines(grid=(16, 26), instances=4)

defaults = {
    "phases": "pretrain,adam,lbfgs",
    "pretrain": {"steps": 500, "lr": 3e-3},
    "network": {"width": 20, "depth": 3},
    "sampling": {"points": 2000, "sampler": "sobol"},
    "adam": {"steps": 1000, "lr": 1e-3},
    "lbfgs": {"steps": 1000},
    "numerics": {"dtype": "float32"},
}
