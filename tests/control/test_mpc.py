"""The MPC baseline (CasADi + IPOPT): on the unconstrained double integrator with the Riccati
terminal cost its first input is the LQR feedback -K x, K from scipy's discrete algebraic
Riccati solution; with bounds, its closed loop keeps them and warm starts change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_are

pytest.importorskip("casadi")

from pinnlab.control.mpc import MPC, mpc_closed_loop  # noqa: E402
from pinnlab.control.problem import define_control  # noqa: E402
from pinnlab.control.rollout import margins  # noqa: E402
from tests.control.test_rollout import LINEAR  # noqa: E402

DT = 0.1
A = np.array([[1.0, DT], [0.0, 1.0]])
B = np.array([[DT * DT / 2], [DT]])
Q, R = np.diag([1.0, 0.5]), np.array([[0.2]])


def unconstrained(horizon: int) -> object:
    P = solve_discrete_are(A, B, Q, R)
    return define_control({
        "states": ["p", "v"], "inputs": ["a"], "dt": DT, "horizon": horizon,
        "dynamics": lambda p, v, a: {"p": v, "v": a},
        "stage_cost": lambda p, v, a: p * p + 0.5 * v * v + 0.2 * a * a,
        "terminal_cost": lambda p, v: P[0, 0] * p * p + 2 * P[0, 1] * p * v + P[1, 1] * v * v,
        "input_bounds": {"a": (-1e3, 1e3)}, "initial_states": {"p": (-1, 1), "v": (-1, 1)},
    })


@pytest.mark.parametrize("horizon", [1, 10])
def test_first_input_is_the_lqr_gain(horizon: int) -> None:
    P = solve_discrete_are(A, B, Q, R)
    K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    mpc = MPC(unconstrained(horizon), warm_start=False, tolerance=1e-10)
    states = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    inputs = np.array([mpc.control(x) for x in states])
    assert np.allclose(inputs, -states @ K.T, atol=1e-7)
    gain = -np.linalg.lstsq(states, inputs, rcond=None)[0].T  # K read back from the inputs
    assert np.allclose(gain, K, rtol=1e-6)


def test_constrained_closed_loop_keeps_the_bounds_warm_or_cold() -> None:
    x0 = LINEAR.sample_initial(3, torch.Generator().manual_seed(5))
    warm, cold = MPC(LINEAR), MPC(LINEAR, warm_start=False)
    runs = [mpc_closed_loop(mpc, x0) for mpc in (warm, cold)]
    for run in runs:
        assert float(margins(LINEAR, run.states).min()) > -1e-6
        assert float(run.inputs.abs().max()) <= 1.0
    assert torch.allclose(runs[0].cost, runs[1].cost, rtol=1e-6)
    assert warm.failures == cold.failures == 0
    assert float(margins(LINEAR, runs[0].states).min()) < 1e-3  # the speed limit is reached (active)
