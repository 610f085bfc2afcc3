"""Classification data sets with seeded train / validation / test splits.

Synthetic 2D sets (drawn from a seeded ``numpy.random.Generator``): ``spirals`` (two
interleaved spirals, the "swiss roll"), ``circles`` (a disk inside a ring: the
augmented-neural-ODE toy that no homeomorphism of the plane separates), ``moons`` and
``peaks`` (five classes: the level bands of MATLAB's ``peaks`` function).  ``spheres`` is the
3D version of ``circles``.  Two harder sets of the same families, on which a narrow network
needs many layers: ``spirals3`` (three interleaved arms of 1.5 turns, one class per arm, arms
2/9 apart in radius against 1/3 for ``spirals``) and ``rings`` (a disk and three annuli,
``[j, j + 1/2] / 4`` in radius for ``j = 0..3``, labelled alternately 0 and 1: the label
changes three times along every ray).  Both have 2000 points.  Real data shipped with
scikit-learn (no download): ``digits`` (8x8 images, 10 classes) and ``breast_cancer``
(30 features, 2 classes).  :func:`sample` gives the raw points of a set, :func:`load_dataset`
its standardized splits.

Features are standardized with the mean and standard deviation of the training split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["DATASETS", "Dataset", "load_dataset", "sample"]


@dataclass(frozen=True)
class Dataset:
    """Standardized features and integer labels for the three splits."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def split(self, which: str) -> tuple[Tensor, Tensor]:
        if which not in ("train", "val", "test"):
            raise ValueError(f"unknown split '{which}'; valid: train, val, test")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")


Raw = tuple[np.ndarray, np.ndarray]


def _spirals(n: int, rng: np.random.Generator, noise: float) -> Raw:
    half = n // 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * np.pi  # 1.5 turns, uniform along arc length
    labels = (np.arange(n) >= half).astype(np.int64)
    sign = np.where(labels == 0, 1.0, -1.0)
    points = sign[:, None] * np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3.0 * np.pi)
    return points + noise * rng.standard_normal((n, 2)), labels


def _spiral_arms(n: int, rng: np.random.Generator, noise: float, arms: int, turns: float) -> Raw:
    """``arms`` interleaved spiral arms of ``turns`` turns each, one class per arm.

    Arm ``j`` is ``r (cos(t + 2 pi j / arms), sin(t + 2 pi j / arms))`` with ``r = t / t_max``,
    ``t = sqrt(u) t_max``, ``u`` uniform in (0, 1) (about uniform along the arc) and
    ``t_max = 2 pi turns``.
    Neighbouring arms are ``1 / (arms turns)`` apart in radius.
    """
    labels = (np.arange(n) * arms // n).astype(np.int64)
    top = 2.0 * np.pi * turns
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * top
    angle = t + 2.0 * np.pi * labels / arms
    points = (t / top)[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return points + noise * rng.standard_normal((n, 2)), labels


def _rings(n: int, rng: np.random.Generator, noise: float, rings: int) -> Raw:
    """``rings`` concentric bands (a disk, then annuli) of radii ``[j, j + 1/2] / rings``,
    ``j = 0..rings-1``, the same number of points in each, labelled alternately 0 and 1."""
    band = (np.arange(n) * rings // n).astype(np.int64)
    radius = (band + rng.uniform(0.0, 0.5, n)) / rings
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return points + noise * rng.standard_normal((n, 2)), band % 2


def _ball_in_shell(n: int, rng: np.random.Generator, noise: float, dim: int) -> Raw:
    labels = (np.arange(n) >= n // 2).astype(np.int64)
    radius = np.where(labels == 0, rng.uniform(0.0, 0.5, n), rng.uniform(1.0, 1.5, n))
    direction = rng.standard_normal((n, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return radius[:, None] * direction + noise * rng.standard_normal((n, dim)), labels


def _moons(n: int, rng: np.random.Generator, noise: float) -> Raw:
    labels = (np.arange(n) >= n // 2).astype(np.int64)
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], 1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], 1)
    points = np.where(labels[:, None] == 0, upper, lower)
    return points + noise * rng.standard_normal((n, 2)), labels


def peaks(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MATLAB's ``peaks`` function."""
    return (
        3 * (1 - x) ** 2 * np.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - np.exp(-((x + 1) ** 2) - y**2) / 3
    )


def _peaks(n: int, rng: np.random.Generator, noise: float) -> Raw:
    points = rng.uniform(-3.0, 3.0, (n, 2))
    levels = np.array([-2.0, -0.5, 0.5, 2.0])  # five bands
    labels = np.searchsorted(levels, peaks(points[:, 0], points[:, 1])).astype(np.int64)
    return points + noise * rng.standard_normal((n, 2)), labels


def _digits(n: int, rng: np.random.Generator, noise: float) -> Raw:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64), data.target.astype(np.int64)


def _breast_cancer(n: int, rng: np.random.Generator, noise: float) -> Raw:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data.astype(np.float64), data.target.astype(np.int64)


@dataclass(frozen=True)
class DatasetSpec:
    """How to build a data set: a sampler, its default size and noise (synthetic only)."""

    build: Callable[[int, np.random.Generator, float], Raw]
    samples: int
    noise: float
    synthetic: bool = True


DATASETS: dict[str, DatasetSpec] = {
    "spirals": DatasetSpec(_spirals, 1000, 0.02),
    "circles": DatasetSpec(lambda n, r, s: _ball_in_shell(n, r, s, 2), 1000, 0.0),
    "spheres": DatasetSpec(lambda n, r, s: _ball_in_shell(n, r, s, 3), 1000, 0.0),
    "moons": DatasetSpec(_moons, 1000, 0.1),
    "peaks": DatasetSpec(_peaks, 2000, 0.0),
    "spirals3": DatasetSpec(lambda n, r, s: _spiral_arms(n, r, s, 3, 1.5), 2000, 0.02),
    "rings": DatasetSpec(lambda n, r, s: _rings(n, r, s, 4), 2000, 0.0),
    "digits": DatasetSpec(_digits, 1797, 0.0, synthetic=False),
    "breast_cancer": DatasetSpec(_breast_cancer, 569, 0.0, synthetic=False),
}


def _resolve(name: str, samples: int | None) -> tuple[DatasetSpec, int]:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; valid: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if not spec.synthetic and samples is not None:
        raise ValueError(f"dataset '{name}' is fixed real data; 'samples' applies to synthetic sets only")
    n = spec.samples if samples is None else int(samples)
    if n < 10:
        raise ValueError(f"need at least 10 samples, got {n}")
    return spec, n


def sample(name: str, seed: int = 0, samples: int | None = None, noise: float | None = None) -> Raw:
    """The raw points and labels of data set ``name`` (not shuffled, split or standardized):
    exactly the points :func:`load_dataset` with the same arguments splits."""
    spec, n = _resolve(name, samples)
    return spec.build(n, np.random.default_rng(seed), spec.noise if noise is None else float(noise))


def load_dataset(
    name: str,
    seed: int = 0,
    samples: int | None = None,
    noise: float | None = None,
    fractions: tuple[float, float] = (0.6, 0.2),
    dtype: torch.dtype = torch.float64,
) -> Dataset:
    """Build data set ``name`` and split it (train, validation, rest = test) with ``seed``.

    ``samples`` and ``noise`` apply to the synthetic sets only.  The split is stratified-free
    but seeded: the same ``seed`` always gives the same three splits.
    """
    spec, n = _resolve(name, samples)
    train_frac, val_frac = fractions
    if not (0 < train_frac and 0 < val_frac and train_frac + val_frac < 1):
        raise ValueError(f"fractions must be positive and leave a test split, got {fractions}")
    rng = np.random.default_rng(seed)
    features, labels = spec.build(n, rng, spec.noise if noise is None else float(noise))
    order = rng.permutation(len(labels))
    features, labels = features[order], labels[order]
    n_train = int(round(train_frac * len(labels)))
    n_val = int(round(val_frac * len(labels)))
    mean = features[:n_train].mean(0)
    std = features[:n_train].std(0)
    std[std == 0] = 1.0
    features = (features - mean) / std

    def tensors(lo: int, hi: int) -> tuple[Tensor, Tensor]:
        return torch.tensor(features[lo:hi], dtype=dtype), torch.tensor(labels[lo:hi])

    splits = tensors(0, n_train), tensors(n_train, n_train + n_val), tensors(n_train + n_val, len(labels))
    return Dataset(name, *splits[0], *splits[1], *splits[2], n_classes=int(labels.max()) + 1)
