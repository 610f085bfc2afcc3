"""One run per output folder, exports of the problem that was solved, and nothing left behind by
a command that fails before writing (cases 4, 5, 11, 12)."""

from __future__ import annotations

import importlib
import json
import shutil
from collections import namedtuple

import h5py
import pytest
import torch

from pinnlab.output.io import RunFolderError, read_metrics, read_results

from .conftest import REPO, file_bytes, one_error_line, run_cli, solve_args

QUICK = ("--steps", "40", "--lbfgs-steps", "0")


def test_files_of_two_runs_in_one_folder_are_refused_naming_them(tmp_path, equation):
    """Case 5: pinnlab.output.io reads a folder only when all its files are of the run metrics.json names."""
    first, second = tmp_path / "first", tmp_path / "second"
    for out, seed in ((first, "0"), (second, "1")):
        assert run_cli(*solve_args(equation, out, *QUICK, "--seed", seed))[0] == 0
    first_id, second_id = read_metrics(first)["run_id"], read_metrics(second)["run_id"]
    assert first_id != second_id
    with h5py.File(second / "fields.h5", "r") as f:
        assert json.loads(f.attrs["metrics"])["run_id"] == second_id
    assert torch.load(second / "model.pt", weights_only=True)["run_id"] == second_id
    assert torch.load(second / "checkpoints" / "last.pt", weights_only=True)["run_id"] == second_id
    assert sorted(read_metrics(second)["files"]) == ["fields.h5", "fields.xdmf", "loss.png", "model.pt",
                                                     "solution.png"]

    shutil.copy(first / "model.pt", second / "model.pt")
    shutil.copy(first / "loss.png", second / "loss.png")
    for read in (read_results, read_metrics):
        with pytest.raises(RunFolderError) as error:
            read(second)
        message = str(error.value)
        assert f"metrics.json is from run {second_id}" in message
        assert f"model.pt is from run {first_id}" in message
        assert f"loss.png is not the file run {second_id} wrote" in message
        assert "fields.h5" not in message.split("but", 1)[1]

    (second / "solution.png").unlink()
    with pytest.raises(RunFolderError, match="solution.png is missing"):
        read_results(second)
    assert read_results(second / "fields.h5").metrics["run_id"] == second_id  # one file is one file


def test_folders_of_older_versions_and_bare_fields_files_are_still_read(tmp_path, equation):
    out = tmp_path / "run"
    assert run_cli(*solve_args(equation, out, *QUICK))[0] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    del metrics["files"]  # as written before metrics.json listed its files
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert read_results(out).equation == "poisson1d"
    bare = tmp_path / "bare"  # a fields.h5 alone, without a run id (written by other code)
    bare.mkdir()
    with h5py.File(out / "fields.h5", "r") as source, h5py.File(bare / "fields.h5", "w") as copy:
        for key, value in source.attrs.items():
            if key != "metrics":
                copy.attrs[key] = value
        for name in source:
            source.copy(name, copy)
    assert read_results(bare).prediction["u"].shape == (33,)


def test_a_rerun_into_a_folder_removes_the_files_the_older_run_had_alone(tmp_path, equation):
    out = tmp_path / "run"
    assert run_cli(*solve_args(equation, out, *QUICK, "--set", "balance.method=grad-norm", "--set", "balance.every=10"))[0] == 0
    assert (out / "weights.png").is_file()
    assert run_cli(*solve_args(equation, out, *QUICK))[0] == 0
    assert not (out / "weights.png").exists()
    assert read_results(out).metrics["run_id"] == read_metrics(out)["run_id"]


@pytest.fixture(scope="module")
def heat_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("heat")
    status, err = run_cli("solve", REPO / "equations" / "heat.py", "--out", out, "--quiet", "--steps", "20",
                          "--lbfgs-steps", "0", "--points", "150", "--boundary-points", "30", "--set", "network.width=8",
                          "--set", "network.depth=2", "--set", "output.grid=9x5", "--set", "numerics.threads=1")
    assert status == 0, err
    return out


def test_export_with_the_module_of_another_problem_is_refused(heat_run):
    """Case 4: a Poisson module on a heat run exported a Poisson field from heat's weights."""
    before = file_bytes(heat_run)
    poisson = REPO / "equations" / "poisson.py"
    status, err = run_cli("export", heat_run, "--equation", poisson, "--quiet")
    line = one_error_line(err)
    assert status == 2
    assert f"{poisson} defines problem 'poisson' (inputs x, y; fields u)" in line
    assert f"{heat_run / 'model.pt'} was solved for 'heat' (inputs x, t; fields u)" in line
    assert file_bytes(heat_run) == before


def test_export_to_a_directory_is_refused_before_computing(heat_run, tmp_path, monkeypatch):
    """Case 11: it computed everything, then failed with [Errno 21]."""
    def never(*args, **kwargs):
        raise AssertionError("evaluated before the output was checked")

    monkeypatch.setattr(importlib.import_module("pinnlab.output.export"), "evaluate", never)
    status, err = run_cli("export", heat_run, "--out", tmp_path, "--grid", "50x50", "--quiet")
    line = one_error_line(err)
    assert status == 2 and f"{tmp_path} is a directory; give the name of a file to write" in line
    assert "Errno" not in line


@pytest.mark.parametrize("extra, code", [
    (("--set", "output.grid=9x9"), ""),                                   # the grid does not fit the inputs
    (("--set", "network.periodic=q"), ""),                                 # the network cannot be built
    (("--resume",), ""),                                           # nothing to resume from
    (("--set", "balance.method=grad-norm", "--steps", "0"), ""),          # refused when training starts
    ((), "def residual(u_xx, x):\n    return u_xx[:3]\n"),         # preflight: wrong shape
    ((), "def residual(u_xx, x):\n    raise RuntimeError('no')\n"),  # preflight: user code raises
    ((), "def residual(u_xx, x):\n    return u_xx / 0 * 0\n"),     # training: NaN at step 0
])
def test_a_solve_that_fails_before_writing_leaves_no_folder(tmp_path, variant, extra, code):
    """Case 12: about 19 error paths left an empty --out folder behind."""
    module = variant("module", code)
    out = tmp_path / "new" / "out"
    status, err = run_cli(*solve_args(module, out, *QUICK, *extra))
    one_error_line(err)
    assert status == 2
    assert not (tmp_path / "new").exists()


def test_a_full_disk_found_before_training_leaves_no_folder(tmp_path, equation, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**5, 10**5))
    status, err = run_cli(*solve_args(equation, tmp_path / "new" / "out", *QUICK))
    assert status == 2 and "not enough free space" in one_error_line(err)
    assert not (tmp_path / "new").exists()


def test_an_export_that_fails_while_computing_leaves_no_folder(tmp_path, equation, variant):
    run = tmp_path / "run"
    assert run_cli(*solve_args(equation, run, *QUICK))[0] == 0
    broken = variant("broken", "def residual(u_xx, x):\n    raise RuntimeError('broken residual')\n")
    out = tmp_path / "new" / "sub" / "fine.h5"
    status, err = run_cli("export", run, "--equation", broken, "--out", out, "--quiet")
    line = one_error_line(err)
    assert status == 2 and "broken residual" in line and "function residual" in line
    assert not (tmp_path / "new").exists()
