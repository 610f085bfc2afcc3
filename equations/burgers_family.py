"""A family of viscous Burgers problems, one network for every viscosity nu in [0.003, 0.03].

    u_t + u u_x = nu u_xx   on x in [-1, 1], t in [0, 1],   u(x, 0) = -sin(pi x),   u(+-1, t) = 0

nu is a parameter (pinnlab/problem/parameters.py): the network takes (x, t, nu), collocation
draws nu with each point, and once trained any nu of the box costs one forward pass. The shock
that forms at x = 0 near t = 0.3 is about nu wide, so the small viscosities are the hard ones.

The initial and boundary conditions are imposed exactly by ``output_transform``, as in
equations/burgers.py. The reference of each held-out nu is the Cole-Hopf solution
(pinnlab/problem/burgers_exact.py) on a 256 x 101 grid. ``pinnlab export RUN --at nu=0.01``
writes one instance; measurements: docs/parametric.md.
"""

import math

import numpy as np
import torch

from pinnlab import Dirichlet, ExactOnGrid, Initial, Interval, TimeInterval
from pinnlab.problem.burgers_exact import burgers_sine
from pinnlab.problem.labels import MethodOfLines

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]
parameters = {"nu": (0.003, 0.03)}
held_out = {"nu": [0.0035, 0.0045, 0.006, 0.008, 0.011, 0.015, 0.021, 0.028]}
"""Eight viscosities spread (roughly evenly in log nu) over the box; training draws nu at random."""


def residual(u, u_t, u_x, u_xx, nu):
    return u_t + u * u_x - nu * u_xx


def output_transform(x, t, u):
    return -torch.sin(math.pi * x) + t * (1 - x**2) * u


conditions = {
    "initial": Initial(lambda x: -torch.sin(math.pi * x), exact=True),
    "walls": Dirichlet(0.0, exact=True),
}

reference = ExactOnGrid(lambda x, t, nu: burgers_sine(x, t, nu),
                        axes={"x": np.linspace(-1, 1, 256), "t": np.linspace(0, 1, 101)})

# Cheap labels for the pretrain phase: the method of lines on 64 nodes (u_t = -u u_x + nu u_xx read
# off the residual), 5 viscosities from 0.003 to 0.03, kept at 51 times (about 1 s; relative L2
# 3.2e-2 on average against Cole-Hopf, the shock smeared over a few nodes); 3000 of the 16320
# rows are kept, so that the labels' term costs little beside the residual's in every step.
labels = MethodOfLines(grid=(64, 51), instances=5, points=3000)

# Labels first (pretrain, faded out over the Adam steps), then Adam, then L-BFGS, with the 8000 points redrawn by residual (RAD) every 500 steps so that they
# follow the shocks of the small viscosities: about 8 minutes on one CPU thread for a mean error of
# 3.1e-3 over the held-out nu (without RAD: 4.1e-3, and 2.0e-2 instead of 7.2e-3 at nu = 0.0035).
defaults = {
    "phases": "pretrain,adam,lbfgs",
    "pretrain": {"steps": 1000, "lr": 3e-3},
    "network": {"width": 32, "depth": 4},
    "sampling": {"points": 8000, "sampler": "sobol"},
    "adam": {"steps": 2000, "lr": 1e-3},
    "lbfgs": {"steps": 6000},
    "refine": {"method": "rad", "every": 500},
    "numerics": {"dtype": "float32"},
}
