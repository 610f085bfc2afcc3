"""Test-wide setup: references that pinnlab computes (pinnlab.problem.spectral) are cached in a folder of
the test run's own, never in the user's cache folder."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def reference_cache(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("PINNLAB_CACHE", str(tmp_path_factory.mktemp("pinnlab-cache")))
    yield
    patch.undo()
