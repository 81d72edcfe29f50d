"""Kernels written in the spec itself: inline matrices and ImageMagick kernel strings.

An inline matrix has rows separated by ``;`` and values by ``,`` and/or
spaces (``"0,-1,0; -1,5,-1; 0,-1,0"``).  An ImageMagick kernel string is
``"WxH: v,v,..."``, ``"N: ..."`` (N x N) or ``"WxH+X+Y: ..."``, where
``+X+Y`` puts the anchor at column X, row Y (0-based).
"""

from __future__ import annotations

import re

import numpy as np

from convcli.errors import KernelError
from convcli.kernelspec.kernel import Kernel
from convcli.kernelspec.numbers import (
    NONFINITE_RE,
    parse_number,
    parse_row,
    rows_to_array,
    split_row,
)
from convcli.presets import check_size

#: A preset name (the part of a spec before any ``:``).
PRESET_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")

_INLINE_START_RE = re.compile(r"[+-]?(?:\d|\.\d)")
_IM_HEAD_RE = re.compile(r"(?P<head>\d[^:;,]*?)\s*:(?P<body>.*)\Z", re.DOTALL)
_IM_GEOMETRY_RE = re.compile(r"(\d+)(?:[xX](\d+))?(?:\+(\d+)\+(\d+))?\Z")


def looks_inline(text: str) -> bool:
    """Whether a spec is meant as numbers rather than a name (``name:params``)."""
    if _INLINE_START_RE.match(text):
        return True
    first = re.split(r"[\s,;]+", text, maxsplit=1)[0]
    if NONFINITE_RE.match(first):
        return True
    name = text.partition(":")[0].strip()
    return not PRESET_NAME_RE.match(name) and ("," in text or ";" in text)


def parse_inline(text: str) -> Kernel:
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
        rows.append(parse_row(raw, f"{context}: row {i}"))
    labels = [f"row {i}" for i in range(1, len(rows) + 1)]
    weights = rows_to_array(rows, labels, context)
    return Kernel(name=text, weights=weights, description="inline matrix", source="inline")


def _im_geometry(head: str) -> tuple[int, int, tuple[int, int] | None]:
    """Parse ImageMagick's ``N``, ``WxH`` or ``WxH+X+Y``: width, height and anchor (row, col)."""
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
    if geometry.group(3) is None:
        return width, height, None
    col, row = int(geometry.group(3)), int(geometry.group(4))
    if col >= width or row >= height:
        msg = (
            f"{context}: anchor +{col}+{row} (column {col}, row {row}) lies outside the "
            f"kernel; X must be 0..{width - 1} and Y 0..{height - 1}"
        )
        raise KernelError(msg)
    return width, height, (row, col)


def _parse_imagemagick(text: str, head: str, body: str) -> Kernel:
    """Parse ``WxH[+X+Y]: values`` (ImageMagick's kernel string)."""
    width, height, anchor = _im_geometry(head)
    context = f"ImageMagick kernel {width}x{height}"
    if ";" in body:
        msg = (
            f"{context}: lists of kernels separated by ';' are not supported; give each its own -k"
        )
        raise KernelError(msg)
    tokens = split_row(body, f"{context}: value") if body.strip() else []
    if len(tokens) != width * height:
        msg = f"{context}: needs {width * height} values (width x height); got {len(tokens)}"
        raise KernelError(msg)
    flat = [
        parse_number(tok, f"{context}: row {k // width + 1}, column {k % width + 1}")
        for k, tok in enumerate(tokens)
    ]
    weights = np.array(flat, dtype=np.float64).reshape(height, width)
    description = "inline ImageMagick kernel"
    if anchor is None and (width % 2 == 0 or height % 2 == 0):
        # ImageMagick centres an even kernel at (W-1)/2; convcli keeps its one rule, k // 2.
        description += (
            f" (no +X+Y: anchor at convcli's k//2, column {width // 2}, row {height // 2}; "
            f"ImageMagick would take +{(width - 1) // 2}+{(height - 1) // 2}, write it to match)"
        )
    return Kernel(
        name=text,
        weights=weights,
        description=description,
        source="inline",
        anchor=anchor,
    )
