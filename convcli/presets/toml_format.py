"""The preset file format: a TOML table of weights and their metadata.

A preset file holds ``weights`` (a 2-D, 3-D or 4-D nested list of numbers)
and optionally ``name``, ``category``, ``description``, ``reference``,
``scale``, ``offset`` and ``anchor`` (see :data:`TOML_KEYS`).  The reader
returns plain Python values, so both the NumPy-free preset listing and
:mod:`convcli.kernelspec` use it and accept the same files with the same
errors.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convcli.errors import KernelError, error_detail, os_detail
from convcli.parsing import one_of
from convcli.presets.limits import (
    check_anchor,
    check_kernel_file,
    check_size,
    count_values,
    finite_float,
    position,
    short_repr,
)

#: The allowed values of :attr:`convcli.kernelspec.Kernel.category`.
CATEGORIES = ("blur", "edge", "sharpen", "emboss", "color", "other")

#: The keys a preset file may hold.
TOML_KEYS = (
    "name",
    "category",
    "description",
    "reference",
    "weights",
    "scale",
    "offset",
    "anchor",
)

_TEXT_KEYS = ("name", "category", "description", "reference")


@dataclass(frozen=True)
class PresetFile:
    """The validated contents of a preset-format TOML file, as plain Python values.

    Parameters
    ----------
    name : str
        The file's ``name`` key (``""`` if absent); presets are called by the
        file stem instead.
    category : str
        One of :data:`CATEGORIES` (``"other"`` if absent).
    description, reference : str
        The ``description`` and ``reference`` keys (``""`` if absent).
    shape : tuple of int
        ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``.
    values : tuple of float
        The weights as written, flattened in row-major (C) order.
    scale, offset : float
        The ``scale`` (default 1.0) and ``offset`` (default 0.0) keys.
    anchor : tuple of int or None
        The ``anchor`` key as ``(row, col)``, or ``None``.
    """

    name: str
    category: str
    description: str
    reference: str
    shape: tuple[int, ...]
    values: tuple[float, ...]
    scale: float
    offset: float
    anchor: tuple[int, int] | None


def _nested_shape(value: Any, label: str) -> tuple[int, ...]:
    """The shape of a TOML nested list of weights, read along its first elements."""
    if not isinstance(value, list):
        msg = f"{label}: `weights` must be a nested list of numbers; got {short_repr(value)}"
        raise KernelError(msg)
    shape: list[int] = []
    probe: Any = value
    while isinstance(probe, list):
        if not probe:
            msg = f"{label}: `weights` is empty (an empty list at depth {len(shape)})"
            raise KernelError(msg)
        shape.append(len(probe))
        if len(shape) > 4:
            break
        probe = probe[0]
    if len(shape) not in (2, 3, 4):
        msg = (
            f"{label}: `weights` must be a 2-D, 3-D or 4-D nested list; "
            f"got {'more than 4' if len(shape) > 4 else len(shape)} level(s) of nesting"
        )
        raise KernelError(msg)
    check_size(tuple(shape), label)
    return tuple(shape)


def _flatten_weights(value: Any, label: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Check a TOML nested list of weights; return its shape and row-major values."""
    shape = _nested_shape(value, label)
    flat: list[float] = []

    def walk(node: Any, index: tuple[int, ...]) -> None:
        depth = len(index)
        if depth == len(shape):
            if isinstance(node, bool) or not isinstance(node, int | float):
                msg = f"{label}: {position(index)} is {short_repr(node)}, not a number"
                raise KernelError(msg)
            if not _finite(node):
                msg = (
                    f"{label}: {position(index)} is {short_repr(node)}; "
                    "weights must be finite numbers"
                )
                raise KernelError(msg)
            flat.append(float(node))
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            if len(shape) == 2 and depth == 1:
                what = f"row {index[0] + 1}"
                first = "row 1"
            else:
                what = "weights" + "".join(f"[{i}]" for i in index)
                first = "weights" + "[0]" * depth
            got = (
                count_values(len(node))
                if isinstance(node, list)
                else f"the value {short_repr(node)}"
            )
            msg = f"{label}: {what} has {got} but {first} has {count_values(shape[depth])}"
            raise KernelError(msg)
        for i, child in enumerate(node):
            walk(child, (*index, i))

    walk(value, ())
    return shape, tuple(flat)


def _finite(number: float) -> bool:
    """Whether ``number`` is finite as a float (an integer too large for a float is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _load_toml(path: Path, display: str) -> dict[str, Any]:
    """Read a TOML file; errors name it as ``display``."""
    check_kernel_file(path, display)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{display}: invalid TOML: {exc}"
        raise KernelError(msg) from None
    except UnicodeDecodeError:
        msg = f"{display}: invalid TOML: the file is not UTF-8 text"
        raise KernelError(msg) from None
    except RecursionError:
        msg = f"{display}: invalid TOML: arrays or tables nested too deeply"
        raise KernelError(msg) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        msg = f"{display}: invalid TOML: {error_detail(exc)}"
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {os_detail(exc)}"
        raise KernelError(msg) from None


def _text_keys(data: dict[str, Any], display: str) -> dict[str, str]:
    """The text keys (``""`` if absent), with ``category`` defaulted to ``"other"`` and checked."""
    texts: dict[str, str] = {}
    for key in _TEXT_KEYS:
        if key in data and not isinstance(data[key], str):
            msg = f"{display}: `{key}` must be a string; got {short_repr(data[key])}"
            raise KernelError(msg)
        texts[key] = data.get(key, "")
    texts["category"] = texts["category"] or "other"
    one_of(
        texts["category"],
        CATEGORIES,
        "category",
        where=f"{display}: ",
        error=KernelError,
        fold=False,
    )
    return texts


def read_preset_file(path: Path, display: str) -> PresetFile:
    """Read and validate a preset-format TOML kernel file (the format of the built-in presets).

    Parameters
    ----------
    path : Path
        The file to read.
    display : str
        How error messages name the file.

    Returns
    -------
    PresetFile

    Raises
    ------
    KernelError
        If the file cannot be read, is not UTF-8 TOML, has an unknown key, no
        ``weights``, a non-string text key, an unknown ``category``, ragged or
        non-finite weights (naming the place), weights that are not 2-D to 4-D
        or too large, a ``scale`` or ``offset`` that is not a finite number,
        or an ``anchor`` outside the kernel.
    """
    data = _load_toml(path, display)
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        key = short_repr(unknown[0])
        msg = f"{display}: unknown key {key}; allowed keys are {', '.join(TOML_KEYS)}"
        raise KernelError(msg)
    if "weights" not in data:
        msg = f"{display}: the `weights` key is missing"
        raise KernelError(msg)
    texts = _text_keys(data, display)
    shape, values = _flatten_weights(data["weights"], display)
    scale = finite_float(data.get("scale", 1.0), f"{display}: `scale`")
    offset = finite_float(data.get("offset", 0.0), f"{display}: `offset`")
    anchor = None
    if "anchor" in data:
        anchor = check_anchor(data["anchor"], shape, display)
    return PresetFile(
        name=texts["name"],
        category=texts["category"],
        description=texts["description"],
        reference=texts["reference"],
        shape=shape,
        values=values,
        scale=scale,
        offset=offset,
        anchor=anchor,
    )
