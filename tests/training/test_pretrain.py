"""pinnlab/training/phases/pretrain.py: fitting the labels alone, the label weight after, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pinnlab.model.field_model import build_model
from pinnlab.output.evaluation import predict
from pinnlab.problem.equation_module import load_problem
from pinnlab.problem.labels import LABELS, attach_labels
from pinnlab.runtime.threads import thread_limit
from pinnlab.solver.job import solve
from pinnlab.solver.settings import resolve_settings
from pinnlab.training import losses
from pinnlab.training.checkpoint import CheckpointStore
from pinnlab.training.context import Context
from pinnlab.training.phases import pretrain as pretrain_module
from pinnlab.training.plan import build_training
from pinnlab.training.trainer import train

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"network.width": 12, "network.depth": 2, "sampling.points": 200, "numerics.threads": 1,
         "numerics.dtype": "float64", "output.progress": False, "output.log_every": 10, "checkpoint.every": 20}


@pytest.fixture(autouse=True)
def one_thread():
    with thread_limit(1):  # as solve and train do; build_training alone does not
        yield


@pytest.fixture(scope="module")
def heat():
    return attach_labels(load_problem(ROOT / "equations" / "heat_family.py"))[0]


def misfit(model, problem) -> float:
    observed = problem.data[LABELS]
    return float(np.mean((predict(model, observed.points)[:, 0] - observed.values[:, 0]) ** 2))


def test_pretraining_fits_the_labels_and_leaves_the_physics_alone(heat) -> None:
    settings = resolve_settings(heat, {**QUICK, "phases": "pretrain", "pretrain.steps": 300, "pretrain.lr": 1e-2})
    torch.manual_seed(0)
    model = build_model(heat, settings)
    before = misfit(model, heat)
    training = build_training(heat, model, settings)
    result = training.run()
    phase = training.phase("pretrain")
    after = misfit(model, heat)  # recomputed from the model and the label arrays
    assert after < before / 3 and phase.first_loss == pytest.approx(before, rel=1e-6)
    assert result.steps == 300 and phase.ended_at == 300 and phase.last_loss < phase.first_loss / 3
    assert training.context.weights[LABELS] == 0.0  # faded, with no phase after: 0 at once


def test_lbfgs_pretraining_fits_the_labels_far_closer_than_adam_in_fewer_steps(heat) -> None:
    fitted = {}
    for optimizer, steps in (("adam", 300), ("lbfgs", 100)):
        settings = resolve_settings(heat, {**QUICK, "phases": "pretrain", "pretrain.steps": steps,
                                           "pretrain.lr": 1e-2, "pretrain.optimizer": optimizer})
        torch.manual_seed(0)
        model = build_model(heat, settings)
        training = build_training(heat, model, settings)
        result = training.run()
        fitted[optimizer] = misfit(model, heat)
        phase = training.phase("pretrain")
        assert result.steps <= steps and phase.ended_at == result.steps
    assert phase.last_loss == pytest.approx(fitted["lbfgs"], rel=1e-6)  # L-BFGS: the loss it ended at
    assert fitted["lbfgs"] < fitted["adam"] / 10  # measured: 2.2e-4 in 100 iterations, 4.9e-2 in 300 steps


def test_lbfgs_pretraining_that_converges_hands_over_to_the_next_phase_early(heat) -> None:
    settings = resolve_settings(heat, {**QUICK, "phases": "pretrain,adam", "pretrain.steps": 500,
                                       "pretrain.optimizer": "lbfgs", "adam.steps": 20})
    torch.manual_seed(0)
    training = build_training(heat, build_model(heat, settings), settings)
    phase = training.phase("pretrain")
    phase.optimizer.param_groups[0]["tolerance_grad"] = 1e-2  # converged once the gradient is this small
    result = training.run()
    assert 0 < phase.ended_at < 500 and phase.done == 500  # finished: a resumed run does not re-enter it
    assert result.steps == phase.ended_at + 20
    assert training.context.weights[LABELS] == 0.0  # faded over Adam's 20 steps, from where pretraining ended


def test_an_unknown_pretraining_optimizer_is_refused(heat) -> None:
    with pytest.raises(ValueError, match="pretrain.optimizer must be adam or lbfgs, got 'sgd'"):
        resolve_settings(heat, {"pretrain.optimizer": "sgd"})


@pytest.mark.parametrize("then, expected", [("keep", [0.3, 0.3, 0.3]), ("fade", [0.3, 0.15, 0.0])])
def test_the_label_weight_after_pretraining_is_faded_or_kept(heat, then, expected) -> None:
    settings = resolve_settings(heat, {**QUICK, "phases": "pretrain,adam,lbfgs", "pretrain.steps": 10,
                                       "adam.steps": 40, "lbfgs.steps": 0, "pretrain.then": then,
                                       "pretrain.weight": 0.3})
    torch.manual_seed(0)
    seen = {}
    training = build_training(heat, build_model(heat, settings), settings,
                              on_log=lambda step, _: seen.setdefault(step, dict(training.context.weights)))
    training.run()
    assert [seen[s][LABELS] for s in (10, 30, 50)] == pytest.approx(expected)  # fade over Adam's 40 steps


class Interrupt(Exception):
    pass


def run(problem, settings, store, crash_at=None, resume=False):
    torch.manual_seed(settings.numerics.seed)
    model = build_model(problem, settings)
    state = store.load("last") if resume else None
    return train(problem, model, settings, None, store, state), model


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_an_interrupted_pretraining_resumes_bit_identical(heat, tmp_path, monkeypatch, optimizer) -> None:
    settings = resolve_settings(heat, {**QUICK, "phases": "pretrain,adam,lbfgs", "pretrain.steps": 50,
                                       "pretrain.optimizer": optimizer, "adam.steps": 30, "lbfgs.steps": 20})
    whole, whole_model = run(heat, settings, CheckpointStore(tmp_path / "whole"))
    real = pretrain_module.label_loss

    def crashing(context):
        if context.step >= 45:  # inside pretraining, after the checkpoint of step 40
            raise Interrupt
        return real(context)

    monkeypatch.setattr(pretrain_module, "label_loss", crashing)
    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run(heat, settings, store)
    monkeypatch.setattr(pretrain_module, "label_loss", real)
    assert store.load("last")["phases"]["pretrain"]["done"] == 40
    resumed, resumed_model = run(heat, settings, store, resume=True)
    assert resumed.resumed_from == 40 and resumed.steps == whole.steps == 100
    for a, b in zip(whole_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.final_losses == whole.final_losses


def test_pretrain_without_labels_is_refused_and_setting_it_puts_it_first(tmp_path) -> None:
    plain = load_problem(ROOT / "equations" / "burgers_family.py")  # labels not attached
    settings = resolve_settings(plain, {**QUICK, "phases": "adam,lbfgs", "pretrain.steps": 5})
    assert [p.name for p in settings.phases] == ["pretrain", "adam", "lbfgs"]
    with pytest.raises(ValueError, match="phase pretrain: 'burgers_family' has no labels"):
        train(plain, build_model(plain, settings), settings)
    with pytest.raises(ValueError, match="pretrain.then must be fade or keep, got 'drop'"):
        resolve_settings(plain, {"pretrain.then": "drop"})


def test_solve_reports_the_labels_in_metrics_and_a_log_line(tmp_path, capsys) -> None:
    problem = load_problem(ROOT / "equations" / "heat_family.py")
    settings = resolve_settings(problem, {**QUICK, "pretrain.steps": 100, "adam.steps": 30, "lbfgs.steps": 30,
                                          "output.progress": True})
    solve(problem, settings, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    labels = metrics["labels"]
    assert labels["source"] == "method of lines on 16x26 (hybrid, RK45)" and len(labels["instances"]) == 4
    assert labels["rel_l2_max"] < 6e-3 and labels["rows"] == 4 * 16 * 26
    assert "labels" in metrics["final_losses"]
    line = capsys.readouterr().err
    assert "heat_family: labels: method of lines on 16x26 (hybrid, RK45), 4 instance(s)" in line
    assert f"mean {labels['rel_l2_mean']:.2e}" in line


def test_quiet_solves_keep_the_labels_line_off_stderr_and_in_metrics(tmp_path, capsys) -> None:
    from pinnlab.commands.main import main

    module = ROOT / "equations" / "heat_family.py"
    quick = ["--set", "pretrain.steps=20", "--set", "adam.steps=10", "--set", "lbfgs.steps=5", "--set",
             "network.width=8", "--set", "sampling.points=100", "--set", "numerics.threads=1"]
    assert main(["solve", str(module), "--out", str(tmp_path / "quiet"), "--quiet", *quick]) == 0
    quiet = capsys.readouterr().err
    assert "labels:" not in quiet and "heat_family" not in quiet  # neither the labels' line nor a bar
    assert json.loads((tmp_path / "quiet" / "metrics.json").read_text())["labels"]["rows"] == 4 * 16 * 26
    assert main(["solve", str(module), "--out", str(tmp_path / "shown"), *quick]) == 0
    assert "heat_family: labels: method of lines on 16x26" in capsys.readouterr().err


def test_the_faded_labels_are_not_evaluated_and_skipping_them_changes_nothing(heat, monkeypatch) -> None:
    settings = resolve_settings(heat, {**QUICK, "phases": "pretrain,adam", "pretrain.steps": 10, "adam.steps": 40,
                                       "pretrain.fade_steps": 10, "checkpoint.every": 10**6})

    def trained(every_term: bool):
        real = Context.evaluate
        if every_term:  # every term at every step, as when weight-0 terms were evaluated too
            monkeypatch.setattr(Context, "evaluate", lambda self, every_term=False: real(self, True))
        steps = []
        misfit = losses.data_misfit

        def counted(problem, model, name, *args, **kwargs):
            if name == LABELS:
                steps.append(training.context.step)
            return misfit(problem, model, name, *args, **kwargs)

        monkeypatch.setattr(losses, "data_misfit", counted)
        torch.manual_seed(0)
        training = build_training(heat, build_model(heat, settings), settings)
        result = training.run()
        monkeypatch.setattr(losses, "data_misfit", misfit)
        monkeypatch.setattr(Context, "evaluate", real)
        return result, training.context.model, steps

    skipped, skipped_model, steps = trained(False)
    # weight 1 - (step - 10) / 10 at Adam's steps 10 ... 49: evaluated while above 0 (steps 10 ... 19),
    # then only for the log (every 10 steps) and the final record
    assert steps == list(range(10, 20)) + [20, 30, 40, 50]
    every, every_model, all_steps = trained(True)
    assert all_steps == list(range(10, 51))
    for a, b in zip(skipped_model.state_dict().values(), every_model.state_dict().values()):
        assert torch.equal(a, b)
    assert skipped.history == every.history and skipped.final_losses == every.final_losses
    assert len(skipped.history[LABELS]) == len(skipped.history["step"]) and skipped.history[LABELS][-1] > 0
