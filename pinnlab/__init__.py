"""pinnlab: physics-informed PDE solving and neural ODEs on PyTorch.

Write a PDE as a plain Python module (see ``pinnlab.problem``) and solve it with
``pinnlab solve path.py`` or, from Python, ``pinnlab.solve(pinnlab.load_problem(path), ...)``.
"""

__version__ = "0.1.0"

from .binding import EquationError
from .conditions import Dirichlet, Initial, InitialRate, Neumann, Periodic, Robin
from .geometry import (
    Box, Disk, Geometry, Hyperbox, Interval, Polygon, Rectangle, SpaceTime, TimeInterval,
)
from .gauges import Mean, PinnedAt
from .network import MLP
from .problem import Problem, load_problem
from .reference import Exact, ExactOnGrid, GridData, Spectral, TableData
from .settings import Settings
from .solve import SolveResult, resolve_settings, solve

__all__ = [
    "Box", "Dirichlet", "Disk", "EquationError", "Exact", "ExactOnGrid", "Geometry", "GridData", "Hyperbox", "Initial",
    "InitialRate", "Interval", "MLP", "Mean", "Neumann", "Periodic", "PinnedAt", "Polygon", "Problem", "Rectangle",
    "Robin", "Settings", "SolveResult", "SpaceTime", "Spectral", "TableData", "TimeInterval", "load_problem",
    "resolve_settings", "solve",
]
