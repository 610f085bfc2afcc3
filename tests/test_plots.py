"""Tests for pinnlab.plots: each call writes a real, non-blank PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from pinnlab.plots import plot_fields, plot_loss_history

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


def test_plot_fields_rejects_bad_shape(tmp_path: Path) -> None:
    axes = _grid(10, 8)
    with pytest.raises(ValueError, match="'u'"):
        plot_fields(tmp_path / "x.png", axes=axes, prediction={"u": np.zeros((8, 10))},
                    reference=None, title="bad")
    assert not (tmp_path / "x.png").exists()


def test_plot_fields_rejects_four_axes(tmp_path: Path) -> None:
    axes = {k: np.linspace(0, 1, 2) for k in "abcd"}
    with pytest.raises(ValueError, match="1 to 3"):
        plot_fields(tmp_path / "x.png", axes=axes, prediction={"u": np.zeros((2,) * 4)},
                    reference=None, title="bad")


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
    plot_loss_history(path, loss_history=history, phases=[(0, "adam"), (150, "lbfgs")])
    _assert_png(path)


def test_plot_loss_history_requires_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="step"):
        plot_loss_history(tmp_path / "l.png", loss_history={"pde": np.ones(3)})
