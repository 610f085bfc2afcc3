"""Korteweg-de Vries, Zabusky and Kruskal's case: u_t + u u_x + 0.022^2 u_xxx = 0 on x in [-1, 1]
(periodic), t in [0, 1].

u(x, 0) = cos(pi x). With a dispersion coefficient 0.022^2 = 4.84e-4 (five times smaller than in
equations/kdv.py) the wave steepens sooner and breaks into more, narrower solitons, up to
u = 2.6 and about 0.05 wide; this is the case PirateNets (Wang et al. 2024) report on.

The reference is computed by pinnlab (``Spectral``: Fourier in x, ETDRK4 in t; docs/references.md)
with 512 modes and dt = 1e-4, output on x = -1 + 2k/512 (k < 512) and 201 times; 2048 modes with
dt = 1e-5 give the same to 1.7e-10 (relative L2).

Periodicity in x is exact (``periodic``); the initial condition is a loss term with a large
weight. The defaults are equations/kdv.py's own (imported from it): a float64 32 x 3 network,
1000 Adam steps, then 5000 SSBroyden iterations with the points redrawn by residual (RAD) every
500 steps.
"""

import math

import numpy as np
import torch

from pinnlab import Initial, Interval, Spectral, TimeInterval

from kdv import defaults  # noqa: F401 - the budget of equations/kdv.py, which sits beside this file

dispersion = 0.022**2

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def residual(u, u_t, u_x, u_xxx):
    return u_t + u * u_x + dispersion * u_xxx


conditions = {"initial": Initial(lambda x: torch.cos(math.pi * x))}

reference = Spectral(
    linear={"u_xxx": -dispersion}, nonlinear=lambda u, u_x: -u * u_x, initial=lambda x: np.cos(np.pi * x),
    modes=512, dt=1e-4, times=np.linspace(0.0, 1.0, 201),
)
