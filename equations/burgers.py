"""Viscous Burgers equation: u_t + u u_x = nu u_xx on x in [-1, 1], t in [0, 0.99].

u(x, 0) = -sin(pi x), u(-1, t) = u(1, t) = 0, nu = 0.01/pi. A shock forms at x = 0 near t = 0.3.
The reference is the exact solution by the Cole-Hopf transformation, evaluated by quadrature.

The initial and boundary conditions are imposed exactly by ``output_transform``: the network
only learns the correction that vanishes at t = 0 and x = +-1, so all training effort goes into
the residual.

The defaults are quick (float32, Adam then L-BFGS: about 1e-3 in a minute). For high accuracy:

    pinnlab solve equations/burgers.py --dtype float64 --set phases=adam,ssbroyden \\
        --set ssbroyden.steps=15000 --set refine.method=rad --set refine.every=500

Adam, then 15000 iterations of dense self-scaled Broyden in float64, with the 4000 points
redrawn by residual (RAD) every 500 iterations. With the points fixed, the same optimizer drives
the loss to 1e-13 and the error away from the shock to 1e-8, yet the error overall stays near
1e-4: fixed points leave the shock, a layer about 0.003 wide, between them, and the residual
there stays large. RAD keeps putting points into it. Measurements: docs/equations.md.
"""

import math

import numpy as np
import torch

from pinnlab import Dirichlet, ExactOnGrid, Initial, Interval, TimeInterval
from pinnlab.problem.burgers_exact import burgers_sine

nu = 0.01 / math.pi

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 0.99)
fields = ["u"]


def residual(u, u_t, u_x, u_xx):
    return u_t + u * u_x - nu * u_xx


def output_transform(x, t, u):
    return -torch.sin(math.pi * x) + t * (1 - x**2) * u


conditions = {
    "initial": Initial(lambda x: -torch.sin(math.pi * x), exact=True),
    "walls": Dirichlet(0.0, exact=True),
}

# Cole-Hopf by Gauss-Hermite quadrature (pinnlab/problem/burgers_exact.py), on the 256 x 100 grid of
# DeepXDE's / Raissi's data set, which it matches to 3e-12.
reference = ExactOnGrid(
    lambda x, t: burgers_sine(x, t, nu), axes={"x": np.linspace(-1, 1, 256), "t": np.linspace(0, 0.99, 100)}
)

# A short Adam warm-up moves the network out of poor starting points (without it, some seeds
# stall in L-BFGS near 1e-2), then L-BFGS does the converging. float32 halves the cost of an
# iteration on a CPU; see the README for the float64 setting that reaches 5e-4.
defaults = {
    "network": {"width": 20, "depth": 4},
    "sampling": {"points": 4000, "sampler": "sobol"},
    "adam": {"steps": 1000, "lr": 1e-3},
    "lbfgs": {"steps": 4000},
    "numerics": {"dtype": "float32"},
}
