"""Double integrator with a speed limit: position p, velocity v, acceleration a.

    dp/dt = v,  dv/dt = a,  |a| <= 1,  |v| <= 1,  sampled every dt = 0.2 over 25 steps (5 s)

Stage cost p^2 + v^2 + 0.1 a^2 per sampling interval. The terminal cost is x' P x with P the
solution of the discrete algebraic Riccati equation of the sampled system (exact for piecewise-
constant inputs: x+ = A x + B a), so the finite horizon with this terminal cost is the infinite
horizon wherever the bounds are inactive. Initial positions up to 4 away need about 4 s at the
speed limit, so the velocity bound is active on most of the initial states.
"""

import numpy as np
from scipy.linalg import solve_discrete_are

states = ["p", "v"]
inputs = ["a"]
dt = 0.2
horizon = 25

A = np.array([[1.0, dt], [0.0, 1.0]])
B = np.array([[dt * dt / 2], [dt]])
Q, R = np.eye(2), np.array([[0.1]])
P = solve_discrete_are(A, B, Q, R)
constants = {"P11": float(P[0, 0]), "P12": float(P[0, 1]), "P22": float(P[1, 1])}


def dynamics(p, v, a):
    return {"p": v, "v": a}


def stage_cost(p, v, a):
    return p * p + v * v + 0.1 * a * a


def terminal_cost(p, v, P11, P12, P22):
    return P11 * p * p + 2 * P12 * p * v + P22 * v * v


input_bounds = {"a": (-1.0, 1.0)}
state_bounds = {"v": (-1.0, 1.0)}
initial_states = {"p": (-4.0, 4.0), "v": (-1.0, 1.0)}
defaults = {"samples": 256, "backoff": 2e-3}
