"""A string that rests on the ground: -u'' = f on (-1, 1), u = 1 at both ends, and u >= 0.

The load f vanishes on [-a, a] and pulls the string down outside it, so that the exact solution
u = ((|x| - a)_+ / (1 - a))^4 lies flat on the ground u = 0 over [-a, a] (a = 0.4) and rises to 1
at the ends. A network fitted to the equation by least squares oscillates about zero on the flat
part and dips below the ground there; the bound ``nonnegative`` (u >= 0 at the collocation points)
is what the ``trust_constr`` phase holds as an inequality constraint:

    pinnlab solve equations/obstacle.py --set phases=adam,lbfgs,trust_constr --set trust_constr.steps=300

The other phases train the equation and the end values as penalties and do not see the bound.
"""

import torch

from pinnlab import Bound, Dirichlet, Exact, Interval

a = 0.4
domain = Interval(-1.0, 1.0)
fields = ["u"]


def exact(x):
    return (torch.clamp(x.abs() - a, min=0.0) / (1 - a)) ** 4


def load(x):
    return -12 * torch.clamp(x.abs() - a, min=0.0) ** 2 / (1 - a) ** 4


def residual(x, u_xx):
    return u_xx + load(x)


conditions = {"ends": Dirichlet(1.0)}
constraints = {"nonnegative": Bound("u", lower=0.0)}
reference = Exact(exact)

defaults = {
    "network": {"width": 20, "depth": 2},  # 481 parameters
    "sampling": {"points": 200, "boundary_points": 20},
    "adam": {"steps": 1000},
    "lbfgs": {"steps": 1000},
    "numerics": {"dtype": "float64"},
    "output": {"grid": [1001]},
}
