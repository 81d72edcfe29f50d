"""The engine's inputs, checked: image, kernel, working dtype, and the flipped kernel."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array
from convcli.errors import OptionError, ShapeError
from convcli.shapes import Pair


def result_dtype(
    x: npt.NDArray[np.generic], dtype: npt.DTypeLike | None
) -> np.dtype[np.floating[Any]]:
    """float64 if asked for or if ``x`` is float64, else float32."""
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            msg = f"`dtype` must be float32 or float64; got {dt}"
            raise OptionError(msg)
        return dt  # type: ignore[return-value]
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def check_image(x: npt.ArrayLike) -> npt.NDArray[np.generic]:
    """Return ``x`` as an ``(H, W, C)`` real array (a view when possible)."""
    arr = np.asarray(x)
    if arr.ndim not in (2, 3):
        msg = f"image must have shape (H, W) or (H, W, C); got shape {arr.shape}"
        raise ShapeError(msg)
    if arr.dtype.kind not in "biuf":
        msg = f"image must hold real numbers; got dtype {arr.dtype}"
        raise ShapeError(msg)
    if arr.size == 0:
        msg = f"image is empty (shape {arr.shape})"
        raise ShapeError(msg)
    return arr[:, :, None] if arr.ndim == 2 else arr


def check_kernel(w: npt.ArrayLike) -> F64Array:
    """Return ``w`` as a finite float64 array of rank 2, 3 or 4."""
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim not in (2, 3, 4) or arr.size == 0:
        msg = f"kernel must be a non-empty 2-D, 3-D or 4-D array; got shape {arr.shape}"
        raise ShapeError(msg)
    if not np.all(np.isfinite(arr)):
        msg = "kernel contains NaN or infinite values"
        raise ShapeError(msg)
    return arr


def flip_kernel(w: npt.ArrayLike, anchor: Pair | None = None) -> tuple[F64Array, Pair]:
    """Flip a kernel's last two axes; return it with the matching anchor.

    A kernel anchored at ``a`` becomes anchored at ``k - 1 - a`` so the same
    input pixel stays under the same weight, which makes even-sized kernels
    agree with ``scipy.ndimage.convolve``.
    """
    k = check_kernel(w)
    kh, kw = k.shape[-2:]
    ah, aw = anchor if anchor is not None else (kh // 2, kw // 2)
    return np.ascontiguousarray(k[..., ::-1, ::-1]), (kh - 1 - ah, kw - 1 - aw)


def working_kernel(w: F64Array, dtype: npt.DTypeLike) -> F64Array:
    """``w`` with the taps that round to zero in the working ``dtype`` set to zero.

    A weight such as 1e-50 is non-zero in float64 but 0 in float32: every
    method must then see it as the zero the arithmetic will use (a kernel
    whose every tap underflows gives exact zeros, never unwritten memory).

    Examples
    --------
    >>> working_kernel(np.array([[1e-50, 0.5]]), np.float32).tolist()
    [[0.0, 0.5]]
    """
    gone = (w != 0) & (w.astype(dtype) == 0)
    if not gone.any():
        return w
    return np.where(gone, 0.0, w)
