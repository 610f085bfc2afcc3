"""A full disk while fields.h5, a checkpoint or an export is written: one line naming the device,
the file and the last complete checkpoint, exit status 2, no temporary left, nothing lost; then
--resume with enough space for the rest (cases 7, 8).

Each case runs twice: with ``OSError(ENOSPC)`` injected at the file the writer opens (runs
anywhere), and for real on a small tmpfs filled up at the moment of the write (needs the right to
mount one: root on Linux; skipped with the reason otherwise).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
import torch

import pinnlab.training.checkpoint
import pinnlab.output.fields_h5
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.output.io import read_metrics, read_results
from pinnlab.model.field_model import build_model
from pinnlab.problem.equation_module import load_problem
from pinnlab.solver.job import estimate_output_bytes, evaluation_grid, resolve_settings

from .conftest import child_command, child_env, file_bytes, one_error_line, run_cli, solve_args, temporaries

BUDGET = ("--steps", "250", "--lbfgs-steps", "0")


class FullDisk(io.FileIO):
    """A file on a disk that has room for ``room`` more bytes, then raises ENOSPC."""

    room = 0

    def write(self, data):
        size = memoryview(data).nbytes
        if size > FullDisk.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        FullDisk.room -= size
        return super().write(data)


def fill_at(module, monkeypatch, room: int, after_calls: int = 0) -> None:
    """Files that ``module`` opens (after its first ``after_calls``) land on a disk with ``room``
    bytes left."""
    calls = [0]

    def opening(path, mode="r", *args, **kwargs):
        calls[0] += 1
        if calls[0] <= after_calls:
            return open(path, mode, *args, **kwargs)
        FullDisk.room = room
        return FullDisk(path, mode.replace("+", "").replace("b", "") + ("+" if "+" in mode else ""))

    monkeypatch.setattr(module, "open", opening, raising=False)


def model_state(path: Path) -> dict[str, torch.Tensor]:
    saved = torch.load(path, weights_only=True)
    return saved["state_dict"] if "state_dict" in saved else saved["model"]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def needed_and_reusable(equation: Path, out: Path) -> tuple[int, int]:
    """What the free-space check asks for this run, and the checkpoint bytes already on disk."""
    problem = load_problem(equation)
    settings = resolve_settings(problem, {"adam.steps": 250, "lbfgs.steps": 0})
    torch.manual_seed(settings.numerics.seed)
    needed = estimate_output_bytes(problem, settings, build_model(problem, settings),
                                   evaluation_grid(problem, settings))
    store = CheckpointStore(out / "checkpoints")
    return needed, sum(p.stat().st_size for p in (store.last, store.best))


def free_space_of(monkeypatch, free: int) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - free, free))


def test_full_disk_while_fields_h5_is_written_over_an_older_run(tmp_path, equation, monkeypatch):
    out = tmp_path / "run"
    assert run_cli(*solve_args(equation, out, "--steps", "100", "--lbfgs-steps", "0"))[0] == 0
    older = file_bytes(out)
    with monkeypatch.context() as patch:
        fill_at(pinnlab.output.fields_h5, patch, room=4096)
        status, err = run_cli(*solve_args(equation, out, *BUDGET))
    line = one_error_line(err)
    last = out / "checkpoints" / "last.pt"
    assert status == 2
    assert "no space left on device " in line and f"while writing {out / 'fields.h5'};" in line
    assert line.endswith(f"the last complete checkpoint is {last} (step 250)")
    assert temporaries(out) == []
    assert file_bytes(out) == older, "the older run's results are untouched"

    # case 8: room for the rest, though not for what the whole run would have needed
    needed, on_disk = needed_and_reusable(equation, out)
    with monkeypatch.context() as patch:
        free_space_of(patch, needed - on_disk // 2)
        status, err = run_cli(*solve_args(equation, out, *BUDGET, "--resume"))
    assert status == 0, err
    assert same(model_state(out / "model.pt"), model_state(last))
    assert read_results(out).metrics["run_id"] == torch.load(last, weights_only=True)["run_id"]


def test_full_disk_while_a_checkpoint_is_written_then_resumed_bit_identical(tmp_path, equation, monkeypatch):
    assert run_cli(*solve_args(equation, tmp_path / "whole", *BUDGET))[0] == 0
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        fill_at(pinnlab.training.checkpoint, patch, room=1000, after_calls=2)  # last.pt and best.pt at step 100
        status, err = run_cli(*solve_args(equation, out, *BUDGET))
    line = one_error_line(err)
    last = out / "checkpoints" / "last.pt"
    assert status == 2
    assert f"while writing {last}; the last complete checkpoint is {last} (step 100)" in line
    assert "inline_container" not in line
    assert temporaries(out) == [] and not (out / "model.pt").exists()

    status, err = run_cli(*solve_args(equation, out, *BUDGET, "--resume"))
    assert status == 0, err
    assert same(model_state(out / "model.pt"), model_state(tmp_path / "whole" / "model.pt"))


def test_full_disk_during_an_export(tmp_path, equation, monkeypatch):
    run = tmp_path / "run"
    assert run_cli(*solve_args(equation, run, "--steps", "50", "--lbfgs-steps", "0"))[0] == 0
    before = file_bytes(run)
    with monkeypatch.context() as patch:
        fill_at(pinnlab.output.fields_h5, patch, room=20_000)
        status, err = run_cli("export", run, "--grid", "100000", "--chunk", "1000", "--quiet")
    line = one_error_line(err)
    assert status == 2 and f"while writing {run / 'export.h5'}" in line
    assert file_bytes(run) == before and temporaries(run) == []


# --- the same on a real, small file system ----------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs, mounted for the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    if sys.platform != "linux" or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); "
                    "the injected ENOSPC tests cover the same paths")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


FILL = (
    "import os, sys, pathlib\n"
    "BALLAST = pathlib.Path(sys.argv.pop(1))\n"
    "def fill():\n"
    "    '''Take every free byte of the file system but a few kB, as another program might.'''\n"
    "    with open(BALLAST, 'ab') as f:\n"
    "        try:\n"
    "            while True:\n"
    "                f.write(b'x' * 65536)\n"
    "                f.flush()\n"
    "        except OSError:\n"
    "            pass\n"
    "    with open(BALLAST, 'r+b') as f:\n"
    "        f.truncate(BALLAST.stat().st_size - 8192)\n"
)


def child_filling_at(patch: str, ballast: Path, args: list[str]) -> subprocess.CompletedProcess:
    script = FILL + patch + "from pinnlab.commands.main import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", script, str(ballast), *args], capture_output=True, text=True,
                          env=child_env(), timeout=300)


def shrink(ballast: Path, free: int) -> None:
    """Resize the ballast so that ``free`` bytes (to a page) are left."""
    now = shutil.disk_usage(ballast.parent).free
    with open(ballast, "r+b") as f:
        f.truncate(max(ballast.stat().st_size - (free - now), 0))


def test_real_full_disk_while_fields_h5_is_written(small_disk, equation):
    out, ballast = small_disk / "run", small_disk / "ballast"
    patch = ("import pinnlab.output.run_files\n"
             "solve_module = sys.modules['pinnlab.output.run_files']\n"
             "original = solve_module.write_fields\n"
             "def filling(*args, **kwargs):\n"
             "    fill()\n"
             "    return original(*args, **kwargs)\n"
             "solve_module.write_fields = filling\n")
    done = child_filling_at(patch, ballast, child_command(equation, out, *BUDGET)[3:])
    line = one_error_line(done.stderr)
    last = out / "checkpoints" / "last.pt"
    assert done.returncode == 2, done.stderr  # no segmentation fault inside HDF5
    assert line.startswith(f"pinnlab solve: error: no space left on device {small_disk} while writing "
                           f"{out / 'fields.h5'}; the last complete checkpoint is {last} (step 250)")
    assert temporaries(small_disk) == [] and not (out / "fields.h5").exists()

    needed, on_disk = needed_and_reusable(equation, out)
    shrink(ballast, needed - on_disk // 2)
    assert needed - on_disk <= shutil.disk_usage(small_disk).free < needed
    resumed = subprocess.run(child_command(equation, out, *BUDGET, "--resume"), capture_output=True, text=True,
                             env=child_env())
    assert resumed.returncode == 0, resumed.stderr
    assert same(model_state(out / "model.pt"), model_state(last))
    assert read_metrics(out)["run_id"] == torch.load(last, weights_only=True)["run_id"]


def test_real_full_disk_while_a_checkpoint_is_written(small_disk, tmp_path, equation):
    assert run_cli(*solve_args(equation, tmp_path / "whole", *BUDGET))[0] == 0
    out, ballast = small_disk / "run", small_disk / "ballast"
    patch = ("from pinnlab.training.checkpoint import CheckpointStore\n"
             "original = CheckpointStore.save\n"
             "calls = [0]\n"
             "def filling(self, state, is_best):\n"
             "    calls[0] += 1\n"
             "    if calls[0] == 2:\n"
             "        fill()\n"
             "    return original(self, state, is_best)\n"
             "CheckpointStore.save = filling\n")
    done = child_filling_at(patch, ballast, child_command(equation, out, *BUDGET)[3:])
    line = one_error_line(done.stderr)
    last = out / "checkpoints" / "last.pt"
    assert done.returncode == 2, done.stderr
    assert f"no space left on device {small_disk} while writing {last}; the last complete checkpoint is " \
           f"{last} (step 100)" in line
    assert temporaries(small_disk) == []

    ballast.unlink()
    resumed = subprocess.run(child_command(equation, out, *BUDGET, "--resume"), capture_output=True, text=True,
                             env=child_env())
    assert resumed.returncode == 0, resumed.stderr
    assert same(model_state(out / "model.pt"), model_state(tmp_path / "whole" / "model.pt"))
