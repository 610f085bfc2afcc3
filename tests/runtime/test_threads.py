"""The ``threads`` setting holds torch and the BLAS behind numpy and scipy to that many threads
for the length of a solve, and gives both back after."""

import numpy as np
import torch
from threadpoolctl import threadpool_info

from pinnlab import Dirichlet, Interval, Problem, resolve_settings, solve
from pinnlab.model.field_model import build_model
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.trainer import train


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_thread_limit_holds_torch_and_blas_and_restores_them():
    torch_before, blas_before = torch.get_num_threads(), blas_threads()
    assert blas_before, "numpy and scipy load a BLAS that threadpoolctl can see"
    with thread_limit(1):
        assert torch.get_num_threads() == 1
        assert blas_threads() == [1] * len(blas_before)
    assert torch.get_num_threads() == torch_before and blas_threads() == blas_before
    with thread_limit(0):  # 0: torch's and BLAS's own defaults, untouched
        assert torch.get_num_threads() == torch_before and blas_threads() == blas_before


def thread_recording_problem(seen: list) -> Problem:
    """A small Poisson problem whose residual notes the torch and BLAS thread counts it runs on."""

    def residual(u_xx, x):
        seen.append((torch.get_num_threads(), blas_threads()))
        return u_xx + np.pi**2 * torch.sin(np.pi * x)

    return Problem.define("threads", domain=Interval(0.0, 1.0), residual=residual,
                          conditions={"ends": Dirichlet(0.0)})


def test_solve_runs_on_the_threads_it_was_given(tmp_path):
    seen = []
    problem = thread_recording_problem(seen)
    before = torch.get_num_threads()
    settings = resolve_settings(problem, {"adam.steps": 3, "lbfgs.steps": 0, "sampling.points": 32,
                                          "network.width": 8,
                                          "network.depth": 1, "output.progress": False, "numerics.threads": 1})
    result = solve(problem, settings, tmp_path)
    assert seen and all(t == 1 and set(b) == {1} for t, b in seen)
    assert result.metrics["machine"].split(", ")[1] == "1 threads"
    assert torch.get_num_threads() == before


def test_train_alone_runs_on_the_threads_it_was_given():
    """``train`` is public too: called without ``solve`` it still keeps to ``threads``."""
    seen = []
    problem = thread_recording_problem(seen)
    before = torch.get_num_threads()
    settings = resolve_settings(problem, {"adam.steps": 3, "lbfgs.steps": 2, "sampling.points": 32,
                                          "network.width": 8,
                                          "network.depth": 1, "output.progress": False, "numerics.threads": 1})
    torch.manual_seed(0)
    train(problem, build_model(problem, settings), settings)
    assert seen and all(t == 1 and set(b) == {1} for t, b in seen)
    assert torch.get_num_threads() == before
