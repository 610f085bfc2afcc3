"""Solution fields on a regular grid, stored in HDF5.

One file holds everything needed to plot or check a solved problem without
pinnlab: the grid, which grid points lie in the domain, the predicted fields,
the reference solution and error where one is known, and the loss history.

Layout (format ``pinnlab-fields``, version 1)::

    /                      attrs: format="pinnlab-fields", format_version=1,
                           equation (str), inputs (JSON list), fields (JSON list),
                           plus any extra attrs given (strings and numbers as they
                           are; dicts, lists and arrays stored as JSON strings)
    /coordinates/<input>   1D float64 axis for each input, in the order of `inputs`
                           (e.g. x then t)
    /mask                  uint8 array of the grid shape: 1 where the point lies in
                           the domain
    /prediction/<field>    float array of the grid shape (indexing="ij": axis k runs
                           along inputs[k]); NaN outside the domain
    /reference/<field>     same, only for fields that have a reference
    /error/<field>         prediction - reference, same shape
    /loss_history/step     int64 (n,)
    /loss_history/<term>   float64 (n,), one per named loss term

The groups ``/reference``, ``/error`` and ``/loss_history`` always exist and are
empty when there is nothing to store.  Arrays of 10,000 elements or more are
gzip-compressed.  JSON strings never contain NaN: non-finite numbers are
written as ``null``.

Reading with plain h5py, e.g. in a notebook::

    with h5py.File("fields.h5") as f:
        inputs = json.loads(f.attrs["inputs"])
        x, t = (f["coordinates"][name][()] for name in inputs)
        u = f["prediction/u"][()]          # u[i, j] is u(x[i], t[j])
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from pinnlab.atomic import atomic_path, jsonable

__all__ = ["FORMAT", "FORMAT_VERSION", "FieldsFile", "read_fields", "write_fields"]

FORMAT = "pinnlab-fields"
FORMAT_VERSION = 1

_RESERVED_ATTRS = frozenset({"format", "format_version", "equation", "inputs", "fields"})
_COMPRESS_FROM = 10_000


@dataclass(frozen=True)
class FieldsFile:
    """The contents of a fields file, as returned by :func:`read_fields`.

    ``mask`` is boolean; ``loss_history`` is empty when none was stored;
    ``attrs`` holds only the extra attributes given to :func:`write_fields`
    (the format metadata is in the other members), with JSON strings decoded.
    """

    equation: str
    axes: dict[str, np.ndarray]
    mask: np.ndarray
    prediction: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    error: dict[str, np.ndarray]
    loss_history: dict[str, np.ndarray]
    attrs: dict[str, Any]


def _check_name(kind: str, name: str) -> None:
    """Names become HDF5 link names, which cannot contain '/' or be '.'/''."""
    if not isinstance(name, str) or not name or name == "." or "/" in name:
        raise ValueError(f"invalid {kind} name {name!r}: must be a non-empty string without '/'")


def _as_field(kind: str, name: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``values`` as a float array of the grid shape, or raise naming the field."""
    _check_name(kind, name)
    array = np.asarray(values)
    if array.shape != shape:
        raise ValueError(
            f"{kind} field {name!r} has shape {array.shape}, expected the grid shape {shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return array


def _create(group: h5py.Group, name: str, data: np.ndarray) -> None:
    """Create a dataset, gzip-compressed when it is large enough to matter."""
    if data.size >= _COMPRESS_FROM:
        group.create_dataset(name, data=data, compression="gzip", shuffle=True)
    else:
        group.create_dataset(name, data=data)


def _encode_attr(name: str, value: Any) -> Any:
    """Strings and numbers are stored natively; containers as JSON strings."""
    if isinstance(value, (str, bool, int, float, np.number, np.bool_)):
        return value
    if isinstance(value, (Mapping, list, tuple, np.ndarray)):
        return json.dumps(jsonable(value), allow_nan=False)
    raise TypeError(
        f"attribute {name!r} has unsupported type {type(value).__name__}; "
        "use a string, a number, a dict or a list"
    )


def _decode_attr(value: Any) -> Any:
    """Undo :func:`_encode_attr`: JSON objects/arrays are decoded, NumPy scalars unwrapped."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        if value[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_fields(
    path: str | os.PathLike[str],
    *,
    equation: str,
    axes: dict[str, np.ndarray],
    mask: np.ndarray,
    prediction: dict[str, np.ndarray],
    reference: dict[str, np.ndarray] | None = None,
    loss_history: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Atomically write solution fields on the grid spanned by ``axes`` (see module docstring).

    ``axes`` maps each input name to its 1D coordinates, in input order; fields
    are indexed ``[i0, i1, ...]`` along those axes (``indexing="ij"``).  Points
    where ``mask`` is false are set to NaN in the stored prediction, reference
    and error, so the file always honours "NaN outside the domain".
    ``loss_history`` must contain ``"step"`` plus one 1D array per loss term,
    all of one length.

    Raises ``ValueError`` for a field whose shape is not the grid shape (naming
    the field and both shapes), a reference for a field not in ``prediction``,
    a malformed axis, mask or loss history, or an extra attribute that reuses a
    reserved name; ``TypeError`` for an attribute value it cannot store.
    Nothing is written when validation fails.
    """
    if not axes:
        raise ValueError("axes must name at least one input")
    coordinates: dict[str, np.ndarray] = {}
    for name, values in axes.items():
        _check_name("input", name)
        axis = np.asarray(values, dtype=np.float64)
        if axis.ndim != 1 or axis.size == 0:
            raise ValueError(f"axis {name!r} must be a non-empty 1D array, got shape {axis.shape}")
        coordinates[name] = axis
    shape = tuple(len(a) for a in coordinates.values())

    mask_array = np.asarray(mask)
    if mask_array.shape != shape:
        raise ValueError(f"mask has shape {mask_array.shape}, expected the grid shape {shape}")
    inside = mask_array.astype(bool)

    if not prediction:
        raise ValueError("prediction must contain at least one field")
    predicted = {
        name: np.where(inside, _as_field("prediction", name, values, shape), np.nan)
        for name, values in prediction.items()
    }
    referenced: dict[str, np.ndarray] = {}
    for name, values in (reference or {}).items():
        if name not in predicted:
            raise ValueError(
                f"reference given for field {name!r}, which is not in prediction "
                f"(fields: {list(predicted)})"
            )
        referenced[name] = np.where(inside, _as_field("reference", name, values, shape), np.nan)

    history: dict[str, np.ndarray] = {}
    if loss_history is not None:
        if "step" not in loss_history:
            raise ValueError(f"loss_history must include 'step', got keys {list(loss_history)}")
        steps = np.asarray(loss_history["step"])
        if steps.ndim != 1:
            raise ValueError(f"loss_history['step'] must be 1D, got shape {steps.shape}")
        history["step"] = steps.astype(np.int64)
        for term, values in loss_history.items():
            if term == "step":
                continue
            _check_name("loss term", term)
            column = np.asarray(values, dtype=np.float64)
            if column.shape != steps.shape:
                raise ValueError(
                    f"loss term {term!r} has shape {column.shape}, "
                    f"expected {steps.shape} like 'step'"
                )
            history[term] = column

    extra = dict(attrs or {})
    clash = _RESERVED_ATTRS.intersection(extra)
    if clash:
        raise ValueError(f"attrs may not use the reserved names {sorted(clash)}")
    encoded = {name: _encode_attr(name, value) for name, value in extra.items()}

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["equation"] = str(equation)
        f.attrs["inputs"] = json.dumps(list(coordinates))
        f.attrs["fields"] = json.dumps(list(predicted))
        for name, value in encoded.items():
            f.attrs[name] = value

        group = f.create_group("coordinates")
        for name, axis in coordinates.items():
            group.create_dataset(name, data=axis)
        _create(f, "mask", inside.astype(np.uint8))
        group = f.create_group("prediction")
        for name, values in predicted.items():
            _create(group, name, values)
        ref_group = f.create_group("reference")
        err_group = f.create_group("error")
        for name, values in referenced.items():
            _create(ref_group, name, values)
            _create(err_group, name, predicted[name] - values)
        group = f.create_group("loss_history", track_order=True)
        for term, values in history.items():
            _create(group, term, values)


def read_fields(path: str | os.PathLike[str]) -> FieldsFile:
    """Read a file written by :func:`write_fields`.

    Fields and axes come back in the order they were written.  Raises
    ``ValueError`` if the file is not a pinnlab fields file or comes from a
    newer format version.
    """
    with h5py.File(path, "r") as f:
        found = _decode_attr(f.attrs.get("format"))
        if found != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file (format attribute: {found!r})")
        version = _decode_attr(f.attrs.get("format_version"))
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{path} has format_version {version!r}; this pinnlab reads up to {FORMAT_VERSION}"
            )
        inputs = json.loads(f.attrs["inputs"])
        fields = json.loads(f.attrs["fields"])
        axes = {name: f["coordinates"][name][()] for name in inputs}
        prediction = {name: f["prediction"][name][()] for name in fields}
        reference = {name: f["reference"][name][()] for name in fields if name in f["reference"]}
        error = {name: f["error"][name][()] for name in fields if name in f["error"]}
        history_group = f.get("loss_history")
        loss_history = (
            {term: history_group[term][()] for term in history_group}
            if history_group is not None
            else {}
        )
        extra = {
            name: _decode_attr(value)
            for name, value in f.attrs.items()
            if name not in _RESERVED_ATTRS
        }
        return FieldsFile(
            equation=_decode_attr(f.attrs["equation"]),
            axes=axes,
            mask=f["mask"][()].astype(bool),
            prediction=prediction,
            reference=reference,
            error=error,
            loss_history=loss_history,
            attrs=extra,
        )
