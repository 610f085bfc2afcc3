"""Data sets: seeded, standardized splits; unknown names list the valid ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.growth import DATASETS, load_dataset
from pinnlab.growth.datasets import sample


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
    assert load_dataset("spirals3").n_classes == 3 and load_dataset("rings").n_classes == 2


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


def test_spirals3_points_lie_on_three_arms_of_one_and_a_half_turns() -> None:
    points, labels = sample("spirals3", seed=0, noise=0.0)
    assert points.shape == (2000, 2) and np.bincount(labels).tolist() == [667, 667, 666]
    top = 2 * np.pi * 1.5
    radius = np.linalg.norm(points, axis=1)
    assert radius.max() <= 1.0 and radius.max() > 0.99
    # arm j: angle = t + 2 pi j / 3 with t = radius * t_max
    residual = np.angle(np.exp(1j * (np.arctan2(points[:, 1], points[:, 0]) - radius * top - 2 * np.pi * labels / 3)))
    assert np.abs(residual).max() < 1e-9
    # t = sqrt(u) t_max: the radius is distributed like sqrt(u), mean 2/3, and the same on every arm
    for arm in range(3):
        assert abs(radius[labels == arm].mean() - 2 / 3) < 4 * np.sqrt(1 / 18 / 666)
    noisy, same_labels = sample("spirals3", seed=0)
    assert np.array_equal(same_labels, labels)
    assert 0.015 < (noisy - points).std() < 0.025  # the default noise, 0.02


def test_rings_alternate_labels_band_by_band() -> None:
    points, labels = sample("rings", seed=1, noise=0.0)
    assert points.shape == (2000, 2)
    radius = 4 * np.linalg.norm(points, axis=1)
    band = np.floor(radius).astype(int)
    assert np.bincount(band).tolist() == [500] * 4
    assert np.all(radius - band <= 0.5)  # each band is [j, j + 1/2] / 4: gaps as wide as the bands
    assert np.array_equal(labels, band % 2)
    n = len(labels)  # angles uniform: the mean direction is 0 up to sampling error
    assert np.abs((points / np.linalg.norm(points, axis=1, keepdims=True)).mean(0)).max() < 4 / np.sqrt(2 * n)


@pytest.mark.parametrize("name", ["spirals3", "rings", "peaks"])
def test_sample_is_seeded_and_is_what_load_dataset_splits(name: str) -> None:
    a, b, c = sample(name, seed=5), sample(name, seed=5), sample(name, seed=6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and not np.array_equal(a[0], c[0])
    data = load_dataset(name, seed=5)
    features = np.concatenate([data.x_train, data.x_val, data.x_test])
    labels = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert sorted(labels.tolist()) == sorted(a[1].tolist())
    for column in range(2):  # the same points up to order and a positive affine map (standardization)
        raw, standard = np.sort(a[0][:, column]), np.sort(features[:, column])
        slope, offset = np.polyfit(raw, standard, 1)
        assert slope > 0 and np.abs(slope * raw + offset - standard).max() < 1e-9
    with pytest.raises(ValueError, match="valid: spirals"):
        sample("mnist")
