"""Kovasznay flow: steady Navier-Stokes at Re = 20 on [-0.5, 1] x [-0.5, 1.5], exact solution.

u.grad(u) + grad(p) - nu Lap(u) = 0 and div(u) = 0 with nu = 1/Re. Kovasznay's (1948) solution,
the wake behind a row of cylinders, is, with lambda = Re/2 - sqrt(Re^2/4 + 4 pi^2),

    u = 1 - exp(lambda x) cos(2 pi y),   v = lambda/(2 pi) exp(lambda x) sin(2 pi y),
    p = (1 - exp(2 lambda x)) / 2.

The velocity takes its exact values on the whole boundary. The pressure appears only through
its gradient, so p + c solves the equations as well as p: ``gauges = {"p": Mean()}`` says so,
and p's error is measured after the prediction's mean over the reference grid is matched to the
reference's (the constant is in ``metrics["gauges"]["p"]["shift"]``). Without the gauge the same
run reports p's error as 17, the network's arbitrary level, instead of 2.3e-5.

Defaults: a 32 x 3 float64 network, 2000 interior and 400 boundary points, 1000 Adam steps,
1000 L-BFGS iterations, then 2000 SSBroyden iterations.

Measured errors and times: docs/equations.md.
"""

import math

import torch

from pinnlab import Dirichlet, Exact, Mean, Rectangle

Re = 20.0
nu = 1.0 / Re
lam = Re / 2 - math.sqrt(Re**2 / 4 + 4 * math.pi**2)

domain = Rectangle((-0.5, -0.5), (1.0, 1.5))
fields = ["u", "v", "p"]


def exact_u(x, y):
    return 1 - torch.exp(lam * x) * torch.cos(2 * math.pi * y)


def exact_v(x, y):
    return lam / (2 * math.pi) * torch.exp(lam * x) * torch.sin(2 * math.pi * y)


def exact_p(x):
    return 0.5 * (1 - torch.exp(2 * lam * x))


def momentum_x(u, v, u_x, u_y, p_x, u_xx, u_yy):
    return u * u_x + v * u_y + p_x - nu * (u_xx + u_yy)


def momentum_y(u, v, v_x, v_y, p_y, v_xx, v_yy):
    return u * v_x + v * v_y + p_y - nu * (v_xx + v_yy)


def continuity(u_x, v_y):
    return u_x + v_y


residuals = {"momentum_x": momentum_x, "momentum_y": momentum_y, "continuity": continuity}

conditions = {
    "wall_u": Dirichlet(exact_u, field="u"),
    "wall_v": Dirichlet(exact_v, field="v"),
}

reference = Exact(lambda x, y: {"u": exact_u(x, y), "v": exact_v(x, y), "p": exact_p(x)})

gauges = {"p": Mean()}  # p is defined up to a constant: compare it after matching the means

defaults = {
    "network": {"width": 32, "depth": 3},
    "sampling": {"points": 2000, "boundary_points": 400},
    "phases": "adam,lbfgs,ssbroyden",
    "adam": {"steps": 1000},
    "lbfgs": {"steps": 1000},
    "ssbroyden": {"steps": 2000},
    "numerics": {"dtype": "float64"},
}
