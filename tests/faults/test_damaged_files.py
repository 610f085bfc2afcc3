"""Damaged and foreign checkpoints and model files are refused by name, never loaded (cases 1, 11)."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from pinnlab.training.checkpoint import CheckpointError, CheckpointStore
from pinnlab.training.hooks.checkpointing import Checkpointing

from .conftest import file_bytes, one_error_line, run_cli, solve_args


def flip_tensor_bytes(path: Path, count: int = 64) -> str:
    """Invert ``count`` bytes inside the largest tensor of a torch file; return the member's name."""
    with zipfile.ZipFile(path) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
        assert member.compress_type == zipfile.ZIP_STORED and member.file_size >= count
    data = bytearray(path.read_bytes())
    with open(path, "rb") as file:  # the data starts after the member's local header
        file.seek(member.header_offset + 26)
        name_length, extra_length = (int.from_bytes(file.read(2), "little") for _ in range(2))
    start = member.header_offset + 30 + name_length + extra_length
    for k in range(start, start + count):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    return member.filename


class StopAfter(Exception):
    pass


def interrupted_run(args: list, monkeypatch, step: int) -> None:
    """The solve of ``args``, stopped (as by a crash) right after its checkpoint at ``step``."""
    original = Checkpointing.save

    def saving(self, context, loss):
        original(self, context, loss)
        if context.step >= step:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Checkpointing, "save", saving)
        assert run_cli(*args)[0] == 130


def test_flipped_bytes_in_last_checkpoint_fall_back_to_best_and_resume_bit_identical(tmp_path, equation,
                                                                                     monkeypatch):
    budget = ("--steps", "400", "--lbfgs-steps", "0")
    assert run_cli(*solve_args(equation, tmp_path / "whole", *budget))[0] == 0
    out = tmp_path / "run"
    interrupted_run(solve_args(equation, out, *budget), monkeypatch, step=300)
    store = CheckpointStore(out / "checkpoints")
    best_step = torch.load(store.best, weights_only=True)["step"]
    member = flip_tensor_bytes(store.last)
    # torch itself loads the damaged file without a word; zipfile's CRC check finds it
    torch.load(store.last, weights_only=True)
    assert zipfile.ZipFile(store.last).testzip() == member
    with pytest.raises(CheckpointError, match=f"{store.last}.*damaged: its member {member} fails its CRC check"):
        store.load("last")

    status, err = run_cli(*solve_args(equation, out, *budget, "--resume"))
    assert status == 0
    note = one_error_line(err)
    assert f"{store.last}" in note and "damaged" in note
    assert f"resuming from {store.best} (step {best_step}) instead" in note
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    again = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(value, again[name]) for name, value in whole.items())


def test_both_checkpoints_damaged_are_refused_naming_both(tmp_path, equation, monkeypatch):
    out = tmp_path / "run"
    interrupted_run(solve_args(equation, out, "--steps", "400", "--lbfgs-steps", "0"), monkeypatch, step=200)
    store = CheckpointStore(out / "checkpoints")
    for path in (store.last, store.best):
        flip_tensor_bytes(path)
    status, err = run_cli(*solve_args(equation, out, "--steps", "400", "--lbfgs-steps", "0", "--resume"))
    line = one_error_line(err)
    assert status == 2 and str(store.last) in line and str(store.best) in line and "CRC" in line
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()


def test_a_damaged_model_is_refused_by_export(tmp_path, equation):
    run = tmp_path / "run"
    assert run_cli(*solve_args(equation, run, "--steps", "50", "--lbfgs-steps", "0"))[0] == 0
    flip_tensor_bytes(run / "model.pt", count=16)
    before = file_bytes(run)
    status, err = run_cli("export", run, "--quiet")
    line = one_error_line(err)
    assert status == 2 and f"{run / 'model.pt'} cannot be read as a saved pinnlab model" in line
    assert "fails its CRC check" in line
    assert file_bytes(run) == before and not (run / "export.h5").exists()


class Payload:
    """Pickled as a call of os.system: what a crafted checkpoint would run if unpickled."""

    def __reduce__(self):
        return (os.system, ("echo crafted",))


@pytest.mark.parametrize("content, reason", [
    (b"", "is empty (0 bytes"),
    (b"step = 300\nthis is a text file\n", "not a zip archive"),
    (pickle.dumps({"format": "pinnlab-checkpoint", "step": 3}), "not a zip archive"),
    ("crafted", "Python objects other than tensors"),
])
def test_foreign_files_as_checkpoint_or_model_give_a_reason_and_no_unsafe_advice(tmp_path, equation,
                                                                                content, reason):
    """Case 11: a zero-byte file, a text file, a plain pickle and a torch file with a crafted
    pickle, as checkpoints/last.pt of a solve and as model.pt of an export."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    paths = (out / "checkpoints" / "last.pt", out / "model.pt")
    for path in paths:
        if content == "crafted":
            torch.save({"format": "pinnlab-checkpoint", "version": 1, "payload": Payload()}, path)
        else:
            path.write_bytes(content)
    for argv, path in ((solve_args(equation, out, "--resume"), paths[0]), (["export", out], paths[1])):
        status, err = run_cli(*argv)
        line = one_error_line(err)
        assert status == 2 and str(path) in line and reason in line, line
        assert "weights_only" not in line and "crafted" not in line
        assert not line.rstrip().endswith(":"), "the reason is never empty"
    assert not (out / "export.h5").exists()
