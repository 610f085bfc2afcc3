"""Training phases from outside pinnlab: a phase class of one's own runs in a real training run
through ``train(..., extra_phases=...)`` with no edit of pinnlab; and a checkpoint of the old
format (version 1) is refused with one line, in Python and on the command line."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from pinnlab import load_problem, resolve_settings
from pinnlab.commands.main import main
from pinnlab.model.field_model import build_model
from pinnlab.training.checkpoint import CheckpointError, CheckpointStore, read_torch_file
from pinnlab.training.context import check_finite
from pinnlab.training.trainer import train

HEAT = load_problem("equations/heat.py")
SMALL = {"network.width": 12, "network.depth": 2, "sampling.points": 300, "sampling.boundary_points": 40,
         "output.log_every": 10, "output.progress": False, "numerics.threads": 1}


class GradientDescent:
    """Plain gradient descent at a fixed learning rate: a phase pinnlab does not ship, written
    against the Phase protocol (pinnlab/training/phases/__init__.py) alone."""

    name = "gradient_descent"
    restarts_refinement_clock = False

    def __init__(self, model: torch.nn.Module, steps: int, lr: float) -> None:
        self.steps, self.done, self.reopened = steps, 0, False
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def run(self, context: Any) -> None:
        if self.done < self.steps:
            context.phase_started(self)
        while self.done < self.steps:
            context.before_step()
            self.optimizer.zero_grad(set_to_none=True)
            terms, total = context.evaluate()
            check_finite(terms, context.step, self.name)
            context.log(terms, total)
            context.backward(total)
            self.optimizer.step()
            self.done += 1
            context.advance(1)
            context.save_if_due(lambda: float(context.evaluate()[1].detach()))

    def scale_learning_rate(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] *= factor

    def result_fields(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.done = state["done"]


def test_a_phase_of_ones_own_trains_after_the_settings_phases(tmp_path):
    settings = resolve_settings(HEAT, {**SMALL, "adam.steps": 0, "lbfgs.steps": 0, "checkpoint.every": 50})
    torch.manual_seed(0)
    model = build_model(HEAT, settings)
    phase = GradientDescent(model, steps=200, lr=0.05)
    store = CheckpointStore(tmp_path / "checkpoints")
    result = train(HEAT, model, settings, checkpoints=store, extra_phases=[phase])
    assert result.phases == [(0, "gradient_descent")] and result.steps == 200 and phase.done == 200
    history = result.history["total"]
    assert result.history["step"][0] == 0 and result.history["step"][-1] == 200
    assert history[-1] < 0.5 * history[0], (history[0], history[-1])
    assert sum(result.final_losses.values()) == pytest.approx(history[-1], rel=1e-12)  # weights 1
    # the checkpoint is each part's own state: the new phase's under its name
    saved = read_torch_file(store.last)
    assert saved["step"] == 200 and saved["phases"]["gradient_descent"]["done"] == 200
    assert set(saved["phases"]) == {"adam", "lbfgs", "gradient_descent"}


def test_phase_names_must_be_distinct():
    settings = resolve_settings(HEAT, {**SMALL, "adam.steps": 0, "lbfgs.steps": 0})
    model = build_model(HEAT, settings)
    phase = GradientDescent(model, steps=1, lr=0.05)
    phase.name = "adam"
    with pytest.raises(ValueError, match="training phases must have distinct names .* got adam, lbfgs, adam"):
        train(HEAT, model, settings, extra_phases=[phase])


def write_version_1_checkpoint(folder):
    """A checkpoint as pinnlab 0.1 wrote it: one flat dictionary, format version 1."""
    path = folder / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    torch.save({"format": "pinnlab-checkpoint", "version": 1, "pinnlab": "0.1.0", "step": 40,
                "finished": False, "settings": '{"width": 12, "steps": 40}', "model": {},
                "adam": {}, "lbfgs": None, "lbfgs_counters": [0, 0, 0]}, path)
    return path


def test_a_version_1_checkpoint_is_refused_naming_the_file_and_the_version(tmp_path):
    path = write_version_1_checkpoint(tmp_path)
    with pytest.raises(CheckpointError) as error:
        CheckpointStore(path.parent).load()
    message = str(error.value)
    assert message == (f"{path} has checkpoint version 1; this pinnlab reads version 2 only; "
                       "run without --resume to start afresh")


def test_a_version_1_checkpoint_on_the_command_line_is_one_line_and_status_2(tmp_path, capsys):
    path = write_version_1_checkpoint(tmp_path)
    before = path.read_bytes()
    status = main(["solve", "equations/heat.py", "--out", str(tmp_path), "--quiet", "--resume",
                   "--steps", "5", "--lbfgs-steps", "0", "--set", "numerics.threads=1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines() == [f"pinnlab solve: error: {path} has checkpoint version 1; this pinnlab "
                                "reads version 2 only; run without --resume to start afresh"]
    assert path.read_bytes() == before and not (tmp_path / "metrics.json").exists()
