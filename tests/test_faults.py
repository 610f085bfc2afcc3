"""Real processes killed with SIGKILL: during training, and in the middle of writing HDF5."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch

EQUATION = '''
import math
import torch
from pinnlab import Dirichlet, Exact, Interval

name = "poisson1d"
domain = Interval(0.0, 1.0)
conditions = {"ends": Dirichlet(0.0)}
reference = Exact(lambda x: torch.sin(math.pi * x))
defaults = {"width": 12, "depth": 2, "points": 200, "boundary_points": 8, "grid": (33,),
            "log_every": 10, "checkpoint_every": 100, "dtype": "float64", "threads": 1}

def residual(u_xx, x):
    return u_xx + math.pi**2 * torch.sin(math.pi * x)
'''

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")


def command(equation: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pinnlab", "solve", str(equation), "--out", str(out), "--quiet", *extra]


def wait_for(predicate, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def checkpoint_step(path: Path) -> int:
    try:
        return torch.load(path, weights_only=True)["step"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


@pytest.fixture
def equation(tmp_path):
    path = tmp_path / "poisson1d.py"
    path.write_text(EQUATION)
    return path


def test_killed_during_training_resumes_bit_identical(tmp_path, equation):
    budget = ("--steps", "1500", "--lbfgs-steps", "200")
    subprocess.run(command(equation, tmp_path / "whole", *budget), check=True, capture_output=True)

    out = tmp_path / "killed"
    process = subprocess.Popen(command(equation, out, *budget), stderr=subprocess.PIPE)
    wait_for(lambda: checkpoint_step(out / "checkpoints" / "last.pt") >= 200, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "model.pt").exists()
    killed_at = checkpoint_step(out / "checkpoints" / "last.pt")
    assert 200 <= killed_at < 1700

    resumed = subprocess.run(command(equation, out, *budget, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    again = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    for name, value in whole.items():
        assert torch.equal(value, again[name]), name


def test_killed_while_writing_hdf5_leaves_previous_files_intact(tmp_path, equation):
    out = tmp_path / "run"
    subprocess.run(command(equation, out, "--steps", "100", "--lbfgs-steps", "50"), check=True, capture_output=True)
    before = (out / "fields.h5").read_bytes()
    marker = tmp_path / "writing"
    # rewrite the results of the finished run, but stall for good inside the HDF5 write
    stall = (
        "import sys, time, h5py, pathlib\n"
        "from pinnlab.cli import main\n"
        "original = h5py.Group.create_dataset\n"
        "count = [0]\n"
        "def stalling(self, *args, **kwargs):\n"
        "    result = original(self, *args, **kwargs)\n"
        "    count[0] += 1\n"
        "    if count[0] == 3:\n"
        f"        pathlib.Path({str(marker)!r}).touch()\n"
        "        time.sleep(600)\n"
        "    return result\n"
        "h5py.Group.create_dataset = stalling\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = command(equation, out, "--steps", "100", "--lbfgs-steps", "50", "--resume")[3:]
    process = subprocess.Popen([sys.executable, "-c", stall, *args])
    wait_for(marker.exists, process)
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert (out / "fields.h5").read_bytes() == before
    with h5py.File(out / "fields.h5", "r") as f:
        assert f["prediction/u"].shape == (33,)
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert leftovers, "the killed write should have left its temporary file behind"

    finished = subprocess.run(command(equation, out, "--steps", "100", "--lbfgs-steps", "50", "--resume"),
                              capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    with h5py.File(out / "fields.h5", "r") as f:
        assert f["prediction/u"].shape == (33,)
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name], "stale temporaries are cleaned up"
    assert os.path.getsize(out / "fields.xdmf") > 0
