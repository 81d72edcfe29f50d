"""Kernels: the :class:`Kernel` value object, the ``-k`` spec grammar and the presets.

A kernel spec (SPEC section 2) is resolved in this order:

1. **An existing file**: ``.txt`` / ``.csv`` / ``.mat`` (text rows of numbers,
   see below), ``.toml`` (the preset format) or ``.npy`` (a 2-D, 3-D or 4-D
   array).  Any other extension is read as text.
2. **An inline matrix**: rows separated by ``;``, values by ``,`` and/or
   spaces (``"0,-1,0; -1,5,-1; 0,-1,0"``; ``"1,2,1"`` is 1x3, ``"2"`` is 1x1),
   or an ImageMagick kernel string ``"WxH: v,v,..."``, ``"N: ..."`` (N x N) or
   ``"WxH+X+Y: ..."``, where ``+X+Y`` puts the anchor at column X, row Y
   (0-based), i.e. ``anchor=(Y, X)``.
3. **A preset name**, case-insensitive, ``_`` and ``-`` alike (``sobel-x``,
   ``Sobel_X``), optionally followed by ``:`` and generator parameters
   (``gaussian:sigma=2,size=9``).

Text kernel files hold one row per line, values separated by spaces and/or
commas (one trailing comma per row is allowed); ``#`` starts a comment and
blank lines are ignored.  An optional libvips header ``width height [scale
[offset]]`` may be the first line: it is taken as a header only when it has 2
to 4 numbers, the first two are positive integers and exactly ``height`` rows
of ``width`` numbers follow.  As in libvips, the result is *divided* by the
header's ``scale`` (so ``Kernel.scale = 1 / scale``) and ``offset`` is added.

Sizes are always written width x height (ImageMagick's ``WxH``), while array
shapes are ``(rows, columns)``: ``box:7x3`` is 7 wide and 3 high, shape
``(3, 7)``.

Presets are the ``*.toml`` files of the built-in ``kernels/`` folder and of the
folders listed in ``CONVCLI_KERNEL_PATH`` (separated by ``os.pathsep``, ``:``
on POSIX), plus the generators ``gaussian``, ``box``, ``motion``, ``log`` and
``unsharp``.  A preset is called by its file name (the stem, which wins over
any ``name`` key inside); a user folder listed earlier wins over a later one,
and any user folder wins over the built-in presets.  A bare name is a preset
file if there is one (``box`` is the 3x3 file), otherwise the generator with
its default parameters; a name with ``:params`` always goes to the generator.

Generator parameters are ``key=value`` pairs or positional values in the
order given below, separated by commas (``motion:15,30`` is
``motion:length=15,angle=30``):

``gaussian:sigma,size``
    Sampled Gaussian ``exp(-(x^2 + y^2) / (2 sigma^2))`` normalized to sum 1.
    ``sigma`` > 0 (default 1.0); ``size`` odd (default ``2*ceil(3*sigma)+1``).
``box:size``
    Mean filter of ``size`` ``N`` or ``WxH`` (default 3; even sizes allowed).
``motion:length,angle``
    A line of ``length`` pixels (default 9) through the centre at ``angle``
    degrees (default 0) counter-clockwise from the +x axis (to the right, with
    rows growing downwards), sampled at ``length`` points one pixel apart and
    spread bilinearly over the grid, normalized to sum 1.  Angle 0 is a
    horizontal ``1 x length`` line, 90 a vertical one.
``log:sigma,size``
    Laplacian of Gaussian ``-(1 - r^2/(2 sigma^2)) exp(-r^2/(2 sigma^2)) /
    (pi sigma^4)`` minus its mean, so it sums to 0.  The centre is negative,
    as in the ``laplacian`` preset (a bright spot gives a negative response).
    ``sigma`` default 1.4, ``size`` odd >= 3 (default ``2*ceil(3*sigma)+1``).
``unsharp:sigma,amount,size``
    ``identity + amount * (identity - gaussian(sigma, size))``; sums to 1.
    ``sigma`` default 1.0, ``amount`` default 1.0.

Weights are stored in correlation orientation: they are applied as written,
so ``sobel-x`` (``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``) is positive where the
image gets brighter to the right.

Examples
--------
>>> from convcli.kernels import load_kernel
>>> load_kernel("sobel-x").weights.tolist()
[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
>>> load_kernel("box:7x3").shape
(3, 7)
>>> load_kernel("3x3+0+0: 1,0,0, 0,0,0, 0,0,0").anchor
(0, 0)
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from convcli.errors import KernelError
from convcli.preset_index import (
    CATEGORIES,
    GENERATORS,
    KERNEL_PATH_ENV,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_TAPS,
    check_anchor,
    check_size,
    count_values,
    finite_float,
    kernel_search_path,
    normalize_name,
    position,
    preset_index,
    read_preset_file,
)

__all__ = [
    "CATEGORIES",
    "GENERATORS",
    "KERNEL_PATH_ENV",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_TAPS",
    "Kernel",
    "kernel_search_path",
    "list_kernels",
    "load_kernel",
]

FloatArray = npt.NDArray[np.float64]

_TEXT_SUFFIXES = (".txt", ".csv", ".mat")
_FILE_SUFFIXES = (*_TEXT_SUFFIXES, ".toml", ".npy")
_ZERO_SUM = 1e-12

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NONFINITE_RE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
_INT_RE = re.compile(r"\+?\d+\Z")
_INLINE_START_RE = re.compile(r"[+-]?(?:\d|\.\d)")
_PRESET_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_IM_HEAD_RE = re.compile(r"(?P<head>\d[^:;,]*?)\s*:(?P<body>.*)\Z", re.DOTALL)
_IM_GEOMETRY_RE = re.compile(r"(\d+)(?:[xX](\d+))?(?:\+(\d+)\+(\d+))?\Z")
_WXH_RE = re.compile(r"(\+?\d+)(?:[xX](\+?\d+))?\Z")


# --------------------------------------------------------------------------- Kernel


@dataclass(frozen=True, eq=False)
class Kernel:
    """A convolution kernel with the metadata needed to apply and describe it.

    Instances are immutable: ``weights`` is a read-only float64 copy.

    Parameters
    ----------
    name : str
        Preset name, file name, or the inline spec text.
    weights : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        The weights as written (correlation orientation), before ``scale``.
    scale : float
        Multiplier applied to ``weights`` when the kernel is used.
    offset : float
        Added to every output value, in image units (0..255 for 8-bit).
    category : str
        One of :data:`CATEGORIES`.
    description : str
        One-line, human-readable summary.
    source : str
        Where it comes from: ``"builtin"``, ``"builtin generator"``,
        ``"user:<dir>"``, ``"file:<path>"`` or ``"inline"``.
    anchor : tuple of int or None
        ``(row, col)`` of the tap that lands on the output pixel for ``same``
        padding; ``None`` means ``(kh // 2, kw // 2)``.
    reference : str
        Where the weights come from (paper, library, formula).

    Raises
    ------
    KernelError
        If the weights are not a non-empty, finite, real 2-D to 4-D array
        within :data:`MAX_KERNEL_SIDE` / :data:`MAX_KERNEL_TAPS`, if ``scale``
        or ``offset`` is not finite, if ``anchor`` lies outside the kernel, or
        if ``category`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> k = Kernel("avg", np.ones((3, 3)), scale=1 / 9, category="blur")
    >>> k.shape, k.effective_anchor
    ((3, 3), (1, 1))
    >>> float(k.effective_weights.sum())
    1.0
    """

    name: str
    weights: FloatArray
    scale: float = 1.0
    offset: float = 0.0
    category: str = "other"
    description: str = ""
    source: str = ""
    anchor: tuple[int, int] | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        label = f"kernel {self.name!r}"
        weights = _as_weights(self.weights, label)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "scale", finite_float(self.scale, f"{label}: `scale`"))
        object.__setattr__(self, "offset", finite_float(self.offset, f"{label}: `offset`"))
        if self.category not in CATEGORIES:
            msg = (
                f"{label}: `category` must be one of {', '.join(CATEGORIES)}; got {self.category!r}"
            )
            raise KernelError(msg)
        if self.anchor is not None:
            object.__setattr__(self, "anchor", check_anchor(self.anchor, weights.shape, label))

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``weights``: ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``."""
        return tuple(int(n) for n in self.weights.shape)

    @property
    def effective_weights(self) -> FloatArray:
        """The weights as applied: ``weights * scale`` (a new float64 array)."""
        return np.multiply(self.weights, self.scale, dtype=np.float64)

    @property
    def effective_anchor(self) -> tuple[int, int]:
        """``anchor``, or ``(kh // 2, kw // 2)`` when it is ``None``."""
        if self.anchor is not None:
            return self.anchor
        kh, kw = self.weights.shape[-2:]
        return (int(kh) // 2, int(kw) // 2)

    def transformed(
        self, *, normalize: bool = False, scale: float = 1.0, flip: bool = False
    ) -> Kernel:
        """Return the kernel with options applied, its ``scale`` folded into the weights.

        Parameters
        ----------
        normalize : bool
            Divide the effective weights by their sum; a 4-D kernel divides
            each output channel by its own sum.
        scale : float
            Multiply the (normalized) weights by this.
        flip : bool
            Reverse the last two axes (true convolution instead of
            correlation).  The anchor moves to ``(kh-1-ay, kw-1-ax)``, which
            for an even side differs from the default ``k // 2`` (as
            ``scipy.ndimage.convolve`` does).

        Returns
        -------
        Kernel
            A new kernel with ``scale == 1.0``, whose ``weights`` (equal to its
            ``effective_weights``) are what gets applied.  Other fields are
            kept.

        Raises
        ------
        KernelError
            If ``normalize`` is set and a sum is 0 (absolute value below
            1e-12), or if ``scale`` is not finite.

        Examples
        --------
        >>> k = load_kernel("1, 2, 1").transformed(normalize=True, flip=True)
        >>> k.weights.tolist(), k.scale
        ([[0.25, 0.5, 0.25]], 1.0)
        """
        factor = finite_float(scale, "`scale`")
        w = self.effective_weights
        if normalize:
            if w.ndim == 4:
                sums = w.sum(axis=(1, 2, 3))
                bad = np.flatnonzero(np.abs(sums) < _ZERO_SUM)
                if bad.size:
                    msg = (
                        f"cannot normalize kernel {self.name!r}: the weights of output "
                        f"channel {int(bad[0])} sum to 0"
                    )
                    raise KernelError(msg)
                w = w / sums[:, None, None, None]
            else:
                total = float(w.sum())
                if abs(total) < _ZERO_SUM:
                    msg = (
                        f"cannot normalize kernel {self.name!r}: its weights sum to 0 "
                        "(edge and emboss kernels usually do); drop normalize"
                    )
                    raise KernelError(msg)
                w = w / total
        w = w * factor
        anchor = self.anchor
        if flip:
            w = w[..., ::-1, ::-1]
            kh, kw = w.shape[-2:]
            ay, ax = self.effective_anchor
            moved = (int(kh) - 1 - ay, int(kw) - 1 - ax)
            anchor = None if moved == (int(kh) // 2, int(kw) // 2) else moved
        return Kernel(
            name=self.name,
            weights=np.ascontiguousarray(w),
            scale=1.0,
            offset=self.offset,
            category=self.category,
            description=self.description,
            source=self.source,
            anchor=anchor,
            reference=self.reference,
        )

    def to_toml(self) -> str:
        """Return the kernel in the preset TOML format (SPEC section 2).

        The text loads back with :func:`load_kernel` (given a ``.toml`` path)
        to an equal kernel, apart from ``source``.

        Returns
        -------
        str
            TOML text with ``name``, ``category``, ``description``,
            ``reference`` (if set), ``weights``, ``scale``, ``offset`` and
            ``anchor`` (if set).

        Examples
        --------
        >>> print(load_kernel("1,2; 3,4").to_toml())
        name = "1,2; 3,4"
        category = "other"
        description = "inline matrix"
        weights = [
          [1, 2],
          [3, 4],
        ]
        scale = 1.0
        offset = 0.0
        <BLANKLINE>
        """
        lines = [
            f"name = {_toml_string(self.name)}",
            f"category = {_toml_string(self.category)}",
            f"description = {_toml_string(self.description)}",
        ]
        if self.reference:
            lines.append(f"reference = {_toml_string(self.reference)}")
        lines.append(f"weights = {_toml_array(self.weights, 0)}")
        lines.append(f"scale = {_toml_float(self.scale)}")
        lines.append(f"offset = {_toml_float(self.offset)}")
        if self.anchor is not None:
            lines.append(f"anchor = [{self.anchor[0]}, {self.anchor[1]}]")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Kernel):
            return NotImplemented
        return self._key() == other._key() and bool(np.array_equal(self.weights, other.weights))

    def __hash__(self) -> int:
        return hash((self._key(), self.weights.tobytes()))

    def __repr__(self) -> str:
        return (
            f"Kernel(name={self.name!r}, shape={self.shape}, scale={self.scale!r}, "
            f"offset={self.offset!r}, category={self.category!r}, source={self.source!r}, "
            f"anchor={self.anchor!r})"
        )

    def _key(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.shape,
            self.scale,
            self.offset,
            self.category,
            self.description,
            self.source,
            self.anchor,
            self.reference,
        )


# --------------------------------------------------------------------------- validation


def _as_weights(value: Any, label: str) -> FloatArray:
    """Validate kernel weights and return a read-only float64 copy."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        msg = f"{label}: weights must be real numbers; got an array of dtype {arr.dtype}"
        raise KernelError(msg)
    if arr.ndim not in (2, 3, 4):
        msg = (
            f"{label}: weights must be a 2-D (kh, kw), 3-D (C, kh, kw) or 4-D (O, C, kh, kw) "
            f"array; got {arr.ndim}-D with shape {arr.shape}"
        )
        raise KernelError(msg)
    check_size(tuple(int(n) for n in arr.shape), label)
    out = np.array(arr, dtype=np.float64, copy=True, order="C")
    finite = np.isfinite(out)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        msg = f"{label}: {position(index)} is {out[index]!r}; weights must be finite numbers"
        raise KernelError(msg)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------- TOML writing


def _toml_string(text: str) -> str:
    """Quote text as a TOML basic string."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_float(value: float) -> str:
    """Format a finite float so that TOML reads back the same value."""
    return repr(float(value))


def _toml_number(value: float) -> str:
    """Format a weight: integers without a fraction, others as exact floats."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _toml_array(arr: FloatArray, depth: int) -> str:
    """Format an N-D array as a nested TOML array, innermost rows on one line."""
    if arr.ndim == 1:
        return "[" + ", ".join(_toml_number(float(v)) for v in arr) + "]"
    indent = "  " * (depth + 1)
    inner = [f"{indent}{_toml_array(sub, depth + 1)}," for sub in arr]
    return "[\n" + "\n".join(inner) + "\n" + "  " * depth + "]"


# --------------------------------------------------------------------------- number parsing


def _parse_number(token: str, where: str) -> float:
    """Parse one weight; ``where`` names its place for the error message."""
    if _NUMBER_RE.match(token):
        value = float(token)
        if math.isfinite(value):
            return value
        msg = f"{where}: {token!r} is too large (not a finite float64)"
        raise KernelError(msg)
    if _NONFINITE_RE.match(token):
        msg = f"{where}: {token!r} is not allowed; weights must be finite numbers"
        raise KernelError(msg)
    msg = f"{where}: {token!r} is not a number"
    raise KernelError(msg)


def _split_row(text: str, label: str) -> list[str]:
    """Split one row on commas and/or whitespace; one trailing comma is allowed."""
    parts = text.split(",")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    tokens: list[str] = []
    for part in parts:
        words = part.split()
        if not words:
            msg = f"{label}, column {len(tokens) + 1}: empty value (two commas in a row?)"
            raise KernelError(msg)
        tokens.extend(words)
    return tokens


def _parse_row(text: str, label: str) -> list[float]:
    """Parse one row of numbers; errors name ``label`` and the column."""
    tokens = _split_row(text, label)
    return [_parse_number(tok, f"{label}, column {j}") for j, tok in enumerate(tokens, 1)]


def _rows_to_array(rows: list[list[float]], labels: list[str], context: str) -> FloatArray:
    """Stack parsed rows into a 2-D array, refusing ragged rows."""
    width = len(rows[0])
    for row, label in zip(rows[1:], labels[1:], strict=True):
        if len(row) != width:
            msg = (
                f"{context}: {label} has {count_values(len(row))} "
                f"but {labels[0]} has {count_values(width)}"
            )
            raise KernelError(msg)
    check_size((len(rows), width), context)
    return np.array(rows, dtype=np.float64)


# --------------------------------------------------------------------------- inline specs


def _looks_inline(text: str) -> bool:
    """Whether a spec is meant as numbers rather than a name (``name:params``)."""
    if _INLINE_START_RE.match(text):
        return True
    first = re.split(r"[\s,;]+", text, maxsplit=1)[0]
    if _NONFINITE_RE.match(first):
        return True
    name = text.partition(":")[0].strip()
    return not _PRESET_NAME_RE.match(name) and ("," in text or ";" in text)


def _parse_inline(text: str) -> Kernel:
    """Parse an inline matrix or an ImageMagick kernel string."""
    head = _IM_HEAD_RE.match(text)
    if head:
        return _parse_imagemagick(text, head.group("head"), head.group("body"))
    context = "inline kernel"
    raw_rows = text.split(";")
    if len(raw_rows) > 1 and not raw_rows[-1].strip():
        raw_rows.pop()
    rows: list[list[float]] = []
    for i, raw in enumerate(raw_rows, 1):
        if not raw.strip():
            msg = f"{context}: row {i} is empty (rows are separated by ';')"
            raise KernelError(msg)
        rows.append(_parse_row(raw, f"{context}: row {i}"))
    labels = [f"row {i}" for i in range(1, len(rows) + 1)]
    weights = _rows_to_array(rows, labels, context)
    return Kernel(name=text, weights=weights, description="inline matrix", source="inline")


def _parse_imagemagick(text: str, head: str, body: str) -> Kernel:
    """Parse ``WxH[+X+Y]: values`` (ImageMagick's kernel string)."""
    geometry = _IM_GEOMETRY_RE.match(head.strip())
    if not geometry:
        msg = (
            f"ImageMagick kernel: geometry {head.strip()!r} must be N, WxH or WxH+X+Y "
            "(e.g. '3x3: 0,-1,0,-1,5,-1,0,-1,0' or '3x3+1+1: ...')"
        )
        raise KernelError(msg)
    width = int(geometry.group(1))
    height = int(geometry.group(2)) if geometry.group(2) is not None else width
    context = f"ImageMagick kernel {width}x{height}"
    if width == 0 or height == 0:
        msg = f"{context}: width and height must be positive integers"
        raise KernelError(msg)
    check_size((height, width), context)
    anchor: tuple[int, int] | None = None
    if geometry.group(3) is not None:
        col, row = int(geometry.group(3)), int(geometry.group(4))
        if col >= width or row >= height:
            msg = (
                f"{context}: anchor +{col}+{row} (column {col}, row {row}) lies outside the "
                f"kernel; X must be 0..{width - 1} and Y 0..{height - 1}"
            )
            raise KernelError(msg)
        anchor = (row, col)
    if ";" in body:
        msg = (
            f"{context}: lists of kernels separated by ';' are not supported; give each its own -k"
        )
        raise KernelError(msg)
    tokens = _split_row(body, f"{context}: value") if body.strip() else []
    if len(tokens) != width * height:
        msg = f"{context}: needs {width * height} values (width x height); got {len(tokens)}"
        raise KernelError(msg)
    flat = [
        _parse_number(tok, f"{context}: row {k // width + 1}, column {k % width + 1}")
        for k, tok in enumerate(tokens)
    ]
    weights = np.array(flat, dtype=np.float64).reshape(height, width)
    return Kernel(
        name=text,
        weights=weights,
        description="inline ImageMagick kernel",
        source="inline",
        anchor=anchor,
    )


# --------------------------------------------------------------------------- files


def _read_text(path: Path, display: str) -> str:
    """Read a text kernel file as UTF-8 (with or without a BOM)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = (
            f"{display}: not a text kernel file (it holds binary data); MATLAB .mat files "
            "are not supported, save the array as .npy instead"
        )
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {exc.strerror or exc}"
        raise KernelError(msg) from None


def _parse_text_file(path: Path, display: str) -> Kernel:
    """Parse a .txt/.csv/.mat kernel file, with an optional libvips header."""
    lines: list[tuple[int, str]] = []
    for lineno, line in enumerate(_read_text(path, display).splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if content:
            lines.append((lineno, content))
    if not lines:
        msg = f"{display}: no numbers found (the file is empty or only comments)"
        raise KernelError(msg)
    rows = [_parse_row(content, f"{display}: line {lineno}") for lineno, content in lines]
    labels = [f"line {lineno}" for lineno, _ in lines]
    first = rows[0]
    could_be_header = 2 <= len(first) <= 4 and all(v.is_integer() and v > 0 for v in first[:2])
    scale = 1.0
    offset = 0.0
    if could_be_header:
        width, height = int(first[0]), int(first[1])
        rest = rows[1:]
        if len(rest) == height and all(len(r) == width for r in rest):
            if len(first) >= 3:
                if first[2] == 0:
                    msg = (
                        f"{display}: line {lines[0][0]}: the libvips header scale must not be 0 "
                        "(the result is divided by it)"
                    )
                    raise KernelError(msg)
                scale = 1.0 / first[2]
            if len(first) == 4:
                offset = first[3]
            weights = _rows_to_array(rest, labels[1:], display)
            return Kernel(
                name=path.name,
                weights=weights,
                scale=scale,
                offset=offset,
                description="kernel file (libvips header)",
                source=f"file:{display}",
            )
    try:
        weights = _rows_to_array(rows, labels, display)
    except KernelError as exc:
        if not could_be_header:
            raise
        width, height = int(first[0]), int(first[1])
        msg = (
            f"{exc} (if {labels[0]} is a libvips header 'width height [scale [offset]]', "
            f"exactly {height} rows of {width} values must follow it)"
        )
        raise KernelError(msg) from None
    return Kernel(
        name=path.name, weights=weights, description="kernel file", source=f"file:{display}"
    )


def _parse_toml_file(path: Path, display: str, *, source: str, preset: str | None) -> Kernel:
    """Parse a preset-format TOML file; ``preset`` overrides the name."""
    data = read_preset_file(path, display)
    return Kernel(
        name=preset if preset is not None else (data.name or path.name),
        weights=np.array(data.values, dtype=np.float64).reshape(data.shape),
        scale=data.scale,
        offset=data.offset,
        category=data.category,
        description=data.description,
        source=source,
        anchor=data.anchor,
        reference=data.reference,
    )


def _parse_npy_file(path: Path, display: str) -> Kernel:
    """Load a 2-D/3-D/4-D numeric .npy array (no pickles)."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        msg = f"{display}: not a readable .npy array ({exc})"
        raise KernelError(msg) from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        msg = f"{display}: holds several arrays (an .npz archive); save one array with numpy.save"
        raise KernelError(msg)
    label = display
    if arr.dtype.kind not in "iuf":
        msg = f"{label}: the array must hold real numbers; got dtype {arr.dtype}"
        raise KernelError(msg)
    if arr.ndim not in (2, 3, 4):
        msg = (
            f"{label}: the array must be 2-D (kh, kw), 3-D (C, kh, kw) or 4-D (O, C, kh, kw); "
            f"got {arr.ndim}-D with shape {arr.shape}"
        )
        raise KernelError(msg)
    check_size(tuple(int(n) for n in arr.shape), label)
    weights = np.array(arr, dtype=np.float64)
    del arr
    return Kernel(
        name=path.name, weights=weights, description="kernel array", source=f"file:{display}"
    )


@functools.lru_cache(maxsize=256)
def _load_file_cached(
    path: str, display: str, stamp: tuple[int, int], source: str, preset: str | None
) -> Kernel:
    """Parse one kernel file; ``stamp`` (mtime, size) invalidates the cache."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".toml":
        return _parse_toml_file(p, display, source=source, preset=preset)
    if suffix == ".npy":
        return _parse_npy_file(p, display)
    return _parse_text_file(p, display)


def _load_file(path: Path, display: str, *, source: str, preset: str | None = None) -> Kernel:
    """Load a kernel file through the cache."""
    try:
        st = path.stat()
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {exc.strerror or exc}"
        raise KernelError(msg) from None
    return _load_file_cached(str(path), display, (st.st_mtime_ns, st.st_size), source, preset)


def _path_kind(text: str) -> str | None:
    """'file', 'dir' or None for a spec that may be a path (never raises)."""
    try:
        path = Path(text).expanduser()
        if path.is_file():
            return "file"
        if path.is_dir():
            return "dir"
    except (OSError, ValueError, RuntimeError):
        return None
    return None


# --------------------------------------------------------------------------- generators


def _float_param(gen: str, args: dict[str, str], name: str, default: float) -> float:
    """Read a finite float generator parameter."""
    raw = args.get(name)
    if raw is None:
        return default
    if not _NUMBER_RE.match(raw) or not math.isfinite(float(raw)):
        msg = f"{gen}: `{name}` must be a finite number; got {raw!r}"
        raise KernelError(msg)
    return float(raw)


def _positive_param(gen: str, args: dict[str, str], name: str, default: float) -> float:
    """Read a positive float generator parameter."""
    value = _float_param(gen, args, name, default)
    if value <= 0:
        msg = f"{gen}: `{name}` must be a positive number; got {args[name]!r}"
        raise KernelError(msg)
    return value


def _int_param(gen: str, args: dict[str, str], name: str, *, odd: bool, minimum: int = 1) -> int:
    """Read an integer generator parameter (must be present in ``args``)."""
    raw = args[name]
    kind = "a positive odd integer" if odd else "a positive integer"
    if minimum > 1:
        kind += f" >= {minimum}"
    if not _INT_RE.match(raw):
        msg = f"{gen}: `{name}` must be {kind}; got {raw!r}"
        raise KernelError(msg)
    value = int(raw)
    if value < minimum or (odd and value % 2 == 0):
        msg = f"{gen}: `{name}` must be {kind}; got {raw!r}"
        raise KernelError(msg)
    if value > MAX_KERNEL_SIDE:
        msg = f"{gen}: `{name}` is {value}; at most {MAX_KERNEL_SIDE} is allowed"
        raise KernelError(msg)
    return value


def _sigma_size(
    gen: str, args: dict[str, str], sigma_default: float, minimum: int
) -> tuple[float, int]:
    """Read ``sigma`` and ``size`` (default ``2*ceil(3*sigma)+1``)."""
    sigma = _positive_param(gen, args, "sigma", sigma_default)
    if "size" in args:
        size = _int_param(gen, args, "size", odd=True, minimum=minimum)
    else:
        if 3 * sigma > MAX_KERNEL_SIDE:
            msg = (
                f"{gen}: sigma={sigma:g} needs a kernel over {MAX_KERNEL_SIDE} pixels wide; "
                "use a smaller sigma or give `size`"
            )
            raise KernelError(msg)
        size = max(2 * math.ceil(3 * sigma) + 1, minimum)
    check_size((size, size), gen)
    return sigma, size


def _gaussian_1d(sigma: float, size: int) -> FloatArray:
    """Return the sampled 1-D Gaussian of odd ``size``, normalized to sum 1."""
    x = np.arange(size, dtype=np.float64) - size // 2
    with np.errstate(over="ignore", under="ignore"):
        g = np.exp(-0.5 * (x / sigma) ** 2)
    out: FloatArray = g / g.sum()
    return out


def _gen_gaussian(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("gaussian", args, 1.0, 1)
    g = _gaussian_1d(sigma, size)
    return Kernel(
        name=spec,
        weights=np.outer(g, g),
        category="blur",
        description=f"Gaussian blur, sigma={sigma:g}, {size}x{size}, normalized to sum 1",
        source="builtin generator",
        reference="Sampled 2-D Gaussian exp(-(x^2 + y^2) / (2 sigma^2)), normalized to sum 1",
    )


def _gen_box(spec: str, args: dict[str, str]) -> Kernel:
    raw = args.get("size", "3")
    m = _WXH_RE.match(raw)
    width = int(m.group(1)) if m else 0
    height = int(m.group(2)) if m and m.group(2) is not None else width
    if width < 1 or height < 1:
        msg = f"box: `size` must be N or WxH (width x height) with positive integers; got {raw!r}"
        raise KernelError(msg)
    check_size((height, width), "box")
    return Kernel(
        name=spec,
        weights=np.ones((height, width)),
        scale=1.0 / (width * height),
        category="blur",
        description=f"box (mean) blur, {width}x{height} (width x height)",
        source="builtin generator",
        reference="Uniform mean filter: every weight 1 / (width * height)",
    )


def _gen_motion(spec: str, args: dict[str, str]) -> Kernel:
    length = _int_param("motion", args, "length", odd=False) if "length" in args else 9
    angle = _float_param("motion", args, "angle", 0.0)
    theta = math.radians(angle % 360.0)
    # Rows grow downwards, so a counter-clockwise angle moves up: row step is -sin.
    dc = round(math.cos(theta), 12)
    dr = round(-math.sin(theta), 12)
    half = (length - 1) / 2
    hr = math.ceil(half * abs(dr)) + 1
    hc = math.ceil(half * abs(dc)) + 1
    check_size((2 * hr + 1, 2 * hc + 1), "motion")
    grid = np.zeros((2 * hr + 1, 2 * hc + 1))
    for k in range(length):
        t = k - half
        row = round(t * dr, 9) + hr
        col = round(t * dc, 9) + hc
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        grid[r0, c0] += (1 - fr) * (1 - fc)
        grid[r0, c0 + 1] += (1 - fr) * fc
        grid[r0 + 1, c0] += fr * (1 - fc)
        grid[r0 + 1, c0 + 1] += fr * fc
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    # Crop the same amount on both sides so the centre stays the anchor.
    mr = min(int(rows[0]), grid.shape[0] - 1 - int(rows[-1]))
    mc = min(int(cols[0]), grid.shape[1] - 1 - int(cols[-1]))
    grid = grid[mr : grid.shape[0] - mr, mc : grid.shape[1] - mc]
    return Kernel(
        name=spec,
        weights=grid / grid.sum(),
        category="blur",
        description=(
            f"motion blur along a {length}-pixel line at {angle:g} degrees "
            "(counter-clockwise from +x), normalized to sum 1"
        ),
        source="builtin generator",
        reference=(
            "Line of `length` samples one pixel apart through the centre, "
            "each spread bilinearly over the 4 nearest taps"
        ),
    )


def _gen_log(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("log", args, 1.4, 3)
    x = np.arange(size, dtype=np.float64) - size // 2
    with np.errstate(all="ignore"):
        q = (x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma)
        w = -(1.0 - q) * np.exp(-q) / (math.pi * sigma**4)
        w = w - w.mean()
    if not np.isfinite(w).all():
        msg = f"log: sigma={sigma:g} is too small (the weights overflow)"
        raise KernelError(msg)
    return Kernel(
        name=spec,
        weights=w,
        category="edge",
        description=(
            f"Laplacian of Gaussian, sigma={sigma:g}, {size}x{size}, zero-sum; "
            "negative centre (a bright spot gives a negative response)"
        ),
        source="builtin generator",
        reference=(
            "LoG(x, y) = -(1 - r^2 / (2 sigma^2)) exp(-r^2 / (2 sigma^2)) / (pi sigma^4), "
            "r^2 = x^2 + y^2, minus its mean so it sums to 0"
        ),
    )


def _gen_unsharp(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("unsharp", args, 1.0, 1)
    amount = _float_param("unsharp", args, "amount", 1.0)
    g = _gaussian_1d(sigma, size)
    w = -amount * np.outer(g, g)
    w[size // 2, size // 2] += 1.0 + amount
    return Kernel(
        name=spec,
        weights=w,
        category="sharpen",
        description=f"unsharp mask, sigma={sigma:g}, amount={amount:g}, {size}x{size}; sums to 1",
        source="builtin generator",
        reference="identity + amount * (identity - gaussian(sigma)), Gaussian normalized to sum 1",
    )


_GENERATOR_FUNCS: dict[str, Callable[[str, dict[str, str]], Kernel]] = {
    "box": _gen_box,
    "gaussian": _gen_gaussian,
    "log": _gen_log,
    "motion": _gen_motion,
    "unsharp": _gen_unsharp,
}


def _parse_params(gen: str, text: str) -> dict[str, str]:
    """Parse ``k=v,...`` / positional generator parameters into a dict of raw strings."""
    allowed = GENERATORS[gen]
    args: dict[str, str] = {}
    if not text.strip():
        return args
    positional = 0
    seen_keyword = False
    for item in (part.strip() for part in text.split(",")):
        if not item:
            msg = f"{gen}: empty parameter in {text!r} (parameters are separated by ',')"
            raise KernelError(msg)
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip().lower()
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                msg = f"{gen}: unknown parameter {key!r}{hint}; allowed: {', '.join(allowed)}"
                raise KernelError(msg)
            if key in args:
                msg = f"{gen}: parameter `{key}` is given twice"
                raise KernelError(msg)
            args[key] = value.strip()
            seen_keyword = True
        else:
            if seen_keyword:
                msg = f"{gen}: positional value {item!r} after a key=value parameter"
                raise KernelError(msg)
            if positional >= len(allowed):
                msg = (
                    f"{gen}: takes at most {len(allowed)} positional value(s) "
                    f"({', '.join(allowed)}); got {text!r}"
                )
                raise KernelError(msg)
            args[allowed[positional]] = item
            positional += 1
    return args


# --------------------------------------------------------------------------- registry


def _load_preset_file(key: str, index: dict[str, tuple[Path, str]]) -> Kernel:
    path, label = index[key]
    return _load_file(path, str(path), source=label, preset=path.stem)


def _unknown(spec: str, key: str) -> KernelError:
    """Build the 'unknown kernel' error, with the closest preset names."""
    names = sorted({*preset_index(), *GENERATORS})
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "see `convcli kernels list` for the presets"
    )
    msg = f"unknown kernel {spec!r}: not a file, an inline matrix or a preset name; {hint}"
    return KernelError(msg)


def _load_preset(text: str) -> Kernel:
    name, colon, params = text.partition(":")
    key = normalize_name(name)
    index = preset_index()
    if key not in index and key not in GENERATORS:
        index = preset_index(refresh=True)
    if not colon:
        if key in index:
            return _load_preset_file(key, index)
        if key in GENERATORS:
            return _GENERATOR_FUNCS[key](key, {})
        raise _unknown(text, key)
    if key in GENERATORS:
        return _GENERATOR_FUNCS[key](text, _parse_params(key, params))
    if key in index:
        msg = (
            f"preset {name.strip()!r} takes no parameters (got {text!r}); only the generators "
            f"{', '.join(GENERATORS)} do"
        )
        raise KernelError(msg)
    raise _unknown(text, key)


# --------------------------------------------------------------------------- public API


def load_kernel(spec: str | os.PathLike[str]) -> Kernel:
    """Resolve a kernel spec (the value of ``-k``) to a :class:`Kernel`.

    Parameters
    ----------
    spec : str or path-like
        A file path, an inline matrix, an ImageMagick kernel string, or a
        preset name with optional generator parameters (see the module
        docstring for the grammar).  A path-like object is always a file.

    Returns
    -------
    Kernel

    Raises
    ------
    KernelError
        For a missing file, a malformed matrix or file (naming the row and
        column at fault), an unknown name (listing the closest preset names),
        bad generator parameters, or a kernel over :data:`MAX_KERNEL_SIDE` per
        side or :data:`MAX_KERNEL_TAPS` weights.

    Examples
    --------
    >>> load_kernel("0,-1,0; -1,5,-1; 0,-1,0").weights.sum()
    np.float64(1.0)
    >>> load_kernel("gaussian:sigma=2").shape
    (13, 13)
    >>> load_kernel("sobelx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.KernelError: unknown kernel 'sobelx': ...; did you mean sobel-x, sobel-y?
    """
    if not isinstance(spec, str):
        if not isinstance(spec, os.PathLike):
            msg = f"kernel spec must be a string or a path; got {type(spec).__name__}"
            raise KernelError(msg)
        raw = os.fspath(spec)
        display = raw if isinstance(raw, str) else os.fsdecode(raw)
        kind = _path_kind(display)
        if kind != "file":
            what = "is a directory" if kind == "dir" else "not found"
            msg = f"kernel file {what}: {display!r}"
            raise KernelError(msg)
        return _load_file(Path(display).expanduser(), display, source=f"file:{display}")
    text = spec.strip()
    if not text:
        msg = (
            "kernel spec is empty; give a preset name (e.g. 'sobel-x'), an inline matrix "
            "(e.g. '0,-1,0; -1,5,-1; 0,-1,0') or a kernel file"
        )
        raise KernelError(msg)
    kind = _path_kind(text)
    if kind == "file":
        return _load_file(Path(text).expanduser(), text, source=f"file:{text}")
    has_separator = "/" in text or os.sep in text or bool(os.altsep and os.altsep in text)
    if kind == "dir" and has_separator:
        msg = f"kernel spec {text!r} is a directory, not a kernel file"
        raise KernelError(msg)
    if text.lower().endswith(_FILE_SUFFIXES):
        msg = f"kernel file not found: {text!r}"
        raise KernelError(msg)
    if _looks_inline(text):
        return _parse_inline(text)
    name = text.partition(":")[0].strip()
    if _PRESET_NAME_RE.match(name):
        return _load_preset(text)
    if has_separator:
        msg = f"kernel file not found: {text!r}"
        raise KernelError(msg)
    raise _unknown(text, normalize_name(name))


def list_kernels() -> list[Kernel]:
    """Return every preset: the files and the generators with default parameters.

    A user preset (``CONVCLI_KERNEL_PATH``) hides a built-in one of the same
    name; a preset file hides the generator of the same name (``box``).

    Returns
    -------
    list of Kernel
        Sorted by name; ``source`` says where each comes from.

    Raises
    ------
    KernelError
        If a preset file is malformed (the message names the file).

    Examples
    --------
    >>> names = [k.name for k in list_kernels()]
    >>> "sobel-x" in names and "gaussian" in names
    True
    """
    index = preset_index()
    kernels = [_load_preset_file(key, index) for key in index]
    kernels.extend(_GENERATOR_FUNCS[g](g, {}) for g in GENERATORS if g not in index)
    return sorted(kernels, key=lambda k: (normalize_name(k.name), k.name))
