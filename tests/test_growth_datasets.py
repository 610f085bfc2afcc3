"""Data sets: seeded, standardized splits; unknown names list the valid ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.growth import DATASETS, load_dataset


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_dataset_loads_with_three_disjoint_splits(name: str) -> None:
    data = load_dataset(name, seed=3)
    n = sum(len(getattr(data, f"y_{s}")) for s in ("train", "val", "test"))
    assert len(data.y_train) == round(0.6 * n) and len(data.y_val) == round(0.2 * n)
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    assert set(data.y_train.tolist()) == set(range(data.n_classes))
    assert torch.allclose(data.x_train.mean(0), torch.zeros(data.n_features, dtype=torch.float64), atol=1e-10)
    rows = {tuple(r) for r in np.round(data.x_train.numpy(), 12)}
    assert not any(tuple(r) in rows for r in np.round(data.x_test.numpy(), 12))


def test_sizes_of_the_real_data_sets() -> None:
    digits = load_dataset("digits")
    assert digits.n_features == 64 and digits.n_classes == 10
    cancer = load_dataset("breast_cancer")
    assert cancer.n_features == 30 and cancer.n_classes == 2
    assert load_dataset("peaks").n_classes == 5
    assert load_dataset("spheres").n_features == 3


def test_same_seed_same_data_other_seed_other_split() -> None:
    a, b, c = load_dataset("spirals", seed=1), load_dataset("spirals", seed=1), load_dataset("spirals", seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(load_dataset("digits", seed=4).y_val, load_dataset("digits", seed=4).y_val)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="valid: spirals, circles"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="synthetic"):
        load_dataset("digits", samples=100)
    with pytest.raises(ValueError, match="fractions"):
        load_dataset("moons", fractions=(0.9, 0.2))
