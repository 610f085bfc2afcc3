"""Writes that never leave a half-written file.

A run that crashes, is killed or fills the disk while saving results must not
leave a truncated JSON, HDF5 or PNG file where a good one used to be (or where a
later reader will trust it).  Every writer in pinnlab therefore writes to a
temporary file in the *same directory* as the target and moves it into place with
:func:`os.replace`, which is atomic on POSIX and Windows when source and target
are on the same file system.

The temporary name keeps the target's suffix at its end
(``.{name}.tmp-{pid}-{random}{suffix}``) because some libraries choose the
format from the suffix (matplotlib's ``savefig``, for one).
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DiskFullError",
    "OutputDirectoryError",
    "atomic_path",
    "check_free_space",
    "check_output_file",
    "disk_full_error",
    "is_disk_full",
    "mount_point",
    "remove_stale_temporaries",
    "check_writable",
    "jsonable",
    "write_json",
    "write_text",
]


class OutputDirectoryError(OSError):
    """The output directory cannot be created or written to.

    Raised by :func:`check_writable` so that a solver can refuse to start a long
    training run whose results it could not save.
    """


class DiskFullError(OutputDirectoryError):
    """The disk filled up while a file was written; the message names the file and the device."""


def is_disk_full(error: BaseException) -> bool:
    """True for an ``OSError`` that means "no space left" (ENOSPC, or EDQUOT: over a quota)."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    path = existing_ancestor(Path(path).absolute())
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def disk_full_error(path: str | os.PathLike[str], note: str = "") -> DiskFullError:
    """One line for a full disk: the device (its mount point), the file being written and ``note``
    (what is still intact, e.g. the last complete checkpoint)."""
    message = f"no space left on device {mount_point(path)} while writing {path}"
    error = DiskFullError(message + (f"; {note}" if note else ""))
    error.errno = errno.ENOSPC
    return error


def fsync_directory(directory: Path) -> None:
    """Flush the directory entry of a rename to disk (POSIX only, best effort).

    Why: ``os.replace`` is atomic, but without this a power loss right after it
    may still show the old name on reboot.  Windows cannot open directories, so
    failures here are ignored.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; move it onto ``path`` on success.

    The caller creates and writes the temporary file itself (with any library),
    so the file gets ordinary permissions rather than ``mkstemp``'s 0600.  On a
    normal exit the file is fsync'ed and atomically renamed onto ``path``; if the
    block raises (including ``KeyboardInterrupt``) the temporary file is removed,
    ``path`` is left exactly as it was, parent directories this call created are
    removed again (when still empty), and the exception propagates.

    Before anything is written, a ``path`` that is a directory is refused
    (:class:`OutputDirectoryError`) and temporaries that killed writers left for
    the same ``path`` are deleted.  Raises ``FileNotFoundError`` if the block
    exits normally without having created the temporary file.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputDirectoryError(f"{target} is a directory; give the name of a file to write")
    created = make_parents(target.parent)
    remove_stale_temporaries(target.parent, target.name)
    tmp = target.with_name(
        f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}"
    )
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(
                f"atomic write to {target} finished without creating its temporary file {tmp}"
            )
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        remove_empty(created)
        raise
    fsync_directory(target.parent)


def make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    directory = missing[0] if missing else directory
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty(directories: list[Path]) -> None:
    """Remove each of ``directories`` (deepest first) that is still empty; keep the others."""
    for directory in directories:
        if not directory.exists():
            continue
        try:
            directory.rmdir()
        except OSError:
            return


def jsonable(obj: Any) -> Any:
    """Return ``obj`` converted to plain JSON types, with non-finite floats as ``None``.

    Why: strict JSON has no NaN or Infinity (Python's ``json`` would write the
    invalid tokens ``NaN``/``Infinity`` that other readers reject), and a metric
    that diverged is better recorded as ``null`` than not recorded at all.
    NumPy scalars and arrays become Python numbers and (nested) lists, tuples
    become lists, mapping keys are kept as they are.
    """
    if isinstance(obj, Mapping):
        return {key: jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as strict JSON (indent 2, keys in given order).

    Non-finite floats (NaN, +-inf) are written as ``null`` (see :func:`jsonable`);
    anything else JSON cannot represent raises ``TypeError`` and leaves ``path``
    untouched.
    """
    text = json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_text(path, text)


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def check_writable(directory: str | os.PathLike[str]) -> None:
    """Prove that files can be created in ``directory`` (or where it would be created), or raise.

    Why: permissions, read-only mounts and typos are found by writing, not by
    ``os.access`` (which ignores ACLs, read-only file systems and root's
    privileges), and finding them before training saves the run.  A probe file
    is created and removed, and so are the folders created for it: a run that
    fails before writing its first file leaves nothing behind (writers create
    their folders themselves, see :func:`atomic_path`).

    Raises :class:`OutputDirectoryError` (an ``OSError``) on failure.
    """
    directory = Path(directory)
    created: list[Path] = []
    try:
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a directory")
        created = make_parents(directory)
        fd, probe = tempfile.mkstemp(prefix=".pinnlab-write-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputDirectoryError(
            f"cannot write to output directory {directory}: {reason}"
        ) from exc
    finally:
        remove_empty(created)


def check_output_file(path: str | os.PathLike[str]) -> None:
    """Refuse, before any work, an output file path that is a directory or cannot be created
    (:func:`check_writable` on its folder); raises :class:`OutputDirectoryError`."""
    path = Path(path)
    if path.is_dir():
        raise OutputDirectoryError(f"{path} is a directory; give the name of a file to write")
    check_writable(path.parent)


def check_free_space(directory: str | os.PathLike[str], needed: int, reusable: int = 0) -> None:
    """Refuse to start a run whose results would not fit on the disk.

    Why: a full disk otherwise shows up only when results are written, after training.
    ``reusable`` is the size of files already on the disk that the run will replace (its
    checkpoints, when resuming): they were counted in ``needed`` but take no new space.
    ``directory`` need not exist yet (its nearest existing parent is measured).
    Raises :class:`OutputDirectoryError` naming the directory and both sizes.
    """
    free = shutil.disk_usage(existing_ancestor(Path(directory).absolute())).free
    needed = max(needed - reusable, 0)
    if free < needed:
        raise OutputDirectoryError(
            f"not enough free space in {directory}: results need about {needed / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB are free"
        )


def remove_stale_temporaries(directory: str | os.PathLike[str], name: str = "*") -> list[Path]:
    """Delete temporaries (files, or staging folders) that writers of processes that no longer
    run left in ``directory`` (killed mid-write); ``name`` limits it to one target's.

    The writing process's id is part of each temporary name, so files of a live process (for
    example a second run writing to the same folder) are left alone. Returns what was removed.
    """
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for path in directory.glob(f".{name if name == '*' else glob.escape(name)}.tmp-*"):
        pid = path.name.rpartition(".tmp-")[2].split("-")[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
