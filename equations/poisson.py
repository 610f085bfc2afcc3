"""Poisson equation in 2D with a manufactured solution: -(u_xx + u_yy) = f on the unit square.

The exact solution u = sin(pi x) sin(2 pi y) + x y / 2 fixes f and the Dirichlet data, so the
error is measured against a closed form. The boundary values are trained (soft constraints).
"""

import math

import torch

from pinnlab import Dirichlet, Exact, Rectangle

pi = math.pi

domain = Rectangle((0.0, 0.0), (1.0, 1.0))
fields = ["u"]


def exact(x, y):
    return torch.sin(pi * x) * torch.sin(2 * pi * y) + x * y / 2


def source(x, y):
    return 5 * pi**2 * torch.sin(pi * x) * torch.sin(2 * pi * y)


def residual(x, y, u_xx, u_yy):
    return u_xx + u_yy + source(x, y)


conditions = {"boundary": Dirichlet(exact)}
reference = Exact(exact)

# The residual is of the size of f (about 50) while boundary errors are of the size of u (about
# 1), so the boundary term is weighted up to be heard.
defaults = {
    "network": {"width": 32, "depth": 3},
    "sampling": {"points": 2000, "boundary_points": 400},
    "adam": {"steps": 500},
    "lbfgs": {"steps": 1500},
    "weights": {"boundary": 100.0},
    "numerics": {"dtype": "float64"},
}
