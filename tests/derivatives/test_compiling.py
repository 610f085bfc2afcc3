"""When the derivative engine is compiled: the compile setting, the missing-compiler error, and
that the solver's engine follows the setting."""

import pytest
import torch

from pinnlab import Hyperbox, load_problem
from pinnlab.derivatives import compiling
from pinnlab.derivatives.compiling import AUTO_MIN_STEPS, should_compile
from pinnlab.derivatives.engines import Autograd, Jets
from pinnlab.model.field_model import build_model
from pinnlab.solver.job import resolve_settings, training_engine

CPU = torch.device("cpu")


def test_auto_waits_for_runs_that_repay_a_cold_compilation():
    # 5000 steps (the default Burgers solve) were measured slower compiled from a cold cache
    assert AUTO_MIN_STEPS >= 10000
    assert not should_compile("auto", 5000, CPU, uses_jets=True)


def test_auto_compiles_long_jet_runs_only():
    assert should_compile("auto", AUTO_MIN_STEPS, CPU, uses_jets=True)
    assert not should_compile("auto", AUTO_MIN_STEPS - 1, CPU, uses_jets=True)
    assert not should_compile("auto", 10 * AUTO_MIN_STEPS, CPU, uses_jets=False)
    assert not should_compile("off", 10 * AUTO_MIN_STEPS, CPU, uses_jets=True)
    assert should_compile("on", 1, CPU, uses_jets=True)


def test_without_a_compiler_auto_stays_eager_and_on_says_why(monkeypatch):
    monkeypatch.setattr(compiling.shutil, "which", lambda name: None)
    assert not should_compile("auto", 10 * AUTO_MIN_STEPS, CPU, uses_jets=True)
    with pytest.raises(ValueError, match="C\\+\\+ compiler"):
        should_compile("on", 1, CPU, uses_jets=True)


def test_on_with_autograd_engine_is_refused():
    with pytest.raises(ValueError, match="engine=autograd"):
        should_compile("on", 1, CPU, uses_jets=False)


def test_solver_engine_follows_the_setting():
    problem = load_problem("equations/burgers.py")

    def engine(overrides):
        settings = resolve_settings(problem, overrides)
        return training_engine(problem, build_model(problem, settings), settings)

    # the shipped 1000 + 4000 steps do not repay a cold compilation: eager (docs/performance.md)
    assert engine({}) == Jets(compile=False, fallback=Autograd())
    assert engine({"lbfgs.steps": AUTO_MIN_STEPS}) == Jets(compile=True, fallback=Autograd())
    assert engine({"adam.steps": 10, "lbfgs.steps": 10}) == Jets(compile=False, fallback=Autograd())
    assert engine({"numerics.engine": "autograd"}) == Autograd()
    with pytest.raises(ValueError, match="engine=autograd"):
        engine({"numerics.engine": "autograd", "numerics.compile": "on"})
    with pytest.raises(ValueError, match="compile must be one of"):
        resolve_settings(problem, {"numerics.compile": "fast"})


def test_hyperbox_names_its_coordinates_and_samples_inside():
    box = Hyperbox([0] * 10, [1] * 5 + [2] * 5)
    assert box.names == tuple(f"x{i}" for i in range(1, 11))
    lo, hi = box.bounds()
    from pinnlab.geometry.sampling import make_sampler
    points = box.sample_interior(500, make_sampler("sobol", seed=0))
    assert points.shape == (500, 10)
    assert (points >= lo).all() and (points <= hi).all()
    assert points[:, 9].mean() == pytest.approx(1.0, abs=0.05)  # x10 in [0, 2]
    with pytest.raises(ValueError, match="Hyperbox"):
        Hyperbox(0, 1)
