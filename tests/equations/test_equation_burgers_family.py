"""equations/burgers_family.py: one network for Burgers with nu in [0.003, 0.03].

A short solve through the command line reports the relative L2 error of each of the 8 held-out
viscosities against the Cole-Hopf solution, with their mean and maximum, and these numbers are
recomputed here from the saved model and pinnlab.problem.burgers_exact. ``pinnlab export --at``
writes one instance, read back with h5py. The bounds are those measured at the short settings
(one thread; see the constants) with a margin; the full-size figures are in docs/parametric.md."""

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from pinnlab import load_problem
from pinnlab.commands.main import main
from pinnlab.output.family import evaluate_instances
from pinnlab.problem.burgers_exact import burgers_sine

MODULE = Path(__file__).resolve().parents[2] / "equations" / "burgers_family.py"
SHORT = ["--set", "pretrain.steps=250", "--set", "adam.steps=500", "--set", "lbfgs.steps=1500",
         "--set", "sampling.points=2000", "--set", "network.width=20", "--set", "numerics.threads=1", "--quiet"]
MEAN_BOUND, MAX_BOUND = 6e-2, 2e-1
"""At SHORT (the module's Adam, L-BFGS and RAD at a quarter of the points; about 20 s of training),
measured: mean 3.0e-2, max 1.1e-1 (at nu = 0.0035, the thinnest shock; 4.7e-3 at nu = 0.021)."""


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("burgers_family") / "run"
    assert main(["solve", str(MODULE), "--out", str(out), *SHORT]) == 0
    return out


def test_the_module_declares_the_viscosity_box_and_eight_held_out_values():
    problem = load_problem(MODULE)
    assert problem.point_names == ("x", "t", "nu")
    assert (problem.parameters.lower, problem.parameters.upper) == ((0.003,), (0.03,))
    values = [v["nu"] for v in problem.held_out]
    assert len(values) == 8 and all(0.003 < v < 0.03 for v in values)


def test_metrics_report_each_held_out_viscosity_and_their_mean_and_max(solved):
    metrics = json.loads((solved / "metrics.json").read_text())
    family = metrics["family"]
    errors = [entry["rel_l2"]["u"] for entry in family["held_out"]]
    assert [entry["values"]["nu"] for entry in family["held_out"]] == [v["nu"] for v in load_problem(MODULE).held_out]
    assert family["rel_l2_mean"]["u"] == pytest.approx(np.mean(errors), rel=1e-12)
    assert family["rel_l2_max"]["u"] == pytest.approx(max(errors), rel=1e-12)
    assert metrics["rel_l2"] == family["rel_l2_mean"]
    assert family["rel_l2_mean"]["u"] < MEAN_BOUND and family["rel_l2_max"]["u"] < MAX_BOUND
    assert family["parameters"] == {"nu": [0.003, 0.03]} and family["instance_points"] == 256 * 101
    assert 0 < family["instance_ms"] < 1000 * metrics["train_time_s"]


def test_the_coarse_labels_are_reported_with_their_error(solved):
    labels = json.loads((solved / "metrics.json").read_text())["labels"]
    assert labels["source"] == "method of lines on 64x51 (hybrid, RK45)" and labels["rows"] == 3000
    assert [entry["values"]["nu"] for entry in labels["instances"]] == pytest.approx(np.linspace(0.003, 0.03, 5))
    assert 1e-2 < labels["rel_l2_mean"] < 4e-2 and labels["rel_l2_max"] < 8e-2  # measured 3.2e-2, 7.2e-2


def test_the_errors_agree_with_cole_hopf_recomputed_from_the_saved_model(solved):
    metrics = json.loads((solved / "metrics.json").read_text())["family"]
    chosen = [metrics["held_out"][0]["values"], metrics["held_out"][-1]["values"]]
    for values, result in zip(chosen, evaluate_instances(solved, chosen)):
        x, t = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 1, 101), indexing="ij")
        exact = burgers_sine(x, t, values["nu"])
        predicted = result.prediction["u"]
        error = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)
        reported = next(e["rel_l2"]["u"] for e in metrics["held_out"] if e["values"] == values)
        assert error == pytest.approx(reported, rel=1e-9)


def test_export_at_one_viscosity_writes_that_instance(solved):
    out = solved / "nu_0.01.h5"
    assert main(["export", str(solved), "--at", "nu=0.01", "--grid", "65x21", "--out", str(out), "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        x, t = f["coordinates/x"][:], f["coordinates/t"][:]
        predicted, reference = f["prediction/u"][:], f["reference/u"][:]
    assert predicted.shape == (65, 21) and np.allclose(x, np.linspace(-1, 1, 65)) and t[-1] == 1.0
    exact = burgers_sine(x[:, None], t[None, :], 0.01)
    np.testing.assert_allclose(reference, exact, rtol=0, atol=1e-12)
    (direct,) = evaluate_instances(solved, [{"nu": 0.01}])
    assert np.linalg.norm(predicted - exact) / np.linalg.norm(exact) < MAX_BOUND
    assert (out.with_suffix(".xdmf")).is_file()
    assert math.isfinite(direct.rel_l2["u"])


def test_export_refuses_a_family_without_an_instance_or_outside_the_box(solved, capsys):
    assert main(["export", str(solved), "--quiet"]) == 2
    assert "say which instance to export with --at nu=0.0165" in capsys.readouterr().err
    assert main(["export", str(solved), "--at", "nu=0.5", "--quiet"]) == 2
    assert "nu=0.5 lies outside the trained box [0.003, 0.03]" in capsys.readouterr().err
    assert main(["export", str(solved), "--at", "mu=0.01", "--quiet"]) == 2
    assert "'mu' is not a parameter (parameters: nu)" in capsys.readouterr().err
