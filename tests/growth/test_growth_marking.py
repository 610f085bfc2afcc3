"""Doerfler (bulk) and maximum marking."""

from __future__ import annotations

import numpy as np
import pytest

from pinnlab.growth import Doerfler, MaximumMarking


def test_doerfler_marks_the_smallest_set_holding_theta_of_the_total() -> None:
    eta = np.array([0.1, 0.4, 0.05, 0.3, 0.15])
    assert Doerfler(0.5).mark(eta) == [1, 3]  # 0.4 + 0.3 >= 0.5, 0.4 alone is not
    assert Doerfler(0.4).mark(eta) == [1]  # exactly theta of the total counts
    assert Doerfler(1.0).mark(eta) == [0, 1, 2, 3, 4]
    for theta in (0.1, 0.3, 0.6, 0.9):
        marked = Doerfler(theta).mark(eta)
        assert eta[marked].sum() >= theta * eta.sum() - 1e-15
        assert eta[marked].sum() - eta[marked].min() < theta * eta.sum()  # minimal


def test_maximum_marking() -> None:
    eta = np.array([0.1, 0.4, 0.05, 0.3, 0.15])
    assert MaximumMarking(0.5).mark(eta) == [1, 3]
    assert MaximumMarking(1.0).mark(eta) == [1]


def test_nothing_to_mark() -> None:
    assert Doerfler(0.5).mark(np.zeros(3)) == []
    assert MaximumMarking(0.5).mark(np.zeros(3)) == []


@pytest.mark.parametrize("theta", [0.0, -0.1, 1.5, float("nan")])
def test_bad_theta_is_refused(theta: float) -> None:
    with pytest.raises(ValueError, match="theta must lie in"):
        Doerfler(theta)
    with pytest.raises(ValueError, match="theta must lie in"):
        MaximumMarking(theta)


def test_bad_indicators_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Doerfler().mark(np.array([0.1, -0.2]))
