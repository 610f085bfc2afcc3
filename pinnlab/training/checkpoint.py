"""Checkpoints: everything a solve needs to continue, written atomically as ``last`` and ``best``.

A checkpoint is one ``torch.save`` dictionary (``Context.state_dict`` in
:mod:`pinnlab.training.context`): each part's own state (every phase's under ``phases``, every
hook's under ``hooks``, the sampler, the collocation points, the RNG states, the loss history),
the model, the step, the loss weights, the resolved settings (``Settings.as_nested()`` as JSON),
the run's id and the pinnlab version. Before it is read, the file is verified: ``torch.save``
writes a zip archive whose members carry CRC-32 checksums, which ``torch.load`` never checks, so
a file damaged on the disk would otherwise load and train on wrong numbers. It is then read with
``torch.load(weights_only=True)``, so a checkpoint can never run code, and checked against the
equation, the network and the settings before anything is loaded (pinnlab/training/resume.py),
so a checkpoint from another problem, network or run setup is refused as a whole instead of
being loaded partially or continued with settings it was not made with.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from pinnlab.runtime import distributed
from pinnlab.runtime.atomic import atomic_path, disk_full_error, is_disk_full
from pinnlab.problem.equation_module import Problem


@dataclass(frozen=True)
class CheckpointSettings:
    """``checkpoint.*``: a checkpoint every ``every`` steps (and at the end); rollbacks allowed
    after a non-finite loss."""

    every: int = 1000
    rollbacks: int = 3

    def problems(self) -> list[str]:
        found = []
        if self.every < 1:
            found.append(f"checkpoint.every must be >= 1, got {self.every}")
        if self.rollbacks < 0:
            found.append(f"checkpoint.rollbacks must be >= 0, got {self.rollbacks}")
        return found

FORMAT = "pinnlab-checkpoint"
VERSION = 2  # 2: the parts' own states under "phases" and "hooks"
class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, damaged or belongs to another problem, network or
    setup."""


def problem_signature(problem: Problem) -> dict[str, Any]:
    """What a checkpoint must agree on with the problem it resumes: names, not source text,
    so editing a comment in the equation module does not invalidate a checkpoint."""
    return {
        "name": problem.name,
        "inputs": list(problem.inputs),
        "fields": list(problem.fields),
        "residuals": sorted(problem.residuals),
        "conditions": sorted(problem.conditions),
        **({"data": sorted(problem.data)} if problem.data else {}),  # data sets are loss terms too
    }


# --- reading and writing torch files ----------------------------------------------------------
def verify_archive(path: Path) -> None:
    """Raise ``CheckpointError`` (with a reason, not the path) unless ``path`` is an undamaged
    zip archive, the format ``torch.save`` writes: every member's CRC-32 is checked."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CheckpointError(error.strerror or str(error)) from None
    if size == 0:
        raise CheckpointError("it is empty (0 bytes; a write that never finished)")
    try:
        if not zipfile.is_zipfile(path):
            raise CheckpointError("it is not a zip archive, the format torch.save writes")
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError) as error:
        raise CheckpointError(f"it is damaged ({error})") from None
    if damaged is not None:
        raise CheckpointError(f"it is damaged: its member {damaged} fails its CRC check")


def read_torch_file(path: str | Path) -> Any:
    """``path`` verified (:func:`verify_archive`) and loaded with ``weights_only=True`` on the CPU.

    Raises ``CheckpointError`` whose message is the reason only (callers add the path and what
    the file should have been); never torch's advice to load the file with ``weights_only=False``.
    """
    path = Path(path)
    verify_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises several types for foreign content
        raise CheckpointError(load_failure(error)) from None


def load_failure(error: Exception) -> str:
    """Why torch could not load a verified archive, in our words: its messages for foreign objects
    advise re-running with ``weights_only=False``, which would run the file's code."""
    if isinstance(error, pickle.UnpicklingError):
        paragraphs = [p.strip() for p in str(error).split("\n\n") if p.strip()]
        detail = [p for p in paragraphs
                  if not any(w in p for w in ("weights_only", "torch.load", "documentation", "issue"))]
        shown = f" ({' '.join(detail)[:200]})" if detail else ""
        return f"it holds Python objects other than tensors and plain data{shown}; refusing to unpickle them"
    reason = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


def write_torch_file(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a Python file object, so a full disk raises ``OSError(ENOSPC)``
    (saving to a path raises an opaque ``RuntimeError`` from torch's C++ writer instead)."""
    with open(path, "wb") as file:
        try:
            torch.save(obj, file)
        except RuntimeError as error:  # torch's writer may hide the OSError behind its own error
            cause = error.__context__
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__context__
            if cause is None:
                raise
            raise cause from None


# --- the store --------------------------------------------------------------------------------
class CheckpointStore:
    """``last.pt`` and ``best.pt`` in one folder; ``best`` is the lowest total loss saved."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def last(self) -> Path:
        return self.directory / "last.pt"

    @property
    def best(self) -> Path:
        return self.directory / "best.pt"

    def save(self, state: dict[str, Any], is_best: bool) -> None:
        """Write ``last`` (and ``best``); a full disk raises ``DiskFullError`` naming the file and
        the last complete checkpoint, with no temporary file left behind."""
        for path, wanted in ((self.last, True), (self.best, is_best)):
            if not wanted:
                continue
            try:
                with atomic_path(path) as tmp:
                    write_torch_file(state, tmp)
            except OSError as error:
                if is_disk_full(error):
                    raise disk_full_error(path, self.last_complete(state.get("run_id"))) from None
                raise

    def load(self, which: str = "last") -> dict[str, Any]:
        path = self.last if which == "last" else self.best
        if not path.exists():
            raise CheckpointError(
                f"no checkpoint to resume from at {path}; run without --resume to start afresh"
            )
        try:
            state = read_torch_file(path)
        except CheckpointError as error:
            raise CheckpointError(f"cannot read checkpoint {path}: {error}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a pinnlab checkpoint")
        if state.get("version", math.inf) != VERSION:
            raise CheckpointError(
                f"{path} has checkpoint version {state.get('version')}; this pinnlab reads version {VERSION} "
                "only; run without --resume to start afresh"
            )
        state["path"] = str(path)
        return state

    def latest(self, report: bool = True) -> dict[str, Any]:
        """The state to resume from: ``last``, or ``best`` when ``last`` is missing or damaged
        (said in one line on stderr when ``report``). Whether it fits the run is checked by
        pinnlab/training/resume.py."""
        try:
            state = self.load("last")
        except CheckpointError as error:
            if not self.best.is_file():
                raise
            reason = str(error) if self.last.exists() else f"{self.last} is missing"
            try:
                state = self.load("best")
            except CheckpointError as second:
                raise CheckpointError(f"{reason}; and {second}") from None
            if report and distributed.is_main():
                print(f"pinnlab: {reason}; resuming from {self.best} (step {state['step']}) instead",
                      file=sys.stderr)
        return state

    def last_complete(self, run_id: str | None = None) -> str:
        """Which checkpoint (of run ``run_id``, when given) can be resumed from now, in words, for
        error messages."""
        for path in (self.last, self.best):
            try:
                state = read_torch_file(path)
                if run_id is None or state.get("run_id") == run_id:
                    return f"the last complete checkpoint is {path} (step {state['step']})"
            except (CheckpointError, KeyError, TypeError, AttributeError):
                continue
        return "no checkpoint was written"

    def reusable_bytes(self, state: dict[str, Any] | None) -> int:
        """Bytes of the checkpoints on disk that the run will not need anew (see
        ``atomic.check_free_space``): all of them when resuming a finished run (none is written
        again), else all but the largest (a replacement holds the old and the new copy at once)."""
        sizes = sorted(p.stat().st_size for p in (self.last, self.best) if p.is_file())
        if state is not None and state.get("finished"):
            return sum(sizes)
        return sum(sizes[:-1])


def state_dict_mismatches(expected: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> list[str]:
    """Why ``saved`` weights do not fit a network with ``expected`` ones (empty when they do)."""
    problems = [f"missing {k}" for k in expected if k not in saved]
    problems += [f"unexpected {k}" for k in saved if k not in expected]
    problems += [
        f"{k} has shape {tuple(saved[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items() if k in saved and tuple(saved[k].shape) != tuple(v.shape)
    ]
    return problems


# --- saved models (model.pt) ------------------------------------------------------------------
def check_saved_problem(saved: Mapping[str, Any], problem: Problem, module: Path, model_path: Path,
                        solved_source: str | None) -> None:
    """Refuse an equation module that defines another problem than the one ``model_path`` was
    solved for: other inputs or fields, or another name unless the module's text is the solved
    one (a renamed copy). Inputs and fields come from ``model.pt``, else from ``fields.h5``."""
    inputs, fields = saved.get("inputs"), saved.get("fields")
    if inputs is None or fields is None:
        inputs, fields = solved_names(model_path.parent / "fields.h5")
    differs = [(what, list(have), list(want)) for what, have, want in
               (("inputs", inputs, problem.inputs), ("fields", fields, problem.fields)) if have is not None
               and list(have) != list(want)]
    name = saved.get("equation")
    renamed = name not in (None, problem.name) and solved_source != problem.source_text
    if not differs and not renamed:
        return

    def describe(title: Any, ins: Any, outs: Any) -> str:
        parts = [f"inputs {', '.join(ins)}" if ins is not None else "",
                 f"fields {', '.join(outs)}" if outs is not None else ""]
        shown = "; ".join(p for p in parts if p)
        return f"'{title}'" + (f" ({shown})" if shown else "")

    raise CheckpointError(
        f"{module} defines problem {describe(problem.name, problem.inputs, problem.fields)}, but "
        f"{model_path} was solved for {describe(name, inputs, fields)}; pass the equation module it "
        "was solved with (--equation PATH)"
    )


def solved_names(fields_file: Path) -> tuple[list[str] | None, list[str] | None]:
    """The inputs and fields recorded in a run's ``fields.h5`` (None where it cannot be read)."""
    import h5py

    try:
        with h5py.File(fields_file, "r") as f:
            return json.loads(f.attrs["inputs"]), json.loads(f.attrs["fields"])
    except (OSError, KeyError, ValueError):
        return None, None
