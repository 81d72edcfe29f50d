"""Size limits of a kernel and the checks every kernel reader shares.

Standard library only: the preset listing (:mod:`convcli.presets.index`) and
the NumPy-based readers of :mod:`convcli.kernelspec` apply the same checks and
raise the same messages.
"""

from __future__ import annotations

import math
import numbers
import os
import stat
from pathlib import Path
from typing import Any

from convcli import config
from convcli.errors import KernelError, os_detail

#: Largest kernel height or width accepted.
MAX_KERNEL_SIDE = 4096
#: Default largest number of weights (all axes multiplied); ``CONVCLI_MAX_KERNEL_TAPS``
#: changes it (see :data:`convcli.config.LIMITS`).
MAX_KERNEL_TAPS = config.LIMITS["kernel_taps"].default


def check_kernel_file(path: Path, display: str, *, text: bool = True) -> None:
    """Refuse a kernel file that is not a regular file, or a text/TOML file over the byte limit.

    Run before a byte is read: a FIFO or a device never blocks the reader, and a
    huge text file is refused from its size (``CONVCLI_MAX_KERNEL_FILE_BYTES``).
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {os_detail(exc)}"
        raise KernelError(msg) from None
    if not stat.S_ISREG(st.st_mode):
        msg = f"cannot read kernel file {display}: not a regular file (a FIFO, device or socket)"
        raise KernelError(msg)
    most = config.limit("kernel_file_bytes")
    if text and st.st_size > most:
        msg = (
            f"kernel file {display} is {config.describe_size(st.st_size)}, over the limit of "
            f"{config.describe_size(most)} for text and TOML kernels "
            f"({config.LIMITS['kernel_file_bytes'].env}); save a large kernel as .npy"
        )
        raise KernelError(msg)


def check_size(shape: tuple[int, ...], label: str) -> None:
    """Refuse empty shapes and those over MAX_KERNEL_SIDE / MAX_KERNEL_TAPS."""
    if any(n <= 0 for n in shape):
        msg = f"{label}: the kernel is empty (shape {shape})"
        raise KernelError(msg)
    if len(shape) >= 2 and max(shape[-2:]) > MAX_KERNEL_SIDE:
        msg = (
            f"{label}: a kernel {shape[-2]} high x {shape[-1]} wide is too large; "
            f"at most {MAX_KERNEL_SIDE} per side is allowed"
        )
        raise KernelError(msg)
    taps = math.prod(shape)
    most = config.limit("kernel_taps")
    if taps > most:
        msg = (
            f"{label}: a kernel of shape {shape} has {taps} weights; at most {most} are "
            f"allowed ({config.LIMITS['kernel_taps'].env})"
        )
        raise KernelError(msg)


def position(index: tuple[int, ...]) -> str:
    """Describe an array index: 'row r, column c' (1-based) for 2-D, else weights[i][j]..."""
    if len(index) == 2:
        return f"row {index[0] + 1}, column {index[1] + 1}"
    return "weights" + "".join(f"[{i}]" for i in index) + " (0-based)"


def count_values(n: int) -> str:
    """Return '1 value' or 'n values'."""
    return f"{n} value" if n == 1 else f"{n} values"


def finite_float(value: Any, label: str) -> float:
    """Return a real number (Python or NumPy scalar) as a finite float, else raise KernelError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{label} must be a number; got {short_repr(value)}"
        raise KernelError(msg)
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        msg = f"{label} must be a finite number; got {short_repr(value)}"
        raise KernelError(msg)
    return out


def check_anchor(anchor: Any, shape: tuple[int, ...], label: str) -> tuple[int, int]:
    """Validate an anchor (row, col) against the kernel's last two axes."""
    kh, kw = shape[-2:]
    ok = (
        isinstance(anchor, tuple | list)
        and len(anchor) == 2
        and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in anchor)
    )
    if not ok:
        msg = f"{label}: `anchor` must be two integers [row, col]; got {short_repr(anchor)}"
        raise KernelError(msg)
    row, col = int(anchor[0]), int(anchor[1])
    if not (0 <= row < kh and 0 <= col < kw):
        msg = (
            f"{label}: `anchor` (row {row}, col {col}) lies outside the {kw}x{kh} kernel; "
            f"rows go 0..{kh - 1} and columns 0..{kw - 1}"
        )
        raise KernelError(msg)
    return (row, col)


def short_repr(value: Any, most: int = 40) -> str:
    """``repr(value)`` cut to ``most`` characters (a huge integer or list stays one short line)."""
    text = (
        repr(value) if not isinstance(value, int) or value.bit_length() < 128 else "a huge integer"
    )
    return text if len(text) <= most else text[: most - 3] + "..."
