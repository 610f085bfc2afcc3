"""The Sven phase: its step is the minimum-norm least-squares step within the Jacobian's leading
singular directions, the loss falls at every iteration to round-off on a small Poisson problem,
a resumed run ends bit-identical, and bad settings are refused with one line."""

from __future__ import annotations

import math

import pytest
import torch

from pinnlab import Dirichlet, Exact, Interval, Problem, TimeInterval, resolve_settings
from pinnlab.model.field_model import build_model
from pinnlab.solver.settings import Settings
from pinnlab.training.checkpoint import CheckpointStore, read_torch_file
from pinnlab.training.phases import sven
from pinnlab.training.phases.sven import SvenMethod, leading_singular_triplets
from pinnlab.training.residual_vector import jacobian_blocks, residual_jacobian
from pinnlab.training.trainer import train
from tests.training.test_checkpoints import Interrupt, run_until

QUICK = {"output.progress": False, "output.log_every": 1, "sampling.points": 200, "sampling.boundary_points": 8,
         "network.width": 12, "network.depth": 2, "numerics.threads": 1, "adam.steps": 200, "lbfgs.steps": 0}


def poisson() -> Problem:
    """-u'' = pi^2 sin(pi x) on (0, 1), u = 0 at both ends: u = sin(pi x)."""
    return Problem.define(
        "poisson1d", domain=Interval(0.0, 1.0),
        residual=lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x),
        conditions={"ends": Dirichlet(0.0)},
        reference=Exact(lambda x: torch.sin(math.pi * x)),
    )


def matrix_with_spectrum(rows: int, columns: int, singular: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    U, _ = torch.linalg.qr(torch.randn(rows, len(singular), generator=generator, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(columns, len(singular), generator=generator, dtype=torch.float64))
    return U @ torch.diag(singular) @ V.T


@pytest.mark.parametrize("rank", [5, 30])  # 5: the randomised SVD; 30: the exact SVD
@pytest.mark.parametrize("pieces", [1, 7])  # J whole, or streamed in 7 row blocks
def test_leading_singular_values_match_the_exact_svd(rank, pieces):
    singular = 10.0 ** -torch.arange(40, dtype=torch.float64) * 0.5  # a fast decay, as PINN Jacobians have
    J = matrix_with_spectrum(120, 90, singular)
    passes = []

    def blocks():
        passes.append(1)
        return torch.tensor_split(J, pieces)

    U, S, V = leading_singular_triplets(blocks, 120, 90, rank)
    assert U.shape == (120, rank) and V.shape == (90, rank)
    torch.testing.assert_close(S, singular[:rank], rtol=1e-8, atol=1e-14)
    # the triplets reproduce J's action: J V = U S
    torch.testing.assert_close(J @ V, U * S, rtol=0, atol=1e-10)
    # randomised: the sketch, two power iterations of two passes each, the projection
    assert len(passes) == (1 if rank == 30 else 6)


def test_jacobian_blocks_are_the_jacobians_rows_in_order():
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "adam.steps": 5})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    result = train(problem, model, settings)
    weights = {"residual": 1.0, "ends": 10.0}
    blocks = list(jacobian_blocks(problem, model, result.collocation, weights, points=7))
    assert max(b.shape[0] for b in blocks) == 7 and len(blocks) == math.ceil(200 / 7) + math.ceil(8 / 7)  # interior, then the 8 end points
    torch.testing.assert_close(torch.cat(blocks), residual_jacobian(problem, model, result.collocation, weights),
                               rtol=0, atol=1e-12)


def test_the_step_is_the_minimum_norm_least_squares_step_within_the_directions():
    singular = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1], dtype=torch.float64)
    J = matrix_with_spectrum(12, 20, singular)  # rank 5, wide: infinitely many exact solutions
    r = torch.randn(12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    method = SvenMethod([], rank=5, rcond=1e-10, halvings=10)
    step, predicted = method.direction(r, J)
    torch.testing.assert_close(step, -(torch.linalg.pinv(J) @ r), rtol=1e-10, atol=1e-12)
    assert predicted == pytest.approx(float(r @ r) - float((r + J @ step).square().sum()), rel=1e-10)
    # two directions: the same step with J replaced by its rank-2 truncation
    U, S, Vh = torch.linalg.svd(J, full_matrices=False)
    truncated = U[:, :2] @ torch.diag(S[:2]) @ Vh[:2]
    step2, _ = SvenMethod([], rank=2, rcond=1e-10, halvings=10).direction(r, J)
    torch.testing.assert_close(step2, -(torch.linalg.pinv(truncated) @ r), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rank, streamed", [(20, False), (100, False), (20, True)])
def test_the_loss_falls_at_every_iteration_to_round_off(rank, streamed, monkeypatch):
    if streamed:  # J never held whole: streamed in blocks of 16 points
        monkeypatch.setattr(sven, "HELD_BYTES", 0)
        monkeypatch.setattr(sven, "BLOCK_BYTES", 16 * 193 * 8)
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "sven.steps": 25, "sven.rank": rank})
    torch.manual_seed(0)
    model = build_model(problem, settings)
    result = train(problem, model, settings)
    losses = [loss for step, loss in zip(result.history["step"], result.history["total"]) if step >= 200]
    assert losses[0] > 1.0  # where Adam left it (22 when measured)
    assert all(b < a for a, b in zip(losses, losses[1:]) if a > 1e-16)
    assert losses[-1] < 1e-12  # 1e-18 when measured
    x = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)[:, None]
    with torch.no_grad():
        u = model(x)[:, 0]
    exact = torch.sin(math.pi * x[:, 0])
    assert float((u - exact).norm() / exact.norm()) < 1e-6  # 1e-12 when measured
    assert result.phases[-1] == (200, "sven")


def test_resumed_run_ends_bit_identical(tmp_path):
    problem = poisson()
    settings = resolve_settings(problem, {**QUICK, "output.log_every": 5, "checkpoint.every": 5,
                                          "sven.steps": 12, "sven.rank": 20})
    whole, whole_model = run_until(problem, settings, CheckpointStore(tmp_path / "whole"))
    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=210)
    saved = read_torch_file(store.last)
    assert 200 < saved["step"] < whole.steps and saved["phases"]["sven"]["method"]["iterations"] >= 1
    resumed, resumed_model = run_until(problem, settings, store, resume=True)
    assert resumed.resumed_from == saved["step"] and resumed.steps == whole.steps
    assert resumed.history == whole.history and resumed.second_order_stop == whole.second_order_stop
    for name, value in whole_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name


@pytest.mark.parametrize("overrides, message", [
    ({"sven.rank": 0}, r"sven.rank must be >= 1, got 0"),
    ({"sven.rcond": 1.5}, r"sven.rcond must be in \[0, 1\), got 1.5"),
    ({"sven.halvings": -1}, r"sven.halvings must be >= 0, got -1"),
    ({"sven.steps": -2}, r"sven.steps must be >= 0, got -2"),
    ({"sven.rank": "all"}, r"setting 'sven.rank' expects int, got 'all'"),
])
def test_bad_settings_are_refused_with_one_line(overrides, message):
    with pytest.raises(ValueError, match=f"^test: {message}$") as error:
        Settings().replace({"sven.steps": 1, **overrides}, "test")
    assert "\n" not in str(error.value)


def test_causal_weights_are_refused():
    problem = Problem.define("heat1d", domain=Interval(0.0, 1.0) * TimeInterval(0.0, 1.0),
                             residual=lambda u_t, u_xx: u_t - u_xx, conditions={"ends": Dirichlet(0.0)})
    settings = resolve_settings(problem, {**QUICK, "sven.steps": 5, "causal.eps": 1.0})
    with pytest.raises(ValueError, match=r"^phase sven works on the plain sum of squares; causal weights"):
        train(problem, build_model(problem, settings), settings)
