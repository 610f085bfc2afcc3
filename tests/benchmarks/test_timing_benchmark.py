"""benchmarks/timing.py: the interleaved timing helper's statistics, on fake clocks (exact)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import timing  # noqa: E402


class FakeMachine:
    """A clock that advances only when a method runs, by that method's scripted cost in the
    current round; a CPU clock that advances by ``cpu_share`` of it; a scripted load average."""

    def __init__(self, costs: dict[str, list[float]], cpu_share: float = 1.0) -> None:
        self.costs, self.cpu_share = costs, cpu_share
        self.now = self.cpu = 0.0
        self.calls: list[str] = []
        self.loads = iter([0.5, 1.5])

    def method(self, name: str):
        def run() -> None:
            timed = [c for c in self.calls if c == name]
            self.calls.append(name)
            cost = self.costs[name][len(timed)]
            self.now += cost
            self.cpu += self.cpu_share * cost
        return run

    def time(self, rounds: int, baseline: str | None = "fast", warmup: int = 0) -> timing.Timing:
        return timing.interleaved({name: self.method(name) for name in self.costs}, rounds, baseline,
                                  warmup=warmup, clock=lambda: self.now, cpu_clock=lambda: self.cpu,
                                  loadavg=lambda: (next(self.loads), 0.0, 0.0))


def test_a_round_whose_time_doubles_does_not_move_the_median_ratio() -> None:
    steady = FakeMachine({"fast": [1.0] * 7, "slow": [3.0] * 7}).time(7)
    burst = FakeMachine({"fast": [1.0] * 7, "slow": [3.0, 3.0, 3.0, 6.0, 3.0, 3.0, 3.0]}).time(7)
    assert steady.ratios["slow"].median == 3.0
    assert burst.ratios["slow"].median == 3.0
    assert burst.ratios["slow"].high == 6.0 and burst.ratios["slow"].low == 3.0
    assert burst.ratios["slow"].quotable  # one outlying round widens the range, not the quartiles
    assert burst.median("slow") == 3.0 and burst.median("fast") == 1.0


def test_load_that_slows_both_methods_in_a_round_cancels_in_the_ratio() -> None:
    # a burst slows every method of round 2 threefold: per-round ratios stay at 2
    machine = FakeMachine({"fast": [1, 1, 3, 1, 1], "slow": [2, 2, 6, 2, 2]})
    result = machine.time(5)
    assert [s / f for s, f in zip(result.times["slow"], result.times["fast"])] == [2.0] * 5
    assert result.ratios["slow"].median == 2.0 and result.ratios["slow"].q1 == result.ratios["slow"].q3 == 2.0


def test_a_wide_spread_is_flagged_not_quotable() -> None:
    # per-round ratios 1, 2, 1, 2, 1, 2: quartiles 1 and 2, Q3/Q1 = 2 > 1.25
    machine = FakeMachine({"fast": [1.0] * 6, "slow": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]})
    ratio = machine.time(6).ratios["slow"]
    assert (ratio.q1, ratio.median, ratio.q3) == (1.0, 1.5, 2.0)
    assert not ratio.quotable
    assert ratio.describe().endswith("NOT QUOTABLE")


def test_quartiles_and_the_limit_exactly() -> None:
    ratio = timing.summarise([1.0, 1.1, 1.2, 1.3, 1.4])
    assert (ratio.q1, ratio.median, ratio.q3) == pytest.approx((1.1, 1.2, 1.3))
    assert ratio.quotable  # 1.3 / 1.1 < 1.25
    edge = timing.summarise([1.0, 1.0, 1.25, 1.25, 1.25])
    assert (edge.q1, edge.q3) == (1.0, 1.25) and edge.quotable  # the limit itself passes
    assert not timing.summarise([1.0, 1.0, 1.26, 1.26, 1.26]).quotable


def test_too_few_rounds_are_never_quotable() -> None:
    ratio = FakeMachine({"fast": [1.0] * 4, "slow": [2.0] * 4}).time(4).ratios["slow"]
    assert ratio.median == 2.0 and ratio.q1 == ratio.q3 == 2.0
    assert not ratio.quotable


def test_order_rotates_each_round_and_warmup_is_untimed() -> None:
    machine = FakeMachine({"a": [9.0, 1, 1, 1], "b": [9.0, 2, 2, 2], "c": [9.0, 3, 3, 3]})
    result = machine.time(3, baseline="a", warmup=1)
    assert machine.calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert result.times == {"a": [1, 1, 1], "b": [2, 2, 2], "c": [3, 3, 3]}  # the 9 s warm-ups left out
    assert result.ratios["b"].median == 2.0 and result.ratios["c"].median == 3.0


def test_load_is_recorded() -> None:
    machine = FakeMachine({"fast": [1.0] * 5, "slow": [3.0] * 5}, cpu_share=0.5)
    load = machine.time(5).load
    assert (load.load_before, load.load_after) == (0.5, 1.5)
    assert load.wall_seconds == 20.0 and load.cpu_seconds == 10.0 and load.cpu_per_wall == 0.5
    assert "0.50 -> 1.50" in load.describe()


def test_bad_arguments_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="baseline 'x' is not one of a"):
        timing.interleaved({"a": lambda: None}, 3, baseline="x")
    with pytest.raises(ValueError, match="rounds and repeats must be >= 1"):
        timing.interleaved({"a": lambda: None}, 0)
    with pytest.raises(ValueError, match="no methods"):
        timing.interleaved({}, 3)


def test_real_clock_runs() -> None:
    result = timing.interleaved({"a": lambda: sum(range(1000)), "b": lambda: sum(range(3000))}, 5, "a", repeats=20)
    assert result.ratios["b"].median > 1.0 and result.load.wall_seconds > 0


def test_stopwatch_and_timed_read_the_clock_around_the_block() -> None:
    ticks = iter([10.0, 12.5, 13.0])
    with timing.stopwatch(clock=lambda: next(ticks)) as watch:
        assert watch.elapsed() == 2.5  # while the block runs
    assert watch.seconds == 3.0
    result, seconds = timing.timed(sum, [1, 2, 3])
    assert result == 6 and 0 <= seconds < 1


def test_a_stopwatch_records_the_time_of_a_block_that_raises() -> None:
    ticks = iter([0.0, 4.0])
    with pytest.raises(RuntimeError):
        with timing.stopwatch(clock=lambda: next(ticks)) as watch:
            raise RuntimeError("the run failed")
    assert watch.seconds == 4.0
