"""DWR growth reaches the accuracy the README claims, with the benchmark's own settings
(``benchmarks/growth.py``'s ``CONFIGS`` and protocol), on a few cycles: two spirals to at least
99 % test accuracy, digits to at least 97 %."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from pinnlab.growth import Adam, Doerfler, DWRRefinement, grow, load_dataset

ROOT = Path(__file__).resolve().parent.parent


def _benchmark():
    spec = importlib.util.spec_from_file_location("growth_benchmark", ROOT / "benchmarks" / "growth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCHMARK = _benchmark()


def _best_test_accuracy(name: str, seed: int, cycles: int) -> tuple[float, int]:
    settings = replace(BENCHMARK.CONFIGS[name], budget_layers=BENCHMARK.BUDGET, max_cycles=cycles,
                       optimizer=Adam(BENCHMARK.STEPS, 1e-2), seed=seed)
    run = grow(load_dataset(name, seed=seed), DWRRefinement(Doerfler(0.5)), settings)
    best = max(run.cycles, key=lambda c: c.test_accuracy)
    return best.test_accuracy, best.layers


@pytest.mark.parametrize("seed", [0, 2])
def test_dwr_separates_two_spirals(seed: int) -> None:
    accuracy, layers = _best_test_accuracy("spirals", seed, cycles=5)
    assert accuracy >= 0.99, f"spirals seed {seed}: {accuracy:.4f} at {layers} layers"
    assert layers > 1  # one layer of width 3 cannot: depth did it (78 and 70 % there)


def test_dwr_classifies_digits() -> None:
    accuracy, layers = _best_test_accuracy("digits", 0, cycles=2)
    assert accuracy >= 0.97, f"digits seed 0: {accuracy:.4f} at {layers} layers"
