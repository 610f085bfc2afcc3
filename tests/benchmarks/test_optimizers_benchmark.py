"""benchmarks/optimizers.py: the CPU-budget hook, the wrong-solution rule, argument errors, and the
error spectrum's bands against Parseval and a known mode."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "optimizers.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
import optimizers  # noqa: E402


def test_spectrum_bands_add_up_to_the_whole_error_and_find_the_mode() -> None:
    n = optimizers.SPECTRUM_GRID
    axis = np.arange(n) / n
    x, y = np.meshgrid(axis, axis, indexing="ij")
    solution = sum(np.sin(2 * np.pi * k * x) * np.sin(2 * np.pi * k * y) / k**2 for k in optimizers.HF_MODES)
    error = 0.1 * np.sin(2 * np.pi * 4 * x) * np.sin(2 * np.pi * 4 * y) + 0.01 * np.random.default_rng(0).normal(size=x.shape)
    spectrum = optimizers.error_spectrum(error, solution)
    bands = spectrum["bands"]
    assert list(bands) == ["k=1", "k=2", "k=4", "above"]
    # Parseval: the bands partition the spectrum, so their energies add up to sum(e^2), sum(u^2)
    assert sum(b["error_energy"] for b in bands.values()) == pytest.approx(spectrum["error_energy"], rel=1e-12)
    assert sum(b["solution_energy"] for b in bands.values()) == pytest.approx(spectrum["solution_energy"], rel=1e-12)
    # each mode's energy sits in its own band: sum(u_k^2) = n^2 / 4 / k^4
    for k in optimizers.HF_MODES:
        assert bands[f"k={k}"]["solution_energy"] == pytest.approx(n * n / 4 / k**4, rel=1e-12)
    # the error 0.1 sin sin at k = 4 against the mode's 1/16: relative error 1.6 there (plus the noise's share)
    assert bands["k=4"]["relative_error"] == pytest.approx(1.6, rel=0.02)
    assert bands["k=1"]["relative_error"] < 0.05


def test_cpu_budget_stops_at_the_first_step_after_the_budget() -> None:
    now = [0.0]
    budget = optimizers.CpuBudget(1.0, clock=lambda: now[0])
    budget.begin(None)
    now[0] = 0.9
    budget.advanced(None, 1)  # below the budget: goes on
    now[0] = 1.0
    with pytest.raises(optimizers.BudgetSpent):
        budget.advanced(None, 1)


def test_wrong_solution_needs_a_large_error_and_a_small_training_loss() -> None:
    assert optimizers.is_wrong({"rel_l2": 0.9, "train_loss": 1e-5})
    assert not optimizers.is_wrong({"rel_l2": 0.9, "train_loss": 1.0})  # not fitted: unconverged, not wrong
    assert not optimizers.is_wrong({"rel_l2": 0.1, "train_loss": 1e-5})


def test_argument_errors_are_one_clear_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        optimizers.parse_args(["--methods", "adam,newton"])
    assert exit_info.value.code == 2 and "unknown problem or method newton" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        optimizers.parse_args(["--seeds", "0"])
    assert "--seeds and --jobs must be >= 1" in capsys.readouterr().err
