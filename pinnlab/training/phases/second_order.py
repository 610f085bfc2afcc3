"""What the dense second-order phases (quasi-Newton, Levenberg-Marquardt) share: their run in
chunks between refinements and time windows, and the bookkeeping after every iteration.

Both keep a P x P matrix (the inverse-Hessian approximation, or J^T J) and need float64 to pay
off, so they suit small networks once Adam and L-BFGS have found the basin. Each iteration is
one step; losses are logged every ``log_every`` iterations and the reason the phase ended goes
into metrics.json as ``second_order_stop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pinnlab.training.gauss_newton import GaussNewtonRun
from pinnlab.training.quasi_newton import QuasiNewtonRun

if TYPE_CHECKING:
    from pinnlab.training.context import Context

OnIteration = Callable[[int, float], None]


class SecondOrderPhase:
    """A dense method run for ``steps`` iterations; subclasses make the method (``new_method``)
    and take iterations with it (``iterate``).

    With refinement the points are refined after every ``refine.every`` iterations of the phase,
    counted from its start (a shock needs points where the residual is large long after the first
    phases have ended). A time curriculum goes on here too: when marching with no L-BFGS
    iterations, every window gets an equal share of the phase's iterations, and a window where
    the method ends early (converged, or no step found) hands its leftover iterations to the last
    window. A new window is a new loss on new points: like a refinement, it keeps the method's
    matrix (H, or the damping) and forgets only the last loss."""

    name = ""
    restarts_refinement_clock = True

    def __init__(self, steps: int) -> None:
        self.budget = steps
        self.method: Any = None
        self.done, self.stop, self.reopened = 0, "not run", False

    @property
    def steps(self) -> int:
        return self.budget

    def new_method(self) -> Any:
        raise NotImplementedError

    def iterate(self, context: Context, iterations: int,
                on_iteration: OnIteration) -> GaussNewtonRun | QuasiNewtonRun:
        raise NotImplementedError

    def run(self, context: Context) -> None:
        if self.steps - self.done <= 0:
            return
        if self.method is None:
            self.method = self.new_method()
            self.stop = f"reached {self.name}.steps={self.steps}"
            context.phase_started(self)
        ended_early = False
        while (remaining := self.steps - self.done) > 0:
            # refine when due, or when the method ended a chunk itself: new points give it a new loss
            if context.refine(force=ended_early):
                self.method.points_changed()
            until = context.steps_until_event()  # end the chunk at the next refinement or window
            chunk = remaining if until is None else min(remaining, until)
            run = self.iterate(context, chunk, lambda k, loss: self.after_iteration(context, loss))
            ended_early = run.iterations < chunk
            if context.move_window_if_due(run.loss):
                self.method.points_changed()
                ended_early = False
                continue
            if ended_early and not (context.refines and run.iterations):
                if context.next_window_if_left():  # windows are left: go on with the next one
                    self.method.points_changed()
                    ended_early = False
                    continue
                self.stop = run.stop  # stopped for good: say why
                break

    def after_iteration(self, context: Context, loss: float) -> None:
        self.done += 1
        context.advance(1)
        if context.step % context.log_every == 0:
            _, total = context.record(self.name)
            context.show(self.name, total)
            context.good_state()
        context.save_if_due(lambda: loss)

    def scale_learning_rate(self, factor: float) -> None:
        """No learning rate: the line search or the damping sets the step."""

    def result_fields(self) -> dict[str, Any]:
        return {"second_order_stop": self.stop}

    def state_dict(self) -> dict[str, Any]:
        return {"method": None if self.method is None else self.method.state_dict(),
                "done": self.done, "stop": self.stop, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.method = None
        if state["method"] is not None:
            self.method = self.new_method()
            self.method.load_state_dict(state["method"])
        self.done, self.stop = state["done"], state["stop"]
        changed = state["steps"] != self.steps  # a changed budget applies from here on
        self.reopened = changed and self.done < self.steps
        if changed and self.stop.startswith(("reached second_order_steps=", f"reached {self.name}.steps=")):
            self.stop = f"reached {self.name}.steps={self.steps}"  # (the first: a checkpoint of pinnlab 0.1)
