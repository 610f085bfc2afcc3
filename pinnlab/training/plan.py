"""From settings to a training run: the phases in the order ``settings.phases`` gives, and the
hooks the other settings groups ask for. This is the one place in training/ that sees the whole
``Settings``; every phase and hook receives only its own group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch

from pinnlab.geometry.sampling import Sampler, SamplingSettings, make_sampler
from pinnlab.problem.equation_module import Problem
from pinnlab.runtime import distributed
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.collocation import rank_share, rank_share_seed
from pinnlab.training.curriculum import CausalWeights, TimeCurriculum
from pinnlab.training.hooks import Hook
from pinnlab.training.hooks.balancing import Balancing
from pinnlab.training.hooks.checkpointing import Checkpointing
from pinnlab.training.hooks.progress_bar import ProgressBar
from pinnlab.training.hooks.refining import Refining
from pinnlab.training.hooks.resampling import Resampling
from pinnlab.training.hooks.rollback import Rollback
from pinnlab.training.hooks.time_schedule import TimeSchedule
from pinnlab.training.hooks.unknowns import UnknownsHistory
from pinnlab.training.context import Context
from pinnlab.training.loop import TrainingResult, run
from pinnlab.training.loss_balancing import LossBalancer
from pinnlab.training.losses import term_weights
from pinnlab.training.phases import Phase
from pinnlab.training.phases.adam import Adam, AdamSettings
from pinnlab.training.phases.augmented_lagrangian import (AugmentedLagrangian, AugmentedLagrangianSettings,
                                                          check_constraints)
from pinnlab.training.phases.lbfgs import LBFGS, LBFGSSettings
from pinnlab.training.phases.pretrain import LabelWeight, Pretrain, PretrainSettings
from pinnlab.training.phases.levenberg_marquardt import LevenbergMarquardt, LevenbergMarquardtSettings
from pinnlab.training.phases.quasi_newton import QuasiNewton, QuasiNewtonSettings
from pinnlab.training.phases.sven import Sven, SvenSettings
from pinnlab.training.phases.trust_constr import TrustConstr, TrustConstrSettings, check_trust_constr

if TYPE_CHECKING:  # annotations only: the solver's settings import this layer
    from pinnlab.solver.settings import Settings


@dataclass
class Training:
    """A training run ready to go: ``run()`` trains (``resume_from``: a checkpoint to go on from)."""

    problem: Problem
    model: torch.nn.Module
    phases: list[Phase]
    hooks: list[Hook]
    sampler: Sampler
    sampling: SamplingSettings  # this rank's share
    weights: dict[str, float]
    log_every: int
    on_log: Callable[[int, dict[str, float]], None] | None = None
    engine: Any = None

    context: Context | None = None  # the running context, once ``run`` has started

    def run(self, resume_from: dict[str, Any] | None = None) -> TrainingResult:
        self.context = Context(self.problem, self.model, self.engine, self.sampler, self.sampling,
                               self.weights, self.log_every, self.on_log, self.phases, self.hooks)
        return run(self.context, resume_from)

    def hook(self, kind: type) -> Any:
        """The hook of type ``kind`` (None when the settings ask for none)."""
        return next((h for h in self.hooks if isinstance(h, kind)), None)

    def phase(self, name: str) -> Any:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def curriculum(self) -> TimeCurriculum | None:
        schedule = self.hook(TimeSchedule)
        return None if schedule is None else schedule.curriculum

    @property
    def causal(self) -> CausalWeights | None:
        schedule = self.hook(TimeSchedule)
        return None if schedule is None else schedule.causal


def make_phase(settings: Any, model: torch.nn.Module, log_every: int, float64: bool) -> Phase:
    if isinstance(settings, AdamSettings):
        return Adam(settings, model)
    if isinstance(settings, LBFGSSettings):
        return LBFGS(settings, model, log_every, float64)
    if isinstance(settings, QuasiNewtonSettings):
        return QuasiNewton(settings, model)
    if isinstance(settings, LevenbergMarquardtSettings):
        return LevenbergMarquardt(settings, model)
    if isinstance(settings, AugmentedLagrangianSettings):
        return AugmentedLagrangian(settings, model, log_every, float64)
    if isinstance(settings, SvenSettings):
        return Sven(settings, model)
    if isinstance(settings, PretrainSettings):
        return Pretrain(settings, model, log_every, float64)
    if isinstance(settings, TrustConstrSettings):
        return TrustConstr(settings, model)
    raise TypeError(f"no training phase for {type(settings).__name__}")


def build_training(problem: Problem, model: torch.nn.Module, settings: Settings,
                   checkpoints: CheckpointStore | None = None,
                   on_log: Callable[[int, dict[str, float]], None] | None = None,
                   engine: Any = None, extra_phases: Sequence[Phase] = ()) -> Training:
    """The phases and hooks ``settings`` ask for; refuses combinations they cannot honour.

    ``extra_phases`` (objects with the interface of pinnlab/training/phases/__init__.py, e.g. a
    phase class of one's own) run after the phases of ``settings.phases``, with the same hooks;
    a time curriculum schedules its windows over the phases of the settings only."""
    world = distributed.world()
    # under torchrun: this rank's share of the point counts, drawn from its own stream
    sampling, refinement = rank_share(settings.sampling, settings.refine, world)
    sampler = make_sampler(sampling.sampler, seed=rank_share_seed(settings.numerics.seed, distributed.rank()))
    budgets = phase_budgets(settings)
    curriculum = settings.curriculum
    schedule = None
    if curriculum.windows or settings.causal.eps:
        schedule_curriculum = TimeCurriculum(problem, curriculum, *budgets) if curriculum.windows else None
        causal = CausalWeights(problem, settings.causal) if settings.causal.eps else None
        schedule = (schedule_curriculum, causal)
    weights = term_weights(problem, settings)
    balancer = None
    if settings.balance.method != "none":
        b = settings.balance
        balancer = LossBalancer(b.method, b.every, b.alpha, b.points, settings.numerics.seed)
        check_balance(problem, settings, weights)
    check_second_order(settings, distributed.active())
    check_constraints(problem, settings)
    check_trust_constr(problem, settings, model)
    log_every, float64 = settings.output.log_every, settings.numerics.dtype == "float64"
    phases = [make_phase(p, model, log_every, float64) for p in settings.phases] + list(extra_phases)
    names = [phase.name for phase in phases]
    if len(set(names)) < len(names):
        raise ValueError(f"training phases must have distinct names (they key the checkpoint), "
                         f"got {', '.join(names)}")
    hooks: list[Hook] = []
    if settings.sampling.resample_every:
        hooks.append(Resampling(settings.sampling.resample_every))
    if schedule is not None:
        hooks.append(TimeSchedule(*schedule, weights, settings.weights))
    if refinement.method != "none":
        hooks.append(Refining(refinement, sampling.points, settings.numerics.seed))
    if balancer is not None:
        hooks.append(Balancing(balancer))
    if problem.unknowns:  # before the checkpoints, which save its history
        hooks.append(UnknownsHistory())
    pretrain = next((p for p in phases if isinstance(p, Pretrain)), None)
    if pretrain is not None:  # the labels' weight in the phases after pretraining
        after = phases[phases.index(pretrain) + 1:]
        fade = pretrain.settings.fade_steps or (after[0].steps if after else 0)
        hooks.append(LabelWeight(pretrain, fade))
    hooks.append(Rollback(settings.checkpoint.rollbacks, checkpoints))
    if checkpoints is not None:
        hooks.append(Checkpointing(checkpoints, settings.checkpoint, json.dumps(settings.as_nested())))
    hooks.append(ProgressBar(settings.output.progress and distributed.is_main()))
    return Training(problem, model, phases, hooks, sampler, sampling, weights, log_every, on_log, engine)


def phase_budgets(settings: Settings) -> tuple[int, int, int]:
    """Adam's steps, L-BFGS's iterations and the dense phase's iterations (0 where absent)."""
    adam, lbfgs = settings.phase("adam"), settings.phase("lbfgs")
    dense = [p for p in settings.phases if p.name not in ("adam", "lbfgs", "pretrain")]
    return (adam.steps if adam else 0, lbfgs.steps if lbfgs else 0, dense[-1].steps if dense else 0)


def check_balance(problem: Problem, settings: Settings, weights: Mapping[str, float]) -> None:
    """Balancing needs two weighted terms to balance; say so instead of silently doing nothing."""
    method = settings.balance.method
    weighted = [name for name, w in weights.items() if w != 0.0]
    if len(weighted) < 2:
        off = [name for name, w in weights.items() if w == 0.0]
        why = f" ({', '.join(off)}: exact or weight 0)" if off else ""
        raise ValueError(f"balance.method={method}: {problem.name} has only one weighted loss term, "
                         f"{', '.join(weighted) or 'none'}{why}; there is nothing to balance")
    if not phase_budgets(settings)[0]:
        raise ValueError(f"balance.method={method} updates the weights during Adam, but adam.steps=0: "
                         "the later phases keep the weights fixed")


def check_second_order(settings: Settings, is_distributed: bool) -> None:
    """Refuse combinations the dense phases cannot honour, before any training."""
    dense = [p for p in settings.phases if p.name not in ("adam", "lbfgs", "pretrain")]
    if not dense or not dense[-1].steps:
        return
    name = dense[-1].name
    lbfgs_steps = phase_budgets(settings)[1]
    if is_distributed:
        raise ValueError(f"phase {name} runs in one process; it is not available under torchrun")
    if settings.curriculum.windows and settings.curriculum.mode == "march" and lbfgs_steps:
        raise ValueError(f"curriculum.mode=march trains each window with one method after Adam: "
                         f"L-BFGS (lbfgs.steps={lbfgs_steps}) or {name} ({name}.steps={dense[-1].steps}), "
                         f"not both; set --lbfgs-steps 0 to march with {name}")
    if settings.causal.eps and name in ("lm", "sven"):
        raise ValueError(f"phase {name} works on the plain sum of squares; causal weights "
                         "(causal.eps) change the loss during training: use bfgs/ssbroyden or causal.eps=0")
