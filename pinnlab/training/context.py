"""What the phases and hooks of one training run share: the problem (and its current time
window), the model, the derivative engine, the points, the loss weights, the step count, the
loss history and the records of every point set used; and the events through which a phase
tells the hooks what happened (see pinnlab/training/hooks/__init__.py).

Under torchrun (see :mod:`pinnlab.runtime.distributed`) each rank trains on its own equal share
of the points; loss terms and gradients are averaged over the ranks, so all ranks take identical
steps, equal to one process's on the union of the shares.
"""

from __future__ import annotations

import math
import secrets
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import torch

from pinnlab.runtime.version import __version__
from pinnlab.geometry.sampling import Sampler
from pinnlab.problem.equation_module import Problem
from pinnlab.runtime import distributed
from pinnlab.training.checkpoint import FORMAT, VERSION, problem_signature
from pinnlab.training.losses import loss_terms
from pinnlab.training.collocation import Collocation, concat_collocations, sample_collocation
from pinnlab.training.refinement import Redraw, Refinement, redraw_record
from pinnlab.training.state import (cloned, collocation_from_state, collocation_state, on_cpu, own_part,
                                    redraw_from_state, redraw_state, refinement_from_state, refinement_state)

if TYPE_CHECKING:
    from pinnlab.geometry.sampling import SamplingSettings
    from pinnlab.training.curriculum import CausalWeights
    from pinnlab.training.hooks import Hook
    from pinnlab.training.phases import Phase


class NonFiniteLossError(RuntimeError):
    """Training produced NaN or infinity; the message names the loss term and the step."""

    def __init__(self, message: str, term: str = "", step: int = 0, value: float = math.nan) -> None:
        super().__init__(message)
        self.term, self.step, self.value = term, step, value

    @property
    def value_text(self) -> str:
        return str(self.value)


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


def weighted_total(terms: dict[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
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


class Context:
    """The shared state of a run and the events phases raise; hooks change the problem window
    (``active``), the points, the weights and ``causal``."""

    def __init__(self, problem: Problem, model: torch.nn.Module, engine: Any, sampler: Sampler,
                 sampling: SamplingSettings, weights: Mapping[str, float], log_every: int,
                 on_log: Callable[[int, dict[str, float]], None] | None,
                 phases: list[Phase], hooks: list[Hook]) -> None:
        self.problem = self.active = problem  # active: the problem on the current time window
        self.model, self.engine, self.sampler, self.sampling = model, engine, sampler, sampling
        parameter = next(model.parameters())
        self.dtype, self.device = parameter.dtype, parameter.device
        self.distributed, self.world, self.rank = distributed.active(), distributed.world(), distributed.rank()
        self.weights = dict(weights)
        self.log_every, self.on_log = log_every, on_log
        self.phases, self.hooks = list(phases), list(hooks)
        self.causal: CausalWeights | None = None
        self.collocation: Collocation | None = None
        self.step, self.finished, self.lr_scale = 0, False, 1.0
        self.history = History(list(self.weights), log_every)
        self.phase_log: list[tuple[int, str]] = []
        self.refinements: list[Refinement] = []
        self.redraws: list[Redraw] = []
        self.resumed_from: int | None = None
        self.run_id = new_run_id()

    # --- losses and logging -------------------------------------------------------------------
    def evaluate(self, every_term: bool = False) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms and their weighted total; under torchrun averaged over the ranks (the same
        values on every rank, so all ranks take the same decisions). The terms of weight 0 are
        left out (not evaluated: they add nothing to the total) unless ``every_term``;
        :meth:`log` evaluates them when it records them."""
        terms = self.terms(None if every_term else [n for n, w in self.weights.items() if w != 0.0])
        return terms, weighted_total(terms, self.weights)

    def terms(self, names: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The loss terms of ``names`` (None: all), averaged over the ranks under torchrun."""
        terms = loss_terms(self.problem, self.model, self.collocation, self.causal, engine=self.engine, names=names)
        return mean_over_ranks(terms) if self.distributed and terms else terms

    def backward(self, total: torch.Tensor) -> None:
        """Gradients of ``total``; under torchrun averaged over the ranks (one all-reduce)."""
        total.backward()
        if self.distributed:
            distributed.all_reduce_gradients(self.model.parameters())

    def log(self, terms: dict[str, torch.Tensor], total: torch.Tensor, force: bool = False) -> None:
        """Record the terms and total at a logging step (or with ``force``); terms left out of
        ``terms`` (weight 0, see :meth:`evaluate`) are evaluated for the record."""
        if not force and self.step % self.log_every:
            return
        missing = [name for name in self.weights if name not in terms]
        if missing:
            terms = {**terms, **self.terms(missing)}
        raw = {k: float(v.detach()) for k, v in terms.items()}
        self.history.record(self.step, raw, float(total.detach()), force)
        if self.on_log is not None and (force or self.step % self.log_every == 0):
            self.on_log(self.step, raw)

    def record(self, phase: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Evaluate, check and log the losses at a phase boundary or an L-BFGS chunk's end."""
        terms, total = self.evaluate(every_term=True)
        check_finite(terms, self.step, phase)
        self.log(terms, total, force=True)
        return terms, total

    def draw_collocation(self) -> Collocation:
        """Fresh points for the current window: this rank's share of ``sampling``."""
        return sample_collocation(self.active, self.sampling, self.sampler, self.dtype, self.device)

    def record_redraw(self, kind: str, index: int) -> None:
        """Record the current interior points, drawn afresh, with their residual."""
        self.redraws.append(redraw_record(self.active, self.model, self.collocation.interior, self.step,
                                          kind, index, engine=self.engine))

    # --- events: phases call these, hooks react (pinnlab/training/hooks/__init__.py) -----------
    def emit(self, event: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self, *args)

    def any_of(self, event: str, *args: Any) -> bool:
        """True when any hook answers True; every hook is asked."""
        answers = [getattr(hook, event)(self, *args) for hook in self.hooks]
        return any(answers)

    def phase_started(self, phase: Phase) -> None:
        self.phase_log.append((self.step, phase.name))
        self.emit("phase_started", phase)

    def advance(self, steps: int) -> None:
        self.step += steps
        self.emit("advanced", steps)

    def before_step(self) -> None:
        self.emit("before_step")

    def reweigh(self, terms: dict[str, torch.Tensor]) -> bool:
        return self.any_of("reweigh", terms)

    def refine(self, force: bool = False) -> bool:
        return self.any_of("refine", force)

    @property
    def refines(self) -> bool:
        return any(hook.refines for hook in self.hooks)

    def follow_schedule(self, steps: int, loss: float) -> bool:
        return self.any_of("follow", steps, loss)

    def move_window_if_due(self, loss: float) -> bool:
        return self.any_of("move_on", loss)

    def next_window_if_left(self) -> bool:
        return self.any_of("next_window_if_left")

    def steps_until_event(self) -> int | None:
        """Steps to the next refinement or window change (at least 1), None when none is due."""
        left = [n for hook in self.hooks if (n := hook.steps_until_event(self)) is not None]
        return min(left) if left else None

    @contextmanager
    def fixed_objective(self) -> Iterator[None]:
        """The loss holds still meanwhile (causal weights), for a line search's sake."""
        self.emit("hold")
        try:
            yield
        finally:
            self.emit("release")

    def show(self, phase: str, total: torch.Tensor) -> None:
        self.emit("show", phase, total)

    def good_state(self) -> None:
        self.emit("good_state")

    def save_if_due(self, loss: Callable[[], float]) -> None:
        self.emit("save_if_due", loss)

    def recover(self, error: NonFiniteLossError) -> None:
        """Let a hook handle a non-finite loss (roll back), or raise it."""
        if not self.any_of("non_finite", error):
            raise error

    # --- state --------------------------------------------------------------------------------
    def rank_state(self) -> dict[str, Any]:
        """The part of the state that differs between ranks: sampler stream, points, refinements."""
        return {
            "sampler": self.sampler.state_dict(),
            "collocation": collocation_state(self.collocation),
            "refinements": [refinement_state(r) for r in self.refinements],
            "redraws": [redraw_state(r) for r in self.redraws],
        }

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: each part's own state (phases, hooks, sampler, points, rng, history)."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": FORMAT, "version": VERSION, "pinnlab": __version__, "run_id": self.run_id,
            "problem": problem_signature(self.problem),
            "model": self.model.state_dict(),
            "step": self.step, "finished": self.finished,
            **self.rank_state(),
            "rng": rng, "history": self.history.data, "phase_log": [list(p) for p in self.phase_log],
            "weights": self.weights, "lr_scale": self.lr_scale,
            "phases": {phase.name: phase.state_dict() for phase in self.phases},
            "hooks": {hook.name: hook.state_dict() for hook in self.hooks if hook.name},
        }

    def load_state_dict(self, state: dict[str, Any], rollback: bool = False) -> None:
        """Restore a checkpoint or snapshot; a rollback keeps the hooks that survive it."""
        state = cloned(state)  # the optimizers adopt these tensors; a snapshot must stay intact
        self.model.load_state_dict(state["model"])
        self.step, self.finished = state["step"], state["finished"]
        for phase in self.phases:
            phase.load_state_dict(state["phases"].get(phase.name))
        self.sampler.load_state_dict(state["sampler"])
        self.collocation = collocation_from_state(state["collocation"], dtype=self.dtype, device=self.device)
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.history.data = state["history"]
        self.weights = dict(state["weights"])  # balanced weights, or the window's
        self.refinements = [refinement_from_state(r) for r in state["refinements"]]
        self.redraws = [redraw_from_state(r) for r in state["redraws"]]
        self.phase_log = [tuple(p) for p in state["phase_log"]]
        self.run_id = state["run_id"]
        for hook in self.hooks:
            if hook.name and not (rollback and hook.survives_rollback):
                hook.load_state_dict(state["hooks"][hook.name])
        if not rollback:
            self.lr_scale = state["lr_scale"]
        self.emit("loaded")

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a saved checkpoint; under torchrun each rank takes back its own points
        and sampler stream. A phase whose budget grew past what the saved run did reopens a
        finished run (more L-BFGS iterations)."""
        self.load_state_dict(own_part(state, self.rank, self.world))
        self.resumed_from = self.step
        self.finished = self.finished and not any(phase.reopened for phase in self.phases)

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
