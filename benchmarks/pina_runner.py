"""PINA (pina-mathlab 0.3) on the time-to-accuracy problems, for benchmarks/time_to_accuracy.py.

PINA ships no Burgers or Poisson example with training settings of its own that match these
problems, so it runs with the settings of DeepXDE's examples (the ``deepxde-example`` tool):
Burgers on x in [-1, 1], t in [0, 0.99] with soft initial and wall conditions, a 2-20-20-20-1 tanh
network, 2540 interior, 160 initial and 80 wall points drawn at random, full-batch Adam (lr 1e-3)
for 15000 epochs; the Poisson problem of equations/poisson.py with a 2-50-50-50-50-1 tanh network,
1200 interior and 120 boundary points, Adam for 50000 epochs. Then L-BFGS (torch's, strong-Wolfe
line search) in epochs of ``LBFGS_ITERATIONS`` iterations, until the time budget ends the run.
The networks keep PINA's own initialisation. Training goes through PINA's ``Trainer`` (Lightning)
with logging, checkpoints and the progress bar off.

PINA is not a dependency of pinnlab, not even of the ``bench`` extra: ``pip install pina-mathlab``
(0.3.2 installs beside torch 2.13 without replacing it).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

NU = 0.01 / math.pi
LBFGS_ITERATIONS = 50
PINA_MISSING = "PINA is not installed: pip install pina-mathlab (it is not a pinnlab dependency)"


def pina_installed() -> bool:
    return importlib.util.find_spec("pina") is not None


@dataclass(frozen=True)
class PinaSetup:
    """What the run trains: the PINA solver, its network, the input names in the network's
    column order, the Adam epochs, and the coordinates the reference grid uses."""

    problem: Any
    model: torch.nn.Module
    inputs: list[str]
    adam_epochs: int
    reference_inputs: tuple[str, ...]

    def columns(self) -> list[int]:
        """For each network input, its column in the reference grid's points."""
        return [self.reference_inputs.index(name) for name in self.inputs]


def import_pina() -> None:
    """Import PINA and Lightning (about 2 s), so that a timed run starts after its imports as the
    other tools' do."""
    for name in ("lightning", "pina", "pina.domain", "pina.equation", "pina.model", "pina.operator", "pina.optim",
                 "pina.problem", "pina.solver"):
        importlib.import_module(name)


def quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="pina")


def burgers_problem() -> Any:
    from pina import Condition
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.equation.zoo import FixedValue
    from pina.operator import grad
    from pina.problem import SpatialProblem, TimeDependentProblem

    def residual(input_: Any, output_: Any) -> Any:
        first = grad(output_, input_, components=["u"], d=["x", "t"])
        u_x, u_t = first.extract(["dudx"]), first.extract(["dudt"])
        u_xx = grad(first, input_, components=["dudx"], d=["x"])
        return u_t + output_.extract(["u"]) * u_x - NU * u_xx

    def initial(input_: Any, output_: Any) -> Any:
        return output_.extract(["u"]) + torch.sin(math.pi * input_.extract(["x"]))

    space, times = CartesianDomain({"x": [-1, 1]}), CartesianDomain({"t": [0, 0.99]})

    class Burgers(TimeDependentProblem, SpatialProblem):
        output_variables = ["u"]
        spatial_domain, temporal_domain = space, times
        domains = {"interior": space.update(times), "initial": space.update(CartesianDomain({"t": 0})),
                   "walls": space.partial().update(times)}
        conditions = {"interior": Condition(domain="interior", equation=Equation(residual)),
                      "initial": Condition(domain="initial", equation=Equation(initial)),
                      "walls": Condition(domain="walls", equation=FixedValue(0.0))}

    problem = Burgers()
    for domain, count in (("interior", 2540), ("initial", 160), ("walls", 80)):
        problem.discretise_domain(count, "random", domains=[domain])
    return problem


def poisson_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The manufactured solution of equations/poisson.py."""
    return torch.sin(math.pi * x) * torch.sin(2 * math.pi * y) + x * y / 2


def poisson_problem() -> Any:
    from pina import Condition
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.operator import laplacian
    from pina.problem import SpatialProblem

    def residual(input_: Any, output_: Any) -> Any:
        x, y = input_.extract(["x"]), input_.extract(["y"])
        source = 5 * math.pi**2 * torch.sin(math.pi * x) * torch.sin(2 * math.pi * y)
        return laplacian(output_, input_, components=["u"], d=["x", "y"]) + source

    def boundary(input_: Any, output_: Any) -> Any:
        return output_.extract(["u"]) - poisson_exact(input_.extract(["x"]), input_.extract(["y"]))

    square = CartesianDomain({"x": [0, 1], "y": [0, 1]})

    class Poisson(SpatialProblem):
        output_variables = ["u"]
        spatial_domain = square
        domains = {"interior": square, "boundary": square.partial()}
        conditions = {"interior": Condition(domain="interior", equation=Equation(residual)),
                      "boundary": Condition(domain="boundary", equation=Equation(boundary))}

    problem = Poisson()
    for domain, count in (("interior", 1200), ("boundary", 120)):
        problem.discretise_domain(count, "random", domains=[domain])
    return problem


def setup(problem_name: str, seed: int) -> PinaSetup:
    """The problem sampled and the network built from ``seed``."""
    from pina.model import FeedForward

    quiet_lightning()
    torch.manual_seed(seed)
    if problem_name == "burgers":
        problem, width, depth, epochs, names = burgers_problem(), 20, 3, 15000, ("x", "t")
    elif problem_name == "poisson":
        problem, width, depth, epochs, names = poisson_problem(), 50, 4, 50000, ("x", "y")
    else:
        raise ValueError(f"PINA runner: unknown problem '{problem_name}' (burgers or poisson)")
    model = FeedForward(input_dimensions=len(problem.input_variables), output_dimensions=1, inner_size=width,
                        n_layers=depth, func=torch.nn.Tanh)
    return PinaSetup(problem, model, list(problem.input_variables), epochs, names)


def solver(run: PinaSetup, optimizer_class: type, **options: Any) -> Any:
    from pina.optim import TorchOptimizer
    from pina.solver import PhysicsInformedSingleModelSolver

    return PhysicsInformedSingleModelSolver(run.problem, run.model, optimizer=TorchOptimizer(optimizer_class, **options))


def train(run: PinaSetup, elapsed: Callable[[], float], budget: float) -> int:
    """Adam, then L-BFGS, through PINA's Trainer, stopped once ``elapsed()`` passes ``budget``
    seconds; returns the epochs run."""
    import lightning
    from pina import Trainer

    class Budget(lightning.pytorch.Callback):
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            if elapsed() > budget:
                trainer.should_stop = True

    def fit(solver_: Any, epochs: int) -> int:
        trainer = Trainer(solver_, max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                          enable_model_summary=False, enable_checkpointing=False, callbacks=[Budget()])
        trainer.train()
        return int(trainer.global_step)

    epochs = fit(solver(run, torch.optim.Adam, lr=1e-3), run.adam_epochs)
    if elapsed() < budget:
        lbfgs = solver(run, torch.optim.LBFGS, lr=1.0, max_iter=LBFGS_ITERATIONS, history_size=50,
                       line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=0.0)
        epochs += fit(lbfgs, 10**6)
    return epochs


def predict(run: PinaSetup, points: torch.Tensor) -> torch.Tensor:
    """PINA's own prediction (the solver's forward on a labelled tensor), for checking that the
    bare network with ``columns()`` gives the same."""
    from pina import LabelTensor

    labelled = LabelTensor(points, list(run.reference_inputs))
    return solver(run, torch.optim.Adam).forward(labelled).extract(["u"]).as_subclass(torch.Tensor)
