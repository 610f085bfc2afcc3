"""Parameters (pinnlab/problem/parameters.py): a family's parameters are point columns after the
physical inputs. Functions take them by name, collocation draws them jointly with the point,
derivatives never involve them, an instance is an ordinary problem, and each bad declaration
is one EquationError line naming the module and the name."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from pinnlab import Dirichlet, Exact, Initial, Interval, Problem, Rectangle, TimeInterval, Unknown, load_problem
from pinnlab.derivatives.derivative import Derivative
from pinnlab.derivatives.engines import Autograd, ForwardMode, Jets
from pinnlab.geometry.sampling import SamplingSettings, make_sampler
from pinnlab.model.field_model import FieldModel, InstanceModel
from pinnlab.model.network import MLP
from pinnlab.problem.binding import EquationError
from pinnlab.problem.parameters import ParameterBox, default_held_out, parse_instance
from pinnlab.training.collocation import sample_collocation
from pinnlab.training.losses import residual_values

CPU = torch.device("cpu")


def heat_family(**changes):
    """u_t = k u_xx with u(x, 0) = k sin(pi x): every function takes the parameter k."""
    namespace = dict(
        domain=Interval(0.0, 1.0) * TimeInterval(0.0, 1.0),
        residual=lambda u_t, u_xx, k: u_t - k * u_xx,
        parameters={"k": (0.1, 1.0)},
        conditions={"start": Initial(lambda x, k: k * torch.sin(math.pi * x)), "ends": Dirichlet(0.0)},
        reference=Exact(lambda x, t, k: k * torch.exp(-k * math.pi**2 * t) * torch.sin(math.pi * x)),
    )
    namespace.update(changes)
    return Problem.define("heat_family", **namespace)


def collocation(problem, sampler="sobol", points=64):
    return sample_collocation(problem, SamplingSettings(points=points, boundary_points=32, sampler=sampler),
                              make_sampler(sampler, seed=3), torch.float64, CPU)


def test_points_carry_the_parameter_after_the_inputs_drawn_in_its_box():
    problem = heat_family()
    assert problem.point_names == ("x", "t", "k") and problem.inputs == ("x", "t")
    drawn = collocation(problem)
    assert drawn.interior.shape == (64, 3)
    k = drawn.interior[:, 2]
    assert float(k.min()) >= 0.1 and float(k.max()) <= 1.0 and float(k.std()) > 0.2  # spread over the box
    for batch in drawn.conditions.values():
        assert batch.points.shape == (32, 3) and batch.normals.shape == (32, 2)  # normals in space only
        assert float(batch.points[:, 2].min()) >= 0.1 and float(batch.points[:, 2].max()) <= 1.0


def test_the_interior_is_one_joint_sobol_draw_over_space_time_and_parameters():
    problem = heat_family()
    drawn = collocation(problem, points=64)
    unit = make_sampler("sobol", seed=3).unit(64, 3)  # the same stream, all three coordinates at once
    expected = np.column_stack([unit[:, 0], unit[:, 1], 0.1 + 0.9 * unit[:, 2]])
    np.testing.assert_allclose(drawn.interior.numpy(), expected, rtol=0, atol=1e-15)


def test_a_condition_value_takes_the_parameter_of_each_of_its_points():
    batch = collocation(heat_family()).conditions["start"]
    x, t, k = batch.points.T
    assert torch.all(t == 0)
    torch.testing.assert_close(batch.target, k * torch.sin(math.pi * x), rtol=0, atol=1e-15)


def test_the_residual_and_the_output_transform_take_the_parameter_by_name():
    problem = heat_family(output_transform=lambda x, t, k, u: k * torch.sin(math.pi * x) + t * u)
    model = FieldModel(MLP(3, 1, width=8, depth=2, seed=0), problem).double()
    points = collocation(problem).interior
    with torch.enable_grad():
        x = points.clone().requires_grad_(True)
        u = model(x)[:, 0]
        u_t, u_x = torch.autograd.grad(u.sum(), x, create_graph=True)[0][:, [1, 0]].T
        u_xx = torch.autograd.grad(u_x.sum(), x)[0][:, 0]
        got = residual_values(problem, model, points.clone().requires_grad_(True), engine=Autograd())["residual"]
    torch.testing.assert_close(got.detach(), (u_t - points[:, 2] * u_xx).detach(), rtol=1e-12, atol=1e-12)
    x, t, k = points.T
    expected = k * torch.sin(math.pi * x) + t * model.network(points)[:, 0]
    torch.testing.assert_close(model(points)[:, 0].detach(), expected.detach(), rtol=0, atol=1e-15)


class XSquaredTimesK(nn.Module):
    """u = x^2 k + y^2 k^2 + t k^3 at points (x, y, t, k): a model with known derivatives."""

    def forward(self, p):
        x, y, t, k = p.T
        return (x**2 * k + y**2 * k**2 + t * k**3)[:, None]


@pytest.mark.parametrize("engine", [Autograd(), ForwardMode()], ids=["autograd", "func"])
def test_derivatives_are_over_the_physical_inputs_only(engine):
    problem = Problem.define("plate", domain=Rectangle((0, 0), (1, 1)) * TimeInterval(0, 1),
                             residual=lambda u_t, u_laplacian: u_t - u_laplacian, parameters={"k": (1.0, 3.0)})
    model = XSquaredTimesK()
    model.fields = ("u",)
    points = collocation(problem, points=32).interior.requires_grad_(True)
    x, y, t, k = points.detach().T
    wanted = {Derivative("u", (0, 0)), Derivative("u", (0,)), Derivative("u", (2,)),
              Derivative("u", (0, 1), laplacian=True)}
    from pinnlab.problem.binding import bind

    laplacian = bind(lambda u_laplacian: u_laplacian, "probe", inputs=problem.inputs, fields=problem.fields,
                     parameters=problem.parameters.names).derivatives.pop()
    assert laplacian == Derivative("u", (0, 1), laplacian=True)  # x and y: neither t nor k
    values = engine.derivatives(model, points, ("u",), wanted, create_graph=False)
    assert torch.equal(values[Derivative("u", (0, 0))].detach(), 2 * k)  # u_xx = 2 k, exactly
    assert torch.equal(values[Derivative("u", (0,))].detach(), 2 * x * k)
    assert torch.equal(values[Derivative("u", (2,))].detach(), k**3)
    assert torch.equal(values[laplacian].detach(), 2 * k + 2 * k**2)


def test_jets_agree_with_autograd_when_the_network_takes_a_parameter():
    problem = heat_family()
    model = FieldModel(MLP(3, 1, width=8, depth=3, seed=1, lower=[0, 0, 0.1], upper=[1, 1, 1]), problem).double()
    points = collocation(problem, points=32).interior.requires_grad_(True)
    wanted = {Derivative("u", (0, 0)), Derivative("u", (1,)), Derivative("u", (0,), laplacian=True)}
    jets = Jets().derivatives(model, points, ("u",), wanted, create_graph=False)
    plain = Autograd().derivatives(model, points, ("u",), wanted, create_graph=False)
    for d in wanted:
        torch.testing.assert_close(jets[d].detach(), plain[d].detach(), rtol=1e-10, atol=1e-12)


def test_an_instance_is_an_ordinary_problem_with_the_parameter_as_a_constant():
    problem = heat_family()
    instance = problem.instance({"k": 0.5})
    assert not instance.parameters and instance.constants["k"] == 0.5 and instance.point_names == ("x", "t")
    family_model = FieldModel(MLP(3, 1, width=8, depth=2, seed=0), problem).double()
    model = InstanceModel(family_model, {"k": 0.5}, ("k",))
    x = torch.rand(10, 2, dtype=torch.float64)
    torch.testing.assert_close(model(x), family_model(torch.column_stack([x, torch.full((10,), 0.5,
                                                                                       dtype=torch.float64)])))
    assert model.state_dict().keys() == family_model.state_dict().keys()  # a view: the family's state
    reference = instance.reference.at_points(instance.layout, np.array([[0.5, 0.1]]))["u"]
    np.testing.assert_allclose(reference, 0.5 * math.exp(-0.5 * math.pi**2 * 0.1), rtol=1e-14)
    batch = collocation(instance).conditions["start"]
    torch.testing.assert_close(batch.target, 0.5 * torch.sin(math.pi * batch.points[:, 0]))


def test_held_out_values_default_to_eight_spread_over_the_box_and_may_be_declared():
    assert [v["k"] for v in heat_family().held_out] == pytest.approx(0.1 + 0.9 * (np.arange(8) + 0.5) / 8)
    assert heat_family(held_out={"k": [0.2, 0.7]}).held_out == ({"k": 0.2}, {"k": 0.7})
    two = default_held_out(ParameterBox(("a", "b"), (0.0, 1.0), (1.0, 2.0)))
    assert len(two) == 8 and all(0 <= v["a"] <= 1 and 1 <= v["b"] <= 2 for v in two)
    assert parse_instance("k=0.25", heat_family().parameters) == {"k": 0.25}


@pytest.mark.parametrize("changes, message", [
    ({"parameters": {"k": (0.5, 0.5)}}, "parameter 'k': the box (0.5, 0.5) is empty; needs lower < upper"),
    ({"parameters": {"k": (1.0, 0.1)}}, "parameter 'k': the box (1, 0.1) is empty; needs lower < upper"),
    ({"parameters": {"k": (0.1,)}}, "parameter 'k': expected a box (lower, upper) of two finite numbers"),
    ({"parameters": {"k": (0.1, math.inf)}}, "parameter 'k': expected a box (lower, upper) of two finite numbers"),
    ({"parameters": {}}, "'parameters' must be a non-empty dict"),
    ({"parameters": {"x": (0.1, 1.0)}}, "parameter 'x': the name is an input; choose another"),
    ({"parameters": {"k": (0.1, 1.0)}, "constants": {"k": 2.0}}, "parameter 'k': the name is a constant"),
    ({"parameters": {"k": (0.1, 1.0)}, "unknowns": {"k": Unknown(0.5)},
      "residual": lambda u_t, u_xx, k: u_t - k * u_xx}, "parameter 'k': the name is an unknown"),
    ({"parameters": {"u": (0.1, 1.0)}}, "parameter 'u': the name is a field"),
    ({"parameters": {"u_x": (0.1, 1.0)}}, "names must be identifiers not read as a derivative, got 'u_x'"),
    ({"held_out": {"k": [0.5, 2.0]}}, "held_out: k=2 lies outside the trained box [0.1, 1]"),
    ({"held_out": {"q": [0.5]}}, "held_out: 'q' is not a parameter"),
    ({"residual": lambda u_t, u_k: u_t - u_k}, "'u_k' differentiates with respect to 'k', which is not made of "
                                               "inputs (inputs: x, t)"),
])
def test_a_bad_declaration_is_one_line_naming_the_module_and_the_name(changes, message):
    with pytest.raises(EquationError) as raised:
        heat_family(**changes)
    text = str(raised.value)
    assert text.startswith("problem 'heat_family': ") and message in text and "\n" not in text


def test_held_out_without_parameters_and_gauges_with_parameters_are_refused():
    from pinnlab import Mean

    with pytest.raises(EquationError, match="'held_out' lists parameter values, but the module declares no"):
        heat_family(parameters=None, held_out={"k": [0.5]}, residual=lambda u_t, u_xx: u_t - u_xx,
                    conditions={}, reference=None)
    with pytest.raises(EquationError, match="'gauges' cannot be combined with 'parameters' yet"):
        heat_family(gauges={"u": Mean()})


def test_a_familys_data_name_the_parameter_as_an_input_and_train_as_a_data_term():
    from pinnlab import Observations
    from pinnlab.training.losses import data_terms

    x, t, k = np.array([0.2, 0.5, 0.7]), np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.6, 0.9])
    u = k * np.exp(-k * math.pi**2 * t) * np.sin(math.pi * x)
    problem = heat_family(data={"labels": Observations({"x": x, "t": t, "k": k, "u": u})})
    labels = problem.data["labels"]
    np.testing.assert_array_equal(labels.points, np.column_stack([x, t, k]))
    model = FieldModel(MLP(3, 1, width=8, depth=2, seed=0), problem).double()
    term = data_terms(problem, model, torch.float64, CPU)["labels"]
    predicted = model(torch.as_tensor(labels.points))[:, 0].detach().numpy()
    assert float(term) == pytest.approx(np.mean((predicted - u) ** 2), rel=1e-12)
    assert not problem.instance({"k": 0.5}).data  # the instance leaves the family's labels behind
    with pytest.raises(EquationError, match=r"data 'labels': 'inputs' must name every input of the problem "
                                            r"\(x, t, k\) and only those; got x, t"):
        heat_family(data={"labels": Observations({"x": x, "t": t, "u": u}, inputs=["x", "t"])})
    with pytest.raises(EquationError, match="data 'labels': 1 of 3 points lie outside the domain or the "
                                            "parameter box, the first at x=0.7, t=0.3, k=1.5"):
        heat_family(data={"labels": Observations({"x": x, "t": t, "k": k * np.array([1, 1, 5 / 3]), "u": u})})


def test_a_module_file_with_a_bad_box_names_its_file(tmp_path):
    module = tmp_path / "family.py"
    module.write_text("from pinnlab import Interval\ndomain = Interval(0, 1)\n"
                      "parameters = {'k': (2.0, 1.0)}\n"
                      "def residual(u_xx, k):\n    return u_xx - k\n")
    with pytest.raises(EquationError) as raised:
        load_problem(module)
    assert str(raised.value) == f"{module}: parameter 'k': the box (2, 1) is empty; needs lower < upper"


def test_a_grid_sampler_cannot_draw_a_parameter_box():
    with pytest.raises(ValueError, match="sampling.sampler=grid cannot draw a parameter box"):
        collocation(heat_family(), sampler="grid")


def test_a_family_resumed_with_rad_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    from pinnlab.solver.settings import resolve_settings
    from pinnlab.training.checkpoint import CheckpointStore
    from tests.training.test_checkpoints import QUICK, Interrupt, run_until

    problem = heat_family()
    settings = resolve_settings(problem, {**QUICK, "output.grid": (17, 9), "adam.steps": 60, "lbfgs.steps": 40,
                                          "refine.method": "rad", "refine.every": 25, "refine.pool": 500})
    whole, whole_model = run_until(problem, settings, CheckpointStore(tmp_path / "whole"))
    store = CheckpointStore(tmp_path / "split")
    with pytest.raises(Interrupt):
        run_until(problem, settings, store, stop_at=55)
    resumed, resumed_model = run_until(problem, settings, store, resume=True)
    assert resumed.resumed_from and resumed.history == whole.history
    assert torch.equal(resumed.collocation.interior, whole.collocation.interior)
    assert resumed.collocation.interior.shape[1] == 3  # the parameter column travels with the points
    for name, value in whole_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name


def test_a_domain_drawn_by_rejection_gets_parameters_from_the_samplers_own_stream():
    from pinnlab import Disk

    domain = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.3)  # CSG: drawn by rejection
    problem = Problem.define("plate", domain=domain, residual=lambda u_laplacian, k: u_laplacian - k,
                             parameters={"k": (2.0, 4.0)}, conditions={"edge": Dirichlet(lambda x, y, k: k * x)})
    drawn = collocation(problem, sampler="sobol", points=200)
    points = drawn.interior.numpy()
    assert points.shape == (200, 3) and domain.contains(points[:, :2]).all()
    assert 2.0 <= points[:, 2].min() and points[:, 2].max() <= 4.0 and points[:, 2].std() > 0.4
    edge = drawn.conditions["edge"]
    torch.testing.assert_close(edge.target, edge.points[:, 2] * edge.points[:, 0], rtol=0, atol=1e-15)
