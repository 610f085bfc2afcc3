"""Command line: ``pinnlab solve equations/burgers.py [--steps ... --out DIR]``.

Errors the user can fix (a malformed equation module, an exception raised by its functions, a
bad setting, a damaged checkpoint, an unwritable output folder, a full disk) are printed as one
clear line and exit with status 2, never as a torch traceback. Errors that are pinnlab's own bugs
keep their traceback: a ``ValueError`` counts as the user's only when pinnlab raised it on
purpose (see :func:`deliberate`).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from pinnlab.runtime import distributed
from pinnlab.runtime.atomic import DiskFullError, OutputDirectoryError, disk_full_error, is_disk_full
from pinnlab.problem.binding import EquationError
from pinnlab.training.checkpoint import CheckpointError
from pinnlab.commands.export import add_export_arguments, run_export
from pinnlab.commands.control import add_control_arguments, run_control_command
from pinnlab.commands.grow import add_grow_arguments, run_grow
from pinnlab.training.context import NonFiniteLossError

RESULTS_DIR = Path("results")
# where pinnlab's own code lives: a ValueError raised by a raise statement there is deliberate
OWN_CODE = str(Path(__file__).resolve().parent.parent) + "/"


def deliberate(error: BaseException) -> bool:
    """True for an error pinnlab raised on purpose about its input: an ``EquationError``,
    ``CheckpointError`` or ``OutputDirectoryError``, or a ``ValueError`` raised by a ``raise``
    statement in pinnlab's own code. A ``ValueError`` from a library or from an operation that
    failed inside pinnlab is a bug, which keeps its traceback."""
    if isinstance(error, (EquationError, CheckpointError, OutputDirectoryError)):
        return True
    if not isinstance(error, ValueError):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return False
    origin = frames[-1]
    return (str(Path(origin.filename).resolve()).startswith(OWN_CODE)
            and (origin.line or "").lstrip().startswith("raise"))


def one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


FLAGS = {"steps": "adam.steps", "lbfgs_steps": "lbfgs.steps", "points": "sampling.points",
         "boundary_points": "sampling.boundary_points", "device": "numerics.device",
         "dtype": "numerics.dtype", "seed": "numerics.seed"}
"""The solve command's own flags and the settings they set."""


def add_solve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("equation", type=Path, help="path to an equation module, e.g. equations/burgers.py")
    parser.add_argument("--steps", type=int, help="Adam steps")
    parser.add_argument("--lbfgs-steps", type=int, help="L-BFGS iterations after Adam")
    parser.add_argument("--points", type=int, help="interior collocation points")
    parser.add_argument("--boundary-points", type=int, help="points per boundary/initial condition")
    parser.add_argument("--device", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", type=Path, help="output folder (default results/<equation name>)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any other setting, e.g. --set network.width=64 --set output.grid=256x100 "
                             "--set refine.method=rad --set phases=adam,lbfgs,ssbroyden "
                             "--set weights=initial:10 (repeatable)")
    parser.add_argument("--no-reference", action="store_true",
                        help="solve without the equation's reference (no error is reported)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the output folder's checkpoints/last.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects NAME=VALUE, got '{item}'")
        overrides[key.strip().replace("-", "_")] = value.strip()
    for key, name in FLAGS.items():
        value = getattr(args, key)
        if value is not None:
            overrides[name] = value
    if args.quiet:
        overrides["output.progress"] = False
    return overrides


def run_solve(args: argparse.Namespace) -> int:
    from pinnlab.problem.equation_module import load_problem
    from pinnlab.solver.job import files_written, solve
    from pinnlab.solver.settings import resolve_settings

    problem = load_problem(args.equation)
    if args.no_reference:
        problem = problem.without_reference()
    notes: list[str] = []
    settings = resolve_settings(problem, overrides_from(args), notes)
    if distributed.is_main():
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    out_dir = args.out or RESULTS_DIR / problem.name
    result = solve(problem, settings, out_dir, resume=args.resume)
    if not distributed.is_main():  # under torchrun rank 0 alone reports
        return 0
    keys = ["rel_l2", "final_losses", "steps", "lbfgs_stop", "wall_time_s"]
    if result.metrics.get("second_order_stop", "not run") != "not run":
        keys.insert(4, "second_order_stop")
    summary = {k: result.metrics[k] for k in keys}
    if result.metrics.get("unknowns"):  # inverse problems: each unknown's value, std and error
        from pinnlab.output.unknowns import summary as unknowns_summary
        summary["unknowns"] = unknowns_summary(result.metrics)
    print(json.dumps(summary, indent=2))
    print(f"results written to {out_dir}/ ({', '.join(files_written(out_dir))})")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "solve": ("train a network on an equation module and write results", add_solve_arguments, run_solve),
    "grow": ("grow a neural ODE classifier layer by layer with a DWR estimate", add_grow_arguments, run_grow),
    "control": ("train a neural feedback law on a control module (against MPC with --mpc)",
                add_control_arguments, run_control_command),
    "export": ("re-evaluate a solved model on any grid; write HDF5 + XDMF", add_export_arguments, run_export),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pinnlab", description="physics-informed PDE solving")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    name = f"pinnlab {args.command}"
    if distributed.world() > 1:  # every rank reports its own errors; say which one speaks
        name += f" (rank {distributed.rank()} of {distributed.world()})"
    try:
        return COMMANDS[args.command][2](args)
    except NonFiniteLossError as error:
        print(f"{name}: training stopped: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; files already written are complete", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - sorted below; anything else is re-raised
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            error = disk_full_error(error.filename or "the results")
        if deliberate(error) or isinstance(error, DiskFullError):
            print(f"{name}: error: {one_line(error)}", file=sys.stderr)
            return 2
        if isinstance(error, OSError):  # e.g. permissions changed while writing; earlier files are intact
            print(f"{name}: could not write results: {one_line(error)}", file=sys.stderr)
            return 1
        raise

if __name__ == "__main__":
    sys.exit(main())
