"""Size limits of a kernel and the checks every kernel reader shares.

Standard library only: the preset listing (:mod:`convcli.presets.index`) and
the NumPy-based readers of :mod:`convcli.kernelspec` apply the same checks and
raise the same messages.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from convcli.errors import KernelError

#: Largest kernel height or width accepted.
MAX_KERNEL_SIDE = 4096
#: Largest number of weights (all axes multiplied) accepted.
MAX_KERNEL_TAPS = 16_000_000


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
    if taps > MAX_KERNEL_TAPS:
        msg = (
            f"{label}: a kernel of shape {shape} has {taps} weights; "
            f"at most {MAX_KERNEL_TAPS} are allowed"
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
        msg = f"{label} must be a number; got {value!r}"
        raise KernelError(msg)
    out = float(value)
    if not math.isfinite(out):
        msg = f"{label} must be a finite number; got {value!r}"
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
        msg = f"{label}: `anchor` must be two integers [row, col]; got {anchor!r}"
        raise KernelError(msg)
    row, col = int(anchor[0]), int(anchor[1])
    if not (0 <= row < kh and 0 <= col < kw):
        msg = (
            f"{label}: `anchor` (row {row}, col {col}) lies outside the {kw}x{kh} kernel; "
            f"rows go 0..{kh - 1} and columns 0..{kw - 1}"
        )
        raise KernelError(msg)
    return (row, col)
