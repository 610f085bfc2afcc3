"""equations/lorenz_inverse.py: its simulated trajectory solves the Lorenz system, and the real
module, solved through the command line with its defaults on one thread, learns sigma, rho and
beta within 1% of the truth (measured: within 1.2e-4, 65 to 95 s)."""

import json
from pathlib import Path

import numpy as np
import torch

from pinnlab.commands.main import main
from pinnlab.problem.equation_module import from_module, import_module_file

PATH = Path("equations/lorenz_inverse.py")
LORENZ = import_module_file(PATH)


def test_the_data_are_the_lorenz_trajectory_from_the_stated_start():
    problem = from_module(LORENZ, PATH)
    observed = problem.data["trajectory"]
    assert observed.points.shape == (100, 1) and observed.values.shape == (100, 3)
    np.testing.assert_allclose(observed.values[0], [-8.0, 7.0, 27.0], atol=1e-12)
    # the dense output solves the system: its derivative against the right-hand side, by differences
    t = np.linspace(0.1, 2.9, 57)
    h = 1e-5
    rate = (LORENZ.simulated.sol(t + h) - LORENZ.simulated.sol(t - h)) / (2 * h)
    rhs = np.array(LORENZ.lorenz(t, LORENZ.simulated.sol(t)))
    np.testing.assert_allclose(rate, rhs, rtol=0, atol=1e-5 * np.abs(rhs).max())
    # the residuals vanish on it with the true parameters
    tt = torch.as_tensor(t)
    x, y, z = (torch.as_tensor(v) for v in LORENZ.simulated.sol(t))
    dx, dy, dz = (torch.as_tensor(v) for v in rhs)
    assert float(LORENZ.residuals["dx"](x, y, dx, LORENZ.SIGMA).abs().max()) < 1e-9
    assert float(LORENZ.residuals["dy"](x, y, z, dy, LORENZ.RHO).abs().max()) < 1e-9
    assert float(LORENZ.residuals["dz"](x, y, z, dz, LORENZ.BETA).abs().max()) < 1e-9
    assert torch.allclose(LORENZ.exact(tt)["z"], z)


def test_the_three_parameters_are_learned_within_one_percent(tmp_path, capsys):
    status = main(["solve", str(PATH), "--out", str(tmp_path / "out"), "--quiet", "--set", "numerics.threads=1"])
    assert status == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for name in ("sigma", "rho", "beta"):
        entry = metrics["unknowns"][name]
        assert abs(entry["relative_error"]) < 1e-2, (name, entry)
        assert entry["std"] is not None and entry["std"] > 0
    assert max(metrics["rel_l2"].values()) < 1e-3  # the trajectory itself, against the dense output
    summary = capsys.readouterr().out
    assert '"sigma": "' in summary and "relative error" in summary
