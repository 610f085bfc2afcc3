"""Burgers identification from 2000 samples with 1% Gaussian noise.

The problem of ``equations/burgers_inverse.py`` (same grid, the same 2000 points), with each
sample perturbed as Raissi et al. (2019) do: u + 0.01 std(u) N(0, 1), seeded. lambda_1 and
lambda_2 are learned with the network; measurements: docs/equations.md.
"""

from burgers_inverse import (  # noqa: F401 - the names pinnlab reads; the module sits beside this file
    defaults, domain, fields, reference, residual, samples, unknowns,
)

data = {"samples": samples(noise=0.01)}
