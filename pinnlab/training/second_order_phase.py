"""The optional last phase of training: a dense quasi-Newton method or Levenberg-Marquardt after
Adam and L-BFGS (``second_order=bfgs|ssbfgs|ssbroyden|lm``, ``second_order_steps=N``).

Why a separate phase: both keep a P x P matrix (the inverse-Hessian approximation, or J^T J) and
need float64 to pay off, so they suit small networks once Adam and L-BFGS have found the basin;
there they take the loss orders of magnitude further (pinnlab/training/quasi_newton.py,
pinnlab/training/gauss_newton.py). Each iteration is one step of the progress bar and of ``step``; losses
are logged every ``log_every`` iterations and the reason the phase ended goes into metrics.json as
``second_order_stop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from pinnlab.training.gauss_newton import GaussNewtonRun, LevenbergMarquardt
from pinnlab.training.quasi_newton import DenseQuasiNewton, QuasiNewtonRun
from pinnlab.training.residual_vector import residual_jacobian, residual_vector

if TYPE_CHECKING:
    from pinnlab.runtime.progress import Progress
    from pinnlab.training.trainer import Trainer

def check_second_order(settings: Any, distributed: bool, causal: bool) -> None:
    """Refuse combinations the phase cannot honour, before any training."""
    if settings.second_order == "none" or not settings.second_order_steps:
        return
    if distributed:
        raise ValueError(f"second_order={settings.second_order} runs in one process; it is not "
                         "available under torchrun")
    if settings.curriculum and settings.curriculum_mode == "march" and settings.lbfgs_steps:
        raise ValueError(f"curriculum_mode=march trains each window with one method after Adam: "
                         f"L-BFGS (lbfgs_steps={settings.lbfgs_steps}) or second_order={settings.second_order}, "
                         "not both; set --lbfgs-steps 0 to march with the second-order method")
    if causal and settings.second_order == "lm":
        raise ValueError("second_order=lm works on the plain sum of squares; causal weights "
                         "(causal_eps) change the loss during training: use bfgs/ssbroyden or causal_eps=0")


def make_second_order(trainer: "Trainer") -> LevenbergMarquardt | DenseQuasiNewton:
    parameters = [p for p in trainer.model.parameters() if p.requires_grad]
    settings = trainer.settings
    if settings.second_order == "lm":
        return LevenbergMarquardt(parameters, svd_rank=settings.lm_svd_rank)
    return DenseQuasiNewton(parameters, settings.second_order)


def run_second_order(trainer: "Trainer", bar: "Progress") -> None:
    """Take the remaining ``second_order_steps`` iterations of the phase; with ``refine`` the
    points are refined after every ``refine_every`` iterations of the phase, as in Adam and L-BFGS
    (a shock needs points where the residual is large long after the first phases have ended).

    A time curriculum goes on here too. When marching (``curriculum_mode=march`` with
    ``lbfgs_steps=0``), every window gets an equal share of the phase's iterations, and a window
    where the method ends early (converged, or no step found) hands its leftover iterations to
    the last window. A new window is a new loss on new points: like a refinement, it keeps the
    method's matrix (H, or the damping) and forgets only the last loss."""
    settings = trainer.settings
    name = settings.second_order
    if name == "none" or settings.second_order_steps - trainer.second_order_done <= 0:
        return
    if trainer.second_order is None:
        trainer.phases.append((trainer.step, name))
        trainer.second_order = make_second_order(trainer)
        trainer.second_order_stop = f"reached second_order_steps={settings.second_order_steps}"
        # the phase counts its own iterations to the next refinement: it starts on the points the
        # earlier phases ended with, so a phase shorter than refine_every runs on them throughout
        trainer.since_refinement = 0
    refining = settings.refine != "none"
    curriculum = trainer.curriculum
    ended_early = False
    while (remaining := settings.second_order_steps - trainer.second_order_done) > 0:
        # refine when due, or when the method ended a chunk itself: new points give it a new loss
        if refining and (ended_early or trainer.since_refinement >= settings.refine_every):
            trainer.refine_points()
            trainer.second_order.points_changed()
        chunk = min(remaining, settings.refine_every - trainer.since_refinement) if refining else remaining
        window_left = curriculum.steps_left() if curriculum is not None else None
        if window_left is not None:  # end the chunk where the window ends
            chunk = min(chunk, max(window_left, 1))
        run = run_iterations(trainer, bar, chunk)
        ended_early = run.iterations < chunk
        if curriculum is not None and curriculum.due(run.loss):
            trainer.next_window()
            trainer.second_order.points_changed()
            ended_early = False
            continue
        if ended_early and not (refining and run.iterations):
            if trainer.window_ended_early():  # windows are left: go on with the next one
                trainer.second_order.points_changed()
                ended_early = False
                continue
            trainer.second_order_stop = run.stop  # stopped for good: say why
            break


def run_iterations(trainer: "Trainer", bar: "Progress", iterations: int) -> GaussNewtonRun | QuasiNewtonRun:
    """Up to ``iterations`` iterations of the phase's method on the current points."""
    from pinnlab.training.trainer import cloned  # training imports this module
    settings = trainer.settings
    name = settings.second_order
    optimizer = trainer.second_order

    def on_iteration(k: int, loss: float) -> None:
        trainer.step += 1
        trainer.second_order_done += 1
        trainer.since_refinement += 1
        if trainer.curriculum is not None:
            trainer.curriculum.steps_in_stage += 1
        bar.update()
        if trainer.step % settings.log_every == 0:
            _, total = trainer.record(name)
            trainer.show(bar, name, total)
            trainer.good = cloned(trainer.state_dict())
        if trainer.step - trainer.saved_at >= settings.checkpoint_every:
            trainer.save_checkpoint(loss=loss)

    if isinstance(optimizer, LevenbergMarquardt):
        problem, model = trainer.problem, trainer.model

        def residuals() -> torch.Tensor:
            return residual_vector(problem, model, trainer.collocation, trainer.weights)

        def jacobian() -> torch.Tensor:
            return residual_jacobian(problem, model, trainer.collocation, trainer.weights)

        return optimizer.run(residuals, jacobian, iterations, on_iteration)

    def closure() -> torch.Tensor:
        trainer.model.zero_grad(set_to_none=True)
        _, total = trainer.evaluate()
        if torch.isfinite(total):
            trainer.backward(total)
        return total.detach()

    return optimizer.run(closure, iterations, on_iteration)
