"""pinnlab: physics-informed PDE solving and neural ODEs on PyTorch.

Write a PDE as a plain Python module (see ``pinnlab.problem.equation_module``) and solve it with
``pinnlab solve path.py`` or, from Python, ``pinnlab.solve(pinnlab.load_problem(path), ...)``.
"""

from pinnlab.runtime.version import __version__

from pinnlab.problem.binding import EquationError
from pinnlab.problem.conditions import Dirichlet, Initial, InitialRate, Neumann, Periodic, Robin
from pinnlab.problem.constraints import Bound
from pinnlab.geometry import (
    Box, Disk, Geometry, Hyperbox, Interval, Polygon, Rectangle, SpaceTime, TimeInterval,
)
from pinnlab.problem.gauges import Mean, PinnedAt
from pinnlab.problem.observations import Observations
from pinnlab.problem.unknowns import Unknown
from pinnlab.model.network import MLP
from pinnlab.problem.equation_module import Problem, load_problem
from pinnlab.problem.reference import Exact, ExactOnGrid, GridData, TableData
from pinnlab.problem.spectral_reference import Spectral
from pinnlab.solver.settings import Settings, resolve_settings
from pinnlab.solver.job import SolveResult, solve

__all__ = [
    "Bound", "Box", "Dirichlet", "Disk", "EquationError", "Exact", "ExactOnGrid", "Geometry", "GridData", "Hyperbox", "Initial",
    "InitialRate", "Interval", "MLP", "Mean", "Neumann", "Observations", "Periodic", "PinnedAt", "Polygon", "Problem", "Rectangle",
    "Robin", "Settings", "SolveResult", "SpaceTime", "Spectral", "TableData", "TimeInterval", "Unknown", "load_problem",
    "resolve_settings", "solve",
]
