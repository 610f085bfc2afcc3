"""The write primitives the fault cases rest on (pinnlab.runtime.atomic, the HDF5 write guard)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import namedtuple

import h5py
import numpy as np
import pytest

from pinnlab.runtime.atomic import (OutputDirectoryError, atomic_path, check_free_space, disk_full_error,
                            remove_stale_temporaries)
from pinnlab.output.fields_h5 import open_for_writing


def dead_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_atomic_path_refuses_a_directory_before_the_block_runs(tmp_path):
    ran = []
    with pytest.raises(OutputDirectoryError, match="is a directory; give the name of a file"):
        with atomic_path(tmp_path):
            ran.append(True)
    assert ran == []


def test_atomic_path_removes_the_stale_temporaries_of_its_target_only(tmp_path):
    target = tmp_path / "export.h5"
    pid = dead_pid()
    stale = tmp_path / f".export.h5.tmp-{pid}-0000abcd.h5"
    other = tmp_path / f".fields.h5.tmp-{pid}-0000abcd.h5"
    live = tmp_path / f".export.h5.tmp-{os.getpid()}-0000abcd.h5"
    for path in (stale, other, live):
        path.write_bytes(b"half")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not stale.exists() and other.exists() and live.exists()
    assert remove_stale_temporaries(tmp_path) == [other]


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "kept" / "a" / "b" / "file.txt") as tmp:
            tmp.write_text("x")
            raise RuntimeError("fails")
    assert list(tmp_path.rglob("*")) == [tmp_path / "kept"]


def test_free_space_counts_files_the_run_replaces(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda path: usage(100, 40, 60))
    with pytest.raises(OutputDirectoryError, match="need about 0.0 MB"):
        check_free_space(tmp_path / "not" / "yet", 100)
    check_free_space(tmp_path / "not" / "yet", 100, reusable=40)
    assert not (tmp_path / "not").exists()


def test_disk_full_message_names_device_file_and_note(tmp_path):
    error = disk_full_error(tmp_path / "run" / "fields.h5", "the last complete checkpoint is X (step 3)")
    assert error.errno == errno.ENOSPC and isinstance(error, OSError)
    assert str(error).startswith("no space left on device /")
    assert f"while writing {tmp_path / 'run' / 'fields.h5'}; the last complete checkpoint is X (step 3)" in str(error)


def test_the_hdf5_guard_keeps_the_first_write_error_and_closes_cleanly(tmp_path, monkeypatch):
    import pinnlab.output.fields_h5 as fields_h5

    class Full(__import__("io").FileIO):
        def write(self, data):
            if self.tell() + memoryview(data).nbytes > 2000:  # room for 2000 bytes
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(fields_h5, "open", lambda path, mode, buffering=-1: Full(path, "w+"), raising=False)
    with pytest.raises(OSError) as error:
        with open_for_writing(tmp_path / "f.h5", report_as="target.h5") as (f, guard):
            f.create_dataset("u", data=np.arange(10_000.0))
    assert error.value.errno == errno.ENOSPC and error.value.filename == "target.h5"

    monkeypatch.undo()
    with open_for_writing(tmp_path / "g.h5") as (f, guard):
        f.create_dataset("u", data=np.arange(10_000.0))
    assert guard.error is None
    with h5py.File(tmp_path / "g.h5", "r") as f:
        np.testing.assert_array_equal(f["u"][()], np.arange(10_000.0))
