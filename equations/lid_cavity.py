"""Steady lid-driven cavity flow at Re = 100 with a smooth lid (PINNacle NS2D_LidDriven, a = 4).

u.grad(u) + grad(p) - nu Lap(u) = 0 and div(u) = 0 on [0, 1]^2 with nu = 0.01; the lid y = 1
moves with u = 4x(1 - x), v = 0, the other walls are no-slip, and p(0, 0) = 0 fixes the pressure.
The reference is PINNacle's COMSOL solution (``../shared/reference/pinnacle_lid_driven_a4.dat``,
a 101 x 101 wall-refined grid whose rows are out of order; ``TableData`` sorts them into a grid).

The velocity boundary values hold exactly (``output_transform``: u = 4x(1 - x) y + w N_u,
v = w N_v with w = x(1 - x) y(1 - y)); the pressure gauge is a soft condition on the walls near
the origin. Where the lid meets the side walls, u_x = +-4 on the lid but v_y = 0 on the wall, so
continuity cannot hold at the two top corners: the flow is singular there (the reference pressure
peaks at -0.37 and +0.58 in those corners), and the reference grid, refined towards the walls,
counts those corners heavily in the error. Hence the defaults:

* ``refine=rad`` every 500 steps: collocation points are redrawn with density proportional to
  the residual, which puts a good share of them in the top corners. With 1500 points and 200 LM
  iterations it took the error from u 2.4e-2, v 4.4e-2, p 0.63 (nearly all in the corners) to
  u 6.9e-3, v 1.2e-2, p 9.5e-2 at the same cost (about 8 min); 2500 points and 250 LM
  iterations (the defaults) bring v below 1e-2.
* a small network (24 x 3, 1347 parameters) trained by Adam and L-BFGS, then Levenberg-Marquardt
  (``second_order=lm``), which brings the loss two orders lower than L-BFGS does. A larger
  network with L-BFGS only (32 x 4, 4000 points, 2000 Adam + 4000 L-BFGS, 561 s) stopped at
  u 1.9e-2, v 3.0e-2, p 0.57.

Measured: relative L2 error u 3.3e-3, v 6.4e-3, p 1.7e-1 over the 101 x 101 reference grid, in
879 s for the whole command ``pinnlab solve equations/lid_cavity.py --set threads=1`` (seed 0,
one thread under ``nice`` on a 2-core x86_64 CPU shared with other jobs, load average 3-5). The
same settings with ``checkpoint_every=20`` (which splits L-BFGS into other chunks) gave u 4.6e-3,
v 8.2e-3, p 1.5e-1 in 1034 s. The pressure error sits in the two top corners, where the
reference peaks.
"""

from pinnlab import Dirichlet, Rectangle, TableData

nu = 0.01

domain = Rectangle((0.0, 0.0), (1.0, 1.0))
fields = ["u", "v", "p"]


def momentum_x(u, v, u_x, u_y, p_x, u_xx, u_yy):
    return u * u_x + v * u_y + p_x - nu * (u_xx + u_yy)


def momentum_y(u, v, v_x, v_y, p_y, v_xx, v_yy):
    return u * v_x + v * v_y + p_y - nu * (v_xx + v_yy)


def continuity(u_x, v_y):
    return u_x + v_y


residuals = {"momentum_x": momentum_x, "momentum_y": momentum_y, "continuity": continuity}


def output_transform(x, y, u, v, p):
    """Velocity boundary values exactly: the lid profile times y, plus a correction that vanishes
    on every wall."""
    walls = x * (1 - x) * y * (1 - y)
    return {"u": 4 * x * (1 - x) * y + walls * u, "v": walls * v, "p": p}


conditions = {
    "lid_u": Dirichlet(lambda x: 4 * x * (1 - x), on="top", field="u", exact=True),
    "walls_u": Dirichlet(0.0, on=lambda y: y < 1 - 1e-9, field="u", exact=True),
    "walls_v": Dirichlet(0.0, field="v", exact=True),
    # p(0, 0) = 0, imposed on the walls within 0.02 of the corner, where |p| < 3e-5 in the reference
    "gauge": Dirichlet(0.0, on=lambda x, y: (x < 0.02) & (y < 0.02), field="p"),
}

reference = TableData("../../shared/reference/pinnacle_lid_driven_a4.dat",
                      inputs={"x": 0, "y": 1}, fields={"u": 2, "v": 3, "p": 4})

defaults = {
    "width": 24, "depth": 3, "points": 2500, "boundary_points": 100, "dtype": "float64",
    "steps": 1000, "lr": 1e-3, "lbfgs_steps": 1000, "refine": "rad", "refine_every": 500,
    "second_order": "lm", "second_order_steps": 250,
}
