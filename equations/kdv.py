"""Korteweg-de Vries: u_t + u u_x + 0.0025 u_xxx = 0 on x in [-1, 1] (periodic), t in [0, 1].

u(x, 0) = cos(pi x). The reference is Raissi's spectral solution (``raissi_KdV.mat``, 512 x 201
grid, x = 1 left out, uu[i, j] = u(x_i, t_j)). The dispersion sign is +0.0025, as in Raissi's code
and data (the spectral residual of the data is 1.6e-3 relative with +, 7.3 with -; Raissi's
docs/index.md writes the discrete operator with -, which the data contradicts). The wave steepens
until dispersion breaks it into a train of solitons (after about t = 0.3) that travel at
different speeds and pass through each other, so u has narrow, moving peaks of height up to 2.3.

Periodicity in x is exact: the network sees x through (cos(pi x), sin(pi x)) (``periodic``). The
initial condition is a loss term with a large weight, as for Allen-Cahn.

Defaults: time marching (``curriculum=20``, ``curriculum_mode=march``), as equations/allen_cahn.py:
window k = [(k-1)/20, k/20] is trained on its own from the parameters window k-1 ended with, its
initial condition being window k-1's end state; the solution is window k's network on window k.
Window 1 gets 1000 Adam steps (points redrawn every 200 steps), then every window 550 float32
L-BFGS iterations (an equal share of the 11000), with 3000 points per window and a 64 x 4 tanh
network. float32, as for Allen-Cahn: the losses the windows end at (residual up to 3e-4 mean
square) are far above float32's floor, so precision is not what limits the error.

Measured (``pinnlab solve equations/kdv.py --set threads=1``, whole command, seed 0, one thread
under ``nice -n 19`` on the shared 2-core machine, load average 3 to 6): rel. L2 2.57e-3 in
1717 s. The error grows over time: 2.3e-4 for t < 0.1, 8.4e-4 for 0.1 < t < 0.2, then a jump
to 2.2e-3 while the wave steepens and breaks up (0.2 < t < 0.3), and 3.7e-3 for t > 0.9: each
window inherits the error of the state it starts from. The issue's target of 1e-3 in 30 minutes
is not met (published: PirateNet 4.3e-4, on a GPU with a far larger budget).
Tried, same seed and budget (1000 Adam steps + 11000 L-BFGS iterations): 10 windows of 0.1 (1100
iterations each): 3.08e-3 in 1748 s (2.6e-4 for t < 0.1, 5.4e-3 for t > 0.9). Not tried for lack
of time: float64, a wider network, the second-order phase (single window only), ``balance``.
"""

import math

import torch

from pinnlab import GridData, Initial, Interval, TimeInterval

dispersion = 0.0025

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def residual(u, u_t, u_x, u_xxx):
    return u_t + u * u_x + dispersion * u_xxx


conditions = {"initial": Initial(lambda x: torch.cos(math.pi * x))}

reference = GridData(
    "../../shared/reference/raissi_KdV.mat", axes={"x": "x", "t": "tt"}, fields={"u": "uu"}
)

defaults = {
    "width": 64, "depth": 4, "periodic": "x", "points": 3000, "boundary_points": 512,
    "weights": {"initial": 100.0}, "dtype": "float32",
    "steps": 1000, "lr": 1e-3, "resample_every": 200, "lbfgs_steps": 11000,
    "curriculum": 20, "curriculum_mode": "march", "curriculum_every": 0,
}
