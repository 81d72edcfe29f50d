"""Numbers, rows and matrices of numbers as written in kernel specs and text files.

The errors say where the bad value is (row or line, and column) and why it is
refused, so one parser serves inline matrices, ImageMagick strings and text
kernel files.
"""

from __future__ import annotations

import math
import re

import numpy as np

from convcli.array_types import F64Array
from convcli.errors import KernelError
from convcli.presets import check_size, count_values

#: A finite decimal number as a weight may be written (no ``nan``, ``inf``, ``0x``).
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
#: What Python's float() would read as NaN or infinity, refused with its own message.
NONFINITE_RE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)


def parse_number(token: str, where: str, *, echo: bool = True) -> float:
    """Parse one weight; ``where`` names its place for the error message.

    With ``echo=False`` (text read from a file) the message never quotes the
    token: a file that is not a kernel (``-k /etc/shadow``) must not leak into
    an error line.
    """
    shown = repr(token) if echo and len(token) <= 40 else "the value"
    if NUMBER_RE.match(token):
        value = float(token)
        if math.isfinite(value):
            return value
        msg = f"{where}: {shown} is too large (not a finite float64)"
        raise KernelError(msg)
    if NONFINITE_RE.match(token):
        msg = f"{where}: {token!r} is not allowed; weights must be finite numbers"
        raise KernelError(msg)
    msg = f"{where}: {shown} is not a number"
    raise KernelError(msg)


def split_row(text: str, label: str) -> list[str]:
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


def parse_row(text: str, label: str, *, echo: bool = True) -> list[float]:
    """Parse one row of numbers; errors name ``label`` and the column (see :func:`parse_number`)."""
    tokens = split_row(text, label)
    return [parse_number(tok, f"{label}, column {j}", echo=echo) for j, tok in enumerate(tokens, 1)]


def rows_to_array(rows: list[list[float]], labels: list[str], context: str) -> F64Array:
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
