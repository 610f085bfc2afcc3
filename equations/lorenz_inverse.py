"""Lorenz system: its three parameters learned from 100 samples of one trajectory.

    x' = sigma (y - x),   y' = x (rho - z) - y,   z' = x y - beta z,   t in [0, 3]

from x(0) = -8, y(0) = 7, z(0) = 27 with sigma = 10, rho = 15, beta = 8/3, the case of
DeepXDE's Lorenz example. The trajectory is simulated here, at import, by
``scipy.integrate.solve_ivp`` (DOP853, tolerances 1e-12), and sampled at 100 equally spaced
times: those noise-free values of x, y and z are the data set ``trajectory``; its dense output is
the reference for the error of x, y and z. sigma, rho and beta start at 1.0 each and are learned
with the network, whose three outputs are x, y and z as functions of time, the only input.

The choices that make it work in about a minute:

- the data set weighs 100: at weight 1 the physics pulls the fit to a trajectory that hardly
  moves (sigma near 0), which satisfies the equations and misses the data; the data are exact,
  so a heavier weight does not bias the solution the terms share;
- ``output_transform`` scales the network's outputs by 10, the size of x, y and z;
- Levenberg-Marquardt alone, 100 iterations, float64: the network (3 x 32, 2275 parameters) is
  small enough, and it reaches the data within 1e-5 where Adam still works on the fast start.

Measured (docs/inverse.md): sigma, rho, beta within 3e-4 of the truth for seeds 0, 1 and 2, about
65 to 85 s on one thread.
"""

import numpy as np
import torch
from scipy.integrate import solve_ivp

from pinnlab import Exact, Observations, TimeInterval, Unknown

SIGMA, RHO, BETA = 10.0, 15.0, 8.0 / 3.0
START = (-8.0, 7.0, 27.0)
T_END = 3.0


def lorenz(t, state, sigma=SIGMA, rho=RHO, beta=BETA):
    x, y, z = state
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


simulated = solve_ivp(lorenz, (0.0, T_END), START, method="DOP853", rtol=1e-12, atol=1e-12, dense_output=True)
times = np.linspace(0.0, T_END, 100)
trajectory = simulated.sol(times)

domain = TimeInterval(0.0, T_END)
fields = ["x", "y", "z"]
unknowns = {
    "sigma": Unknown(1.0, true=SIGMA),
    "rho": Unknown(1.0, true=RHO),
    "beta": Unknown(1.0, true=BETA),
}
data = {"trajectory": Observations({"t": times, "x": trajectory[0], "y": trajectory[1], "z": trajectory[2]}, weight=100.0)}


def exact(t):
    """The simulated trajectory at any times (its dense output), for the error of x, y and z."""
    values = simulated.sol(t.detach().cpu().numpy())
    return {f: torch.as_tensor(values[k], dtype=t.dtype, device=t.device) for k, f in enumerate(fields)}


reference = Exact(exact)


def output_transform(t, x, y, z):  # the network works at order 1, the solution at order 10
    return {"x": 10 * x, "y": 10 * y, "z": 10 * z}


residuals = {
    "dx": lambda x, y, x_t, sigma: x_t - sigma * (y - x),
    "dy": lambda x, y, z, y_t, rho: y_t - x * (rho - z) + y,
    "dz": lambda x, y, z, z_t, beta: z_t - x * y + beta * z,
}

defaults = {"numerics.dtype": "float64", "sampling.points": 200, "network.width": 32, "network.depth": 3,
            "phases": "lm", "lm.steps": 100, "output.log_every": 20}
