"""Samplers: reproducible streams, resumable state, and the distributions they promise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from pinnlab.geometry.sampling import (
    SAMPLERS,
    GridSampler,
    LatinHypercubeSampler,
    SobolSampler,
    UniformSampler,
    make_sampler,
)

RANDOM_KINDS = ["uniform", "sobol", "lhs"]


@pytest.mark.parametrize("kind", sorted(SAMPLERS))
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_points_are_float64_in_unit_cube(kind: str, dim: int) -> None:
    u = make_sampler(kind, seed=3).unit(64, dim)
    assert u.dtype == np.float64
    assert u.shape == (64, dim)
    assert np.all((u >= 0.0) & (u < 1.0))


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_same_seed_same_points_other_seed_other_points(kind: str) -> None:
    a = make_sampler(kind, seed=7).unit(50, 2)
    b = make_sampler(kind, seed=7).unit(50, 2)
    c = make_sampler(kind, seed=8).unit(50, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_successive_calls_continue_the_stream(kind: str) -> None:
    sampler = make_sampler(kind, seed=1)
    first, second = sampler.unit(32, 2), sampler.unit(32, 2)
    assert not np.allclose(first, second)


@pytest.mark.parametrize("cls", [UniformSampler, SobolSampler])
def test_split_draws_equal_one_draw(cls: type) -> None:
    """A stream, not a batch: drawing 40 + 24 points gives the same points as drawing 64."""
    split = cls(seed=5)
    joined = np.concatenate([split.unit(40, 3), split.unit(24, 3)])
    np.testing.assert_array_equal(joined, cls(seed=5).unit(64, 3))


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_dimensions_have_independent_streams(kind: str) -> None:
    """Drawing in one dimension must not shift another dimension's stream."""
    plain = make_sampler(kind, seed=2)
    expected = plain.unit(16, 2)
    mixed = make_sampler(kind, seed=2)
    mixed.unit(100, 3)
    np.testing.assert_array_equal(mixed.unit(16, 2), expected)


@pytest.mark.parametrize("kind", sorted(SAMPLERS))
def test_state_dict_resumes_the_stream(kind: str) -> None:
    sampler = make_sampler(kind, seed=11)
    sampler.unit(37, 2)
    sampler.unit(5, 1)
    state = sampler.state_dict()
    expected_2d, expected_1d = sampler.unit(20, 2), sampler.unit(9, 1)

    resumed = make_sampler(kind, seed=0)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed.unit(20, 2), expected_2d)
    np.testing.assert_array_equal(resumed.unit(9, 1), expected_1d)


def test_load_state_dict_rejects_other_sampler_state() -> None:
    with pytest.raises(ValueError, match="state is for sampler 'sobol'"):
        UniformSampler().load_state_dict(SobolSampler().state_dict())


def test_uniform_passes_kolmogorov_smirnov_per_coordinate() -> None:
    u = UniformSampler(seed=0).unit(4000, 3)
    for column in u.T:
        assert stats.kstest(column, "uniform").pvalue > 1e-3


def test_sobol_has_lower_discrepancy_than_uniform() -> None:
    sobol = SobolSampler(seed=0).unit(512, 2)
    uniform = UniformSampler(seed=0).unit(512, 2)
    assert qmc.discrepancy(sobol) < 0.5 * qmc.discrepancy(uniform)


def test_sobol_accepts_counts_that_are_not_powers_of_two_silently() -> None:
    sampler = SobolSampler(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sampler.unit(100, 2).shape == (100, 2)


def test_latin_hypercube_puts_one_point_in_every_stratum() -> None:
    n = 50
    u = LatinHypercubeSampler(seed=4).unit(n, 3)
    for column in u.T:
        np.testing.assert_array_equal(np.sort(np.floor(column * n)), np.arange(n))


@pytest.mark.parametrize(
    ("n", "dim", "k"), [(9, 2, 3), (10, 2, 4), (8, 3, 2), (27, 3, 3), (5, 1, 5)]
)
def test_grid_is_cell_centred_with_k_per_axis(n: int, dim: int, k: int) -> None:
    u = GridSampler().unit(n, dim)
    assert u.shape == (k**dim, dim)
    centres = (np.arange(k) + 0.5) / k
    for axis in range(dim):
        np.testing.assert_allclose(np.unique(u[:, axis]), centres)
    # C order: the last axis varies fastest.
    np.testing.assert_allclose(u[1, -1] - u[0, -1], 1.0 / k)


def test_grid_is_deterministic_and_ignores_seed() -> None:
    np.testing.assert_array_equal(GridSampler(seed=1).unit(20, 2), GridSampler(seed=2).unit(20, 2))


def test_zero_points_gives_an_empty_array() -> None:
    assert UniformSampler().unit(0, 3).shape == (0, 3)


def test_make_sampler_builds_each_registered_kind() -> None:
    for name, cls in SAMPLERS.items():
        sampler = make_sampler(name, seed=3)
        assert type(sampler) is cls and sampler.name == name and sampler.seed == 3


def test_unknown_sampler_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown sampler 'halton'.*grid, lhs, sobol, uniform"):
        make_sampler("halton")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 2), "n must be non-negative"),
        ((3, 0), "dim must be positive"),
        ((2.5, 2), "n must be an int"),
    ],
)
def test_bad_counts_raise(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UniformSampler().unit(*args)


def test_bad_seed_raises() -> None:
    with pytest.raises(ValueError, match="SobolSampler: seed must be a non-negative int"):
        SobolSampler(seed=-1)
