"""The flat setting names of pinnlab 0.1 and the dotted names that replace them."""

from __future__ import annotations

from pinnlab.training.quasi_newton import UPDATES

SECOND_ORDER = ("none", *UPDATES, "lm")

LEGACY_NAMES: dict[str, str] = {
    **{name: f"network.{name}" for name in ("width", "depth", "activation", "fourier_features",
                                            "fourier_scale", "periodic")},
    **{name: f"sampling.{name}" for name in ("points", "boundary_points", "sampler", "resample_every")},
    "refine": "refine.method",
    **{f"refine_{name}": f"refine.{name}" for name in ("every", "points", "pool", "k", "c", "budget")},
    "curriculum": "curriculum.windows",
    **{f"curriculum_{name}": f"curriculum.{name}" for name in ("every", "loss", "mode")},
    **{f"causal_{name}": f"causal.{name}" for name in ("eps", "eps_max", "bins")},
    "steps": "adam.steps", "lr": "adam.lr", "lr_decay": "adam.lr_decay",
    "lbfgs_steps": "lbfgs.steps", "lbfgs_history": "lbfgs.history", "lbfgs_restarts": "lbfgs.restarts",
    "second_order": "phases",
    "second_order_steps": "second_order.steps",
    "lm_svd_rank": "lm.svd_rank",
    "weights": "weights",
    "balance": "balance.method",
    **{f"balance_{name}": f"balance.{name}" for name in ("every", "alpha", "points")},
    **{name: f"numerics.{name}" for name in ("engine", "compile", "residual_chunk", "dtype", "device",
                                             "seed", "threads")},
    **{name: f"output.{name}" for name in ("grid", "log_every", "progress")},
    "checkpoint_every": "checkpoint.every", "rollbacks": "checkpoint.rollbacks",
}
"""Flat name -> its dotted name (``second_order`` is now a phase in ``phases``; its steps are
that phase's ``steps``, e.g. ``ssbroyden.steps``)."""
