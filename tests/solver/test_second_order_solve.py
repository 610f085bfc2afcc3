"""The second-order phase inside the solver: Levenberg-Marquardt solves the shipped Helmholtz
problem where Adam alone does not, refinement goes on inside the phase and resolves the Burgers
shock that fixed points miss, and the phase's settings are checked."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnlab import load_problem, resolve_settings
from pinnlab.model.field_model import build_model
from pinnlab.output.accuracy import relative_error as relative_l2
from pinnlab.training.plan import build_training, check_second_order
from pinnlab.training.trainer import train

HELMHOLTZ = load_problem("equations/helmholtz.py")
BURGERS_DATA = Path(__file__).resolve().parents[3] / "shared" / "reference" / "deepxde_Burgers.npz"
QUICK = {"network.width": 24, "network.depth": 2, "sampling.points": 800, "adam.steps": 200,
         "output.progress": False, "numerics.threads": 1}


def relative_error(model, problem) -> float:
    points = torch.rand(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    exact = torch.sin(math.pi * points[:, 0]) * torch.sin(4 * math.pi * points[:, 1])
    with torch.no_grad():
        u = model(points)[:, 0]
    return float((u - exact).norm() / exact.norm())


def test_levenberg_marquardt_phase_solves_helmholtz_where_adam_alone_does_not():
    adam_only = resolve_settings(HELMHOLTZ, {**QUICK, "phases": "adam"})
    model = build_model(HELMHOLTZ, adam_only)
    train(HELMHOLTZ, model, adam_only)
    assert relative_error(model, HELMHOLTZ) > 0.5

    settings = resolve_settings(HELMHOLTZ, {**QUICK, "lm.steps": 80})
    model = build_model(HELMHOLTZ, settings)
    result = train(HELMHOLTZ, model, settings)
    assert relative_error(model, HELMHOLTZ) < 5e-2  # 2.2e-2 after 60 iterations when measured
    assert result.second_order_stop == "reached lm.steps=80"
    assert result.phases[-1] == (200, "lm") and result.steps == 280
    losses = result.history["total"]
    lm_losses = [loss for step, loss in zip(result.history["step"], losses) if step >= 200]
    assert all(b <= a for a, b in zip(lm_losses, lm_losses[1:]))


def test_second_order_settings_are_checked():
    with pytest.raises(ValueError, match="second_order must be one of"):
        resolve_settings(HELMHOLTZ, {"second_order": "newton"})
    heat = load_problem("equations/heat.py")
    with pytest.raises(ValueError, match="phase lm runs in one process; it is not available under torchrun"):
        check_second_order(resolve_settings(heat, {"phases": "adam,lbfgs,lm", "lm.steps": 5}), is_distributed=True)
    settings = resolve_settings(heat, {"phases": "adam,lbfgs,lm", "lm.steps": 5, "causal.eps": 1.0})
    with pytest.raises(ValueError, match=r"phase lm .* causal weights \(causal.eps\)"):
        build_training(heat, build_model(heat, settings), settings)
    settings = resolve_settings(heat, {"phases": "adam,lbfgs,bfgs", "bfgs.steps": 5, "curriculum.windows": 2,
                                       "curriculum.mode": "march", "lbfgs.steps": 10})
    with pytest.raises(ValueError,
                       match=r"curriculum.mode=march .* L-BFGS \(lbfgs.steps=10\) or bfgs \(bfgs.steps=5\), not both"):
        build_training(heat, build_model(heat, settings), settings)


@pytest.mark.parametrize("method", ["ssbroyden", "lm"])
def test_points_are_refined_inside_the_second_order_phase(method):
    """RAR every 10 iterations goes on through the phase: points are added where the residual
    is largest, and the method carries on from each new point set to its full budget."""
    heat = load_problem("equations/heat.py")
    settings = resolve_settings(heat, {
        "network.width": 8, "network.depth": 2, "sampling.points": 100, "sampling.boundary_points": 20,
        "adam.steps": 20, "lbfgs.steps": 0,
        "phases": f"adam,lbfgs,{method}", f"{method}.steps": 30, "refine.method": "rar", "refine.every": 10,
        "refine.points": 15, "refine.pool": 500, "output.progress": False, "numerics.threads": 1,
    })
    model = build_model(heat, settings)
    result = train(heat, model, settings)
    assert [r.step for r in result.refinements] == [10, 20, 30, 40]  # two in Adam, two in the phase (from 20)
    assert [len(r.points) for r in result.refinements] == [115, 130, 145, 160]
    assert len(result.collocation.interior) == 160
    assert result.second_order_stop == f"reached {method}.steps=30" and result.steps == 50
    for record in result.refinements[2:]:  # the 15 added points carry the largest residuals
        added, kept = record.residual[-15:], record.residual[:-15]
        assert added.min() >= np.quantile(kept, 0.5)


@pytest.mark.skipif(not BURGERS_DATA.exists(), reason="needs ../shared/reference")
def test_refinement_inside_the_phase_resolves_the_burgers_shock():
    """SSBroyden fits fixed points so well that the shock, about 0.003 wide, falls between them;
    with RAD going on inside the phase the points follow the residual into it. Measured (seed 0,
    one thread): fixed 2.6e-1, RAD 6.5e-4, the same in every process."""
    burgers = load_problem("equations/burgers.py")
    reference = np.load(BURGERS_DATA)
    x, t = np.meshgrid(reference["x"].ravel(), reference["t"].ravel(), indexing="ij")
    grid = torch.tensor(np.stack([x.ravel(), t.ravel()], axis=1))
    exact = reference["usol"].ravel()
    # one thread ("threads": 1 below), as measured: on this small network summing in another
    # order (more threads) sends SSBroyden down another path
    errors = {refine: burgers_error(burgers, refine, grid, exact) for refine in ("none", "rad")}
    assert errors["rad"] < 1e-2 and errors["none"] > 5e-2, errors


def burgers_error(burgers, refine, grid, exact) -> float:
    """Relative L2 error of a small float64 Burgers solve (300 Adam steps, 1500 SSBroyden
    iterations) with points fixed or refined every 250 steps; checks where refinements happen."""
    settings = resolve_settings(burgers, {
        "numerics.dtype": "float64", "network.width": 16, "network.depth": 3, "sampling.points": 1000,
        "adam.steps": 300, "lbfgs.steps": 0,
        "phases": "adam,lbfgs,ssbroyden", "ssbroyden.steps": 1500, "refine.method": refine, "refine.every": 250,
        "refine.pool": 8000, "output.progress": False, "numerics.threads": 1, "numerics.compile": "off",
    })
    torch.manual_seed(0)
    model = build_model(burgers, settings)
    result = train(burgers, model, settings)
    with torch.no_grad():
        u = model(grid)[:, 0].numpy()
    if refine == "rad":  # one in Adam, then every 250 iterations counted from the phase's start
        assert [r.step for r in result.refinements] == [250, 550, 800, 1050, 1300, 1550]
    return relative_l2(u, exact)
