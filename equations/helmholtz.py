"""Helmholtz equation in 2D: u_xx + u_yy + k^2 u = q on [-1, 1]^2, u = 0 on the boundary.

The manufactured solution u = sin(a1 pi x) sin(a2 pi y) with a1 = 1, a2 = 4, k = 1 (the test
case of Wang, Teng & Perdikaris 2021, "Understanding and mitigating gradient pathologies") fixes
the source q, so the error is measured against a closed form. The boundary values hold exactly:
the network's output is multiplied by (1 - x^2)(1 - y^2), which leaves the residual as the only
loss term, a plain sum of squares that Levenberg-Marquardt (``second_order=lm``) drives down
after a short Adam warm-up.
"""

import math

import torch

from pinnlab import Exact, Rectangle

pi = math.pi
a1, a2, k = 1.0, 4.0, 1.0

domain = Rectangle((-1.0, -1.0), (1.0, 1.0))
fields = ["u"]


def exact(x, y):
    return torch.sin(a1 * pi * x) * torch.sin(a2 * pi * y)


def source(x, y):
    return (k**2 - (a1 * pi) ** 2 - (a2 * pi) ** 2) * exact(x, y)


def residual(x, y, u, u_xx, u_yy):
    return u_xx + u_yy + k**2 * u - source(x, y)


def output_transform(x, y, u):
    return (1 - x**2) * (1 - y**2) * u


reference = Exact(exact)

defaults = {
    "network": {"width": 20, "depth": 3},
    "sampling": {"points": 2000},
    "phases": "adam,lm",
    "adam": {"steps": 500, "lr": 1e-3},
    "lm": {"steps": 200},
    "numerics": {"dtype": "float64"},
}
