"""Nonlinear Schroedinger: i h_t + 0.5 h_xx + |h|^2 h = 0 on x in [-5, 5] (periodic), t in [0, pi/2].

h(x, 0) = 2 sech(x); the fields are u = Re h and v = Im h, so the equation is the pair
-v_t + 0.5 u_xx + (u^2 + v^2) u = 0 (real part) and u_t + 0.5 v_xx + (u^2 + v^2) v = 0
(imaginary part). The reference is computed by pinnlab's ETDRK4 spectral solver
(``pinnlab/problem/spectral.py``) and validated against Raissi's published solution (``NLS.mat``). The
second-order soliton focuses to |h| = 4 at t = pi/4 and spreads again, while its phase turns.

Periodicity in x is exact (``periodic``); the initial conditions of u and v are loss terms with a
large weight.

Defaults: time marching (``curriculum=10``, ``curriculum_mode=march``; see pinnlab/training/time_marching.py):
window k = [(k-1) pi/20, k pi/20] is trained alone from window k-1's parameters and end state.
Window 1 gets 1000 Adam steps (points redrawn every 200), then every window 700 float32 L-BFGS
iterations, 3000 points per window, a 64 x 4 tanh network. Fewer, longer windows leave u and v
far worse than |h|: mostly an error in the phase. Measurements: docs/equations.md.
"""

import math

import numpy as np
import torch

from pinnlab import Initial, Interval, Spectral, TimeInterval

domain = Interval(-5.0, 5.0) * TimeInterval(0.0, math.pi / 2)
fields = ["u", "v"]  # h = u + i v


def real_part(u, v, v_t, u_xx):
    return -v_t + 0.5 * u_xx + (u**2 + v**2) * u


def imaginary_part(u, v, u_t, v_xx):
    return u_t + 0.5 * v_xx + (u**2 + v**2) * v


residuals = {"real": real_part, "imaginary": imaginary_part}

conditions = {
    "initial_u": Initial(lambda x: 2.0 / torch.cosh(x), field="u"),
    "initial_v": Initial(0.0, field="v"),
}

# h_t = 0.5 i h_xx + i |h|^2 h by Fourier-ETDRK4 (pinnlab/problem/spectral.py; docs/references.md), on
# Raissi's grid: 256 points x = -5 + 10k/256 and 201 times in [0, pi/2]. 2048 modes: 2 sech(x)
# has a kink in h_x at x = +-5 (periodically continued), so the error falls only like modes^-1.5
# (256 modes, as in Raissi's data, are 1.7e-5 away).
reference = Spectral(
    linear={"h_xx": 0.5j}, nonlinear=lambda h: 1j * np.abs(h) ** 2 * h, initial=lambda x: 2 / np.cosh(x),
    modes=2048, points=256, dt=1.25e-4, times=np.linspace(0.0, math.pi / 2, 201),
    variable="h", parts={"u": "real", "v": "imag"},
)

defaults = {
    "network": {"width": 64, "depth": 4, "periodic": "x"},
    "sampling": {"points": 3000, "boundary_points": 512, "resample_every": 200},
    "adam": {"steps": 1000, "lr": 1e-3},
    "lbfgs": {"steps": 7000},
    "curriculum": {"windows": 10, "mode": "march", "every": 0},
    "weights": {"initial_u": 100.0, "initial_v": 100.0},
    "numerics": {"dtype": "float32"},
}
