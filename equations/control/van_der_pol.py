"""Van der Pol oscillator driven to rest with a saturated input and a bound on the velocity.

    dx/dt = y,  dy/dt = mu (1 - x^2) y - x + u,  mu = 1,  |u| <= 1,  y >= -1.5,

sampled every dt = 0.1 over 30 steps (3 s), from initial states uniform in [-2, 2] x [-1.5, 1.5].
Unforced, the origin is unstable and every run winds onto the limit cycle (amplitude 2), whose
velocity reaches -2.7: the input, at most 1, has to hold the velocity above -1.5 against it.
Stage cost x^2 + y^2 + 0.1 u^2 per sampling interval, terminal cost 10 (x^2 + y^2).
"""

states = ["x", "y"]
inputs = ["u"]
dt = 0.1
horizon = 30
constants = {"mu": 1.0}


def dynamics(x, y, u, mu):
    return {"x": y, "y": mu * (1 - x * x) * y - x + u}


def stage_cost(x, y, u):
    return x * x + y * y + 0.1 * u * u


def terminal_cost(x, y):
    return 10.0 * (x * x + y * y)


input_bounds = {"u": (-1.0, 1.0)}
state_bounds = {"y": (-1.5, None)}
initial_states = {"x": (-2.0, 2.0), "y": (-1.5, 1.5)}
defaults = {"substeps": 2}
