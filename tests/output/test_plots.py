"""Tests for pinnlab.output.plots: each call writes a real, non-blank PNG, and the figures behind them
have the colour maps, limits, labels, legends and slices they promise (read back from the
matplotlib objects)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PathCollection, QuadMesh

from pinnlab.output.history_plots import loss_figure, plot_loss_history
from pinnlab.output.plots import collocation_figure, fields_figure, plot_collocation, plot_fields

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> np.ndarray:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.any(image != image[0, 0])  # not one flat colour
    rgb = np.round(image[..., :3] * 255).astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert np.unique(packed).size > 10  # lines, text and colour maps, not a blank canvas
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    return image


def _grid(*sizes: int) -> dict[str, np.ndarray]:
    names = ["x", "y", "t"][: len(sizes)] if len(sizes) == 3 else ["x", "t"][: len(sizes)]
    return {n: np.linspace(0.0, 1.0, s) for n, s in zip(names, sizes)}


def _fields(axes: dict[str, np.ndarray]) -> tuple[dict, dict]:
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    u_ref = np.sin(np.pi * mesh[0])
    for m in mesh[1:]:
        u_ref = u_ref * np.exp(-m)
    u = u_ref + 0.05 * mesh[0] ** 2
    if len(mesh) > 1:  # a corner outside the domain
        u[mesh[0] + mesh[1] > 1.6] = np.nan
    v = np.cos(2 * mesh[0]) + 0.1
    return {"u": u, "v": v}, {"u": u_ref}


def _images(fig) -> list[tuple[object, QuadMesh]]:
    """(Axes, mesh) for every colour image in the figure (colour bars excluded)."""
    return [(ax, c) for ax in fig.axes for c in ax.collections if isinstance(c, QuadMesh)
            and getattr(c, "colorbar", None) is not None]


def _assert_labelled(fig, inputs: list[str]) -> None:
    images = _images(fig)
    assert images
    for ax, mesh in images:
        assert [ax.get_xlabel(), ax.get_ylabel()] == inputs
        assert mesh.colorbar.ax.get_ylabel().strip()


@pytest.mark.parametrize("sizes", [(50,), (40, 30), (20, 15, 7)])
@pytest.mark.parametrize("with_reference", [True, False])
def test_plot_fields(tmp_path: Path, sizes: tuple[int, ...], with_reference: bool) -> None:
    axes = _grid(*sizes)
    prediction, reference = _fields(axes)
    path = tmp_path / "fields.png"
    plot_fields(path, axes=axes, prediction=prediction,
                reference=reference if with_reference else None, title="test")
    image = _assert_png(path)
    if len(sizes) > 1:  # 2 fields in rows; 3 columns with a reference, 1 without
        assert (image.shape[1] > image.shape[0]) == with_reference


def test_signed_fields_and_errors_get_a_diverging_map_centred_on_zero() -> None:
    axes = {"x": np.linspace(-1.0, 1.0, 41), "t": np.linspace(0.0, 1.0, 21)}
    x, t = np.meshgrid(axes["x"], axes["t"], indexing="ij")
    u_ref = -np.sin(np.pi * x) * (1 - 0.5 * t)      # takes both signs
    rho_ref = 2.0 + np.cos(np.pi * x) * t            # positive everywhere
    prediction = {"u": u_ref + 0.03 * x + 0.01, "rho": rho_ref + 0.02 * np.sin(3 * x)}
    fig = fields_figure(axes=axes, prediction=prediction, reference={"u": u_ref, "rho": rho_ref},
                        title="test")
    _assert_labelled(fig, ["x", "t"])
    by_title = {ax.get_title().split("\n")[0].split(":")[0]: mesh for ax, mesh in _images(fig)}
    assert set(by_title) == {"u prediction", "u reference", "u error", "rho prediction",
                             "rho reference", "rho error"}
    for name in ("u prediction", "u reference", "u error", "rho error"):
        mesh = by_title[name]
        assert mesh.get_cmap().name == "RdBu_r", name
        assert mesh.norm.vmin == -mesh.norm.vmax > -np.inf and mesh.norm.vmax > 0, name
    error = prediction["u"] - u_ref
    assert by_title["u error"].norm.vmax == pytest.approx(np.abs(error).max())
    np.testing.assert_allclose(np.asarray(by_title["u error"].get_array()).reshape(error.shape), error)
    for name in ("rho prediction", "rho reference"):  # one-signed: sequential, its own range
        mesh = by_title[name]
        assert mesh.get_cmap().name == "viridis"
        assert mesh.norm.vmin == pytest.approx(min(prediction["rho"].min(), rho_ref.min()))
    labels = {name: mesh.colorbar.ax.get_ylabel() for name, mesh in by_title.items()}
    assert "u" in labels["u prediction"] and "prediction" in labels["u prediction"]
    assert "u" in labels["u error"] and "error" in labels["u error"]


def test_one_input_error_is_signed_and_labelled() -> None:
    axes = {"x": np.linspace(0.0, 1.0, 30)}
    ref = np.sin(np.pi * axes["x"])
    fig = fields_figure(axes=axes, prediction={"u": ref - 0.1 * axes["x"]}, reference={"u": ref},
                        title="test")
    field_ax, error_ax = fig.axes
    assert field_ax.get_xlabel() == error_ax.get_xlabel() == "x"
    assert field_ax.get_ylabel() == "u" and "error" in error_ax.get_ylabel()
    drawn = [line.get_ydata() for line in error_ax.get_lines() if len(line.get_ydata()) == 30]
    np.testing.assert_allclose(drawn[0], -0.1 * axes["x"])  # signed, not |error|


def test_three_inputs_show_the_slice_of_largest_error() -> None:
    axes = {"x": np.linspace(0, 1, 12), "y": np.linspace(0, 2, 10), "t": np.linspace(0, 1, 9)}
    x, y, t = np.meshgrid(*axes.values(), indexing="ij")
    u_ref = np.sin(np.pi * x) * np.cos(y) * np.exp(-t)
    u = u_ref + 1e-3 * x
    u[:, :, 1] += 0.05 * y[:, :, 1]  # the worst slice: t index 1, not the middle (4)
    fig = fields_figure(axes=axes, prediction={"u": u}, reference={"u": u_ref}, title="test")
    _assert_labelled(fig, ["x", "y"])
    titles = {ax.get_title(): mesh for ax, mesh in _images(fig)}
    worst = [title for title in titles if "largest error" in title]
    middle = [title for title in titles if "middle" in title]
    assert len(worst) == len(middle) == 3  # prediction, reference, error at each slice
    assert all(f"t = {axes['t'][1]:.3g} (largest error)" in title for title in worst)
    assert all(f"t = {axes['t'][4]:.3g} (middle)" in title for title in middle)
    error_title = next(title for title in worst if title.startswith("u error"))
    error = u[:, :, 1] - u_ref[:, :, 1]
    rms = np.sqrt(np.mean(error**2))
    assert f"RMS {rms:.2g}" in error_title
    assert f"rel. L2 {np.linalg.norm(error) / np.linalg.norm(u_ref[:, :, 1]):.2g}" in error_title
    shown = np.asarray(titles[next(t for t in worst if t.startswith("u prediction"))].get_array())
    np.testing.assert_allclose(shown.reshape(12, 10), u[:, :, 1])


def test_three_inputs_largest_error_in_the_middle_is_one_row() -> None:
    axes = {"x": np.linspace(0, 1, 6), "y": np.linspace(0, 1, 5), "t": np.linspace(0, 1, 5)}
    u_ref = np.ones((6, 5, 5))
    u = u_ref.copy()
    u[:, :, 2] += 0.1
    fig = fields_figure(axes=axes, prediction={"u": u}, reference={"u": u_ref}, title="test")
    titles = [ax.get_title() for ax, _ in _images(fig)]
    assert len(titles) == 3 and all("middle; largest error" in title for title in titles)


def test_four_inputs_are_drawn_on_slices() -> None:
    axes = {n: np.linspace(0, 1, 5) for n in ("x", "y", "z", "t")}
    u_ref = np.zeros((5,) * 4)
    u = u_ref.copy()
    u[:, :, 0, 3] = 0.2
    fig = fields_figure(axes=axes, prediction={"u": u}, reference={"u": u_ref}, title="test")
    titles = [ax.get_title() for ax, _ in _images(fig)]
    assert any("z = 0, t = 0.75 (largest error)" in title for title in titles)
    assert any("z = 0.5, t = 0.5 (middle)" in title for title in titles)


def test_plot_fields_rejects_bad_shape(tmp_path: Path) -> None:
    axes = _grid(10, 8)
    with pytest.raises(ValueError, match="'u'"):
        plot_fields(tmp_path / "x.png", axes=axes, prediction={"u": np.zeros((8, 10))},
                    reference=None, title="bad")
    assert not (tmp_path / "x.png").exists()


def test_plot_fields_rejects_no_axes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one input"):
        plot_fields(tmp_path / "x.png", axes={}, prediction={"u": np.zeros(())},
                    reference=None, title="bad")


def _burgers_like_history() -> dict[str, np.ndarray]:
    steps = np.arange(0, 301, 50)
    residual = np.array([1.2, 0.5, 0.47, 0.46, 0.33, 0.24, 0.058])
    return {"step": steps, "residual": residual, "initial": np.zeros(7),
            "walls": np.full(7, 7.6e-15), "total": residual.copy()}


def test_loss_figure_leaves_exact_terms_out_and_shows_terms_beside_the_total() -> None:
    fig = loss_figure(_burgers_like_history(), [(0, "adam"), (200, "lbfgs")], exact={"initial", "walls"})
    (ax,) = fig.axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["residual", "total (weighted sum)", "initial: imposed exactly", "walls: imposed exactly"]
    drawn = {line.get_label(): line for line in ax.get_lines() if len(line.get_xdata())
             and line.get_label() in legend}
    assert set(drawn) == {"residual", "total (weighted sum)"}
    assert drawn["total (weighted sum)"].get_linestyle() == "--"  # the residual shows between the dashes
    assert drawn["total (weighted sum)"].get_zorder() > drawn["residual"].get_zorder()
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert 0.058 / 1e3 <= low <= 0.058 / 10  # a few decades below the smallest final term
    assert 1.2 <= high <= 10 * 1.2
    assert {"adam", "lbfgs"} <= {text.get_text().strip() for text in ax.texts}


def test_loss_figure_keeps_every_trained_term_and_notes_one_that_is_zero() -> None:
    steps = np.arange(0, 200)
    history = {"step": steps, "pde": np.exp(-steps / 50.0), "bc": 1e-3 * np.exp(-steps / 30.0),
               "never": np.zeros(200), "total": np.exp(-steps / 50.0) + 1e-3 * np.exp(-steps / 30.0)}
    fig = loss_figure(history, [(0, "adam"), (100, "t <= 0.5"), (150, "t <= 1")])
    (ax,) = fig.axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["pde", "bc", "total (weighted sum)", "never: 0 throughout"]
    low, _ = ax.get_ylim()
    assert low == pytest.approx(history["bc"][-1] / 100)
    assert {"t <= 0.5", "t <= 1"} <= {text.get_text().strip() for text in ax.texts}
    assert ax.get_xlabel().startswith("step") and ax.get_ylabel().startswith("loss")


def test_plot_loss_history_with_phases(tmp_path: Path) -> None:
    steps = np.arange(0, 200)
    history = {
        "step": steps,
        "pde": np.exp(-steps / 50.0),
        "bc": 0.1 * np.exp(-steps / 30.0),
        "total": np.exp(-steps / 50.0) + 0.1 * np.exp(-steps / 30.0),
    }
    history["bc"][5] = 0.0  # cannot be drawn on a log axis; must not break the plot
    path = tmp_path / "sub" / "loss.png"
    plot_loss_history(path, loss_history=history, phases=[(0, "adam"), (150, "lbfgs")], exact={"bc"})
    _assert_png(path)


def test_plot_loss_history_requires_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="step"):
        plot_loss_history(tmp_path / "l.png", loss_history={"pde": np.ones(3)})


def test_collocation_on_two_inputs(tmp_path: Path) -> None:
    axes = {"x": np.linspace(-1, 1, 21), "t": np.linspace(0, 1, 11)}
    x, _ = np.meshgrid(*axes.values(), indexing="ij")
    points = np.random.default_rng(0).uniform([-1, 0], [1, 1], size=(300, 2))
    fig = collocation_figure(axes=axes, field="u", values=-np.sin(np.pi * x),
                             point_sets=[("first", points[:100]), ("final", points)])
    _assert_labelled(fig, ["x", "t"])
    meshes = [mesh for _, mesh in _images(fig)]
    assert [m.get_cmap().name for m in meshes] == ["RdBu_r", "RdBu_r"]
    assert all(m.norm.vmin == -m.norm.vmax for m in meshes)
    assert meshes[0].colorbar.ax.get_ylabel() == "u (prediction)"
    scattered = [len(c.get_offsets()) for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)]
    assert scattered == [100, 300]
    plot_collocation(tmp_path / "c.png", axes=axes, field="u", values=x**2, point_sets=[("p", points)])
    _assert_png(tmp_path / "c.png")


def test_collocation_on_three_inputs_shows_the_points_near_the_slice() -> None:
    axes = {"x": np.linspace(0, 1, 11), "y": np.linspace(0, 1, 11), "t": np.linspace(0, 2, 21)}
    x, y, t = np.meshgrid(*axes.values(), indexing="ij")
    points = np.random.default_rng(1).uniform([0, 0, 0], [1, 1, 2], size=(2000, 3))
    fig = collocation_figure(axes=axes, field="u", values=1 + x * y * t, point_sets=[("final", points)])
    _assert_labelled(fig, ["x", "y"])
    ((ax, mesh),) = _images(fig)
    assert mesh.get_cmap().name == "viridis"  # one-signed
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(11, 11), (1 + x * y * t)[:, :, 10])
    near = np.abs(points[:, 2] - 1.0) <= 0.1  # 5 % of the t range either side of t = 1
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(scatter.get_offsets(), points[near, :2])
    assert f"{near.sum()} of 2000" in ax.get_title() and "t = 1" in fig.get_suptitle()


def test_collocation_rejects_points_of_the_wrong_width() -> None:
    axes = {"x": np.linspace(0, 1, 5), "y": np.linspace(0, 1, 5), "t": np.linspace(0, 1, 5)}
    with pytest.raises(ValueError, match="'final'.*expected \\(N, 3\\)"):
        collocation_figure(axes=axes, field="u", values=np.zeros((5, 5, 5)),
                           point_sets=[("final", np.zeros((10, 2)))])
    with pytest.raises(ValueError, match="2 or more inputs"):
        collocation_figure(axes={"x": np.linspace(0, 1, 5)}, field="u", values=np.zeros(5),
                           point_sets=[("final", np.zeros((10, 1)))])
