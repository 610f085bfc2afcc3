"""Wave equation: u_tt = 4 u_xx on x in [0, 1], t in [0, 1] (Wang, Yu & Perdikaris 2022).

u(x, 0) = sin(pi x) + sin(4 pi x) / 2, u_t(x, 0) = 0, u(0, t) = u(1, t) = 0. The exact solution is
u = sin(pi x) cos(2 pi t) + sin(4 pi x) cos(8 pi t) / 2. Initial value, initial rate and walls are
trained as loss terms.

This is the problem on which the neural-tangent-kernel analysis showed why PINNs fail: the
residual's kernel block (second derivatives of a mode of frequency 4 pi, scaled by c^2 = 4) is
orders of magnitude larger than the initial and boundary blocks, so with equal weights the
residual wins and the initial data are hardly fitted. Hence the default ``balance=ntk``
(pinnlab/training/loss_balancing.py): it weights the initial value and the walls about 1000x, the initial
rate about 10x, during Adam; L-BFGS then trains on those weights.
Measurements: docs/loss-balancing.md.
"""

import math

import torch

from pinnlab import Dirichlet, Exact, Initial, InitialRate, Interval, TimeInterval

pi = math.pi
c = 2.0

domain = Interval(0.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def exact(x, t):
    return torch.sin(pi * x) * torch.cos(c * pi * t) + 0.5 * torch.sin(4 * pi * x) * torch.cos(4 * c * pi * t)


def residual(u_tt, u_xx):
    return u_tt - c**2 * u_xx


conditions = {
    "initial": Initial(lambda x: torch.sin(pi * x) + 0.5 * torch.sin(4 * pi * x)),
    "rate": InitialRate(0.0),
    "walls": Dirichlet(0.0),
}
reference = Exact(exact)

defaults = {
    "network": {"width": 64, "depth": 4},
    "sampling": {"points": 4000, "boundary_points": 400},
    "adam": {"steps": 3000},
    "lbfgs": {"steps": 3000},
    "balance": {"method": "ntk"},
    "numerics": {"dtype": "float64"},
}
