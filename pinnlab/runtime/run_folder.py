"""One run per output folder: results are staged, then moved in with ``metrics.json`` last.

``pinnlab solve`` writes its results (fields.h5, fields.xdmf, the PNGs, model.pt, metrics.json)
into a hidden staging folder inside the output folder (:func:`staged_results`). Only when all
are complete are they moved into place: ``metrics.json`` of the folder's previous run is removed
first, then that run's files the new run does not replace, then the new files are renamed in and
``metrics.json`` comes last. ``metrics.json`` is the commit mark: it lists every file of its run
with its SHA-256 (``files``) and the run's id (``run_id``, also stored in ``fields.h5`` and
``model.pt``). So a folder shows either one complete run, or, after a crash in the middle of the
renames, no ``metrics.json``, and :func:`check_run_folder` (used by :mod:`pinnlab.output.io`) refuses
such a folder, or one whose files do not match its ``metrics.json``, naming the files.

A staging folder left by a killed process is removed by the next run writing there
(``atomic.remove_stale_temporaries``); the checkpoints are not staged (they are written atomically
one by one, see :mod:`pinnlab.training.checkpoint`), so a run killed while staging resumes with
``--resume``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pinnlab.runtime.atomic import (DiskFullError, fsync_directory, disk_full_error, is_disk_full, make_parents,
                     remove_empty, write_json)

__all__ = ["COMMIT_MARK", "RunFolderError", "check_run_folder", "staged_results"]

COMMIT_MARK = "metrics.json"
# what pinnlab solve wrote before metrics.json listed its files
LEGACY_RESULTS = ("fields.h5", "fields.xdmf", "solution.png", "loss.png", "weights.png",
                  "collocation.png", "model.pt")


class RunFolderError(ValueError):
    """An output folder whose result files do not all belong to one complete run."""


def digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@contextmanager
def staged_results(out_dir: str | os.PathLike[str], run_id: str, resume_note: str = "") -> Iterator[Path]:
    """Yield a staging folder to write a run's results into; move them into ``out_dir`` at the end.

    The results must include ``metrics.json``; the run's id and the files' digests are added to
    it. If the block raises, the staging folder is removed (and ``out_dir`` too, when this call
    created it and it is empty), so the folder keeps its previous run untouched; a full disk is
    raised as ``DiskFullError`` naming the file and ``resume_note`` (the last complete checkpoint).
    """
    out_dir = Path(out_dir)
    staging = out_dir / f".results.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    created = make_parents(staging)
    try:
        yield staging
        commit(staging, out_dir, run_id)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        remove_empty(created)
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise disk_full_error(final_name(error.filename, staging, out_dir), resume_note) from None
        raise


def final_name(filename: Any, staging: Path, out_dir: Path) -> Path:
    """Where a file written in ``staging`` (perhaps as an atomic temporary) was going to go."""
    if not filename:
        return out_dir
    path = Path(os.fsdecode(filename))
    try:
        relative = path.relative_to(staging)
    except ValueError:
        return path
    name = relative.name
    if name.startswith(".") and ".tmp-" in name:  # atomic_path's temporary: .{name}.tmp-{pid}-{hex}{suffix}
        name = name[1:name.rindex(".tmp-")]
    return out_dir / relative.parent / name


def previous_files(out_dir: Path) -> set[str]:
    """The result files of the run now in ``out_dir`` (from its metrics.json; older folders:
    the names pinnlab solve used to write)."""
    names = set(LEGACY_RESULTS)
    try:
        names |= set(json.loads((out_dir / COMMIT_MARK).read_text()).get("files", {}))
    except (OSError, ValueError, AttributeError):
        pass
    return names


def commit(staging: Path, out_dir: Path, run_id: str) -> None:
    """Move the staged results into ``out_dir``, replacing the previous run's; metrics.json last."""
    mark = staging / COMMIT_MARK
    metrics = json.loads(mark.read_text())
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*")
                   if p.is_file() and p != mark)
    metrics["run_id"] = run_id
    metrics["files"] = {name: digest(staging / name) for name in files}
    write_json(mark, metrics)
    old = previous_files(out_dir)
    (out_dir / COMMIT_MARK).unlink(missing_ok=True)  # from here on the folder shows no complete run
    fsync_directory(out_dir)
    for name in sorted(old - set(files)):
        path = out_dir / name
        if path.is_file():
            path.unlink()
    for name in files:
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
    fsync_directory(out_dir)
    os.replace(mark, out_dir / COMMIT_MARK)
    fsync_directory(out_dir)
    shutil.rmtree(staging, ignore_errors=True)


def run_id_of(path: Path) -> str | None:
    """The run id stored in a result file (fields.h5, model.pt), or None."""
    try:
        if path.suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as f:
                metrics = f.attrs.get("metrics")
            metrics = json.loads(metrics) if isinstance(metrics, (str, bytes)) else {}
            return metrics.get("run_id") if isinstance(metrics, dict) else None
        if path.suffix == ".pt":
            from pinnlab.training.checkpoint import CheckpointError, read_torch_file

            try:
                saved = read_torch_file(path)
            except CheckpointError:
                return None
            return saved.get("run_id") if isinstance(saved, dict) else None
    except (OSError, ValueError, KeyError):
        return None
    return None


def check_run_folder(directory: str | os.PathLike[str]) -> None:
    """Refuse an output folder whose results are not one complete run, naming the files.

    A folder with a ``metrics.json`` that lists its files must hold exactly those (same SHA-256);
    a folder without ``metrics.json`` whose ``fields.h5`` or ``model.pt`` carries a run id was
    left in the middle of writing. Folders of older pinnlab versions (no list, no run ids) and
    folders holding only a ``fields.h5`` written by other code pass.
    """
    directory = Path(directory)
    mark = directory / COMMIT_MARK
    if not mark.is_file():
        found = {name: run_id_of(directory / name) for name in ("fields.h5", "model.pt")
                 if (directory / name).is_file()}
        stamped = {name: rid for name, rid in found.items() if rid}
        if stamped:
            present = sorted(p.name for p in directory.iterdir() if p.is_file())
            runs = ", ".join(f"{name} is from run {rid}" for name, rid in stamped.items())
            raise RunFolderError(
                f"{directory} holds no metrics.json: its results were not completely written ({runs}; "
                f"files present: {', '.join(present)}); run the solve again with --resume"
            )
        return
    try:
        metrics = json.loads(mark.read_text())
    except ValueError as error:
        raise RunFolderError(f"{mark} is not valid JSON ({error})") from None
    files = metrics.get("files") if isinstance(metrics, dict) else None
    if not isinstance(files, dict):
        return
    run = metrics.get("run_id")
    wrong = []
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            wrong.append(f"{name} is missing")
        elif digest(path) != expected:
            other = run_id_of(path)
            wrong.append(f"{name} is from run {other}" if other and other != run
                         else f"{name} is not the file run {run} wrote")
    if wrong:
        raise RunFolderError(
            f"{directory} mixes files of different runs: metrics.json is from run {run}, but "
            f"{'; '.join(wrong)}; run the solve again (or --resume) to rewrite its results"
        )
