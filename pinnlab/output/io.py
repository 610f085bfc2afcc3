"""Read pinnlab results back into numpy (and xarray), for notebooks and scripts.

``read_results("results/heat")`` (a run directory) or ``read_results("results/heat/export.h5")``
(any file in the ``pinnlab-fields`` layout, see :mod:`pinnlab.output.fields_h5`) returns a
:class:`Results`, the one record of a fields file (:func:`read_fields` reads a file path alone);
``Results.to_xarray()`` turns its grid data into an ``xarray.Dataset`` with the inputs as
coordinates. This API is what notebooks are written against: keep it stable.

A run directory is read only when its files are one complete run (see
:func:`pinnlab.runtime.run_folder.check_run_folder`): a folder left in the middle of writing, or holding
files of two runs, raises ``RunFolderError`` (a ``ValueError``) naming the files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import h5py

from pinnlab.output.fields_h5 import FORMAT, FORMAT_VERSION, RESERVED_ATTRS, decode_attr
from pinnlab.runtime.run_folder import RunFolderError, check_run_folder

__all__ = ["Results", "RunFolderError", "read_fields", "read_metrics", "read_results"]


@dataclass(frozen=True)
class Results:
    """A solve's or export's results as numpy arrays: the contents of one fields file.

    Grid arrays (``prediction``, ``reference``, ``error``, ``residual``, ``derivatives``) are
    keyed by name and have the grid shape, axis k along ``inputs[k]``, NaN outside the domain;
    ``mask`` is boolean. ``points`` maps a cloud name to ``{"coordinates": (N, d), value name:
    (N,)}``; ``loss_history`` is empty when none was stored. ``attrs`` holds the file's extra
    attributes (JSON decoded; the format metadata is in the other members), of which
    ``settings`` (grouped as the dotted names read: ``settings["network"]["width"]``, the phases
    as a list under ``settings["phases"]``), ``metrics`` and ``source`` are also given on their
    own. ``residual``, ``derivatives``, ``points`` and ``versions`` are empty for version 1 files.
    """

    equation: str
    inputs: list[str]
    fields: list[str]
    axes: dict[str, np.ndarray]
    mask: np.ndarray
    prediction: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    error: dict[str, np.ndarray]
    residual: dict[str, np.ndarray]
    derivatives: dict[str, np.ndarray]
    points: dict[str, dict[str, np.ndarray]]
    loss_history: dict[str, np.ndarray]
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_xarray(self) -> Any:
        """The grid data as an ``xarray.Dataset``: coordinates are the inputs; data variables are
        the fields (``u``), ``u_reference``, ``u_error``, ``residual_<name>``, the derivatives
        (``u_x``) and ``mask``. Point clouds and the loss history stay in this object."""
        try:
            import xarray
        except ImportError:
            raise ImportError("Results.to_xarray needs xarray: pip install xarray") from None
        dims = list(self.inputs)
        variables: dict[str, tuple[list[str], np.ndarray]] = {}
        for prefix_group, pattern in ((self.prediction, "{}"), (self.reference, "{}_reference"),
                                      (self.error, "{}_error"), (self.residual, "residual_{}"),
                                      (self.derivatives, "{}")):
            for name, values in prefix_group.items():
                variables[pattern.format(name)] = (dims, values)
        variables["mask"] = (dims, self.mask)
        attrs = {"equation": self.equation, "settings": json.dumps(self.settings),
                 "metrics": json.dumps(self.metrics), "source": self.source,
                 "versions": json.dumps(self.versions)}
        return xarray.Dataset(variables, coords={name: self.axes[name] for name in dims}, attrs=attrs)


def _run_file(path: str | os.PathLike[str], name: str, expected: str) -> Path:
    """``path`` when it is a file, else the file ``name`` in the run directory ``path``, which is
    checked to hold one complete run; ``expected`` says what to pass instead when there is none."""
    path = Path(path)
    if path.is_dir():
        check_run_folder(path)
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} holds no {name}; pass {expected}")
        return path / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass {expected}")
    return path


def read_results(path: str | os.PathLike[str]) -> Results:
    """Read a run directory (its ``fields.h5``) or a fields ``.h5`` file (format version 1 or 2).

    Raises ``FileNotFoundError`` when there is nothing to read, ``ValueError`` when the file is
    not a pinnlab fields file, and ``RunFolderError`` (a ``ValueError``) for a run directory whose
    files are not one complete run.
    """
    return read_fields(_run_file(path, "fields.h5", "a run directory or an .h5 file"))


def _read_group(f: h5py.File, name: str) -> dict[str, np.ndarray]:
    group = f.get(name)
    return {key: group[key][()] for key in group} if group is not None else {}


def read_fields(path: str | os.PathLike[str]) -> Results:
    """Read a fields file (format version 1 or 2); fields and axes come back in the order they
    were written. Raises ``ValueError`` if the file is not a pinnlab fields file or comes from a
    newer format version."""
    with h5py.File(path, "r") as f:
        found = decode_attr(f.attrs.get("format"))
        if found != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file (format attribute: {found!r})")
        version = decode_attr(f.attrs.get("format_version"))
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise ValueError(f"{path} has format_version {version!r}; this pinnlab reads 1 to {FORMAT_VERSION}")
        inputs = json.loads(f.attrs["inputs"])
        fields = json.loads(f.attrs["fields"])
        points_group = f.get("points")
        points = ({cloud: {key: points_group[cloud][key][()] for key in points_group[cloud]}
                   for cloud in points_group} if points_group is not None else {})
        attrs = {name: decode_attr(value) for name, value in f.attrs.items() if name not in RESERVED_ATTRS}
        metrics = attrs.get("metrics") if isinstance(attrs.get("metrics"), dict) else {}
        versions = decode_attr(f.attrs.get("versions", "{}")) or metrics.get("versions", {})
        return Results(
            equation=decode_attr(f.attrs["equation"]),
            inputs=list(inputs),
            fields=list(fields),
            axes={name: f["coordinates"][name][()] for name in inputs},
            mask=f["mask"][()].astype(bool),
            prediction={name: f["prediction"][name][()] for name in fields},
            reference={name: f["reference"][name][()] for name in fields if name in f["reference"]},
            error={name: f["error"][name][()] for name in fields if name in f["error"]},
            residual=_read_group(f, "residual"),
            derivatives=_read_group(f, "derivatives"),
            points=points,
            loss_history=_read_group(f, "loss_history"),
            settings=attrs.get("settings") if isinstance(attrs.get("settings"), dict) else {},
            metrics=metrics,
            source=attrs.get("source", "") if isinstance(attrs.get("source", ""), str) else "",
            versions=dict(versions),
            attrs=attrs,
            format_version=version,
        )


def read_metrics(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``metrics.json`` (pass the run directory or the file itself); a run directory is
    checked to hold one complete run, as in :func:`read_results`."""
    path = _run_file(run_dir, "metrics.json", "a run directory of 'pinnlab solve' or its metrics.json")
    return json.loads(path.read_text())
