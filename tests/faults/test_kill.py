"""Real processes killed with SIGKILL: during training, while writing results into a folder that
holds an older run, between the renames that commit them, and in the middle of an export."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pinnlab.output.io import RunFolderError, read_metrics, read_results

from .conftest import child_command, child_env, file_bytes, run_cli, temporaries, wait_for

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")

SHORT = ("--steps", "100", "--lbfgs-steps", "50")


def checkpoint_step(path: Path) -> int:
    try:
        return torch.load(path, weights_only=True)["step"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def stalled_child(args: list[str], marker: Path, patch: str) -> subprocess.Popen:
    """``pinnlab ARGS`` in a child process with ``patch`` applied first: code that touches
    ``marker`` and sleeps for good at the moment to kill."""
    script = (
        "import sys, time, pathlib\n"
        f"MARKER = pathlib.Path({str(marker)!r})\n"
        "def stall():\n"
        "    MARKER.touch()\n"
        "    time.sleep(600)\n"
        f"{patch}\n"
        "from pinnlab.commands.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.Popen([sys.executable, "-c", script, *args], env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


# the third HDF5 dataset of fields.h5 is being written when the process stalls
STALL_IN_HDF5 = (
    "import h5py\n"
    "original = h5py.Group.create_dataset\n"
    "count = [0]\n"
    "def stalling(self, *args, **kwargs):\n"
    "    result = original(self, *args, **kwargs)\n"
    "    count[0] += 1\n"
    "    if count[0] == 3:\n"
    "        stall()\n"
    "    return result\n"
    "h5py.Group.create_dataset = stalling\n"
)


def test_killed_during_training_resumes_bit_identical(tmp_path, equation):
    budget = ("--steps", "1500", "--lbfgs-steps", "200")
    subprocess.run(child_command(equation, tmp_path / "whole", *budget), check=True, capture_output=True,
                   env=child_env())

    out = tmp_path / "killed"
    process = subprocess.Popen(child_command(equation, out, *budget), stderr=subprocess.PIPE, env=child_env())
    wait_for(lambda: checkpoint_step(out / "checkpoints" / "last.pt") >= 200, process)
    kill(process)
    assert not (out / "model.pt").exists()
    killed_at = checkpoint_step(out / "checkpoints" / "last.pt")
    assert 200 <= killed_at < 1700

    resumed = subprocess.run(child_command(equation, out, *budget, "--resume"), capture_output=True, text=True,
                             env=child_env())
    assert resumed.returncode == 0, resumed.stderr
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    again = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    for name, value in whole.items():
        assert torch.equal(value, again[name]), name


def test_killed_while_writing_hdf5_leaves_previous_files_intact(tmp_path, equation):
    out = tmp_path / "run"
    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT)[0] == 0
    before = file_bytes(out)
    marker = tmp_path / "writing"
    process = stalled_child([*child_command(equation, out, *SHORT, "--resume")[3:]], marker, STALL_IN_HDF5)
    wait_for(marker.exists, process)
    kill(process)

    assert file_bytes(out) == before  # the staged rewrite never touched the finished results
    assert read_results(out).prediction["u"].shape == (33,)
    assert temporaries(out), "the killed write should have left its staging folder behind"

    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT, "--resume")[0] == 0
    assert temporaries(out) == [], "stale temporaries are cleaned up"
    assert read_results(out).prediction["u"].shape == (33,)
    assert (out / "fields.xdmf").stat().st_size > 0


def test_killed_while_writing_over_an_older_run_leaves_one_run(tmp_path, equation):
    """Case 5: a new run (another seed) killed while it writes its results into a folder that
    holds an older run: the folder still holds the older run whole, never a mix; resuming
    replaces it whole, and every file then carries the new run's id."""
    out = tmp_path / "run"
    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT)[0] == 0
    old = file_bytes(out)
    old_id = read_metrics(out)["run_id"]

    marker = tmp_path / "writing"
    process = stalled_child(child_command(equation, out, *SHORT, "--seed", "7")[3:], marker, STALL_IN_HDF5)
    wait_for(marker.exists, process)
    kill(process)
    assert file_bytes(out) == old
    assert read_results(out).metrics["run_id"] == old_id
    new_id = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["run_id"]
    assert new_id != old_id

    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT, "--seed", "7", "--resume")[0] == 0
    metrics = read_metrics(out)
    assert metrics["run_id"] == new_id and metrics["settings"]["numerics"]["seed"] == 7
    assert read_results(out).metrics["run_id"] == new_id
    assert torch.load(out / "model.pt", weights_only=True)["run_id"] == new_id
    assert sorted(metrics["files"]) == sorted(n for n in file_bytes(out) if n != "metrics.json")
    assert all(file_bytes(out)[name] != old[name] for name in ("fields.h5", "model.pt", "metrics.json"))


# the process stalls after moving two of the staged files into place, before metrics.json
STALL_IN_COMMIT = (
    "import os, pinnlab.runtime.run_folder as run_folder\n"
    "original = os.replace\n"
    "moved = [0]\n"
    "class Os:\n"
    "    def __getattr__(self, name):\n"
    "        return getattr(os, name)\n"
    "    @staticmethod\n"
    "    def replace(source, target):\n"
    "        original(source, target)\n"
    "        moved[0] += 1\n"
    "        if moved[0] == 2:\n"
    "            stall()\n"
    "run_folder.os = Os()\n"
)


def test_killed_between_the_renames_is_refused_until_resumed(tmp_path, equation):
    """Case 5, the rest: killed in the middle of moving the results in, the folder holds no
    metrics.json; pinnlab.output.io refuses it, naming the runs of its files, until --resume rewrites it."""
    out = tmp_path / "run"
    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT)[0] == 0
    old_id = read_metrics(out)["run_id"]
    marker = tmp_path / "committing"
    process = stalled_child(child_command(equation, out, *SHORT, "--seed", "7")[3:], marker, STALL_IN_COMMIT)
    wait_for(marker.exists, process)
    kill(process)

    assert not (out / "metrics.json").exists()
    with pytest.raises(RunFolderError, match="holds no metrics.json") as error:
        read_results(out)
    message = str(error.value)
    assert "fields.h5 is from run" in message and "model.pt is from run" in message
    assert old_id in message, "model.pt is still the old run's"
    with pytest.raises(RunFolderError):
        read_metrics(out)

    assert run_cli("solve", equation, "--out", out, "--quiet", *SHORT, "--seed", "7", "--resume")[0] == 0
    assert read_results(out).metrics["run_id"] != old_id
    assert temporaries(out) == []


STALL_IN_EXPORT = (
    "import pinnlab.output.fields_writer as fields_writer\n"
    "original = fields_writer.FieldsWriter.write\n"
    "def stalling(self, *args, **kwargs):\n"
    "    original(self, *args, **kwargs)\n"
    "    self._file.flush()\n"
    "    stall()\n"
    "fields_writer.FieldsWriter.write = stalling\n"
)


def test_an_export_killed_mid_write_leaves_a_temporary_the_next_one_removes(tmp_path, equation):
    """Case 6."""
    run = tmp_path / "run"
    assert run_cli("solve", equation, "--out", run, "--quiet", "--steps", "50", "--lbfgs-steps", "0")[0] == 0
    marker = tmp_path / "exporting"
    process = stalled_child(["export", str(run), "--grid", "40000", "--chunk", "1000", "--quiet"], marker,
                            STALL_IN_EXPORT)
    wait_for(marker.exists, process)
    kill(process)
    [left] = temporaries(run)
    assert left.startswith(".export.h5.tmp-") and not (run / "export.h5").exists()

    assert run_cli("export", run, "--grid", "33", "--quiet")[0] == 0
    assert temporaries(run) == []
    with h5py.File(run / "export.h5", "r") as f:
        u = f["prediction/u"][()]
    np.testing.assert_allclose(u, read_results(run).prediction["u"], rtol=1e-12, atol=1e-14)  # the solve's grid
    assert json.loads(h5py.File(run / "export.h5", "r").attrs["metrics"])["run_id"] == read_metrics(run)["run_id"]
