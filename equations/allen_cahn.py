"""Allen-Cahn: u_t - d u_xx + 5 u^3 - 5 u = 0 on x in [-1, 1] (periodic), t in [0, 1], d = 1e-4.

u(x, 0) = x^2 cos(pi x). The reference is computed by pinnlab's ETDRK4 spectral solver
(``pinnlab/problem/spectral.py``) and validated against Raissi's published solution. Thin interfaces
form and move slowly, and the initial condition has a kink in u_x at x = +-1, so Adam training
on the whole time interval settles on a wrong, smeared solution. A float64 quasi-Newton phase
does not.

Periodicity in x is exact: the network sees x through (cos(pi x), sin(pi x)) (``periodic``).
The initial condition is a loss term with a large weight; imposing it exactly through
``output_transform`` would force the kink of u_x at x = +-1 into every later time.

Defaults: one float64 network (32 x 3) on the whole interval, 1000 Adam steps (points redrawn
every 200 steps), then 3000 SSBroyden iterations on the last 3000 points (see
docs/optimizers.md). The loss falls to about 2e-9 and the error with it. Much smaller settings
are not safe: with few points SSBroyden can fit them with a wrong solution.

Why no time curriculum by default: with this optimizer and 3000 points, training on the whole
interval does better than marching in windows, each of which inherits its predecessor's
end-state error. With few points (``--set sampling.points=250``) it is the other way round: the whole
interval settles on a wrong solution and marching (``--set curriculum.windows=10
--set curriculum.mode=march``) converges. Measurements: docs/benchmarks/allen-cahn.md.
"""

import math

import numpy as np
import torch

from pinnlab import Initial, Interval, Spectral, TimeInterval

d = 1e-4

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def residual(u, u_t, u_xx):
    return u_t - d * u_xx + 5 * u**3 - 5 * u


conditions = {"initial": Initial(lambda x: x**2 * torch.cos(math.pi * x))}

# Fourier-ETDRK4 (pinnlab/problem/spectral.py; docs/references.md), output on Raissi's grid: 512 points
# x = -1 + 2k/512 and 201 times. 8192 modes: the kink of u_x at x = +-1 makes the error fall
# only like modes^-2 (512 modes, as in Raissi's data, are 1.2e-5 away).
reference = Spectral(
    linear={"u_xx": d}, nonlinear=lambda u: 5 * u - 5 * u**3, initial=lambda x: x**2 * np.cos(np.pi * x),
    modes=8192, points=512, dt=1e-3, times=np.linspace(0.0, 1.0, 201),
)

defaults = {
    "network": {"width": 32, "depth": 3, "periodic": "x"},
    "sampling": {"points": 3000, "boundary_points": 512, "resample_every": 200},
    "phases": "adam,ssbroyden",
    "adam": {"steps": 1000, "lr": 1e-3},
    "ssbroyden": {"steps": 3000},
    "weights": {"initial": 100.0},
    "numerics": {"dtype": "float64"},
}
