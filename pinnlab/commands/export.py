"""Command line of ``pinnlab export RUN_DIR [--grid 512x256] [--times ...] [--fields ...] [--out FILE]
[--at nu=0.01] [--set numerics.threads=N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pinnlab.output.evaluation import CHUNK
from pinnlab.output.export import export
from pinnlab.solver.settings import Settings

EXPORT_SETTINGS = ("numerics.threads", "threads")
"""The settings ``--set`` may change for an export; the others are fixed by the saved model."""


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="output folder of 'pinnlab solve' (holds model.pt)")
    parser.add_argument("--grid", help="points per input, e.g. 512x256 (default: the solve's grid)")
    parser.add_argument("--times", help="time values for a space-time problem, e.g. 0,0.25,0.5; "
                                        "--grid then needs sizes for the spatial inputs only")
    parser.add_argument("--fields", help="comma-separated fields (u), derivatives (u_x, u_xt), residual "
                                         "names or 'residual' for all (default: every field and residual)")
    parser.add_argument("--out", type=Path, help="HDF5 file to write (default RUN_DIR/export.h5); "
                                                 "an .xdmf file is written beside it")
    parser.add_argument("--at", help="the instance of a family (a module with 'parameters') to export, "
                                     "e.g. nu=0.01 or nu=0.01,k=2")
    parser.add_argument("--equation", type=Path,
                        help="equation module to rebuild the model with (default: the one model.pt records)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the solve's device)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help=f"points evaluated at a time (default {CHUNK})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="numerics.threads=N: CPU threads for the evaluation, as in solve (default: the solve's)")


def threads_from(items: list[str], notes: list[str] | None = None) -> int | None:
    """The ``--set numerics.threads=N`` value (or pinnlab 0.1's ``threads=N``, with a note naming
    the new name appended to ``notes``), checked like solve's; any other name is refused."""
    threads = None
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--set expects NAME=VALUE, got '{item}'")
        if key not in EXPORT_SETTINGS:
            raise ValueError(f"--set {key}: export accepts only --set numerics.threads=N; "
                             "the other settings are fixed by the saved model")
        threads = Settings().replace({key: value.strip()}, "--set", notes).numerics.threads
    return threads


def run_export(args: argparse.Namespace) -> int:
    notes: list[str] = []
    threads = threads_from(args.set, notes)
    for note in notes:
        print(f"pinnlab export: note: {note}", file=sys.stderr)
    result = export(args.run_dir, args.grid, times=args.times, fields=args.fields, out=args.out,
                    equation=args.equation, device=args.device, chunk=args.chunk,
                    show_progress=not args.quiet, threads=threads, at=args.at)
    for note in result.notes:
        print(f"pinnlab export: note: {note}", file=sys.stderr)
    where = f"open {result.xdmf} in ParaView" if result.xdmf else "no XDMF: the problem has no spatial input"
    print(f"{'x'.join(map(str, result.shape))} grid written to {result.path} ({where})")
    return 0
