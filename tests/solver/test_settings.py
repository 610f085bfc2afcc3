"""Grouped settings: dotted names, nested defaults, the phase sequence, and pinnlab 0.1's flat names."""

import json
import traceback
from pathlib import Path

import pytest

import pinnlab
from pinnlab import Settings, load_problem, resolve_settings
from pinnlab.geometry import sampling
from pinnlab.commands.main import main
from pinnlab.solver.legacy_names import LEGACY_NAMES
from pinnlab.training.phases.adam import AdamSettings
from pinnlab.training.phases.lbfgs import LBFGSSettings
from pinnlab.training.phases.quasi_newton import QuasiNewtonSettings


def names_and_steps(settings):
    return [(p.name, p.steps) for p in settings.phases]


def test_dotted_and_nested_names_set_the_same_fields():
    dotted = Settings().replace({"refine.method": "rad", "refine.every": "200", "network.width": 16,
                                 "numerics.dtype": "float32", "output.grid": "64x32"}, "test")
    nested = Settings().replace({"refine": {"method": "rad", "every": 200}, "network": {"width": 16},
                                 "numerics": {"dtype": "float32"}, "output": {"grid": [64, 32]}}, "test")
    assert dotted == nested
    assert dotted.refine.every == 200 and dotted.network.width == 16 and dotted.output.grid == (64, 32)
    assert Settings().refine.every == 500  # the defaults are untouched


def test_the_default_phases_are_adam_then_lbfgs():
    settings = Settings()
    assert settings.phases == (AdamSettings(), LBFGSSettings())
    assert settings.phase("adam").steps == 2000 and settings.phase("ssbroyden") is None


def test_a_phase_sequence_keeps_each_phase_settings():
    settings = Settings().replace({"adam.lr": 3e-3, "phases": "adam,ssbroyden", "ssbroyden.steps": 50}, "test")
    assert names_and_steps(settings) == [("adam", 2000), ("ssbroyden", 50)]
    assert settings.phase("adam").lr == 3e-3
    # naming the sequence again keeps what the phases already had
    again = settings.replace({"phases": "adam,lbfgs,ssbroyden"}, "test")
    assert names_and_steps(again) == [("adam", 2000), ("lbfgs", 2000), ("ssbroyden", 50)]
    assert again.phase("adam").lr == 3e-3


def test_steps_of_a_phase_not_in_the_sequence_add_it_in_the_usual_order():
    settings = Settings().replace({"phases": "adam,ssbroyden"}, "equation")
    assert names_and_steps(settings.replace({"lbfgs.steps": 5}, "cli")) == [
        ("adam", 2000), ("lbfgs", 5), ("ssbroyden", 0)]
    assert names_and_steps(settings.replace({"lbfgs.steps": 0}, "cli")) == [("adam", 2000), ("ssbroyden", 0)]
    assert names_and_steps(Settings().replace({"lm.steps": 3}, "cli"))[-1] == ("lm", 3)


@pytest.mark.parametrize("overrides, message", [
    ({"refine.methd": "rad"}, r"test: unknown setting 'refine.methd'; refine has refine.method, refine.every"),
    ({"stepz": 10}, r"test: unknown setting 'stepz' \(did you mean 'steps'\?\)"),
    ({"adam.lr": -1}, r"test: adam.lr must be > 0, got -1.0"),
    ({"network.width": "wide"}, r"test: setting 'network.width' expects int, got 'wide'"),
    ({"phases": "adam,sgd"}, r"test: phases must be a list of adam, lbfgs, bfgs, ssbfgs, ssbroyden, lm"),
    ({"phases": "adam,adam"}, r"test: phases must not repeat a phase, got adam,adam"),
    ({"lm.svd_rank": 2}, r"test: 'lm.svd_rank' is set, but lm is not among the phases \(adam,lbfgs\)"),
    ({"refine.method": "rar-x", "sampling.points": 0},
     r"test: sampling.points must be >= 1, got 0; refine.method must be one of none, rar, rar-d, rad"),
    ({"second_order": "newton"}, r"test: second_order must be one of none, bfgs, ssbfgs, ssbroyden, lm"),
])
def test_bad_settings_are_refused_with_one_line_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message) as error:
        Settings().replace(overrides, "test")
    assert "\n" not in str(error.value)


def test_flat_names_of_pinnlab_0_1_still_apply_with_a_note():
    notes = []
    settings = Settings().replace({"steps": 100, "lbfgs_steps": 0, "second_order": "ssbroyden",
                                   "second_order_steps": 40, "refine": "rad", "refine_every": 20,
                                   "width": 16, "threads": 1, "checkpoint_every": 7}, "test", notes)
    assert names_and_steps(settings) == [("adam", 100), ("lbfgs", 0), ("ssbroyden", 40)]
    assert settings.phase("ssbroyden") == QuasiNewtonSettings("ssbroyden", 40)
    assert (settings.refine.method, settings.refine.every, settings.network.width) == ("rad", 20, 16)
    assert (settings.numerics.threads, settings.checkpoint.every) == (1, 7)
    assert "test: setting 'refine_every' is now 'refine.every'" in notes
    assert "test: setting 'second_order' is now 'phases=adam,lbfgs,ssbroyden'" in notes
    assert "test: setting 'second_order_steps' is now 'ssbroyden.steps'" in notes
    assert len(notes) == 9


def test_every_flat_name_maps_to_a_setting_that_exists():
    settings = Settings().replace({"second_order": "lm"}, "test")
    nested = settings.as_nested()
    for flat, dotted in LEGACY_NAMES.items():
        if dotted in ("phases", "weights", "second_order.steps"):
            continue
        group, field = dotted.split(".")
        if group in nested:
            assert field in nested[group], flat
        else:
            assert any(p["name"] == group and field in p for p in nested["phases"]), flat


def test_saved_settings_read_back_equal():
    settings = Settings().replace({"phases": "adam,lbfgs,lm", "lm.steps": 3, "lm.svd_rank": 2,
                                   "weights": "initial:10", "output.grid": "8x4"}, "test")
    text = json.dumps(settings.as_nested())
    assert Settings().replace(json.loads(text), "saved") == settings


def test_the_command_line_notes_a_flat_name_once_and_says_where_it_came_from(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["solve", "equations/heat.py", "--out", str(out), "--quiet", "--steps", "3",
                   "--lbfgs-steps", "0", "--points", "64", "--boundary-points", "16",
                   "--set", "refine_every=10", "--set", "numerics.threads=1", "--set", "output.grid=8x4"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert err.splitlines() == ["note: settings: setting 'refine_every' is now 'refine.every'"]
    saved = json.loads((out / "metrics.json").read_text())["settings"]
    assert saved["refine"]["every"] == 10
    assert [(p["name"], p["steps"]) for p in saved["phases"]] == [("adam", 3), ("lbfgs", 0)]


def test_an_unknown_name_on_the_command_line_is_one_line_and_status_2(tmp_path, capsys):
    status = main(["solve", "equations/heat.py", "--out", str(tmp_path / "run"), "--quiet",
                   "--set", "refine.evry=10"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "unknown setting 'refine.evry'" in err and "refine.every" in err
    assert not (tmp_path / "run").exists()


def test_a_flat_name_from_python_is_a_deprecation_warning_naming_the_new_one():
    problem = load_problem("equations/heat.py")
    with pytest.deprecated_call(match="settings: setting 'points' is now 'sampling.points'"):
        settings = resolve_settings(problem, {"points": 64})
    assert settings.sampling.points == 64


def test_points_from_the_command_line_reach_the_sampler_through_each_file_once(tmp_path, monkeypatch):
    """The call stack that draws the --points interior points, as docs/architecture.md lists it."""
    stacks = []
    unit = sampling.Sampler.unit

    def watched(self, n, dim):
        if n == 1234:
            stacks.append([Path(frame.filename) for frame in traceback.extract_stack()[:-1]])
        return unit(self, n, dim)

    monkeypatch.setattr(sampling.Sampler, "unit", watched)
    status = main(["solve", "equations/heat.py", "--points", "1234", "--steps", "1", "--lbfgs-steps", "0",
                   "--out", str(tmp_path), "--quiet", "--set", "numerics.threads=1", "--set", "output.grid=5x5"])
    assert status == 0 and stacks
    package = Path(pinnlab.__file__).resolve().parent
    files = [p.resolve().relative_to(package).as_posix() for p in stacks[0] if p.resolve().is_relative_to(package)]
    entered = [f for k, f in enumerate(files) if k == 0 or files[k - 1] != f]
    assert entered == ["commands/main.py", "solver/job.py", "training/trainer.py", "training/plan.py",
                       "training/loop.py", "training/context.py", "training/collocation.py",
                       "geometry/spacetime.py"]  # which calls the Sampler of geometry/sampling.py
