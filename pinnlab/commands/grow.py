"""The ``pinnlab grow`` subcommand: arguments and the function the CLI calls."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pinnlab.growth.api import BASELINES, run_growth
from pinnlab.growth.datasets import DATASETS, load_dataset
from pinnlab.growth.loop import DWRRefinement, FixedDepth, GrowthSettings, RandomRefinement, UniformRefinement
from pinnlab.growth.marking import MARKINGS
from pinnlab.growth.objective import Objective
from pinnlab.growth.optimizers import Adam, SteepestDescent

__all__ = ["add_grow_arguments", "run_grow"]

RESULTS_DIR = Path("results")
STRATEGIES = ("dwr", "uniform", "random", "fixed")


def add_grow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument("--strategy", default="dwr",
                        help="dwr (default), uniform, random (as many splits as dwr, at random places) or fixed")
    parser.add_argument("--marking", default="doerfler", help="doerfler (bulk, default) or maximum")
    parser.add_argument("--theta", type=float, default=0.5, help="marking parameter in (0, 1] (default 0.5)")
    parser.add_argument("--budget-layers", type=int, default=32, help="largest number of layers (default 32)")
    parser.add_argument("--initial-layers", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=8, help="most refinement cycles (default 8)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="stop when |sum of indicators| is below")
    parser.add_argument("--train-at-budget", action="store_true",
                        help="when the layer budget stops refinement, keep training that depth until --cycles")
    parser.add_argument("--patience", type=int, default=0,
                        help="stop after this many cycles without a better validation accuracy (0: never)")
    parser.add_argument("--width", type=int, default=8, help="state dimension d (default 8)")
    parser.add_argument("--final-time", type=float, default=2.0, help="depth T of the ODE (default 2)")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--lift", default="linear", help="linear (trainable input layer) or augment (zero channels)")
    parser.add_argument("--optimizer", default="adam",
                        help="adam (default) or steepest (steepest descent with Armijo line search)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per cycle (default 300)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--alpha", type=float, default=1e-4, help="Tikhonov weight on theta")
    parser.add_argument("--beta", type=float, default=1e-4, help="weight of the time variation of theta")
    parser.add_argument("--baselines", default="uniform,fixed",
                        help=f"comma list of {', '.join(BASELINES)}, or none (default uniform,fixed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output folder (default results/grow-<dataset>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_grow(args: argparse.Namespace) -> int:
    if args.dataset not in DATASETS:
        raise ValueError(f"unknown dataset '{args.dataset}'; valid: {', '.join(DATASETS)}")
    if args.marking not in MARKINGS:
        raise ValueError(f"unknown marking '{args.marking}'; valid: {', '.join(MARKINGS)}")
    if args.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{args.strategy}'; valid: {', '.join(STRATEGIES)}")
    optimizers = {"adam": lambda: Adam(args.steps, args.lr), "steepest": lambda: SteepestDescent(args.steps)}
    if args.optimizer not in optimizers:
        raise ValueError(f"unknown optimizer '{args.optimizer}'; valid: {', '.join(optimizers)}")
    baselines = [] if args.baselines.strip() == "none" else [b.strip() for b in args.baselines.split(",") if b.strip()]
    strategy = {
        "dwr": lambda: DWRRefinement(MARKINGS[args.marking](args.theta)),
        "uniform": UniformRefinement,
        "random": lambda: RandomRefinement(MARKINGS[args.marking](args.theta), seed=args.seed),
        "fixed": FixedDepth,
    }[args.strategy]()
    settings = GrowthSettings(
        width=args.width, final_time=args.final_time, activation=args.activation, lift=args.lift,
        initial_layers=args.initial_layers, budget_layers=args.budget_layers, max_cycles=args.cycles,
        tolerance=args.tolerance, patience=args.patience, train_at_budget=args.train_at_budget,
        optimizer=optimizers[args.optimizer](),
        objective=Objective(alpha=args.alpha, beta=args.beta), seed=args.seed,
    )
    data = load_dataset(args.dataset, seed=args.seed)
    out_dir = args.out or RESULTS_DIR / f"grow-{args.dataset}"
    result = run_growth(data, out_dir, settings, strategy, baselines, show_progress=not args.quiet)
    rows = {name: [(c.layers, round(c.test_accuracy, 4)) for c in run.cycles] for name, run in result.runs.items()}
    if result.fixed:
        rows["fixed"] = [(c.layers, round(c.test_accuracy, 4)) for c in result.fixed]
    print(json.dumps({"best": result.metrics["best"], "layers_and_test_accuracy": rows}))
    print(f"results written to {out_dir}/ (metrics.json, growth.h5, accuracy.png, indicators.png"
          f"{', decision_boundary.png' if data.n_features == 2 else ''})")
    return 0
