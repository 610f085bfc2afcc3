"""Heat equation: u_t = kappa u_xx on x in [0, 1], t in [0, 1], with two Fourier modes.

u(x, 0) = sin(pi x) + sin(3 pi x) / 2, u(0, t) = u(1, t) = 0, kappa = 0.05. Each mode decays at its
own rate, exp(-kappa (k pi)^2 t), which gives the exact solution. Initial and boundary values are
trained as loss terms (soft constraints).
"""

import math

import torch

from pinnlab import Dirichlet, Exact, Initial, Interval, TimeInterval

pi = math.pi
kappa = 0.05

domain = Interval(0.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def exact(x, t):
    return (torch.exp(-kappa * pi**2 * t) * torch.sin(pi * x)
            + 0.5 * torch.exp(-9 * kappa * pi**2 * t) * torch.sin(3 * pi * x))


def residual(u_t, u_xx):
    return u_t - kappa * u_xx


conditions = {
    "initial": Initial(lambda x: torch.sin(pi * x) + 0.5 * torch.sin(3 * pi * x)),
    "walls": Dirichlet(0.0),
}
reference = Exact(exact)

defaults = {
    "network": {"width": 32, "depth": 3},
    "sampling": {"points": 2000, "boundary_points": 400},
    "adam": {"steps": 500},
    "lbfgs": {"steps": 1500},
    "numerics": {"dtype": "float64"},
}
