"""Tests for pinnlab.runtime.atomic: the target changes only when a write completes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from pinnlab.runtime.atomic import (
    OutputDirectoryError,
    atomic_path,
    check_writable,
    jsonable,
    write_json,
    write_text,
)


def _leftovers(directory: Path, target: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p != target]


def test_atomic_path_replaces_target_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".out.txt.tmp-")
        assert tmp.suffix == ".txt"
        tmp.write_text("new")
        assert target.read_text() == "old"  # not replaced before the block ends
    assert target.read_text() == "new"
    assert _leftovers(tmp_path, target) == []


def test_atomic_path_keeps_old_content_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path, target) == []


def test_atomic_path_without_a_written_file_raises(tmp_path: Path) -> None:
    target = tmp_path / "never.txt"
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    write_text(target, "hello")
    assert target.read_text() == "hello"


def test_write_json_nonfinite_become_null(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    obj = {
        "z": float("nan"),
        "a": [1.0, float("inf"), -float("inf")],
        "np": np.float32("nan"),
        "arr": np.array([0.5, np.nan]),
        "n": np.int64(3),
        "t": (1, 2),
    }
    write_json(target, obj)
    text = target.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert text.endswith("\n")
    loaded = json.loads(text)
    assert loaded == {"z": None, "a": [1.0, None, None], "np": None,
                      "arr": [0.5, None], "n": 3, "t": [1, 2]}
    assert list(loaded) == ["z", "a", "np", "arr", "n", "t"]  # key order kept
    assert text.startswith('{\n  "z"')  # indent=2


def test_write_json_unserialisable_leaves_target(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert _leftovers(tmp_path, target) == []


def test_jsonable_keeps_finite_values() -> None:
    assert jsonable({"x": [1, 2.5, "s", None, True]}) == {"x": [1, 2.5, "s", None, True]}
    assert jsonable(math.nan) is None


def test_check_writable_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir"
    check_writable(target)  # folders are created by the first write, not by the check
    assert not (tmp_path / "new").exists()
    target.mkdir(parents=True)
    check_writable(target)
    assert target.is_dir() and list(target.iterdir()) == []  # the probe is gone, the folder stays


def test_check_writable_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirectoryError, match="cannot write to output directory") as info:
        check_writable(blocker / "out")
    assert isinstance(info.value, OSError)
    assert str(blocker / "out") in str(info.value)


def _chmod_is_effective(directory: Path) -> bool:
    """False when we are privileged (e.g. root) and can write despite mode 0o500."""
    probe = directory / "probe"
    try:
        probe.write_text("x")
    except PermissionError:
        return True
    probe.unlink()
    return False


def test_check_writable_read_only_directory(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    os.chmod(directory, 0o500)
    try:
        if _chmod_is_effective(directory):
            target = directory
        else:
            # Root ignores the mode bits; a parent that is a regular file fails for root too.
            blocker = tmp_path / "blocker"
            blocker.write_text("x")
            target = blocker / "out"
        with pytest.raises(OutputDirectoryError, match="cannot write to output directory"):
            check_writable(target)
    finally:
        os.chmod(directory, 0o700)
