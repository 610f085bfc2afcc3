"""A diffusion coefficient field k(x) learned from 30 samples of u.

    -(k(x) u_x)_x = f(x)   on x in [0, 1],   u(0) = u(1) = 0

with the manufactured solution u = sin(pi x) and coefficient k = 1 + 0.5 sin(2 pi x), f computed
from them in closed form. The network has two outputs, u and k; k appears in no condition and
is known to the training only through the equation. The data are u at 30 points drawn at random
(seeded) in (0, 1), without noise; u's boundary values are a Dirichlet condition.

Why k is determined: the equation integrates to k u_x = F(x) + C with F = -int_0^x f, and the
constant C is not fixed by u and f alone where u_x never vanishes (k + C / u_x would do as
well). Here u_x = pi cos(pi x) vanishes at x = 1/2 while u_xx does not, so any C other than the
true one gives k a pole there: among smooth coefficients only the true one fits, and at x = 1/2
the equation gives k directly, k = -f / u_xx.

k is kept positive by the output transform k = exp(raw output). The reference is exact for
both fields, so metrics.json reports the relative L2 error of k beside u's. The defaults: a
float64 20 x 3 network, 200 collocation points, 1000 Adam steps, then 3000 SSBroyden iterations.
Measurements: docs/equations.md.
"""

import math

import numpy as np
import torch

from pinnlab import Dirichlet, Exact, Interval, Observations

SAMPLES = 30


def exact_u(x):
    return torch.sin(math.pi * x)


def exact_k(x):
    return 1.0 + 0.5 * torch.sin(2 * math.pi * x)


def forcing(x):
    """f = -(k u_x)_x = -(k_x u_x + k u_xx) for the exact u and k."""
    k_x = math.pi * torch.cos(2 * math.pi * x)
    u_x = math.pi * torch.cos(math.pi * x)
    u_xx = -math.pi**2 * torch.sin(math.pi * x)
    return -(k_x * u_x + exact_k(x) * u_xx)


domain = Interval(0.0, 1.0)
fields = ["u", "k"]

sample_x = np.sort(np.random.default_rng(7).uniform(0.0, 1.0, SAMPLES))
data = {"samples": Observations({"x": sample_x, "u": np.sin(math.pi * sample_x)}, fields=["u"])}

conditions = {"ends": Dirichlet(0.0, field="u")}


def output_transform(x, u, k):
    return {"u": u, "k": torch.exp(k)}


def residual(x, u_x, u_xx, k, k_x):
    return -(k_x * u_x + k * u_xx) - forcing(x)


reference = Exact(lambda x: {"u": exact_u(x), "k": exact_k(x)})

defaults = {
    "numerics.dtype": "float64",
    "network": {"width": 20, "depth": 3},
    "sampling": {"points": 200},
    "adam": {"steps": 1000, "lr": 1e-3},
    "phases": "adam,ssbroyden",
    "ssbroyden.steps": 3000,
}
