"""Interleaved timing: the shared helper behind every benchmark that reports a ratio.

A ratio of two timings taken one after the other absorbs any change of machine load between
them. Here the methods are measured round-robin instead: each round runs every method once on
the same inputs, the order rotated from round to round (so no method always runs first, right
after another's allocations), and the ratio against the baseline is formed inside each round.
A load burst then inflates one round's ratio at most, and the median over rounds ignores it.

What is reported, per method: the median time over rounds; per ratio (method time / baseline
time, i.e. how many times faster the baseline is), the median of the per-round ratios, their
minimum and maximum, and their quartiles. A ratio is marked not quotable when its quartiles
are more than ``QUARTILE_LIMIT`` apart (Q3 / Q1 > 1.25): half the rounds then disagree by
more than a quarter, which a single outlying round cannot cause but a machine whose load keeps
changing does. The min-max range is shown too, but not used for the verdict, because one slow
round (a page fault storm, another process's burst) widens it without moving the median.
Fewer than ``MIN_ROUNDS`` rounds are never quotable.

The machine load during the run is recorded beside the numbers: ``os.getloadavg()`` before and
after, and the CPU time the process got against the wall time that passed (a process using
``threads`` threads that is never preempted gets about ``threads`` CPU seconds per second).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

QUARTILE_LIMIT = 1.25
MIN_ROUNDS = 5


@dataclass(frozen=True)
class Load:
    """What else the machine was doing while the rounds ran."""

    load_before: float  # 1-minute load average
    load_after: float
    cpu_seconds: float  # CPU time this process got (all its threads)
    wall_seconds: float

    @property
    def cpu_per_wall(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def describe(self) -> str:
        return (f"load average {self.load_before:.2f} -> {self.load_after:.2f}, process CPU "
                f"{self.cpu_seconds:.1f} s in {self.wall_seconds:.1f} s wall ({self.cpu_per_wall:.2f} CPU s per s)")


@dataclass(frozen=True)
class Ratio:
    """Per-round ratios of one method's time to the baseline's, summarised."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    rounds: int

    @property
    def quotable(self) -> bool:
        return self.rounds >= MIN_ROUNDS and self.q3 <= QUARTILE_LIMIT * self.q1

    def describe(self) -> str:
        """'2.31x (IQR 2.20-2.40, range 2.05-3.10)', with ' NOT QUOTABLE' when the spread is too wide."""
        text = (f"{self.median:.2f}x (IQR {self.q1:.2f}-{self.q3:.2f}, range {self.low:.2f}-{self.high:.2f})")
        return text if self.quotable else text + " NOT QUOTABLE"


@dataclass(frozen=True)
class Timing:
    """The outcome of ``interleaved``: seconds per method per round, the ratios, the load."""

    times: dict[str, list[float]]
    baseline: str | None
    load: Load
    ratios: dict[str, Ratio] = field(default_factory=dict)

    def median(self, method: str) -> float:
        return statistics.median(self.times[method])

    @property
    def quotable(self) -> bool:
        return all(r.quotable for r in self.ratios.values())


class Stopwatch:
    """Wall seconds of one block (``with stopwatch() as watch: ...; watch.seconds``): for the
    benchmarks that time a whole run (a solve, a training of a given length) rather than a call
    that ``interleaved`` repeats."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock, self.started, self.seconds = clock, clock(), float("nan")

    def elapsed(self) -> float:
        """Seconds since the block started (while it runs)."""
        return self.clock() - self.started


@contextmanager
def stopwatch(clock: Callable[[], float] = time.perf_counter) -> Iterator[Stopwatch]:
    watch = Stopwatch(clock)
    try:
        yield watch
    finally:
        watch.seconds = watch.elapsed()


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``call(*args, **kwargs)`` and the wall seconds it took."""
    with stopwatch() as watch:
        result = call(*args, **kwargs)
    return result, watch.seconds


def summarise(ratios: list[float]) -> Ratio:
    """Median, min, max and quartiles (inclusive method, so they lie within the data)."""
    if not ratios:
        raise ValueError("summarise: no ratios")
    if len(ratios) == 1:
        q1 = q3 = ratios[0]
    else:
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return Ratio(statistics.median(ratios), min(ratios), max(ratios), q1, q3, len(ratios))


def rotated(names: list[str], round_index: int) -> list[str]:
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def interleaved(methods: Mapping[str, Callable[[], object]], rounds: int, baseline: str | None = None,
                warmup: int = 1, repeats: int = 1, *, clock: Callable[[], float] = time.perf_counter,
                cpu_clock: Callable[[], float] = time.process_time,
                loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg,
                synchronize: Callable[[], None] = lambda: None) -> Timing:
    """Time ``methods`` round-robin over ``rounds`` rounds after ``warmup`` untimed calls each.

    A method's time in a round is the mean of ``repeats`` consecutive calls (use it for calls
    too short to time alone). ``synchronize`` runs before each clock read (a CUDA sync on a GPU).
    The clocks and the load reader are parameters so the statistics can be tested exactly."""
    names = list(methods)
    if not names:
        raise ValueError("interleaved: no methods to time")
    if rounds < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"interleaved: rounds and repeats must be >= 1 and warmup >= 0, got "
                         f"rounds={rounds}, repeats={repeats}, warmup={warmup}")
    if baseline is not None and baseline not in methods:
        raise ValueError(f"interleaved: baseline '{baseline}' is not one of {', '.join(names)}")
    for name in names:
        for _ in range(warmup):
            methods[name]()
    load_before = loadavg()[0]
    cpu_start, wall_start = cpu_clock(), clock()
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in rotated(names, index):
            synchronize()
            started = clock()
            for _ in range(repeats):
                methods[name]()
            synchronize()
            times[name].append((clock() - started) / repeats)
    load = Load(load_before, loadavg()[0], cpu_clock() - cpu_start, clock() - wall_start)
    ratios = {}
    if baseline is not None:
        base = times[baseline]
        ratios = {name: summarise([t / b for t, b in zip(times[name], base)]) for name in names if name != baseline}
    return Timing(times, baseline, load, ratios)


def verdict_note() -> str:
    """The sentence every report puts under its ratios."""
    return (f"Ratios are medians of per-round ratios over interleaved rounds (each round runs every "
            f"method once, order rotated), with the interquartile range (IQR) and the full range; a "
            f"ratio whose Q3/Q1 exceeds {QUARTILE_LIMIT:g}, or with fewer than {MIN_ROUNDS} rounds, "
            f"is marked NOT QUOTABLE.")
