"""benchmarks/parametric.py: the statistics on made-up runs, and a tiny run of the whole benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import parametric  # noqa: E402


def made_up(arm, seed, final, curve):
    return parametric.Run(arm, seed, thread_s=10.0 + seed, steps=100, final_mean=final, final_max=2 * final,
                          curve=curve)


def test_time_to_target_and_degenerate_runs_are_counted_from_the_curves() -> None:
    runs = [made_up("a", 0, 0.008, [(50, 1.0, 0.05), (100, 2.0, 0.02), (150, 3.0, 0.009)]),
            made_up("a", 1, 0.009, [(50, 1.5, 0.025), (100, 4.0, 0.008)]),
            made_up("a", 2, 0.5, [(50, 1.0, 0.6), (100, 2.0, 0.5)])]  # > 10 x the median 0.009
    assert runs[0].reached(0.01) == (150, 3.0) and runs[2].reached(0.01) is None
    s = parametric.summary(runs, 0.01)
    assert s["degenerate"] == 1 and s["final_mean_median"] == 0.009 and s["thread_s_median"] == 11.0
    assert s["to_target"]["1e-02"] == {"reached": 2, "runs": 3, "median_steps": 125.0, "median_thread_s": 3.5}
    assert s["to_target"]["3e-02"]["reached"] == 2 and s["to_target"]["3e-02"]["median_steps"] == 75.0
    assert "| a | - | 9.00e-03 (8.0e-03-5.0e-01) | 1.80e-02 | 1 | 2/3, 75, 1.8 | 2/3, 125, 3.5 | 11.0 |" in \
        parametric.table({"a": s}, 0.01)


def test_a_tiny_run_of_the_benchmark_writes_every_part(tmp_path, capsys) -> None:
    out = tmp_path / "heat.json"
    parametric.main(["--family", "heat", "--seeds", "2", "--sweep", "--sweep-seeds", "1", "--amortised",
                     "--pretrain", "30", "--adam", "20", "--lbfgs", "10", "--points", "200", "--width", "8",
                     "--depth", "2", "--every", "10", "--rounds", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert [len(result["runs"][arm]) for arm in ("physics", "pretrain")] == [2, 2]
    physics, pretrain = result["runs"]["physics"][0], result["runs"]["pretrain"][0]
    assert physics["steps"] == pretrain["steps"] == 60  # the same budget: 30 + 20 Adam (or pretrain + Adam), 10 L-BFGS
    assert physics["label_error"] is None and 0 < pretrain["label_error"] < 1e-2
    assert [c[0] for c in pretrain["curve"]][:2] == [30, 40]  # measured from the first physics step on
    grids = [v["label_error"] for k, v in result["sweep"].items() if k.startswith("grid")]
    assert len(grids) == 3 and grids[0] > grids[1] > grids[2]  # 4, 8, 16 nodes: finer labels
    assert len(result["sweep"]) == 6 and any("(1)" in k for k in result["sweep"])
    amortised = result["amortised"]
    assert 0 < amortised["instance_ms_median"] < 1000 * amortised["single_solve_thread_s"]
    timings = amortised["timings"]
    fast = [t for t in timings if t["path"] == "fast"]
    assert len(fast) == 3 * 2 * 2 * 3 and len(timings) == len(fast) + 2  # grids, dtypes, threads, batches
    assert {(t["points"], t["batch"]) for t in fast} >= {(25856, 1), (10201, 8), (4096, 64)}
    assert all(t["calls"] == 2 and 0 < t["ms_min"] <= t["ms_median"] <= t["ms_max"] for t in timings)
    printed = capsys.readouterr().out
    assert printed.count("| physics |") == 1 and "amortised:" in printed
    assert "| fast | 256 x 101 (25856) | float32 | 1 | 1 |" in printed


def test_labels_of_its_own_fitted_by_lbfgs(tmp_path) -> None:
    out = tmp_path / "heat.json"
    parametric.main(["--family", "heat", "--seeds", "1", "--pretrain", "30", "--adam", "0", "--lbfgs", "10",
                     "--points", "200", "--width", "8", "--depth", "2", "--every", "10", "--pretrain-optimizer",
                     "lbfgs", "--labels-grid", "4x11", "--labels-instances", "2", "--labels-points", "30",
                     "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["budget"]["pretrain_optimizer"] == "lbfgs"
    pretrain = result["runs"]["pretrain"][0]
    assert pretrain["label_error"] > 2e-2  # 4 nodes: much coarser than the module's 16 (4.6e-3)
    assert pretrain["steps"] <= 40 and pretrain["curve"][-1][0] == pretrain["steps"]  # the fit may end early


@pytest.mark.parametrize("argv, message", [
    (["--labels-grid", "256by51"], "expected nodes x times, each >= 3, e.g. 256x51; got '256by51'"),
    (["--labels-instances", "9"], "--labels-instances and --labels-points go with --labels-grid"),
])
def test_bad_label_options_are_one_line_and_status_2(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        parametric.main(["--family", "heat", "--seeds", "0", *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err
