"""DWR growth reaches the accuracy docs/benchmarks/growth.md reports, with the benchmark's own settings
(``benchmarks/growth.py``'s ``CONFIGS`` and protocol), on a few cycles: two spirals to at least
99 % test accuracy, digits to at least 97 %."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnlab.growth import Doerfler, DWRRefinement, grow, load_dataset
from pinnlab.problem.equation_module import import_module_file

BENCHMARK = import_module_file(Path(__file__).resolve().parents[2] / "benchmarks" / "growth.py")


def _best_test_accuracy(name: str, seed: int, cycles: int) -> tuple[float, int]:
    settings = BENCHMARK.protocol_settings(name, seed, cycles=cycles)
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
