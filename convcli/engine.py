"""The multi-channel convolution engine.

Public entry points are :func:`correlate` (cross-correlation, as in CNNs and
OpenCV's ``filter2D``) and :func:`convolve` (kernel flipped, as
``scipy.ndimage.convolve``).  Images are ``(H, W)`` or ``(H, W, C)``; kernels
are ``(kh, kw)`` (depthwise: every channel on its own), ``(C, kh, kw)`` (sum
over channels, one output channel) or ``(O, C, kh, kw)`` (channel mixing).

Method: the padded image is kept in image layout ``(H, W, C)`` (no
channels-first copy), and the output is produced in row strips sized to stay
in the CPU cache.  Inside a strip, each kernel tap adds one strided slice of
the padded image, times the tap's weight (depthwise) or times a ``(C, O)``
matrix (channel mixing), to the strip's accumulator.  Zero taps are skipped.
Strips are independent and run on a thread pool (NumPy releases the GIL in
its loops).  Stride and dilation only change the slice steps, so outputs that
a stride throws away are never computed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from convcli.borders import canonical_border, pad
from convcli.errors import OptionError, ShapeError
from convcli.shapes import PaddingSpec, Pair, as_pair, kernel_dims, output_size, padding_amounts

FloatArray = npt.NDArray[np.floating]

#: Target size of one strip's accumulator, in bytes.  Measured on this 2-core
#: machine (2160x3840x3 float32, 2 threads, median ms for 3x3 / 5x5 / 15x15):
#: 192 KB 224/464/3561, 512 KB 126/232/1295, 1 MB 123/202/1470, 2 MB 107/177/1194.
#: Small strips lose to per-task thread overhead; 1 MB is near the flat bottom.
STRIP_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Geometry:
    """Where a kernel's taps land: padding, stride, dilation and output size.

    ``pad_rows``/``pad_cols`` are pixels added before and after each axis;
    ``out_hw`` is the output size in pixels.
    """

    in_hw: Pair
    kernel_hw: Pair
    pad_rows: Pair
    pad_cols: Pair
    stride: Pair
    dilation: Pair
    out_hw: Pair

    def tap_slices(
        self, p: int, q: int, row0: int = 0, row1: int | None = None
    ) -> tuple[slice, slice]:
        """Slices of the padded image read by tap ``(p, q)`` for output rows ``row0:row1``."""
        sh, sw = self.stride
        dh, dw = self.dilation
        oh, ow = self.out_hw
        r1 = oh if row1 is None else row1
        start = row0 * sh + p * dh
        return (
            slice(start, start + (r1 - row0 - 1) * sh + 1, sh),
            slice(q * dw, q * dw + (ow - 1) * sw + 1, sw),
        )


def make_geometry(
    in_hw: Pair,
    kernel_hw: Pair,
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    anchor: Pair | None = None,
) -> Geometry:
    """Resolve padding/stride/dilation for an image and kernel size (see :mod:`convcli.shapes`)."""
    s = as_pair(stride, "stride")
    d = as_pair(dilation, "dilation")
    if anchor is not None and not (0 <= anchor[0] < kernel_hw[0] and 0 <= anchor[1] < kernel_hw[1]):
        msg = f"kernel anchor {anchor} lies outside the kernel of size {kernel_hw}"
        raise ShapeError(msg)
    pr, pc = padding_amounts(padding, kernel_hw, dilation=d, anchor=anchor)
    oh = output_size(in_hw[0], kernel_hw[0], pr, s[0], d[0], axis="rows")
    ow = output_size(in_hw[1], kernel_hw[1], pc, s[1], d[1], axis="columns")
    return Geometry(in_hw, kernel_hw, pr, pc, s, d, (oh, ow))


def result_dtype(x: npt.NDArray[np.generic], dtype: npt.DTypeLike | None) -> np.dtype[np.floating]:
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


def check_kernel(w: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return ``w`` as a finite float64 array of rank 2, 3 or 4."""
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim not in (2, 3, 4) or arr.size == 0:
        msg = f"kernel must be a non-empty 2-D, 3-D or 4-D array; got shape {arr.shape}"
        raise ShapeError(msg)
    if not np.all(np.isfinite(arr)):
        msg = "kernel contains NaN or infinite values"
        raise ShapeError(msg)
    return arr


def default_threads() -> int:
    """Worker threads: ``CONVCLI_THREADS`` if set, else the number of CPU cores."""
    env = os.environ.get("CONVCLI_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            msg = f"CONVCLI_THREADS must be a positive integer; got {env!r}"
            raise OptionError(msg)
        return n
    return os.cpu_count() or 1


def strip_rows(out_w: int, channels: int, itemsize: int, out_h: int) -> int:
    """Output rows per strip so the accumulator is about :data:`STRIP_BYTES`."""
    per_row = max(1, out_w * channels * itemsize)
    return int(min(out_h, max(1, STRIP_BYTES // per_row)))


def correlate_padded(
    xp: FloatArray,
    w: npt.NDArray[np.float64],
    geom: Geometry,
    *,
    threads: int | None = None,
) -> FloatArray:
    """Cross-correlate an already padded ``(Hp, Wp, C)`` image.

    Parameters
    ----------
    xp : ndarray, shape (Hp, Wp, C), float32 or float64
        Padded image (see :func:`convcli.borders.pad`).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel in correlation orientation.
    geom : Geometry
        Stride, dilation and output size.
    threads : int, optional
        Worker threads (default :func:`default_threads`).

    Returns
    -------
    ndarray, shape (H', W', C'), dtype of ``xp``
    """
    c = xp.shape[2]
    o, _, (kh, kw), depthwise = kernel_dims(w.shape, c)
    oh, ow = geom.out_hw
    dt = xp.dtype
    out = np.empty((oh, ow, o), dtype=dt)
    taps: list[tuple[int, int, Any]]
    if depthwise:
        taps = [(p, q, dt.type(w[p, q])) for p in range(kh) for q in range(kw) if w[p, q] != 0]
    else:
        w4 = w.reshape(o, c, kh, kw)
        taps = [
            (p, q, np.ascontiguousarray(w4[:, :, p, q].T, dtype=dt))
            for p in range(kh)
            for q in range(kw)
            if np.any(w4[:, :, p, q] != 0)
        ]

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        acc = out[r0:r1]
        acc.fill(0)
        tmp = np.empty_like(acc)
        for p, q, wt in taps:
            rs, cs = geom.tap_slices(p, q, r0, r1)
            src = xp[rs, cs]
            if depthwise:
                np.multiply(src, wt, out=tmp)
            else:
                np.matmul(src, wt, out=tmp)
            acc += tmp

    rows = strip_rows(ow, max(c, o), dt.itemsize, oh)
    strips = [(r, min(r + rows, oh)) for r in range(0, oh, rows)]
    n_threads = min(threads or default_threads(), len(strips))
    if n_threads <= 1:
        for s in strips:
            run_strip(s)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(run_strip, strips))
    return out


def correlate(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dtype: npt.DTypeLike | None = None,
    anchor: Pair | None = None,
    threads: int | None = None,
) -> FloatArray:
    """Cross-correlate an image with a kernel (no flip), as CNN layers do.

    ``out[i, j, o] = sum_{c,p,q} w[o, c, p, q] * x[i*S + p*D - P_top, j*S + q*D - P_left, c]``

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Image of any real dtype, in its own units (0..255 for 8-bit).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel.  2-D: applied to each channel on its own; 3-D: summed over
        the C channels into one output channel; 4-D: O output channels.
    padding : {"same", "valid", "full"} or int or (int, int)
        ``same`` (default) gives ``ceil(H/S) x ceil(W/S)`` outputs with the
        anchor at ``k // 2``.
    border : str
        ``reflect`` (default), ``mirror``, ``nearest``, ``wrap``, ``constant``
        or an alias (``symmetric``, ``reflect101``, ``edge``, ``replicate``,
        ``circular``, ``zeros``).
    cval : float
        Fill value for ``constant``, in image units.
    stride, dilation : int or (int, int)
        Positive step between outputs and between taps, in pixels.
    dtype : {None, float32, float64}
        Working and result type; default float32 (float64 for float64 input).
    anchor : (int, int), optional
        Kernel index placed on the output pixel for ``same`` padding.
    threads : int, optional
        Worker threads; default ``CONVCLI_THREADS`` or the core count.

    Returns
    -------
    ndarray, shape (H', W') or (H', W', C')
        Float result, no clipping or rounding.  A 2-D input gives a 2-D
        result when the output has a single channel.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(5, dtype=np.uint8)[None, :].repeat(3, axis=0)
    >>> correlate(x, [[-1.0, 0.0, 1.0]], border="nearest")[1]
    array([1., 2., 2., 2., 1.], dtype=float32)
    """
    img = check_image(x)
    k = check_kernel(w)
    mode = canonical_border(border)
    dt = result_dtype(img, dtype)
    geom = make_geometry(
        (img.shape[0], img.shape[1]),
        (k.shape[-2], k.shape[-1]),
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
    )
    kernel_dims(k.shape, img.shape[2])
    xp = pad(img, geom.pad_rows, geom.pad_cols, border=mode, cval=cval, dtype=dt)
    out = correlate_padded(xp, k, geom, threads=threads)
    if np.ndim(x) == 2 and out.shape[2] == 1:
        return out[:, :, 0]
    return out


def flip_kernel(
    w: npt.ArrayLike, anchor: Pair | None = None
) -> tuple[npt.NDArray[np.float64], Pair]:
    """Flip a kernel's last two axes; return it with the matching anchor.

    A kernel anchored at ``a`` becomes anchored at ``k - 1 - a`` so the same
    input pixel stays under the same weight, which makes even-sized kernels
    agree with ``scipy.ndimage.convolve``.
    """
    k = check_kernel(w)
    kh, kw = k.shape[-2:]
    ah, aw = anchor if anchor is not None else (kh // 2, kw // 2)
    return np.ascontiguousarray(k[..., ::-1, ::-1]), (kh - 1 - ah, kw - 1 - aw)


def convolve(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dtype: npt.DTypeLike | None = None,
    anchor: Pair | None = None,
    threads: int | None = None,
) -> FloatArray:
    """Convolve an image with a kernel: :func:`correlate` with the kernel flipped.

    Same arguments as :func:`correlate`; matches ``scipy.ndimage.convolve``
    (including its anchor for even-sized kernels).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 5)); x[0, 2] = 1.0
    >>> convolve(x, [[1.0, 2.0, 3.0]], border="constant")
    array([[0., 1., 2., 3., 0.]])
    """
    flipped, flipped_anchor = flip_kernel(w, anchor)
    return correlate(
        x,
        flipped,
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        dtype=dtype,
        anchor=flipped_anchor,
        threads=threads,
    )
