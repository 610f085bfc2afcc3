"""pinnlab export: values equal the saved model's, derivatives their closed forms, memory stays flat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from pinnlab import load_problem, resolve_settings, solve
from pinnlab.commands.main import main
from pinnlab.output.export import export, load_run
from pinnlab.solver.legacy_names import LEGACY_NAMES
from pinnlab.training.losses import residual_values

REPO = Path(__file__).resolve().parents[2]
QUICK = {"output.progress": False, "adam.steps": 20, "lbfgs.steps": 0, "sampling.points": 200,
         "sampling.boundary_points": 20,
         "network.width": 8, "network.depth": 2}

# u is fixed by the output transform, whatever the network: u = sin(x) cos(2y) exp(-t) on a disk,
# so u_t = -u, u_xx = -u, u_yy = -4u and the residual u_t - u_xx - u_yy is 4u.
CLOSED_FORM = '''
import torch
from pinnlab import Dirichlet, Disk, Exact, TimeInterval

domain = Disk((0.0, 0.0), 1.0) * TimeInterval(0.0, 1.0)

def exact(x, y, t):
    return torch.sin(x) * torch.cos(2 * y) * torch.exp(-t)

def output_transform(x, y, t, u):
    return exact(x, y, t) + 1e-300 * u  # the network's part lies far below round-off

def residual(u_t, u_xx, u_yy):
    return u_t - u_xx - u_yy

conditions = {"rim": Dirichlet(0.0)}
reference = Exact(exact)
'''

BOX = '''
import torch
from pinnlab import Box, Dirichlet

domain = Box((0.0, -1.0, 0.5), (1.0, 1.0, 2.0))

def residual(u_xx, u_yy, u_zz):
    return u_xx + u_yy + u_zz - 1.0

conditions = {"walls": Dirichlet(0.0)}
'''


def _solve(module: Path, out: Path, overrides: dict) -> Path:
    problem = load_problem(module)
    solve(problem, resolve_settings(problem, {**QUICK, **overrides}), out)
    return out


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory) -> Path:
    return _solve(REPO / "equations" / "heat.py", tmp_path_factory.mktemp("heat"), {"output.grid": (11, 6)})


@pytest.fixture(scope="module")
def closed_form_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("closed")
    (folder / "closed.py").write_text(CLOSED_FORM)
    return _solve(folder / "closed.py", folder / "run", {"adam.steps": 0, "output.grid": (9, 9, 3)})


def _grid(axes: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack(np.meshgrid(*axes.values(), indexing="ij"), -1).reshape(-1, len(axes))


def test_values_equal_the_model_evaluated_directly(heat_run: Path, tmp_path: Path) -> None:
    result = export(heat_run, "37x23", out=tmp_path / "e.h5", chunk=100, show_progress=False)
    assert result.path == tmp_path / "e.h5" and result.xdmf == tmp_path / "e.xdmf"
    run = load_run(heat_run)
    with h5py.File(result.path) as f:
        axes = {name: f["coordinates"][name][()] for name in json.loads(f.attrs["inputs"])}
        np.testing.assert_array_equal(axes["x"], np.linspace(0.0, 1.0, 37))
        np.testing.assert_array_equal(axes["t"], np.linspace(0.0, 1.0, 23))
        points = torch.as_tensor(_grid(axes))
        with torch.no_grad():
            direct = run.model(points)[:, 0].numpy().reshape(37, 23)
        np.testing.assert_allclose(f["prediction/u"][()], direct, rtol=0, atol=1e-14)
        assert f["mask"][()].all()
        residual = residual_values(run.problem, run.model, points)["residual"].detach().numpy()
        np.testing.assert_allclose(f["residual/residual"][()], residual.reshape(37, 23), rtol=1e-10, atol=1e-12)
        t, x = axes["t"][None, :], axes["x"][:, None]
        exact = (np.exp(-0.05 * np.pi**2 * t) * np.sin(np.pi * x)
                 + 0.5 * np.exp(-9 * 0.05 * np.pi**2 * t) * np.sin(3 * np.pi * x))
        np.testing.assert_allclose(f["reference/u"][()], exact, atol=1e-13)
        np.testing.assert_allclose(f["error/u"][()], direct - exact, atol=1e-13)
        assert list(f["derivatives"]) == [] and list(f["points"]) == []
        assert json.loads(f.attrs["settings"])["network"]["width"] == 8
        assert f.attrs["source"] == (REPO / "equations" / "heat.py").read_text()
        assert json.loads(f.attrs["metrics"])["equation"] == "heat"


def test_derivatives_and_residual_equal_closed_forms(closed_form_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.h5"
    status = main(["export", str(closed_form_run), "--grid", "21x17", "--times", "0,0.5,0.75",
                   "--fields", "u,u_x,u_yy,u_tx,residual", "--out", str(out), "--quiet", "--chunk", "500"])
    assert status == 0
    with h5py.File(out) as f:
        x, y, t = (f["coordinates"][n][()] for n in ("x", "y", "t"))
        np.testing.assert_array_equal(t, [0.0, 0.5, 0.75])
        assert f["prediction/u"].shape == (21, 17, 3)
        X, Y, T = np.meshgrid(x, y, t, indexing="ij")
        inside = X**2 + Y**2 <= 1.0 + 1e-9
        np.testing.assert_array_equal(f["mask"][()].astype(bool), inside)
        u = np.sin(X) * np.cos(2 * Y) * np.exp(-T)
        expected = {
            "prediction/u": u,
            "derivatives/u_x": np.cos(X) * np.cos(2 * Y) * np.exp(-T),
            "derivatives/u_yy": -4 * u,
            "derivatives/u_xt": -np.cos(X) * np.cos(2 * Y) * np.exp(-T),  # u_tx, canonical name
            "residual/residual": 4 * u,
            "reference/u": u,
            "error/u": 0 * u,
        }
        assert sorted(f["derivatives"]) == ["u_x", "u_xt", "u_yy"]
        for name, want in expected.items():
            got = f[name][()]
            np.testing.assert_allclose(got[inside], want[inside], rtol=0, atol=1e-12, err_msg=name)
            assert np.isnan(got[~inside]).all(), name


def test_vtk_reads_a_3d_box_export(tmp_path: Path) -> None:
    (tmp_path / "box.py").write_text(BOX)
    run_dir = _solve(tmp_path / "box.py", tmp_path / "run", {"output.grid": (4, 4, 4)})
    result = export(run_dir, (7, 6, 5), fields="u,u_z,residual", show_progress=False)
    assert result.path == run_dir / "export.h5"
    with h5py.File(result.path) as f:
        axes = {n: f["coordinates"][n][()] for n in ("x", "y", "z")}
        written = {"u": f["prediction/u"][()], "u_z": f["derivatives/u_z"][()],
                   "residual_residual": f["residual/residual"][()], "mask": f["mask"][()]}
    np.testing.assert_array_equal(axes["z"], np.linspace(0.5, 2.0, 5))
    run = load_run(run_dir)
    with torch.no_grad():
        direct = run.model(torch.as_tensor(_grid(axes)))[:, 0].numpy()
    np.testing.assert_allclose(written["u"].ravel(), direct, rtol=0, atol=1e-14)
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(result.xdmf))
    reader.Update()
    grid = reader.GetOutputDataObject(0)
    dims = [0, 0, 0]
    grid.GetDimensions(dims)
    assert isinstance(grid, vtk.vtkStructuredGrid) and dims == [5, 6, 7]  # VTK's i runs along z
    np.testing.assert_array_equal(vtk_to_numpy(grid.GetPoints().GetData()), _grid(axes))
    data = grid.GetPointData()
    assert sorted(data.GetArrayName(i) for i in range(data.GetNumberOfArrays())) == sorted(written)
    for name, values in written.items():
        np.testing.assert_array_equal(vtk_to_numpy(data.GetArray(name)), values.ravel(), err_msg=name)

    # the solve's own fields.xdmf shows the grid and the collocation clouds with their residuals
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(run_dir / "fields.xdmf"))
    reader.Update()
    output = reader.GetOutputDataObject(0)
    names = [output.GetMetaData(i).Get(vtk.vtkCompositeDataSet.NAME()) for i in range(output.GetNumberOfBlocks())]
    assert names == ["fields", "points_interior", "points_walls"]
    with h5py.File(run_dir / "fields.h5") as f:
        cloud = output.GetBlock(1)
        np.testing.assert_array_equal(vtk_to_numpy(cloud.GetPoints().GetData()), f["points/interior/coordinates"][()])
        np.testing.assert_array_equal(vtk_to_numpy(cloud.GetPointData().GetArray("residual")),
                                      f["points/interior/residual"][()])


def _error(capsys, *argv: str) -> str:
    assert main(["export", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pinnlab export: error: ") and "\n" not in err
    return err


def test_clear_errors(heat_run: Path, tmp_path: Path, capsys) -> None:
    assert "does not exist" in _error(capsys, str(tmp_path / "nowhere"))
    assert "holds no model.pt" in _error(capsys, str(tmp_path))
    (tmp_path / "model.pt").write_text("not a model")
    assert "model.pt cannot be read as a saved pinnlab model" in _error(capsys, str(tmp_path))
    assert "expected sizes like 512x256, one per input (x, t)" in _error(capsys, str(heat_run), "--grid", "12xfoo")
    assert "3 sizes for 2 inputs (x, t)" in _error(capsys, str(heat_run), "--grid", "4x4x4")
    assert "sizes must be >= 2" in _error(capsys, str(heat_run), "--grid", "1x4")
    err = _error(capsys, str(heat_run), "--fields", "u,w")
    assert "unknown name 'w'" in err and "fields (u)" in err and "residuals (residual)" in err
    assert "'u_q' differentiates with respect to 'q'" in _error(capsys, str(heat_run), "--fields", "u_q")
    assert "[0, 1]" in _error(capsys, str(heat_run), "--times", "0,2")
    assert "increasing" in _error(capsys, str(heat_run), "--times", "0.5,0.1")
    assert "--times lists 2" in _error(capsys, str(heat_run), "--grid", "5x3", "--times", "0,1")
    assert list(heat_run.glob("export*")) == []

    poisson = _solve(REPO / "equations" / "poisson.py", tmp_path / "poisson", {"output.grid": (5, 5)})
    assert "has no time input" in _error(capsys, str(poisson), "--times", "0")
    # a module of another problem (here: other fields) is refused, naming both problems
    two_fields = tmp_path / "two.py"
    two_fields.write_text(
        "from pinnlab import Interval, TimeInterval\n"
        "domain = Interval(0.0, 1.0) * TimeInterval(0.0, 1.0)\n"
        "fields = ['u', 'v']\n"
        "residuals = {'a': lambda u_t, v: u_t - v, 'b': lambda v_t, u: v_t + u}\n"
    )
    err = _error(capsys, str(heat_run), "--equation", str(two_fields))
    assert f"{two_fields} defines problem 'two' (inputs x, t; fields u, v)" in err
    assert "was solved for 'heat' (inputs x, t; fields u)" in err
    assert list(heat_run.glob("export*")) == []


def test_equation_module_missing_or_unrecorded(tmp_path: Path, capsys) -> None:
    module = tmp_path / "heat_copy.py"
    module.write_text((REPO / "equations" / "heat.py").read_text())
    run_dir = _solve(module, tmp_path / "run", {"output.grid": (5, 3)})
    saved = torch.load(run_dir / "model.pt", weights_only=True)
    assert saved["equation_path"] == str(module.resolve())
    module.rename(tmp_path / "moved.py")
    err = _error(capsys, str(run_dir))
    assert f"equation module {module.resolve()} (recorded in {run_dir / 'model.pt'}) does not exist" in err
    assert "--equation PATH" in err
    del saved["equation_path"]  # as written by an older pinnlab
    torch.save(saved, run_dir / "model.pt")
    assert "does not record its equation module" in _error(capsys, str(run_dir))
    assert main(["export", str(run_dir), "--equation", str(tmp_path / "moved.py"), "--grid", "6x4", "--quiet"]) == 0
    assert h5py.File(run_dir / "export.h5")["prediction/u"].shape == (6, 4)


def test_a_model_pt_with_the_flat_settings_of_0_1_exports_the_same(heat_run: Path, tmp_path: Path) -> None:
    nested = torch.load(heat_run / "model.pt", weights_only=True)
    phases = {phase["name"]: phase for phase in nested["settings"]["phases"]}
    flat = {name: nested["settings"][group][field] if group in nested["settings"] else phases[group][field]
            for name, (group, _, field) in ((name, LEGACY_NAMES[name].partition(".")) for name in LEGACY_NAMES)
            if group not in ("phases", "second_order", "weights", "lm")}
    flat.update(second_order="none", second_order_steps=0, lm_svd_rank=0, weights={})
    assert flat["width"] == 8 and flat["lbfgs_steps"] == 0 and len(flat) == len(LEGACY_NAMES)
    old = tmp_path / "old"
    old.mkdir()
    for name in ("fields.h5", "metrics.json"):
        (old / name).write_bytes((heat_run / name).read_bytes())
    torch.save({**nested, "settings": flat}, old / "model.pt")
    assert load_run(old).settings == load_run(heat_run).settings
    export(heat_run, "7x5", out=tmp_path / "new.h5", show_progress=False)
    export(old, "7x5", out=tmp_path / "old.h5", show_progress=False)
    with h5py.File(tmp_path / "new.h5") as new_file, h5py.File(tmp_path / "old.h5") as old_file:
        np.testing.assert_array_equal(old_file["prediction/u"][()], new_file["prediction/u"][()])
        assert json.loads(old_file.attrs["settings"]) == nested["settings"]  # recorded grouped


MEMORY_PROBE = '''
import json, resource, sys, tracemalloc
from pinnlab.output.export import export
run, out = sys.argv[1], sys.argv[2]
fields = "u,u_xx,residual"
export(run, "1000x100", fields=fields, out=out, show_progress=False, chunk=8192)   # 1e5 points
small = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
export(run, "10000x100", fields=fields, out=out, show_progress=False, chunk=8192)  # 1e6 points
large = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()  # after the RSS measurement: its own bookkeeping takes memory
export(run, "10000x100", fields=fields, out=out, show_progress=False, chunk=8192)
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"traced_peak": peak, "rss_growth": (large - small) * 1024}))
'''


def test_a_million_point_export_keeps_memory_flat(heat_run: Path, tmp_path: Path) -> None:
    """Exporting 1e6 points must not hold grid-sized arrays: numpy's peak stays a small fraction of
    them, and the process's peak memory hardly grows from a 1e5-point export to a 1e6-point one."""
    out = tmp_path / "big.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(heat_run), str(out)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    n = 1_000_000
    full = 8 * n * (2 + 5) + n  # points (x, t), u, u_xx, residual, reference, error; mask
    assert measured["traced_peak"] < full / 10, measured
    assert measured["rss_growth"] < full / 4, measured
    with h5py.File(out) as f:
        assert f["prediction/u"].shape == (10000, 100)
        assert f["prediction/u"].chunks[0] * f["prediction/u"].chunks[1] <= 8192
        u = f["prediction/u"][::997, ::33]
        x, t = f["coordinates/x"][::997], f["coordinates/t"][::33]
    run = load_run(heat_run)
    with torch.no_grad():
        direct = run.model(torch.as_tensor(_grid({"x": x, "t": t})))[:, 0].numpy()
    np.testing.assert_allclose(u.ravel(), direct, rtol=0, atol=1e-14)


# a problem in time alone (like equations/lorenz_inverse.py): u' = -u, u(0) = 1
DECAY = '''
import torch
from pinnlab import Exact, TimeInterval

domain = TimeInterval(0.0, 1.0)

def residual(u, u_t):
    return u_t + u

def output_transform(t, u):
    return 1.0 + t * u

reference = Exact(lambda t: torch.exp(-t))
'''


def test_a_problem_in_time_alone_exports_without_xdmf(tmp_path: Path, capsys) -> None:
    (tmp_path / "decay.py").write_text(DECAY)
    run = _solve(tmp_path / "decay.py", tmp_path / "run", {"adam.steps": 200, "output.grid": (11,)})
    assert main(["export", str(run), "--grid", "17", "--quiet"]) == 0
    assert "no XDMF: the problem has no spatial input" in capsys.readouterr().out
    assert not (run / "export.xdmf").exists()
    with h5py.File(run / "export.h5", "r") as f:
        t, exported = f["coordinates/t"][...], f["prediction/u"][...].ravel()
    assert t.shape == (17,)
    with torch.no_grad():
        direct = load_run(run).model(torch.as_tensor(t.reshape(-1, 1), dtype=torch.float64)).numpy().ravel()
    np.testing.assert_allclose(exported, direct, rtol=1e-6, atol=1e-9)
