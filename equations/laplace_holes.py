"""Laplace equation on a square with four holes (PINNacle Poisson2d-C).

u_xx + u_yy = 0 on [-0.5, 0.5]^2 minus four disks of radius 0.1 centred at (+-0.3, +-0.3), with
u = 1 on the outer square and u = 0 on the four circles. The reference is PINNacle's COMSOL
solution at its 1246 mesh nodes (``equations/data/pinnacle_poisson1_cg_data.dat``); the
error is measured at those nodes.

Both boundary conditions hold exactly: with s = 16 (1/4 - x^2)(1/4 - y^2), which vanishes on
the square, and h = prod_i (r_i^2 - R^2) / (r_i^2 + R^2), which vanishes on the circles (r_i is
the distance to centre i), the solution is u = h / (h + s) + s h N for the network output N. The
first term is 1 on the square and 0 on the circles (h + s > 0 on the closed domain), and the
second vanishes on both. The residual is then the only loss term, a plain sum of squares, so a
small network (20 x 3, 921 parameters) takes a short Adam warm-up and then Levenberg-Marquardt
(``second_order=lm``), which drives it far lower than Adam or L-BFGS would.

Measurements, and PINNacle's published figure for the same problem: docs/equations.md.
"""

import torch

from pinnlab import Dirichlet, Disk, Rectangle, TableData

R = 0.1
CENTRES = [(0.3, 0.3), (-0.3, 0.3), (0.3, -0.3), (-0.3, -0.3)]

domain = Rectangle((-0.5, -0.5), (0.5, 0.5))
for centre in CENTRES:
    domain = domain - Disk(centre, R, name="holes")
fields = ["u"]


def residual(u_xx, u_yy):
    return u_xx + u_yy


def square_distance(x, y):
    """Vanishes on the outer square, positive inside: (1/4 - x^2)(1/4 - y^2) scaled to 1 at 0."""
    return 16 * (0.25 - x**2) * (0.25 - y**2)


def hole_distance(x, y):
    """Vanishes on the four circles, positive outside them: prod (r_i^2 - R^2) / (r_i^2 + R^2)."""
    d = torch.ones_like(x)
    for cx, cy in CENTRES:
        r2 = (x - cx) ** 2 + (y - cy) ** 2
        d = d * (r2 - R**2) / (r2 + R**2)
    return d


def output_transform(x, y, u):
    s, h = square_distance(x, y), hole_distance(x, y)
    return h / (h + s) + s * h * u


conditions = {
    "outer": Dirichlet(1.0, on=lambda x, y: (x.abs() > 0.5 - 1e-9) | (y.abs() > 0.5 - 1e-9), exact=True),
    "holes": Dirichlet(0.0, on="holes", exact=True),
}

reference = TableData("data/pinnacle_poisson1_cg_data.dat")

defaults = {
    "network": {"width": 20, "depth": 3},
    "sampling": {"points": 2000, "boundary_points": 400},
    "phases": "adam,lm",
    "adam": {"steps": 1000, "lr": 1e-3},
    "lm": {"steps": 300},
    "numerics": {"dtype": "float64"},
}
