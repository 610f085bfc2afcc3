"""The L-BFGS loop: a chunk that used its evaluations goes on with the same optimizer, a true stall
restarts, and causal weights hold still for a whole chunk."""

import math

import pytest
import torch

from pinnlab import load_problem, resolve_settings
from pinnlab.training.phases import lbfgs as training
from pinnlab.training.curriculum import CausalWeights
from pinnlab.model.field_model import build_model
from pinnlab.training.plan import build_training

HEAT = load_problem("equations/heat.py")
QUICK = {"output.progress": False, "sampling.points": 200, "sampling.boundary_points": 30, "network.width": 10,
         "network.depth": 2, "adam.steps": 20}


def trainer(settings):
    torch.manual_seed(settings.numerics.seed)
    return build_training(HEAT, build_model(HEAT, settings), settings)


def watch_lbfgs(monkeypatch):
    """Record every L-BFGS optimizer made and, per chunk, (iterations, evaluations, max_eval)."""
    made, chunks = [], []
    original_make, original_step = training.make_lbfgs, torch.optim.LBFGS.step

    def make(*args, **kwargs):
        made.append(original_make(*args, **kwargs))
        return made[-1]

    def step(self, closure):
        state = self.state[self._params[0]]
        before = state.get("n_iter", 0), state.get("func_evals", 0)
        result = original_step(self, closure)
        state = self.state[self._params[0]]
        chunks.append((state["n_iter"] - before[0], state["func_evals"] - before[1],
                       self.param_groups[0]["max_eval"], self.param_groups[0]["max_iter"]))
        return result

    monkeypatch.setattr(training, "make_lbfgs", make)
    monkeypatch.setattr(torch.optim.LBFGS, "step", step)
    return made, chunks


def test_a_chunk_out_of_evaluations_continues_with_the_same_optimizer(monkeypatch):
    made, chunks = watch_lbfgs(monkeypatch)
    # two iterations per chunk, at most 3 evaluations: one line search with a second trial
    # point already ends the chunk early
    settings = resolve_settings(HEAT, {**QUICK, "output.log_every": 2, "lbfgs.steps": 80, "lbfgs.restarts": 0})
    result = trainer(settings).run()
    capped = [c for c in chunks if c[0] < c[3] and c[1] >= c[2]]
    assert capped, "no chunk ran out of evaluations; the test needs one"
    assert len(made) == 1  # never restarted (it would have lost its curvature pairs) ...
    assert result.lbfgs_iterations == 80  # ... nor stopped (lbfgs_restarts=0 left no restart)
    assert result.lbfgs_stop == "reached lbfgs.steps=80"


def test_a_true_stall_still_restarts(monkeypatch):
    made, original = [], training.make_lbfgs

    def hopeless(*args, **kwargs):  # any change of the loss counts as no progress: a stall
        made.append(original(*args, **kwargs))
        made[-1].param_groups[0]["tolerance_change"] = 1e30
        return made[-1]

    monkeypatch.setattr(training, "make_lbfgs", hopeless)
    settings = resolve_settings(HEAT, {**QUICK, "output.log_every": 10, "lbfgs.steps": 100,
                                       "lbfgs.restarts": 2})
    result = trainer(settings).run()
    assert len(made) == 3  # the first optimizer and two restarts
    assert result.lbfgs_iterations == 3  # one iteration each, then it gave up
    assert result.lbfgs_stop.startswith("stalled") and "2 restart(s)" in result.lbfgs_stop


def test_causal_weights_hold_during_an_lbfgs_chunk(monkeypatch):
    used, chunk = [], [0]
    original_loss, original_step = CausalWeights.loss, torch.optim.LBFGS.step

    def loss(self, squared, t):
        value = original_loss(self, squared, t)
        used.append((chunk[0], None if self.held is None else self.held[0].clone()))  # one residual
        return value

    def step(self, closure):
        chunk[0] += 1
        try:
            return original_step(self, closure)
        finally:
            chunk[0] += 1  # calls between chunks get even numbers

    monkeypatch.setattr(CausalWeights, "loss", loss)
    monkeypatch.setattr(torch.optim.LBFGS, "step", step)
    settings = resolve_settings(HEAT, {**QUICK, "output.log_every": 10, "lbfgs.steps": 30, "causal.eps": 10.0,
                                       "causal.bins": 8, "causal.eps_max": 10.0})
    run = trainer(settings)
    run.run()
    inside = {}
    for number, weights in used:
        if number % 2:  # inside optimizer.step
            assert weights is not None
            inside.setdefault(number, []).append(weights)
        else:
            assert weights is None  # between chunks: recomputed, nothing held
    assert len(inside) == 3
    for calls in inside.values():
        assert len(calls) > 1 and all(torch.equal(w, calls[0]) for w in calls)
    first, second = (inside[n][0] for n in sorted(inside)[:2])
    assert not torch.equal(first, second)  # recomputed between chunks
    assert run.causal.held is None


def test_held_weights_follow_the_first_evaluation():
    settings = resolve_settings(HEAT, {"causal.eps": 1.0, "causal.bins": 2})
    causal = CausalWeights(HEAT, settings.causal)
    t = torch.tensor([0.1, 0.9], dtype=torch.float64)
    causal.hold()
    first = causal.loss(torch.tensor([2.0, 1.0], dtype=torch.float64), t)
    assert float(first) == pytest.approx((2.0 + math.exp(-2.0)) / 2)
    held = causal.loss(torch.tensor([0.0, 1.0], dtype=torch.float64), t)
    assert float(held) == pytest.approx(math.exp(-2.0) / 2)  # still weighted by exp(-2)
    causal.release()
    assert float(causal.loss(torch.tensor([0.0, 1.0], dtype=torch.float64), t)) == pytest.approx(0.5)
