"""The same code on a CUDA device as on the CPU: every derivative engine, each second-order method
in float64, a whole solve with refinement and compiled jets, and bit-identical resuming.

CI has no GPU, so these are skipped there (pytest -ra lists them with the reason); they run on
the GPU machine with ``python -m pytest tests/runtime/test_cuda.py`` (Burgers and KdV load their reference
data from ../shared/reference, as the other tests do)."""

import numpy as np
import pytest
import torch

from pinnlab import load_problem, resolve_settings, solve
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.losses import residual_values
from pinnlab.training.collocation import sample_interior
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler
from tests.training.test_checkpoints import QUICK, Interrupt, poisson, run_until
from tests.training.test_second_order import pinn_losses

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (the GPU machine runs these)")
CUDA = torch.device("cuda")


# KdV's periodic input embedding is outside what the jets take (auto uses autograd there)
@pytest.mark.parametrize("equation, engine", [
    (equation, engine) for equation in ("burgers", "kdv", "helmholtz")
    for engine in ("auto", "jets", "autograd", "func") if (equation, engine) != ("kdv", "jets")])
def test_residuals_on_cuda_match_the_cpu(equation, engine):
    problem = load_problem(f"equations/{equation}.py")
    settings = resolve_settings(problem, {"numerics.dtype": "float64", "numerics.engine": engine,
                                          "numerics.compile": "off"})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    points = sample_interior(problem, 512, make_sampler("sobol", seed=0), torch.float64, torch.device("cpu"))
    on_cpu = residual_values(problem, model, points, create_graph=False)
    on_cuda = residual_values(problem, model.to(CUDA), points.to(CUDA), create_graph=False)
    for name, value in on_cpu.items():
        assert on_cuda[name].device.type == "cuda"
        torch.testing.assert_close(on_cuda[name].cpu(), value, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("method", ["lm", "lm-svd", "bfgs", "ssbfgs", "ssbroyden"])
def test_second_order_methods_on_cuda_follow_the_cpu(method):
    on_cuda = pinn_losses(method, 15, "cuda")
    assert all(b <= a for a, b in zip(on_cuda, on_cuda[1:])), on_cuda
    assert on_cuda[-1] < 0.05 * on_cuda[0]
    # float64 on both: the two paths differ only in summation order, far below these digits
    np.testing.assert_allclose(on_cuda, pinn_losses(method, 15), rtol=1e-6)


def test_solve_on_cuda_with_compiled_jets_and_refinement(tmp_path):
    """Adam -> L-BFGS -> SSBroyden with RAD on the GPU, jets compiled: as accurate as the CPU
    (measured on an H100, before SSBroyden's first trial step became Polyak's: 4.5e-5 on CUDA,
    1.0e-5 on the CPU, eager)."""
    problem = poisson()
    errors = {}
    for device in ("cpu", "cuda"):
        settings = resolve_settings(problem, {
            **QUICK, "numerics.device": device, "numerics.dtype": "float64", "sampling.points": 2048,
            "adam.steps": 300, "lbfgs.steps": 100,
            "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 200, "refine.method": "rad", "refine.every": 100,
            "refine.pool": 4096, "numerics.compile": "on" if device == "cuda" else "off"})
        result = solve(problem, settings, tmp_path / device)
        assert (tmp_path / device / "fields.h5").is_file()
        errors[device] = result.metrics["rel_l2"]["u"]
    assert errors["cuda"] < 1e-4 and errors["cpu"] < 1e-4, errors
    assert "cuda" in result.metrics["machine"]


@pytest.mark.parametrize("overrides, stop_at", [
    ({"refine.method": "rad", "refine.every": 25, "refine.pool": 1000}, 55),   # inside Adam, with RAD
    ({"lbfgs.steps": 0, "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 40, "refine.method": "rad",
      "refine.every": 15, "refine.pool": 1000}, 85),                    # inside SSBroyden, with RAD
])
def test_resumed_cuda_run_ends_bit_identical(tmp_path, overrides, stop_at):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "numerics.device": "cuda", "adam.steps": 60,
                                          "lbfgs.steps": 80, **overrides})
    whole, whole_model = run_until(problem, settings, CheckpointStore(tmp_path / "whole"))
    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=stop_at)
    resumed, resumed_model = run_until(problem, settings, store, resume=True)
    for name, value in whole_model.state_dict().items():
        assert value.device.type == "cuda"
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert resumed.history == whole.history
    assert torch.equal(resumed.collocation.interior, whole.collocation.interior)
