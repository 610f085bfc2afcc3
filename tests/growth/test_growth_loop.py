"""Optimizers and the grow loop with its strategies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.growth import (
    Adam,
    Doerfler,
    DWRRefinement,
    EulerNet,
    FixedDepth,
    GrowthSettings,
    Objective,
    RandomRefinement,
    SteepestDescent,
    UniformRefinement,
    estimate,
    fixed_depth_sweep,
    grow,
    load_dataset,
    train,
)

DATA = load_dataset("spirals", seed=0, samples=200)
SETTINGS = GrowthSettings(width=3, budget_layers=6, max_cycles=4, optimizer=Adam(60, 2e-2), seed=0)


def _net(seed: int = 0) -> EulerNet:
    return EulerNet.create(2, 2, 4, 2, generator=torch.Generator().manual_seed(seed))


def test_steepest_descent_with_armijo_never_increases_j() -> None:
    net, objective = _net(), Objective()
    log = train(net, objective, DATA.x_train, DATA.y_train, SteepestDescent(40))
    values = np.array(log.values)
    assert len(values) == 40 and log.last_step > 0
    assert np.all(np.diff(values) <= 1e-15)
    with torch.no_grad():
        final = float(objective.total(net, DATA.x_train, DATA.y_train))
    assert final < 0.9 * values[0]


def test_adam_lowers_j() -> None:
    net, objective = _net(), Objective()
    log = train(net, objective, DATA.x_train, DATA.y_train, Adam(40, 1e-2))
    assert log.values[-1] < 0.9 * log.values[0]


def test_dwr_grows_by_the_marked_layers_within_the_budget() -> None:
    run = grow(DATA, DWRRefinement(Doerfler(0.5)), SETTINGS)
    layers = [c.layers for c in run.cycles]
    assert layers[0] == 1 and layers[-1] <= 6
    for before, after in zip(run.cycles, run.cycles[1:]):
        assert after.layers == before.layers + len(before.marked) and before.marked
        assert len(after.mesh) == after.layers + 1 and after.mesh[-1] == pytest.approx(2.0)
        assert len(after.indicators) == after.layers
    assert run.net.num_layers == layers[-1]
    assert run.cycles[-1].train_accuracy > run.cycles[0].train_accuracy


def test_uniform_doubles_and_stops_at_the_budget() -> None:
    run = grow(DATA, UniformRefinement(), GrowthSettings(width=3, budget_layers=5, max_cycles=6, optimizer=Adam(20)))
    assert [c.layers for c in run.cycles] == [1, 2, 4]
    assert run.stop_reason == "budget"


def test_train_at_budget_gives_every_strategy_max_cycles() -> None:
    settings = GrowthSettings(width=3, budget_layers=4, max_cycles=5, optimizer=Adam(20), train_at_budget=True)
    uniform = grow(DATA, UniformRefinement(), settings)
    assert [c.layers for c in uniform.cycles] == [1, 2, 4, 4, 4] and uniform.stop_reason == "max_cycles"
    assert uniform.cycles[-1].objective["total"] < uniform.cycles[2].objective["total"]  # it went on training
    dwr = grow(DATA, DWRRefinement(Doerfler(1.0)), settings)  # theta = 1 marks every layer with eta != 0
    layers = [c.layers for c in dwr.cycles]
    assert len(layers) == 5 and layers[-1] == 4 and dwr.cycles[-1].marked == []
    assert layers == sorted(layers) and dwr.stop_reason == "max_cycles"


def test_random_refinement_splits_as_many_layers_as_dwr_at_seeded_places() -> None:
    net = EulerNet.create(2, 2, 3, 12, 2.0, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # different controls per layer, so the indicators differ
        net.weight.add_(torch.randn(net.weight.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    est = estimate(net, Objective(), DATA.x_train, DATA.y_train)
    marking = Doerfler(0.8)
    count = len(DWRRefinement(marking).select(net, est, 100))
    assert 1 < count < 12
    picks = [RandomRefinement(marking, seed=s).select(net, est, 100) for s in (0, 0, 1, 2, 3)]
    assert all(len(p) == count and p == sorted(set(p)) for p in picks)
    assert picks[0] == picks[1] and len({tuple(p) for p in picks[1:]}) > 1
    assert len(RandomRefinement(marking).select(net, est, 1)) == 1  # the budget caps it


def test_fixed_depth_keeps_the_depth() -> None:
    run = grow(DATA, FixedDepth(), GrowthSettings(width=3, initial_layers=3, budget_layers=3, max_cycles=2, optimizer=Adam(20)))
    assert [c.layers for c in run.cycles] == [3, 3]
    sweep = fixed_depth_sweep(DATA, [1, 2, 4], GrowthSettings(width=3, budget_layers=4, optimizer=Adam(10)))
    assert [c.layers for c in sweep] == [1, 2, 4]


def test_tolerance_stops_the_loop_and_runs_are_deterministic() -> None:
    run = grow(DATA, DWRRefinement(), GrowthSettings(width=3, tolerance=1e9, optimizer=Adam(10)))
    assert len(run.cycles) == 1 and run.stop_reason == "tolerance"
    a = grow(DATA, DWRRefinement(), GrowthSettings(width=3, max_cycles=2, optimizer=Adam(10), seed=5))
    b = grow(DATA, DWRRefinement(), GrowthSettings(width=3, max_cycles=2, optimizer=Adam(10), seed=5))
    assert [c.test_accuracy for c in a.cycles] == [c.test_accuracy for c in b.cycles]
    assert np.array_equal(a.cycles[-1].indicators, b.cycles[-1].indicators)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_layers <= budget_layers"):
        GrowthSettings(initial_layers=4, budget_layers=2)
    with pytest.raises(ValueError, match="lr"):
        Adam(10, lr=-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        Objective(alpha=-1.0)
