"""The training loop: Adam, then L-BFGS with a strong-Wolfe line search, resumable.

Adam gets the network into the right basin quickly and tolerates resampled points; L-BFGS then
converges far further on a fixed point set, which is where PINNs get their accuracy.

Everything training changes lives on one ``Trainer`` so that it can be saved (checkpoints),
restored (``--resume``, bit-identical on CPU) and rolled back (a non-finite loss returns to the
last good state with a smaller learning rate instead of ending the run).

Under torchrun (see :mod:`pinnlab.runtime.distributed`) each rank trains on its own equal share of the
points; loss terms and gradients are averaged over the ranks, so all ranks take identical steps,
equal to one process's on the union of the shares, and only rank 0 shows progress or writes.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from pinnlab import __version__
from pinnlab.runtime import distributed
from pinnlab.problem.binding import EquationError
from pinnlab.training.checkpoint import (FORMAT, VERSION, CheckpointError, CheckpointStore, check_compatible, check_resumable,
                         problem_signature)
from pinnlab.problem.conditions import ConditionBatch
from pinnlab.training.curriculum import CausalWeights, TimeCurriculum
from pinnlab.training.losses import (Collocation, concat_collocations, loss_terms, rank_share, rank_share_seed,
                     sample_collocation, sample_interior, term_weights)
from pinnlab.problem.equation_module import Problem
from pinnlab.runtime.progress import Progress, progress
from pinnlab.training.refinement import Redraw, Refinement, redraw_record, refine
from pinnlab.training.gauss_newton import LevenbergMarquardt
from pinnlab.training.loss_balancing import LossBalancer
from pinnlab.training.quasi_newton import DenseQuasiNewton
from pinnlab.geometry.sampling import make_sampler
from pinnlab.training.second_order_phase import check_second_order, make_second_order, run_second_order
from pinnlab.solver.settings import Settings
from pinnlab.runtime.threads import thread_limit
from pinnlab.training.time_marching import hand_over, marched_model, marching_weights


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or infinity; the message names the loss term and the step."""

    def __init__(self, message: str, term: str = "", step: int = 0, value: float = math.nan) -> None:
        super().__init__(message)
        self.term, self.step, self.value = term, step, value

    @property
    def value_text(self) -> str:
        return str(self.value)


@dataclass
class TrainingResult:
    steps: int
    lbfgs_iterations: int
    lbfgs_stop: str
    wall_time: float
    final_losses: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    phases: list[tuple[int, str]] = field(default_factory=list)
    collocation: Collocation | None = None  # the final point set, for output files
    refinements: list[Refinement] = field(default_factory=list)
    stages: list[tuple[int, float]] = field(default_factory=list)  # (step, time window end)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    redraws: list[Redraw] = field(default_factory=list)  # curriculum windows' and resample_every draws
    # the solution on the whole domain when it is not the trained network itself: with time
    # marching, one network per window (pinnlab/training/time_marching.py)
    solution: torch.nn.Module | None = None
    second_order_stop: str = "not run"
    # balance=grad-norm|ntk: (step, weights) after each update (pinnlab/training/loss_balancing.py)
    weight_history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    run_id: str = ""  # the same in every checkpoint and output file of one run, resumed or not


class History:
    """Raw per-term losses and the weighted total, recorded every ``every`` steps."""

    def __init__(self, names: list[str], every: int) -> None:
        self.every = every
        self.data: dict[str, list[float]] = {"step": [], "total": [], **{n: [] for n in names}}

    def record(self, step: int, terms: dict[str, float], total: float, force: bool = False) -> None:
        if not force and step % self.every:
            return
        if self.data["step"] and self.data["step"][-1] == step:
            return
        self.data["step"].append(step)
        self.data["total"].append(total)
        for name, value in terms.items():
            self.data[name].append(value)


def new_run_id() -> str:
    """An id for a new run: the start time and 32 random bits, e.g. ``20250101T120000-1a2b3c4d``."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items() if weights[name] != 0.0)


def mean_over_ranks(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every term averaged over the ranks, in one collective (see ``distributed.all_reduce_mean``)."""
    names = list(terms)
    mean = distributed.all_reduce_mean(torch.stack([terms[name] for name in names]))
    return {name: mean[k] for k, name in enumerate(names)}


def check_finite(terms: dict[str, torch.Tensor], step: int, phase: str) -> None:
    for name, value in terms.items():
        if not math.isfinite(float(value.detach())):
            raise NonFiniteLossError(
                f"loss term '{name}' became {float(value.detach())} at step {step} ({phase})", name, step,
                float(value.detach()),
            )


def map_tensors(tree: Any, on_tensor: Callable[[torch.Tensor], Any],
                on_other: Callable[[Any], Any] = lambda value: value) -> Any:
    """``tree`` (dicts, lists, tuples) with every tensor passed through ``on_tensor`` and every
    other leaf through ``on_other``."""
    if isinstance(tree, torch.Tensor):
        return on_tensor(tree)
    if isinstance(tree, dict):
        return {k: map_tensors(v, on_tensor, on_other) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(v, on_tensor, on_other) for v in tree)
    return on_other(tree)


def cloned(tree: Any) -> Any:
    """A deep copy whose tensors no longer share memory with the live model and optimizers."""
    return map_tensors(tree, lambda t: t.detach().clone(), copy.copy)


def on_cpu(tree: Any) -> Any:
    """``tree`` with its tensors on the CPU, to send to other ranks."""
    return map_tensors(tree, lambda t: t.detach().cpu())


def make_lbfgs(model: torch.nn.Module, settings: Settings, lr: float = 1.0) -> torch.optim.LBFGS:
    return torch.optim.LBFGS(
        model.parameters(), lr=lr, max_iter=settings.log_every,
        max_eval=int(settings.log_every * 1.25), history_size=settings.lbfgs_history,
        tolerance_grad=1e-12 if settings.dtype == "float64" else 1e-9,
        tolerance_change=1e-15 if settings.dtype == "float64" else 1e-11,
        line_search_fn="strong_wolfe",
    )


class Trainer:
    """Adam for ``settings.steps`` steps, then L-BFGS for ``settings.lbfgs_steps`` iterations.

    L-BFGS runs in chunks of ``log_every`` iterations so that progress, history, checkpoints and
    rollbacks happen between chunks; its curvature pairs carry over between chunks, so chunking
    does not change the iterates. With ``refine`` the point set changes every ``refine_every``
    steps (and when L-BFGS converges early on the current set); L-BFGS then restarts, as its
    curvature pairs belong to the old loss. The same happens when a time curriculum moves to its
    next window; when time marching, the network's parameters are kept at the end of each window
    and its end state becomes the next window's initial condition (pinnlab/training/time_marching.py), and
    the result's ``solution`` is the piecewise model. Every point set drawn (a window's, a
    ``resample_every`` draw) is recorded with its residual in ``redraws``, like refinements.
    A chunk that ends because it used its evaluations (``max_eval``, 1.25 per
    iteration: line searches that needed several trials) is simply continued with the same
    optimizer and its curvature pairs. A line search that stalls far from convergence (stale
    curvature pairs, float32 round-off) restarts L-BFGS afresh, up to ``lbfgs_restarts`` times,
    instead of ending early. With ``balance``, the term weights are updated during Adam
    (pinnlab/training/loss_balancing.py) and stay fixed from L-BFGS on.
    """

    def __init__(self, problem: Problem, model: torch.nn.Module, settings: Settings,
                 checkpoints: CheckpointStore | None = None,
                 on_log: Callable[[int, dict[str, float]], None] | None = None) -> None:
        self.problem, self.model, self.settings = problem, model, settings
        self.checkpoints, self.on_log = checkpoints, on_log
        parameter = next(model.parameters())
        self.dtype, self.device = parameter.dtype, parameter.device
        # under torchrun: this rank's share of the point counts, drawn from its own stream
        self.distributed, self.world, self.rank = distributed.active(), distributed.world(), distributed.rank()
        self.share = rank_share(settings, self.world)
        distributed.broadcast_module(model)  # all ranks start from rank 0's parameters
        self.sampler = make_sampler(settings.sampler, seed=rank_share_seed(settings.seed, self.rank))
        self.step = 0
        self.curriculum = TimeCurriculum(problem, settings) if settings.curriculum else None
        self.marching = self.curriculum is not None and self.curriculum.marching
        self.causal = CausalWeights(problem, settings) if settings.causal_eps else None
        self.stages: list[tuple[int, float]] = []
        self.windows: list[dict[str, torch.Tensor]] = []  # marching: the parameters of finished windows
        self.redraws: list[Redraw] = []
        self.active = self.problem  # the problem on the current time window
        self.weights = term_weights(problem, settings)
        self.balancer = None if settings.balance == "none" else LossBalancer(
            settings.balance, settings.balance_every, settings.balance_alpha, settings.balance_points, settings.seed)
        if self.balancer is not None:
            check_balance(problem, settings, self.weights)
        self.weight_history: list[tuple[int, dict[str, float]]] = []
        if self.curriculum is not None:
            self.enter_window()
        self.collocation = sample_collocation(self.active, self.share, self.sampler, self.dtype, self.device)
        if self.curriculum is not None:
            self.record_redraw("window", self.curriculum.stage)
        self.history = History(list(self.weights), settings.log_every)
        self.phases: list[tuple[int, str]] = []
        self.adam = torch.optim.Adam(model.parameters(), lr=settings.lr)
        gamma = settings.lr_decay ** (1.0 / max(settings.steps, 1))
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.adam, gamma)
        self.lbfgs: torch.optim.LBFGS | None = None
        self.lbfgs_done, self.since_refinement, self.restarts = 0, 0, 0
        self.lbfgs_stop = "not run"
        check_second_order(settings, self.distributed, self.causal is not None)
        self.second_order: LevenbergMarquardt | DenseQuasiNewton | None = None
        self.second_order_done, self.second_order_stop = 0, "not run"
        self.finished = False
        self.lr_scale = 1.0
        self.rollbacks: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.saved_at = 0
        self.resumed_from: int | None = None
        self.good: dict[str, Any] | None = None  # the last state known to have finite losses
        self.refinements: list[Refinement] = []
        self.run_id = new_run_id()

    # --- losses and logging -------------------------------------------------------------------
    def evaluate(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms and their weighted total; under torchrun averaged over the ranks (the same
        values on every rank, so all ranks take the same decisions)."""
        terms = loss_terms(self.problem, self.model, self.collocation, self.causal)
        if self.distributed:
            terms = mean_over_ranks(terms)
        return terms, weighted_total(terms, self.weights)

    def backward(self, total: torch.Tensor) -> None:
        """Gradients of ``total``; under torchrun averaged over the ranks (one all-reduce)."""
        total.backward()
        if self.distributed:
            distributed.all_reduce_gradients(self.model.parameters())

    def log(self, terms: dict[str, torch.Tensor], total: torch.Tensor, force: bool = False) -> None:
        raw = {k: float(v.detach()) for k, v in terms.items()}
        self.history.record(self.step, raw, float(total.detach()), force)
        if self.on_log is not None and (force or self.step % self.settings.log_every == 0):
            self.on_log(self.step, raw)

    def record(self, phase: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Evaluate, check and log the losses at a phase boundary or an L-BFGS chunk's end."""
        terms, total = self.evaluate()
        check_finite(terms, self.step, phase)
        self.log(terms, total, force=True)
        return terms, total

    # --- the phases ---------------------------------------------------------------------------
    def run(self) -> TrainingResult:
        start = time.perf_counter()
        settings = self.settings
        with progress(settings.steps + settings.lbfgs_steps + settings.second_order_steps, desc=self.problem.name,
                      enabled=settings.progress and distributed.is_main()) as bar:
            bar.moveto(self.step)
            if getattr(self.model, "compile", False):  # the first evaluation compiles (10-30 s)
                bar.set_postfix({"residual": "compiling"}, refresh=True)
            self.good = cloned(self.state_dict())
            while True:
                try:
                    if not self.finished:
                        self.run_adam(bar)
                        self.run_lbfgs(bar)
                        run_second_order(self, bar)
                    terms, total = self.record("final")
                    break
                except NonFiniteLossError as error:
                    self.roll_back(error, bar)
            if not self.finished:
                self.finished = True
                self.save_checkpoint(loss=float(total.detach()))
        collocation, refinements, redraws = self.points_of_all_ranks()
        return TrainingResult(
            steps=self.step, lbfgs_iterations=self.lbfgs_done, lbfgs_stop=self.lbfgs_stop,
            wall_time=time.perf_counter() - start,
            final_losses={k: float(v.detach()) for k, v in terms.items()},
            history=self.history.data, phases=self.phases, collocation=collocation,
            rollbacks=self.rollbacks, resumed_from=self.resumed_from, refinements=refinements,
            stages=self.stages, redraws=redraws, solution=self.solution(),
            second_order_stop=self.second_order_stop, weight_history=self.weight_history,
            run_id=self.run_id,
        )

    def run_adam(self, bar: Progress) -> None:
        settings = self.settings
        if self.step < settings.steps and not self.phases:
            self.phases.append((self.step, "adam"))
        while self.step < settings.steps:
            if settings.resample_every and self.step and self.step % settings.resample_every == 0:
                interior = sample_interior(self.active, self.share.points, self.sampler, self.dtype, self.device)
                self.collocation = Collocation(interior, self.collocation.conditions)
                self.record_redraw("resample", 1 + sum(r.kind == "resample" for r in self.redraws))
            self.adam.zero_grad(set_to_none=True)
            terms, total = self.evaluate()
            check_finite(terms, self.step, "adam")
            if self.balancer is not None and self.balancer.due(self.step):
                self.balance(terms)
                total = weighted_total(terms, self.weights)
            self.log(terms, total)
            self.backward(total)
            self.adam.step()
            self.scheduler.step()
            self.step += 1
            self.since_refinement += 1
            bar.update()
            if settings.refine != "none" and self.since_refinement >= settings.refine_every:
                self.refine_points()
            self.follow_time_schedule(1, float(total.detach()))
            if self.step % settings.log_every == 0:
                self.show(bar, "adam", total)
                self.good = cloned(self.state_dict())
            if self.step - self.saved_at >= settings.checkpoint_every:
                _, loss = self.evaluate()
                self.save_checkpoint(loss=float(loss.detach()))

    def run_lbfgs(self, bar: Progress) -> None:
        settings = self.settings
        if not settings.lbfgs_steps:
            return
        if self.lbfgs is None:
            self.phases.append((self.step, "lbfgs"))
            self.lbfgs = make_lbfgs(self.model, settings, self.lr_scale)
            self.lbfgs_stop = f"reached lbfgs_steps={settings.lbfgs_steps}"
            if not settings.steps:  # record where L-BFGS starts from
                self.record("lbfgs")
        optimizer = self.lbfgs

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            _, total = self.evaluate()
            if torch.isfinite(total):
                self.backward(total)
            else:  # let the line search shrink its step instead of differentiating through NaN
                total = total.detach().new_tensor(float("inf"))
            return total

        while self.lbfgs_done < settings.lbfgs_steps:
            chunk = min(settings.log_every, settings.lbfgs_steps - self.lbfgs_done)
            max_eval = int(chunk * 1.25) + 1
            optimizer.param_groups[0]["max_iter"] = chunk
            optimizer.param_groups[0]["max_eval"] = max_eval
            state = optimizer.state[optimizer._params[0]]
            before, evals_before = state.get("n_iter", 0), state.get("func_evals", 0)
            if self.causal is not None:  # one objective for the whole chunk (its line searches)
                self.causal.hold()
            try:
                optimizer.step(closure)
            finally:
                if self.causal is not None:
                    self.causal.release()
            state = optimizer.state[optimizer._params[0]]
            iterations = state.get("n_iter", 0) - before
            # a chunk that used up its evaluations is not a stall: the next chunk goes on with the
            # same optimizer and curvature pairs
            out_of_evaluations = iterations < chunk and state.get("func_evals", 0) - evals_before >= max_eval
            stopped = iterations < chunk and not out_of_evaluations  # L-BFGS ended the chunk itself
            self.lbfgs_done += iterations
            self.since_refinement += iterations
            self.step += iterations
            bar.update(iterations)
            _, total = self.record("lbfgs")
            self.show(bar, "lbfgs", total)
            points_changed = self.follow_time_schedule(iterations, float(total.detach()))
            due = self.since_refinement >= settings.refine_every or stopped
            if settings.refine != "none" and due and self.lbfgs_done < settings.lbfgs_steps:
                self.refine_points()
                points_changed = True
            if points_changed:  # a new loss: fresh curvature pairs, and no reason to stop
                optimizer = self.lbfgs = make_lbfgs(self.model, settings, self.lr_scale)
                _, total = self.evaluate()
            self.good = cloned(self.state_dict())
            if not points_changed and stopped:
                reason = lbfgs_stop_reason(optimizer)
                if reason.startswith("stalled") and iterations and self.restarts < settings.lbfgs_restarts:
                    self.lbfgs_stop = reason
                    optimizer = self.lbfgs = make_lbfgs(self.model, settings, self.lr_scale)
                    self.restarts += 1
                    continue
                if self.window_ended_early():  # the window's leftover iterations go to the last one
                    optimizer = self.lbfgs = make_lbfgs(self.model, settings, self.lr_scale)
                    self.good = cloned(self.state_dict())
                    continue
                self.lbfgs_stop = reason
                break
            if self.step - self.saved_at >= settings.checkpoint_every:
                self.save_checkpoint(loss=float(total.detach()))
        if self.restarts and "restart" not in self.lbfgs_stop:
            self.lbfgs_stop += f" ({self.restarts} restart(s) after stalled line searches)"

    def show(self, bar: Progress, phase: str, total: torch.Tensor) -> None:
        """Phase and loss after the progress bar, plus the time window, causal epsilon and
        point count when those change during training."""
        shown = {"phase": phase, "loss": f"{float(total.detach()):.3e}"}
        if self.curriculum is not None:
            c = self.curriculum
            span = f"{c.window_start:.3g} <= t <= " if c.marching else "t <= "
            shown["window"] = f"{c.stage}/{c.stages} ({span}{c.window_end:.3g})"
        if self.causal is not None:
            shown["eps"] = f"{self.causal.eps:g}"
        if self.settings.refine != "none":
            shown["points"] = len(self.collocation.interior) * self.world
        bar.set_postfix(shown)

    def balance(self, terms: dict[str, torch.Tensor]) -> None:
        """Move the term weights towards balance (pinnlab/training/loss_balancing.py) and record them."""
        self.weights = self.balancer.update(self.active, self.model, self.collocation, terms, self.weights,
                                            self.step)
        self.weight_history.append((self.step, dict(self.weights)))

    def enter_window(self) -> None:
        """Set up the curriculum's current time window: its problem (points are drawn there), its
        loss weights, and causal weights that span it with epsilon back at its start."""
        self.active = self.curriculum.windowed(self.problem)
        self.weights = self.window_weights()
        if self.causal is not None:
            self.causal.reset(self.curriculum.window_start, self.curriculum.window_end)
        self.stages.append((self.step, self.curriculum.window_end))

    def window_weights(self) -> dict[str, float]:
        weights = term_weights(self.problem, self.settings)
        if not self.marching:
            return weights
        return marching_weights(self.problem, self.settings, weights, self.curriculum.stage)

    def record_redraw(self, kind: str, index: int) -> None:
        self.redraws.append(redraw_record(self.active, self.model, self.collocation.interior, self.step,
                                          kind, index))

    def follow_time_schedule(self, steps: int, loss: float) -> bool:
        """Sharpen causal weights and move the time window on when due; True if points changed."""
        if self.causal is not None and self.step % self.settings.log_every < steps:
            if self.distributed:  # sharpen only when every rank's slices are resolved
                self.causal.smallest_weight = distributed.min_over_ranks(self.causal.smallest_weight)
            self.causal.update()
        if self.curriculum is None:
            return False
        self.curriculum.steps_in_stage += steps
        if not self.curriculum.due(loss):
            return False
        self.next_window()
        return True

    def next_window(self) -> None:
        """Move the curriculum to its next window and draw its points; when marching, keep the
        finished window's network and hand its end state on as the new initial condition."""
        if self.marching:
            self.windows.append(cloned(self.model.state_dict()))
        self.curriculum.advance()
        self.enter_window()
        self.collocation = sample_collocation(self.active, self.share, self.sampler, self.dtype, self.device)
        if self.marching:
            self.collocation = hand_over(self.active, self.model, self.collocation)
        self.record_redraw("window", self.curriculum.stage)

    def window_ended_early(self) -> bool:
        """An optimizer ended on its own (converged, or no step found) while marching windows
        are left: go on with the next window instead of ending training with them untrained."""
        if not self.marching or self.curriculum.finished:
            return False
        self.next_window()
        return True

    def solution(self) -> torch.nn.Module | None:
        """Marching: the piecewise model over all windows reached (see pinnlab/training/time_marching.py)."""
        if not self.marching:
            return None
        starts = [self.curriculum.boundary(k) for k in range(self.curriculum.stage)]
        return marched_model(self.model, self.windows, starts, self.problem.layout.time_index)

    def refine_points(self) -> None:
        seed = rank_share_seed(self.settings.seed * 100_003 + len(self.refinements), self.rank)
        self.collocation, record = refine(self.active, self.model, self.collocation, self.sampler,
                                          self.share, self.step, seed)
        self.refinements.append(record)
        self.since_refinement = 0

    # --- faults -------------------------------------------------------------------------------
    def roll_back(self, error: NonFiniteLossError, bar: Progress) -> None:
        """Return to the last good state with the learning rates halved, or give up.

        A loss that is not finite at the very state rolled back to (the network as initialised,
        at step 0) would only come back: that is the equation's fault, said at once."""
        term = self.term_description(error.term)
        if self.good is not None and error.step == self.good["step"] == 0 and not self.rollbacks:
            raise EquationError(
                f"{self.problem.origin}: {term} is {error.value_text} at step 0, on the network as "
                f"initialised, before any training step, so rolling back cannot help; check {term} "
                f"for divisions by zero and for logarithms or square roots of negative numbers; "
                f"{self.checkpoint_note()}"
            ) from None
        if len(self.rollbacks) >= self.settings.rollbacks or self.good is None:
            tried = f" after {len(self.rollbacks)} rollback(s) with halved learning rates" if self.rollbacks else ""
            raise NonFiniteLossError(
                f"{error}{tried}; try a smaller learning rate (--set lr=...), float64, or check "
                f"{term} for divisions; {self.checkpoint_note()}", error.term, error.step,
            ) from None
        old_scale = self.good["lr_scale"]
        self.rollbacks.append({"step": error.step, "term": error.term, "back_to": self.good["step"],
                               "lr_scale": self.lr_scale / 2})
        self.lr_scale /= 2
        self.load_state_dict(self.good, keep=("lr_scale", "rollbacks", "best_loss", "saved_at"))
        for optimizer in (self.adam, self.lbfgs):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] *= self.lr_scale / old_scale
        bar.moveto(self.step)
        if distributed.is_main():
            print(f"{self.problem.name}: {error}; rolled back to step {self.step} with the learning rate "
                  f"scaled by {self.lr_scale:g} (rollback {len(self.rollbacks)} of {self.settings.rollbacks})",
                  file=sys.stderr)

    def term_description(self, name: str) -> str:
        """A loss term by its kind and name: "residual 'residual'", "condition 'ends'"."""
        if name in self.problem.residuals:
            return f"residual '{name}'"
        if name in self.problem.conditions:
            return f"condition '{name}'"
        return f"loss term '{name}'"

    def checkpoint_note(self) -> str:
        """Where this run can resume from, as it stands on disk now."""
        if self.checkpoints is None:
            return "no checkpoints are kept for this run"
        return self.checkpoints.last_complete(self.run_id)

    def save_checkpoint(self, loss: float) -> None:
        """Write ``last`` (and ``best`` when ``loss``, at the current parameters, is the lowest).

        Under torchrun every rank takes part (its points and sampler state go into the file) and
        rank 0 alone writes."""
        if self.checkpoints is None:
            return
        is_best = loss < self.best_loss
        if is_best:
            self.best_loss = loss
        self.saved_at = self.step
        state = self.state_dict()
        if self.distributed:
            state["world"] = self.world
            state["ranks"] = distributed.gather_objects(on_cpu(self.rank_state()))
        if distributed.is_main():
            self.checkpoints.save(state, is_best)

    def points_of_all_ranks(self) -> tuple[Collocation, list[Refinement], list[Redraw]]:
        """The final points and the refinement and redraw records of all ranks (rank order), for
        output."""
        if not self.distributed:
            return self.collocation, self.refinements, self.redraws
        parts = distributed.gather_objects(on_cpu(self.rank_state()))
        move = {"dtype": self.dtype, "device": self.device}
        collocation = concat_collocations([collocation_from_state(p["collocation"], **move) for p in parts])

        def joined(records: tuple[dict[str, Any], ...]) -> dict[str, Any]:
            """One rank-0 record with every rank's points and residuals, in rank order."""
            return {**records[0], "points": torch.cat([r["points"] for r in records]),
                    "residual": torch.cat([r["residual"] for r in records])}

        refinements = [refinement_from_state(joined(r)) for r in zip(*(p["refinements"] for p in parts))]
        redraws = [redraw_from_state(joined(r)) for r in zip(*(p["redraws"] for p in parts))]
        return collocation, refinements, redraws

    # --- state --------------------------------------------------------------------------------
    def rank_state(self) -> dict[str, Any]:
        """The part of the state that differs between ranks: sampler stream, points, refinements."""
        conditions = {
            name: {"points": b.points, "target": b.target, "normals": b.normals, "partners": b.partners}
            for name, b in self.collocation.conditions.items()
        }
        return {
            "sampler": self.sampler.state_dict(),
            "collocation": {"interior": self.collocation.interior, "conditions": conditions},
            "refinements": [
                {"step": r.step, "method": r.method, "points": torch.from_numpy(r.points),
                 "residual": torch.from_numpy(r.residual)} for r in self.refinements
            ],
            "redraws": [
                {"step": r.step, "kind": r.kind, "index": r.index, "points": torch.from_numpy(r.points),
                 "residual": torch.from_numpy(r.residual)} for r in self.redraws
            ],
        }

    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": FORMAT, "version": VERSION, "pinnlab": __version__, "run_id": self.run_id,
            "problem": problem_signature(self.problem),
            "settings": json.dumps(self.settings.as_dict()),
            "model": self.model.state_dict(),
            "step": self.step, "finished": self.finished,
            "adam": self.adam.state_dict(), "scheduler": self.scheduler.state_dict(),
            "lbfgs": None if self.lbfgs is None else self.lbfgs.state_dict(),
            "lbfgs_counters": [self.lbfgs_done, self.since_refinement, self.restarts],
            "lbfgs_stop": self.lbfgs_stop,
            "second_order": None if self.second_order is None else self.second_order.state_dict(),
            "second_order_counters": [self.second_order_done, self.second_order_stop],
            **self.rank_state(),
            "rng": rng,
            "history": self.history.data, "phases": [list(p) for p in self.phases],
            "curriculum": None if self.curriculum is None else self.curriculum.state_dict(),
            "causal": None if self.causal is None else self.causal.state_dict(),
            "stages": [list(s) for s in self.stages],
            "windows": self.windows,
            "weights": self.weights, "weight_history": [[step, w] for step, w in self.weight_history],
            "lr_scale": self.lr_scale, "rollbacks": self.rollbacks,
            "best_loss": self.best_loss, "saved_at": self.saved_at,
        }

    def load_state_dict(self, state: dict[str, Any], keep: tuple[str, ...] = ()) -> None:
        """Restore a checkpoint or snapshot; names in ``keep`` stay as they are (rollbacks)."""
        check_compatible(state, self.problem, self.settings.as_dict(), self.model)
        state = cloned(state)  # the optimizers adopt these tensors; a snapshot must stay intact
        self.model.load_state_dict(state["model"])
        self.step, self.finished = state["step"], state["finished"]
        self.adam.load_state_dict(state["adam"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.lbfgs = None
        if state["lbfgs"] is not None:
            self.lbfgs = make_lbfgs(self.model, self.settings)
            self.lbfgs.load_state_dict(state["lbfgs"])
        self.lbfgs_done, self.since_refinement, self.restarts = state["lbfgs_counters"]
        self.lbfgs_stop = state["lbfgs_stop"]
        self.second_order = None
        if state["second_order"] is not None:
            self.second_order = make_second_order(self)
            self.second_order.load_state_dict(state["second_order"])
        self.second_order_done, self.second_order_stop = state["second_order_counters"]
        self.sampler.load_state_dict(state["sampler"])
        self.collocation = collocation_from_state(state["collocation"], dtype=self.dtype, device=self.device)
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.history.data = state["history"]
        self.stages = [tuple(s) for s in state["stages"]]
        if self.curriculum is not None:
            self.curriculum.load_state_dict(state["curriculum"])
            self.active = self.curriculum.windowed(self.problem)
        self.weights = dict(state["weights"])  # balanced weights, or the window's
        self.weight_history = [(step, w) for step, w in state.get("weight_history", [])]
        if self.causal is not None:
            self.causal.load_state_dict(state["causal"])
        self.windows = state.get("windows", [])
        self.refinements = [refinement_from_state(r) for r in state["refinements"]]
        self.redraws = [redraw_from_state(r) for r in state.get("redraws", [])]
        self.phases = [tuple(p) for p in state["phases"]]
        self.run_id = state.get("run_id", self.run_id)
        for name in ("lr_scale", "rollbacks", "best_loss", "saved_at"):
            if name not in keep:
                setattr(self, name, state[name])

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a saved checkpoint (``pinnlab solve --resume``); under torchrun each rank
        takes back its own points and sampler stream. Settings that differ from the saved ones
        are refused unless they can apply (``checkpoint.check_resumable``): a changed budget
        applies from here on (Adam's learning-rate decay is spread over the new ``steps``; more
        ``lbfgs_steps`` reopen a finished run)."""
        check_compatible(state, self.problem, self.settings.as_dict(), self.model)
        changes = check_resumable(state, self.settings)
        self.load_state_dict(own_part(state, self.rank, self.world))
        self.resumed_from = self.step
        if "steps" in changes:
            self.scheduler.gamma = self.settings.lr_decay ** (1.0 / max(self.settings.steps, 1))
        if "lbfgs_steps" in changes:
            if self.lbfgs_stop.startswith("reached lbfgs_steps="):
                self.lbfgs_stop = f"reached lbfgs_steps={self.settings.lbfgs_steps}"
            self.finished = self.finished and self.lbfgs_done >= self.settings.lbfgs_steps
        if "second_order_steps" in changes and self.second_order_stop.startswith("reached second_order_steps="):
            self.second_order_stop = f"reached second_order_steps={self.settings.second_order_steps}"


def collocation_from_state(state: dict[str, Any], dtype: torch.dtype, device: torch.device) -> Collocation:
    """A ``Collocation`` from its saved form (``Trainer.rank_state``), on ``device``."""
    move = {"dtype": dtype, "device": device}
    conditions = {
        name: ConditionBatch(**{k: None if v is None else v.to(**move) for k, v in batch.items()})
        for name, batch in state["conditions"].items()
    }
    return Collocation(state["interior"].to(**move), conditions)


def refinement_from_state(record: dict[str, Any]) -> Refinement:
    return Refinement(record["step"], record["method"], record["points"].numpy(), record["residual"].numpy())


def redraw_from_state(record: dict[str, Any]) -> Redraw:
    return Redraw(record["step"], record["kind"], record["index"], record["points"].numpy(),
                  record["residual"].numpy())


def own_part(state: dict[str, Any], rank: int, world: int) -> dict[str, Any]:
    """A checkpoint with ``rank``'s points, sampler and refinements in place of rank 0's; refused
    when it was written by another number of processes (the shares would not fit)."""
    saved = state.get("world", 1)
    if saved != world:
        raise CheckpointError(
            f"{state.get('path', 'checkpoint')} was written by {saved} process(es), but this run has "
            f"{world}; resume with the same number of processes (torchrun --nproc_per_node)"
        )
    return {**state, **state["ranks"][rank]} if "ranks" in state else state


def train(problem: Problem, model: torch.nn.Module, settings: Settings,
          on_log: Callable[[int, dict[str, float]], None] | None = None,
          checkpoints: CheckpointStore | None = None,
          resume_from: dict[str, Any] | None = None) -> TrainingResult:
    """Train ``model`` on ``problem``; returns losses, history and why L-BFGS stopped.

    Runs on ``settings.threads`` CPU threads, as ``solve`` does: a caller of ``train`` alone
    asks for the same thread count and gets it."""
    with thread_limit(settings.threads):
        trainer = Trainer(problem, model, settings, checkpoints, on_log)
        if resume_from is not None:
            trainer.resume(resume_from)
        return trainer.run()


def check_balance(problem: Problem, settings: Settings, weights: dict[str, float]) -> None:
    """Balancing needs two weighted terms to balance; say so instead of silently doing nothing."""
    weighted = [name for name, w in weights.items() if w != 0.0]
    if len(weighted) < 2:
        off = [name for name, w in weights.items() if w == 0.0]
        why = f" ({', '.join(off)}: exact or weight 0)" if off else ""
        raise ValueError(f"balance={settings.balance}: {problem.name} has only one weighted loss term, "
                         f"{', '.join(weighted) or 'none'}{why}; there is nothing to balance")
    if not settings.steps:
        raise ValueError(f"balance={settings.balance} updates the weights during Adam, but steps=0: "
                         "L-BFGS and the second-order phase keep the weights fixed")


def lbfgs_stop_reason(optimizer: torch.optim.LBFGS) -> str:
    """Why torch's L-BFGS returned early: it does not say, so infer it from its state."""
    group = optimizer.param_groups[0]
    state = optimizer.state[optimizer._params[0]]
    grad_max = max(float(p.grad.abs().max()) for p in optimizer._params if p.grad is not None)
    if grad_max <= group["tolerance_grad"]:
        return f"converged: gradient max {grad_max:.2e} <= tolerance_grad {group['tolerance_grad']:.0e}"
    if state.get("func_evals", 0) and state.get("n_iter", 0):
        return (
            "stalled: the loss or the step changed less than tolerance_change "
            f"{group['tolerance_change']:.0e}; more steps will not help at this precision"
        )
    return "stopped early for an unknown reason"
