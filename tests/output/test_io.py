"""pinnlab.output.io reads what solve and export wrote, as numpy and as xarray."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import xarray

import pinnlab
from pinnlab import load_problem, resolve_settings, solve
from pinnlab.output.export import export
from pinnlab.output.io import Results, read_metrics, read_results

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    problem = load_problem(REPO / "equations" / "heat.py")
    settings = resolve_settings(problem, {"output.progress": False, "adam.steps": 20, "lbfgs.steps": 0,
                                          "sampling.points": 150,
                                          "sampling.boundary_points": 30, "network.width": 8,
                                          "network.depth": 2, "output.grid": (9, 5)})
    out = tmp_path_factory.mktemp("run")
    solve(problem, settings, out)
    return out


def test_read_results_of_a_run_directory(run_dir: Path) -> None:
    results = read_results(run_dir)
    assert isinstance(results, Results)
    assert results.equation == "heat" and results.inputs == ["x", "t"] and results.fields == ["u"]
    with h5py.File(run_dir / "fields.h5") as f:
        for name in ("x", "t"):
            np.testing.assert_array_equal(results.axes[name], f["coordinates"][name][()])
        np.testing.assert_array_equal(results.mask, f["mask"][()].astype(bool))
        assert results.mask.dtype == bool and results.mask.shape == (9, 5)
        for group, got in (("prediction", results.prediction), ("reference", results.reference),
                           ("error", results.error), ("residual", results.residual)):
            assert list(got) == list(f[group]), group
            for name, values in got.items():
                np.testing.assert_array_equal(values, f[group][name][()])
        assert results.derivatives == {}
        assert list(results.points) == ["interior", "initial", "walls"]
        assert results.points["interior"]["coordinates"].shape == (150, 2)
        np.testing.assert_array_equal(results.points["walls"]["residual"], f["points/walls/residual"][()])
        np.testing.assert_array_equal(results.loss_history["total"], f["loss_history/total"][()])
    assert results.settings["network"]["width"] == 8 and results.settings["output"]["grid"] == [9, 5]
    assert results.metrics["rel_l2"] == read_metrics(run_dir)["rel_l2"]
    assert results.source == (REPO / "equations" / "heat.py").read_text()
    assert results.versions["pinnlab"] == pinnlab.__version__ and results.versions["torch"] == torch.__version__
    assert read_results(run_dir / "fields.h5").prediction.keys() == results.prediction.keys()


def test_read_results_of_an_export(run_dir: Path, tmp_path: Path) -> None:
    export(run_dir, "6x4", fields="u,u_x,residual", out=tmp_path / "fine.h5", show_progress=False)
    results = read_results(tmp_path / "fine.h5")
    assert results.fields == ["u"] and list(results.derivatives) == ["u_x"]
    assert results.prediction["u"].shape == (6, 4) and results.residual["residual"].shape == (6, 4)
    assert results.points == {} and results.loss_history == {}
    assert results.settings == read_results(run_dir).settings


def test_to_xarray(run_dir: Path, tmp_path: Path) -> None:
    export(run_dir, "7x3", fields="u,u_xx,residual", out=tmp_path / "e.h5", show_progress=False)
    results = read_results(tmp_path / "e.h5")
    ds = results.to_xarray()
    assert isinstance(ds, xarray.Dataset)
    assert list(ds.coords) == ["x", "t"] and ds["u"].dims == ("x", "t")
    assert set(ds.data_vars) == {"u", "u_reference", "u_error", "residual_residual", "u_xx", "mask"}
    np.testing.assert_array_equal(ds["x"].values, results.axes["x"])
    np.testing.assert_array_equal(ds["u"].values, results.prediction["u"])
    np.testing.assert_array_equal(ds["u_error"].values, results.error["u"])
    np.testing.assert_array_equal(ds["residual_residual"].values, results.residual["residual"])
    x, t = results.axes["x"][2], results.axes["t"][1]
    assert float(ds["u_xx"].sel(x=x, t=t)) == results.derivatives["u_xx"][2, 1]
    assert ds.attrs["equation"] == "heat" and json.loads(ds.attrs["settings"])["network"]["width"] == 8


def test_to_xarray_without_xarray(run_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now raises ImportError
    with pytest.raises(ImportError, match="pip install xarray"):
        read_results(run_dir).to_xarray()


def test_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "pinnlab-fields", "format_version": 1, "equation": "old",
                        "inputs": '["x"]', "fields": '["u"]',
                        "metrics": json.dumps({"versions": {"pinnlab": "0.0.9", "torch": "2.4"}}),
                        "settings": '{"width": 4}', "source": "domain = ..."})
        f["coordinates/x"] = np.linspace(0, 1, 3)
        f["mask"] = np.ones(3, np.uint8)
        f["prediction/u"] = np.arange(3.0)
        f.create_group("reference")
        f.create_group("error")
    results = read_results(path)
    assert results.versions == {"pinnlab": "0.0.9", "torch": "2.4"}  # from the metrics of the time
    assert results.settings == {"width": 4} and results.source == "domain = ..."
    assert results.residual == {} and results.points == {}
    np.testing.assert_array_equal(results.prediction["u"], [0.0, 1.0, 2.0])


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no fields.h5"):
        read_results(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing.h5 does not exist"):
        read_results(tmp_path / "nothing.h5")
    with pytest.raises(FileNotFoundError, match="holds no metrics.json"):
        read_metrics(tmp_path)
    with pytest.raises(FileNotFoundError, match="metrics.json does not exist"):
        read_metrics(tmp_path / "metrics.json")
