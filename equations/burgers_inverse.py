"""Burgers identification: lambda_1 and lambda_2 learned from 2000 samples of the solution.

    u_t + lambda_1 u u_x - lambda_2 u_xx = 0   on x in [-1, 1], t in [0, 0.99]

The data are those of Raissi, Perdikaris & Karniadakis (2019), section 4.1: N_u = 2000 points
drawn at random, without replacement, from the 256 x 100 grid x = linspace(-1, 1, 256),
t = linspace(0, 0.99, 100) of the solution with u(x, 0) = -sin(pi x), u(+-1, t) = 0 and
lambda_1 = 1, lambda_2 = 0.01/pi. The grid values are computed here, at import, by the Cole-Hopf
quadrature of pinnlab/problem/burgers_exact.py (which reproduces Raissi's burgers_shock.mat to
4.2e-11 at most; docs/references.md), so nothing is downloaded.

Neither the initial nor the boundary condition is given to the training: only the samples and
the equation, whose residual is enforced at collocation points over the whole domain. lambda_2
is positive and learned through its logarithm. ``equations/burgers_inverse_noisy.py`` is the same
problem with 1% noise on the samples.

The defaults: a float64 4 x 20 tanh network, 1000 Adam steps, then 5000 SSBroyden iterations
with the 4000 collocation points redrawn by residual (RAD) every 500, so that they follow the
shock; the last phase being second-order, metrics.json gives each coefficient a Gauss-Newton
standard deviation. Measurements, beside Raissi et al.'s figures: docs/equations.md.
"""

import math

import numpy as np

from pinnlab import ExactOnGrid, Interval, Observations, TimeInterval, Unknown
from pinnlab.problem.burgers_exact import burgers_sine

LAMBDA_1 = 1.0
LAMBDA_2 = 0.01 / math.pi
SAMPLES = 2000
NOISE = 0.0
"""Relative noise on the samples: u + NOISE * std(u) * N(0, 1), Raissi et al.'s definition."""

x_axis = np.linspace(-1.0, 1.0, 256)
t_axis = np.linspace(0.0, 0.99, 100)
u_grid = burgers_sine(x_axis[:, None], t_axis[None, :], LAMBDA_2)  # (256, 100), like usol


def samples(noise: float = NOISE) -> Observations:
    """The data set: SAMPLES grid points (seeded), with ``noise`` relative Gaussian noise."""
    return Observations({"x": x_axis, "t": t_axis, "u": u_grid}, inputs=["x", "t"], fields=["u"],
                        points=SAMPLES, noise=noise, seed=1234)


domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 0.99)
fields = ["u"]
unknowns = {
    "lambda_1": Unknown(0.0, true=LAMBDA_1),
    "lambda_2": Unknown(math.exp(-6.0), positive=True, true=LAMBDA_2),
}
data = {"samples": samples()}


def residual(u, u_t, u_x, u_xx, lambda_1, lambda_2):
    return u_t + lambda_1 * u * u_x - lambda_2 * u_xx


reference = ExactOnGrid(lambda x, t: burgers_sine(x, t, LAMBDA_2), axes={"x": x_axis, "t": t_axis})

defaults = {
    "numerics.dtype": "float64",
    "network": {"width": 20, "depth": 4},
    "sampling": {"points": 4000},
    "adam": {"steps": 1000, "lr": 1e-3},
    "phases": "adam,ssbroyden",
    "ssbroyden.steps": 5000,
    "refine": {"method": "rad", "every": 500},
}
