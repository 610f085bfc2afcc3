"""Allen-Cahn: u_t - d u_xx + 5 u^3 - 5 u = 0 on x in [-1, 1] (periodic), t in [0, 1], d = 1e-4.

u(x, 0) = x^2 cos(pi x). The reference is Raissi's spectral solution (512 x 201 grid). Thin
interfaces form and move slowly, and the initial condition has a kink in u_x at x = +-1, so
plain Adam training on the whole time interval settles on a wrong, smeared solution; a time
curriculum resolves early times first (causal weights are available but off, see below).

Periodicity in x is exact: the network sees x through (cos(pi x), sin(pi x)) (``periodic``).
The initial condition is a loss term with a large weight; imposing it exactly through
``output_transform`` would force the kink of u_x at x = +-1 into every later time.

Defaults (tuned on a loaded 2-core CPU, threads=1): time marching with 10 windows, Adam only
for the first 1000 steps (windows 1-2, points redrawn every 200 steps), then L-BFGS takes each
later window for 1200 iterations (``curriculum_every`` counts Adam and L-BFGS steps; the last
window gets whatever is left). Every window is reached by step 10800, so all of them are trained.
Causal weights are off: they are recomputed from detached losses at every closure call, so the
objective L-BFGS sees disagrees with its gradient and the line search stalls. float32 L-BFGS with
``lbfgs_restarts`` raised (a chunk that runs out of line-search evaluations counts as a stall)
gives twice the iterations of float64 in the same time and the better result.
Measured (seed 0, threads=1, loaded 2-core machine): rel. L2 3.2e-2 in 485 s for the whole
command. The issue's target of 1e-2 is not reached. With this much L-BFGS, uniform training on
the same budget (``--set curriculum=0``) did as well (2.8e-2); the curriculum helped only with
shorter L-BFGS (float64, 6300 iterations: 5.5e-2 against 1.3e-1 uniform).
"""

import math

import torch

from pinnlab import GridData, Initial, Interval, TimeInterval

d = 1e-4

domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
fields = ["u"]


def residual(u, u_t, u_xx):
    return u_t - d * u_xx + 5 * u**3 - 5 * u


conditions = {"initial": Initial(lambda x: x**2 * torch.cos(math.pi * x))}

reference = GridData(
    "../../shared/reference/raissi_AC.mat", axes={"x": "x", "t": "tt"}, fields={"u": "uu"}
)

defaults = {
    "width": 64, "depth": 4, "periodic": "x", "points": 3000, "boundary_points": 512,
    "weights": {"initial": 100.0}, "dtype": "float32",
    "steps": 1000, "lr": 1e-3, "resample_every": 200,
    "lbfgs_steps": 11000, "lbfgs_restarts": 1000,
    "curriculum": 10, "curriculum_every": 1200, "causal_eps": 0.0,
}
