"""Python entry point of ``pinnlab grow``: one call runs DWR growth, its baselines, and writes
``metrics.json``, ``growth.h5`` and the figures.

    from pinnlab.growth import GrowthSettings, DWRRefinement, Doerfler, run_growth
    result = run_growth("spirals", "results/spirals-grow", GrowthSettings(seed=1),
                        DWRRefinement(Doerfler(0.5)), baselines=("uniform", "fixed"))
    result.runs["dwr"].best.test_accuracy
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pinnlab.runtime.atomic import check_writable, write_json

from pinnlab.growth.continuous import ContinuousResult, ContinuousSettings, train_ode_net
from pinnlab.growth.datasets import Dataset, load_dataset
from pinnlab.growth.loop import Cycle, DWRRefinement, GrowthRun, GrowthSettings, Strategy, UniformRefinement, fixed_depth_sweep, grow
from pinnlab.growth.output import plot_accuracy, plot_decision_boundary, plot_indicators, write_h5

__all__ = ["BASELINES", "GrowthResult", "run_growth", "settings_dict"]

BASELINES = ("uniform", "fixed", "odenet")


@dataclass(frozen=True)
class GrowthResult:
    dataset: Dataset
    runs: dict[str, GrowthRun]
    fixed: list[Cycle]
    continuous: list[ContinuousResult]
    metrics: dict[str, Any]
    out_dir: Path | None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def settings_dict(settings: GrowthSettings, strategy: Strategy) -> dict[str, Any]:
    """Every resolved setting as plain JSON values."""
    out = _plain(settings)
    out.pop("type")
    out["strategy"] = _plain(strategy)
    return out


def _fixed_depths(budget: int, initial: int) -> list[int]:
    depths, depth = [], initial
    while depth <= budget:
        depths.append(depth)
        depth *= 2
    return depths


def run_growth(
    dataset: str | Dataset,
    out_dir: str | os.PathLike[str] | None,
    settings: GrowthSettings = GrowthSettings(),
    strategy: Strategy = DWRRefinement(),
    baselines: Sequence[str] = ("uniform", "fixed"),
    continuous: Sequence[ContinuousSettings] | None = None,
    show_progress: bool = False,
) -> GrowthResult:
    """Grow a network on ``dataset`` with ``strategy`` and run the named ``baselines``.

    ``baselines``: ``uniform`` (uniform refinement with the same settings), ``fixed`` (fixed
    depths 1, 2, 4, ... up to the budget, each trained as long as uniform refinement trains to
    reach it) and ``odenet`` (the torchdiffeq ODE-Net; ``continuous`` lists its solver
    settings, default dopri5, trained for as many steps as the grow run).  With ``out_dir``
    (checked writable before any training) the files are written there.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; valid: {', '.join(BASELINES)}")
    data = load_dataset(dataset, seed=settings.seed) if isinstance(dataset, str) else dataset
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_writable(out)
    started = time.perf_counter()
    runs = {strategy.name: grow(data, strategy, settings, show_progress)}
    main = runs[strategy.name]
    if "uniform" in baselines and strategy.name != "uniform":
        runs["uniform"] = grow(data, UniformRefinement(), settings, show_progress)
    fixed: list[Cycle] = []
    if "fixed" in baselines:
        fixed = fixed_depth_sweep(data, _fixed_depths(settings.budget_layers, settings.initial_layers), settings)
    results: list[ContinuousResult] = []
    if "odenet" in baselines:
        total_steps = settings.optimizer.steps * len(main.cycles)
        for spec in continuous or [ContinuousSettings()]:
            spec = replace(spec, width=settings.width, final_time=settings.final_time, steps=total_steps, seed=settings.seed)
            results.append(train_ode_net(data, spec))

    best = main.best
    metrics: dict[str, Any] = {
        "dataset": data.name,
        "strategy": strategy.name,
        "seed": settings.seed,
        "stop_reason": main.stop_reason,
        "best": {"cycle": best.cycle, "layers": best.layers, "test_accuracy": best.test_accuracy,
                 "val_accuracy": best.val_accuracy},
        "cycles": [c.summary() for c in main.cycles],
        "baselines": {
            **{name: {"stop_reason": run.stop_reason, "cycles": [c.summary() for c in run.cycles]}
               for name, run in runs.items() if name != strategy.name},
            **({"fixed": {"cycles": [c.summary() for c in fixed]}} if fixed else {}),
            **({"odenet": [r.summary() for r in results]} if results else {}),
        },
        "settings": settings_dict(settings, strategy),
        "wall_time_s": time.perf_counter() - started,
    }
    if out is not None:
        write_json(out / "metrics.json", metrics)
        curves = {name: run.cycles for name, run in runs.items()}
        if fixed:
            curves["fixed"] = fixed
        write_h5(out / "growth.h5", main, data, metrics["settings"], {k: metrics[k] for k in ("best", "stop_reason")},
                 {name: c for name, c in curves.items() if name != strategy.name})
        plot_decision_boundary(out / "decision_boundary.png", main, data)
        plot_indicators(out / "indicators.png", main)
        plot_accuracy(out / "accuracy.png", curves, f"{data.name}: test accuracy against depth")
    return GrowthResult(data, runs, fixed, results, metrics, out)

