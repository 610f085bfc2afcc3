"""Observations: every format reads back the same points and values, grids are flattened,
subsets and noise are seeded, and each bad input is one EquationError line (load_problem) or
one error line with exit status 2 (the command line)."""

from __future__ import annotations

import contextlib
import io

import h5py
import numpy as np
import pytest
import scipy.io

from pinnlab import EquationError, Interval, Observations, Problem, TimeInterval, load_problem
from pinnlab.commands.main import main
from pinnlab.derivatives.derivative import Derivative

RNG = np.random.default_rng(7)
X = RNG.uniform(-1.0, 1.0, 40)
T = RNG.uniform(0.0, 1.0, 40)
U = np.sin(np.pi * X) * np.exp(-T)
UX = np.pi * np.cos(np.pi * X) * np.exp(-T)

MODULE = '''
import numpy as np
from pinnlab import Interval, Observations, TimeInterval
domain = Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0)
def residual(u_t, u_xx):
    return u_t - u_xx
'''


def define(data) -> Problem:
    return Problem.define("heat", domain=Interval(-1.0, 1.0) * TimeInterval(0.0, 1.0),
                          residual=lambda u_t, u_xx: u_t - u_xx, data=data)


def write_all_formats(folder) -> dict[str, str]:
    np.savez(folder / "s.npz", xs=X, ts=T, us=U, uxs=UX)
    scipy.io.savemat(folder / "s.mat", {"xs": X[:, None], "ts": T[:, None], "us": U[:, None], "uxs": UX[:, None]})
    table = np.column_stack([X, T, U, UX])
    np.savetxt(folder / "s.csv", table, delimiter=",", header="xs,ts,us,uxs", comments="", fmt="%.17g")
    with h5py.File(folder / "s.h5", "w") as f:
        f["xs"], f["ts"] = X, T
        f.create_group("run")
        f["run/us"], f["run/uxs"] = U, UX
    return {"npz": "s.npz", "mat": "s.mat", "csv": "s.csv", "h5": "s.h5"}


@pytest.mark.parametrize("kind", ["npz", "mat", "csv", "h5", "arrays"])
def test_each_format_reads_back_the_same_points_and_values(tmp_path, kind):
    files = write_all_formats(tmp_path)
    u_name = "run/us" if kind == "h5" else "us"
    ux_name = "run/uxs" if kind == "h5" else "uxs"
    source = {"xs": X, "ts": T, "us": U, "uxs": UX} if kind == "arrays" else str(tmp_path / files[kind])
    # the order of the fields and of the inputs in the spec may differ from the problem's
    spec = Observations(source, inputs={"t": "ts", "x": "xs"}, fields={"u_x": ux_name, "u": u_name})
    observed = define({"sensors": spec}).data["sensors"]
    np.testing.assert_array_equal(observed.points, np.column_stack([X, T]))  # the problem's order: x, t
    np.testing.assert_array_equal(observed.values, np.column_stack([UX, U]))
    assert observed.names == ("u_x", "u")
    assert observed.derivatives == (Derivative("u", (0,)), Derivative("u", ()))


def test_a_relative_path_starts_at_the_module_folder(tmp_path):
    write_all_formats(tmp_path)
    (tmp_path / "m.py").write_text(MODULE + 'data = {"s": Observations("s.csv", inputs={"x": "xs", "t": "ts"}, '
                                            'fields={"u": "us"})}\n')
    observed = load_problem(tmp_path / "m.py").data["s"]
    np.testing.assert_array_equal(observed.values[:, 0], U)


def test_a_grid_is_flattened_to_its_points_like_raissis_burgers_file(tmp_path):
    x, t = np.linspace(-1, 1, 7), np.linspace(0, 1, 5)
    usol = np.sin(np.pi * x)[:, None] * np.exp(-t)[None, :]  # usol[i, j] = u(x[i], t[j])
    scipy.io.savemat(tmp_path / "grid.mat", {"x": x[:, None], "t": t[:, None], "usol": usol})
    observed = define({"g": Observations(str(tmp_path / "grid.mat"), fields={"u": "usol"})}).data["g"]
    assert observed.points.shape == (35, 2)
    expected = np.sin(np.pi * observed.points[:, 0]) * np.exp(-observed.points[:, 1])
    np.testing.assert_allclose(observed.values[:, 0], expected, rtol=0, atol=1e-15)


def test_a_subset_and_noise_follow_the_seed_and_the_relative_rule():
    clean = define({"s": Observations({"x": X, "t": T, "u": U}, points=25, seed=3)}).data["s"]
    noisy = define({"s": Observations({"x": X, "t": T, "u": U}, points=25, seed=3, noise=0.01)}).data["s"]
    again = define({"s": Observations({"x": X, "t": T, "u": U}, points=25, seed=3, noise=0.01)}).data["s"]
    other = define({"s": Observations({"x": X, "t": T, "u": U}, points=25, seed=4, noise=0.01)}).data["s"]
    assert len(clean.points) == 25 and len(set(map(tuple, clean.points))) == 25  # drawn without repetition
    np.testing.assert_array_equal(noisy.points, clean.points)  # the same rows, then noise
    np.testing.assert_array_equal(noisy.values, again.values)
    assert not np.array_equal(other.values, noisy.values)
    # value + noise * std(value) * N(0, 1), with the draw that follows the subset's in the same stream
    rng = np.random.default_rng(3)
    rng.choice(40, 25, replace=False)
    expected = clean.values + 0.01 * clean.values.std(axis=0) * rng.standard_normal(clean.values.shape)
    np.testing.assert_array_equal(noisy.values, expected)


def test_time_as_the_only_input():
    t = np.linspace(0, 1, 11)
    problem = Problem.define("decay", domain=TimeInterval(0.0, 1.0), residual=lambda u, u_t: u_t + u,
                             data={"s": Observations({"t": t, "u": np.exp(-t)})})
    assert problem.data["s"].points.shape == (11, 1)


# --- bad input: one line each, from load_problem and from the command line ---------------------
BAD = {
    "missing file": ('Observations("nowhere.npz")', r"data 's': data file .*nowhere.npz does not exist"),
    "unknown format": ('Observations("s.txt")', r"data 's': s.txt: unknown format '.txt'"),
    "missing column": ('Observations("s.csv", fields={"u": "uu"})',
                       r"data 's': no column 'uu' in s.csv \(it has: t, u, ux, x\)"),
    "NaN": ('Observations({"x": xs, "t": ts, "u": with_nan})',
            r"data 's': column 'u' has 2 non-finite value\(s\) \(NaN or inf\) of 40"),
    "outside": ('Observations({"x": xs * 2, "t": ts, "u": us})',
                r"data 's': \d+ of 40 points lie outside the domain, the first at x=-?\d"),
    "lengths": ('Observations({"x": xs, "t": ts[:30], "u": us})',
                r"data 's': the arrays neither have one length .* x \(40,\), t \(30,\), u \(40,\)"),
    "not a field": ('Observations({"x": xs, "t": ts, "u": us}, fields={"v": "u"})', r"data 's': 'v' is neither a field"),
    "missing input": ('Observations({"x": xs, "u": us}, inputs=["x"])',
                      r"data 's': 'inputs' must name every input of the problem \(x, t\)"),
    "too many points": ('Observations({"x": xs, "t": ts, "u": us}, points=41)',
                        r"data 's': points must be an integer from 1 to the 40 rows, got 41"),
    "bad weight": ('Observations({"x": xs, "t": ts, "u": us}, weight=-1)',
                   r"data 's': weight must be a finite number >= 0, got -1"),
    "name clash": ('Observations({"x": xs, "t": ts, "u": us})',
                   r"loss term name\(s\) s used twice or reserved"),
}


AFTER = {"name clash": "residuals = {'s': residual}\ndel residual\n"}  # a residual named like the set


def bad_module(tmp_path, case: str):
    code = BAD[case][0]
    np.savetxt(tmp_path / "s.csv", np.column_stack([X, T, U, UX]), delimiter=",", header="x,t,u,ux", comments="")
    (tmp_path / "s.txt").write_text("1 2 3\n")
    arrays = ("xs = np.array(%r)\nts = np.array(%r)\nus = np.array(%r)\n"
              "with_nan = us.copy(); with_nan[[3, 9]] = np.nan\n") % (X.tolist(), T.tolist(), U.tolist())
    path = tmp_path / "bad.py"
    path.write_text(MODULE + arrays + f"data = {{'s': {code}}}\n" + AFTER.get(case, ""))
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_one_line_from_load_problem(tmp_path, case):
    message = BAD[case][1]
    path = bad_module(tmp_path, case)
    with pytest.raises(EquationError, match=message) as raised:
        load_problem(path)
    assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)


def run_cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(args))
    return status, err.getvalue()


@pytest.mark.parametrize("case", ["missing file", "missing column", "NaN", "outside", "lengths"])
def test_bad_data_is_one_line_and_status_2_from_the_command_line(tmp_path, case):
    message = BAD[case][1]
    path = bad_module(tmp_path, case)
    status, err = run_cli("solve", str(path), "--out", str(tmp_path / "out"), "--quiet")
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"pinnlab solve: error: {path}: ")
    import re
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()
