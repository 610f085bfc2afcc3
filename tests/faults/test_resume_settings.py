"""--resume with changed settings: refused with the list of differences unless they can apply;
what applies is what every output file records (case 2)."""

from __future__ import annotations

import json
import math

import h5py
import pytest
import torch

from pinnlab.output.io import read_metrics

from .conftest import file_bytes, one_error_line, run_cli, solve_args
from .test_damaged_files import interrupted_run

FINISHED = ("--steps", "300", "--lbfgs-steps", "0")


@pytest.fixture
def finished(tmp_path, equation):
    out = tmp_path / "run"
    assert run_cli(*solve_args(equation, out, *FINISHED))[0] == 0
    return out


def recorded_settings(out):
    """The settings as metrics.json, fields.h5, model.pt and the last checkpoint record them."""
    with h5py.File(out / "fields.h5", "r") as f:
        in_fields = json.loads(f.attrs["settings"])
    return [read_metrics(out)["settings"], in_fields,
            torch.load(out / "model.pt", weights_only=True)["settings"],
            json.loads(torch.load(out / "checkpoints" / "last.pt", weights_only=True)["settings"])]


def phase_steps(record):
    """(name, steps) of each phase in a settings record, in order."""
    return [(phase["name"], phase["steps"]) for phase in record["phases"]]


@pytest.mark.parametrize("change, listed", [
    (("--points", "700", "--seed", "5", "--set", "adam.lr=0.01"),
     ("sampling.points 200 -> 700", "numerics.seed 0 -> 5", "adam.lr 0.001 -> 0.01")),
    (("--steps", "800"), ("adam.steps 300 -> 800 (Adam's phase is over",)),
    (("--set", "network.width=16"), ("network.width=12", "network.width=16")),
    (("--set", "output.log_every=20", "--set", "weights=ends:10"),
     ("output.log_every 10 -> 20", "weights {} -> {'ends': 10.0}")),
    (("--set", "phases=adam,lbfgs,ssbroyden", "--set", "ssbroyden.steps=5"),
     ("phases 'adam,lbfgs' -> 'adam,lbfgs,ssbroyden'", "ssbroyden.steps None -> 5")),
])
def test_changes_that_cannot_apply_are_refused_listing_them(finished, equation, change, listed):
    before = {**file_bytes(finished), **file_bytes(finished / "checkpoints")}
    status, err = run_cli(*solve_args(equation, finished, *FINISHED, *change, "--resume"))
    line = one_error_line(err)
    assert status == 2 and str(finished / "checkpoints" / "last.pt") in line
    for text in listed:
        assert text in line, line
    assert {**file_bytes(finished), **file_bytes(finished / "checkpoints")} == before


def test_more_lbfgs_steps_continue_a_finished_run_and_are_recorded(finished, equation):
    status, err = run_cli(*solve_args(equation, finished, "--steps", "300", "--lbfgs-steps", "30",
                                      "--set", "checkpoint.every=50", "--resume"))
    assert status == 0, err
    metrics = read_metrics(finished)
    assert metrics["resumed_from_step"] == 300
    assert 0 < metrics["lbfgs_iterations"] <= 30 and metrics["steps"] == 300 + metrics["lbfgs_iterations"]
    assert metrics["lbfgs_stop"] != "not run"
    for settings in recorded_settings(finished):
        assert phase_steps(settings) == [("adam", 300), ("lbfgs", 30)]
    assert metrics["settings"]["checkpoint"]["every"] == 50  # a free setting: applied and recorded


def test_more_adam_steps_apply_while_adam_runs(tmp_path, equation, monkeypatch):
    out = tmp_path / "run"
    interrupted_run(solve_args(equation, out, "--steps", "400", "--lbfgs-steps", "0"), monkeypatch, step=200)
    assert run_cli(*solve_args(equation, out, "--steps", "100", "--lbfgs-steps", "0", "--resume"))[0] == 2
    status, err = run_cli(*solve_args(equation, out, "--steps", "500", "--lbfgs-steps", "0", "--resume"))
    assert status == 0, err
    metrics = read_metrics(out)
    assert metrics["steps"] == 500 and metrics["resumed_from_step"] == 200
    for settings in recorded_settings(out):
        assert phase_steps(settings) == [("adam", 500), ("lbfgs", 0)]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["phases"]["adam"]["scheduler"]["gamma"] == pytest.approx(0.1 ** (1 / 500), rel=1e-15)
    # the learning rate went down by 0.1 ** (1/400) per step for 200 steps, then 0.1 ** (1/500)
    assert state["phases"]["adam"]["scheduler"]["_last_lr"][0] == pytest.approx(1e-3 * 0.1 ** 0.5 * 0.1 ** (300 / 500), rel=1e-9)
    assert math.isfinite(metrics["rel_l2"]["u"])
