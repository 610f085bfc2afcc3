"""One setting for every CPU thread pool a solve uses: torch's own, and the BLAS that numpy and
scipy call (the dense quasi-Newton methods update their inverse Hessian there).

With ``threads=1`` a solve then keeps to one core throughout, as runs side by side on a shared
machine need, and its BLAS sums run in the same order whatever the machine's core count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import scipy.linalg.blas  # noqa: F401  (loaded first, so that its BLAS is among those limited)
import torch
from threadpoolctl import threadpool_limits


@contextmanager
def thread_limit(count: int, blas: bool = True) -> Iterator[None]:
    """Run the body on ``count`` threads in torch and (``blas``) in BLAS, restoring both after; 0
    changes nothing. Limiting BLAS costs about 2 ms a call, which a body of a few milliseconds
    (a new instance's prediction, pinnlab/output/family.py) leaves out."""
    if count <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        if blas:
            with threadpool_limits(limits=count, user_api="blas"):
                yield
        else:
            yield
    finally:
        torch.set_num_threads(before)
