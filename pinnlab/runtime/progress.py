"""A progress bar for training loops that is safe in terminals, CI logs and notebooks.

A thin wrapper on ``tqdm.tqdm``: it writes to stderr (so stdout stays clean for
results), redraws at most twice a second (so CI logs, which get a new line per
redraw, stay short) and adapts to the terminal width.  Plain ``tqdm`` also prints
readable text in notebooks, without the ipywidgets dependency of ``tqdm.auto``.
When disabled, every method does nothing, so the training loop needs no ``if``.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from tqdm import tqdm

__all__ = ["Progress", "progress"]


class Progress:
    """A tqdm bar, or nothing when disabled; use as a context manager."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        self._bar: tqdm | None = (
            tqdm(
                total=total,
                desc=desc,
                file=sys.stderr,
                mininterval=0.5,
                dynamic_ncols=True,
            )
            if enabled
            else None
        )

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        if self._bar is not None:
            self._bar.update(n)

    def moveto(self, n: int) -> None:
        """Jump to step ``n`` (a resumed run starts part-way; a rollback goes back)."""
        if self._bar is not None:
            self._bar.n = n
            self._bar.refresh()

    def set_postfix(self, values: dict[str, Any], refresh: bool = False) -> None:
        """Show ``values`` (e.g. the current losses) after the bar, at its next redraw (or now)."""
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=refresh)

    def close(self) -> None:
        """Finish the bar; safe to call more than once."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def progress(total: int, desc: str, enabled: bool = True) -> Progress:
    """Return a :class:`Progress` bar of ``total`` steps labelled ``desc``."""
    return Progress(total, desc, enabled)
