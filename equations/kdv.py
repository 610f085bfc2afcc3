"""Korteweg-de Vries: u_t + u u_x + 0.0025 u_xxx = 0 on x in [-1, 1] (periodic), t in [0, 1].

u(x, 0) = cos(pi x). The reference is computed by pinnlab's ETDRK4 spectral solver
(``pinnlab/problem/spectral.py``) and validated against Raissi's published solution (``KdV.mat``). The
dispersion sign is +0.0025, as in Raissi's code and data (the spectral residual of the data is
small with + and large with -; Raissi's docs/index.md writes the discrete operator with -, which
the data contradicts). The wave steepens until dispersion breaks it into a train of solitons
(after about t = 0.3) that travel at different speeds and pass through each other, so u has
narrow, moving peaks of height up to 2.3. ``equations/kdv_zabusky_kruskal.py`` solves the same
equation with dispersion 0.022^2.

Periodicity in x is exact: the network sees x through (cos(pi x), sin(pi x)) (``periodic``). The
initial condition is a loss term with a large weight, as for Allen-Cahn.

Defaults: one float64 network (32 x 3 tanh, 2300 parameters) on the whole interval, 1000 Adam
steps, then 5000 iterations of dense self-scaled Broyden (``phases=adam,ssbroyden``), with the
3000 points redrawn by residual (``refine.method=rad``) every 500 steps, so they follow the solitons.
``--set ssbroyden.steps=15000`` buys another digit.

Why not time marching, as equations/allen_cahn.py offers: each window inherits the error of the
state it starts from, and here that error jumps while the wave breaks up (0.2 < t < 0.3). One
network on the whole interval has no such hand-off, and the dense quasi-Newton phase takes its
loss from about 4e-3 after Adam to 1e-9. Measurements: docs/equations.md.
"""

import math

import numpy as np
import torch

from pinnlab import Initial, Interval, Spectral, TimeInterval

dispersion = 0.0025

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def residual(u, u_t, u_x, u_xxx):
    return u_t + u * u_x + dispersion * u_xxx


conditions = {"initial": Initial(lambda x: torch.cos(math.pi * x))}

# Fourier-ETDRK4 (pinnlab/problem/spectral.py; docs/references.md) on Raissi's grid: 512 points
# x = -1 + 2k/512 and 201 times; it matches raissi_KdV.mat to 7e-12.
reference = Spectral(
    linear={"u_xxx": -dispersion}, nonlinear=lambda u, u_x: -u * u_x, initial=lambda x: np.cos(np.pi * x),
    modes=512, dt=1e-4, times=np.linspace(0.0, 1.0, 201),
)

defaults = {
    "network": {"width": 32, "depth": 3, "periodic": "x"},
    "sampling": {"points": 3000, "boundary_points": 512},
    "phases": "adam,ssbroyden",
    "adam": {"steps": 1000, "lr": 1e-3},
    "ssbroyden": {"steps": 5000},
    "refine": {"method": "rad", "every": 500},
    "weights": {"initial": 100.0},
    "numerics": {"dtype": "float64"},
}
