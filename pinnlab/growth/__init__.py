"""Growing a neural ODE's depth adaptively with a dual-weighted-residual (DWR) estimate.

A residual network is the explicit-Euler discretization of ``x' = f(x, theta(t))`` on a time
mesh (:mod:`.ode_net`); the objective is a data loss plus Tikhonov terms on ``theta``
(:mod:`.objective`); the DWR estimator (:mod:`.estimator`) says which layers to split
(:mod:`.marking`); :func:`grow` runs train -> estimate -> mark -> refine (:mod:`.loop`), and
:func:`run_growth` does that with the baselines and writes the results (:mod:`.api`).
"""

from pinnlab.growth.api import BASELINES, GrowthResult, run_growth
from pinnlab.growth.continuous import ContinuousResult, ContinuousSettings, ODENet, train_ode_net
from pinnlab.growth.datasets import DATASETS, Dataset, load_dataset, sample
from pinnlab.growth.estimator import Estimate, adjoint_states, estimate, local_residuals
from pinnlab.growth.loop import (
    Cycle,
    DWRRefinement,
    FixedDepth,
    GrowthRun,
    GrowthSettings,
    RandomRefinement,
    Strategy,
    UniformRefinement,
    fixed_depth_sweep,
    grow,
)
from pinnlab.growth.marking import Doerfler, Marking, MaximumMarking
from pinnlab.growth.objective import Objective, accuracy
from pinnlab.growth.ode_net import ACTIVATIONS, EulerNet
from pinnlab.growth.optimizers import Adam, Optimizer, SteepestDescent, TrainLog, train

__all__ = [
    "ACTIVATIONS", "Adam", "BASELINES", "ContinuousResult", "ContinuousSettings", "Cycle", "DATASETS",
    "DWRRefinement", "Dataset", "Doerfler", "Estimate", "EulerNet", "FixedDepth", "GrowthResult",
    "GrowthRun", "GrowthSettings", "Marking", "MaximumMarking", "ODENet", "Objective", "Optimizer",
    "RandomRefinement", "SteepestDescent", "Strategy", "TrainLog", "UniformRefinement", "accuracy", "adjoint_states",
    "estimate", "fixed_depth_sweep", "grow", "load_dataset", "local_residuals", "run_growth",
    "sample", "train", "train_ode_net",
]
