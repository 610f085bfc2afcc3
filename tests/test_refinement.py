"""Residual-based refinement adds points where the residual is large; non-finite losses stop
training with the term named."""

import torch

from pinnlab import Problem, Rectangle
from pinnlab.cli import main
from pinnlab.losses import Collocation
from pinnlab.refinement import refine
from pinnlab.sampling import make_sampler


class Zero(torch.nn.Module):
    fields = ("u",)

    def forward(self, p):
        return torch.zeros(len(p), 1, dtype=p.dtype) + 0 * p[:, :1]


def test_refinement_adds_the_points_with_the_largest_residual():
    bump = lambda x, y: torch.exp(-200 * ((x - 0.3) ** 2 + (y - 0.7) ** 2))
    problem = Problem.define("bump", domain=Rectangle((0, 0), (1, 1)), residual=lambda u, x, y: u - bump(x, y))
    start = Collocation(torch.rand(10, 2, dtype=torch.float64), {})
    refined = refine(problem, Zero(), start, make_sampler("sobol", 1), pool=4096, count=50)
    added = refined.interior[10:]
    assert refined.interior.shape == (60, 2) and torch.equal(refined.interior[:10], start.interior)
    distance = ((added - torch.tensor([0.3, 0.7], dtype=torch.float64)) ** 2).sum(1).sqrt()
    assert distance.max() < 0.1  # a uniform draw of 50 points would spread over the whole square
    # and they are the worst ones: every added point's residual beats the pool's median
    scores = bump(added[:, 0], added[:, 1])
    pool = torch.rand(4096, 2, dtype=torch.float64)
    assert scores.min() > bump(pool[:, 0], pool[:, 1]).median()


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
    assert status == 1
    assert "loss term 'residual' became nan at step 0 (adam)" in err
