"""Residual-based refinement puts points where the residual is large, with the density it claims;
non-finite losses stop training with the term named."""

import numpy as np
import pytest
import torch
from scipy import stats

from pinnlab import Interval, Problem, Rectangle, resolve_settings
from pinnlab.commands.main import main
from pinnlab.training.collocation import Collocation
from pinnlab.training.refinement import refine
from pinnlab.geometry.sampling import make_sampler


class Zero(torch.nn.Module):
    fields = ("u",)

    def forward(self, p):
        return torch.zeros(len(p), 1, dtype=p.dtype) + 0 * p[:, :1]


def bump(x, y):
    return torch.exp(-200 * ((x - 0.3) ** 2 + (y - 0.7) ** 2))


BUMP = Problem.define("bump", domain=Rectangle((0, 0), (1, 1)), residual=lambda u, x, y: u - bump(x, y))


def settings(overrides):
    return resolve_settings(BUMP, {"refine.pool": 4096, "refine.points": 50, **overrides})


def test_rar_adds_the_points_with_the_largest_residual():
    start = Collocation(torch.rand(10, 2, dtype=torch.float64), {})
    chosen = settings({"refine.method": "rar"})
    refined, record = refine(BUMP, Zero(), start, make_sampler("sobol", 1), chosen.refine,
                             chosen.sampling.points, 7, 0)
    added = refined.interior[10:]
    assert refined.interior.shape == (60, 2) and torch.equal(refined.interior[:10], start.interior)
    distance = ((added - torch.tensor([0.3, 0.7], dtype=torch.float64)) ** 2).sum(1).sqrt()
    assert distance.max() < 0.1  # a uniform draw of 50 points would spread over the whole square
    # and they are the worst ones: every added point's residual beats the pool's median
    scores = bump(added[:, 0], added[:, 1])
    pool = torch.rand(4096, 2, dtype=torch.float64)
    assert scores.min() > bump(pool[:, 0], pool[:, 1]).median()
    assert record.step == 7 and record.points.shape == (60, 2)
    np.testing.assert_allclose(record.residual, bump(*refined.interior.T).numpy(), atol=1e-12)


def test_fixed_budget_replaces_the_smallest_residuals():
    start = Collocation(torch.tensor([[0.3, 0.7], [0.9, 0.1], [0.31, 0.69], [0.1, 0.1]], dtype=torch.float64), {})
    chosen = settings({"refine.method": "rar", "refine.points": 2, "refine.budget": "fixed"})
    refined, _ = refine(BUMP, Zero(), start, make_sampler("sobol", 1), chosen.refine,
                        chosen.sampling.points, 0, 0)
    assert refined.interior.shape == (4, 2)
    assert torch.equal(refined.interior[:2], start.interior[[0, 2]])  # the two worst stay, in order


@pytest.mark.parametrize("c, cdf", [(0.0, lambda x: x**2), (1.0, lambda x: (x**2 + x) / 2)])
def test_rad_draws_from_residual_density(c, cdf):
    # |r| = x on [0, 1]: density x / mean + c, i.e. 2x (c = 0) or (2x + 1) / 2 (c = 1)
    line = Problem.define("line", domain=Interval(0.0, 1.0), residual=lambda u, x: u - x)
    chosen = resolve_settings(line, {"refine.method": "rad", "sampling.points": 1500, "refine.pool": 60000,
                                     "refine.k": 1.0, "refine.c": c})
    start = Collocation(torch.rand(1500, 1, dtype=torch.float64), {})
    refined, _ = refine(line, Zero(), start, make_sampler("uniform", 3), chosen.refine,
                        chosen.sampling.points, 0, seed=11)
    assert refined.interior.shape == (1500, 1)
    x = refined.interior[:, 0].numpy()
    assert stats.kstest(x, cdf).pvalue > 1e-3
    assert stats.kstest(x, "uniform").pvalue < 1e-6  # and it is not just uniform


def test_rar_d_adds_points_from_the_density_and_is_repeatable():
    start = Collocation(torch.rand(10, 2, dtype=torch.float64), {})
    chosen = settings({"refine.method": "rar-d", "refine.points": 100, "refine.k": 2.0, "refine.c": 0.0})
    a, _ = refine(BUMP, Zero(), start, make_sampler("sobol", 1), chosen.refine,
                  chosen.sampling.points, 0, seed=5)
    b, _ = refine(BUMP, Zero(), start, make_sampler("sobol", 1), chosen.refine,
                  chosen.sampling.points, 0, seed=5)
    assert torch.equal(a.interior, b.interior) and a.interior.shape == (110, 2)
    added = a.interior[10:]
    near = (((added - torch.tensor([0.3, 0.7], dtype=torch.float64)) ** 2).sum(1).sqrt() < 0.15).double().mean()
    assert near > 0.9  # |r|^2 is concentrated near the bump; a uniform draw would put 7% there


def test_non_finite_loss_names_the_term_and_step(tmp_path, capsys):
    path = tmp_path / "nan.py"
    path.write_text(
        "import torch\nfrom pinnlab import Interval, Dirichlet\n"
        "domain = Interval(0, 1)\n"
        "def residual(u, x):\n    return torch.log(u - 10.0)\n"  # log of a negative number: NaN
        "conditions = {'left': Dirichlet(0.0, on='x_min')}\n"
    )
    status = main(["solve", str(path), "--steps", "5", "--lbfgs-steps", "0", "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2  # NaN on the network as initialised is the equation's fault, not training's
    assert "residual 'residual' is nan at step 0" in err and "no checkpoint was written" in err
