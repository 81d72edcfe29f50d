"""The engine's entry points: correlate, convolve, make_plan and correlate_padded.

Each public function turns its keyword arguments into one
:class:`~convcli.conv_options.ConvOptions`, checks its inputs, plans the
correlation (:func:`~convcli.engine.plan.plan_correlation`) and runs the
plan's method, looked up in :data:`RUNNERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array, FloatArray
from convcli.borders import border_index, pad
from convcli.config import default_threads
from convcli.conv_options import ConvOptions
from convcli.engine.box import run_box
from convcli.engine.direct import run_direct
from convcli.engine.einsum import run_einsum
from convcli.engine.fft import run_fft
from convcli.engine.gemm import run_gemm
from convcli.engine.inputs import (
    check_image,
    check_kernel,
    flip_kernel,
    result_dtype,
    working_kernel,
)
from convcli.engine.plan import Plan, plan_correlation
from convcli.engine.separable import run_separable
from convcli.engine.sources import PaddedArray, PaddedOnDemand, Source
from convcli.errors import OptionError
from convcli.shapes import Geometry, PaddingSpec, Pair, kernel_dims

#: A method's implementation: the padded source, the kernel in correlation
#: orientation, the geometry and the plan in; the ``(H', W', C')`` result out.
Runner = Callable[[Source, F64Array, Geometry, Plan], FloatArray]

#: The implementation of every method a plan may name.
RUNNERS: dict[str, Runner] = {
    "direct": run_direct,
    "separable": run_separable,
    "box": run_box,
    "fft": run_fft,
    "gemm": run_gemm,
    "einsum": run_einsum,
}


def correlate_padded(
    xp: FloatArray,
    w: F64Array,
    geom: Geometry,
    *,
    threads: int | None = None,
    method: str | None = None,
    plan: Plan | None = None,
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
    method : {None, "direct", "separable", "box", "fft", "gemm", "einsum"}
        Force a method; ``None`` lets :func:`~convcli.engine.plan.plan_correlation` choose.
    plan : Plan, optional
        A plan made beforehand for this image shape, kernel and geometry.

    Returns
    -------
    ndarray, shape (H', W', C'), dtype of ``xp``
    """
    w = working_kernel(w, xp.dtype)
    if plan is None:
        plan = plan_correlation(
            xp.shape, w, geom, xp.dtype, threads or default_threads(), method=method
        )
    return _run_plan(PaddedArray(xp), w, geom, plan)


def _run_plan(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """Run the plan's method."""
    return RUNNERS[plan.method](src, w, geom, plan)


def make_plan(
    image_shape: tuple[int, ...],
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dtype: npt.DTypeLike | None = None,
    anchor: Pair | None = None,
    threads: int | None = None,
    method: str | None = None,
) -> Plan:
    """The plan :func:`correlate` would follow for an image shape and kernel.

    Parameters
    ----------
    image_shape : (H, W) or (H, W, C)
        Image shape.
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel in correlation orientation.
    padding, stride, dilation, anchor, threads, method
        As for :func:`correlate`.
    dtype : {None, float32, float64}
        Working type (default float32).

    Returns
    -------
    Plan
        ``str(plan)`` explains the choice in one paragraph.

    Examples
    --------
    >>> make_plan((1080, 1920, 3), [[1.0, 2.0, 1.0]]).method
    'einsum'
    """
    opts = ConvOptions(padding=padding, stride=stride, dilation=dilation, anchor=anchor)
    shape = tuple(int(v) for v in image_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    dt = result_dtype(np.empty(0, np.float32), dtype)
    k = working_kernel(check_kernel(w), dt)
    geom = opts.geometry((shape[0], shape[1]), (k.shape[-2], k.shape[-1]))
    return plan_correlation(shape, k, geom, dt, threads or default_threads(), method=method)


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
    method: str | None = None,
    rows: tuple[int, int] | None = None,
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
    method : {None, "direct", "separable", "box", "fft", "gemm", "einsum"}
        Force a computation method; by default the planner picks the
        cheapest exact one (see :mod:`convcli.engine.plan` and :func:`make_plan`).
    rows : (int, int), optional
        Compute only output rows ``start:stop`` (exactly those rows of the
        full result), padding only the input rows they read, so an image can
        be filtered band by band in bounded memory.

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
    opts = ConvOptions(
        padding=padding, border=border, cval=cval, stride=stride, dilation=dilation, anchor=anchor
    )
    return correlate_with(x, w, opts, dtype=dtype, threads=threads, method=method, rows=rows)


def correlate_with(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    opts: ConvOptions,
    *,
    dtype: npt.DTypeLike | None = None,
    threads: int | None = None,
    method: str | None = None,
    rows: tuple[int, int] | None = None,
) -> FloatArray:
    """:func:`correlate`, or :func:`convolve` when ``opts.flip``, given one :class:`ConvOptions`.

    The entry point of the layers above the engine (filters, gradients), which
    carry the geometry options as one value; ``dtype``, ``threads``,
    ``method`` and ``rows`` are as for :func:`correlate`.
    """
    img = check_image(x)
    k = check_kernel(w)
    if opts.flip:
        k = flip_kernel(k)[0]  # (and opts.geometry flips the anchor)
    dt = result_dtype(img, dtype)
    k = working_kernel(k, dt)
    geom = opts.geometry((img.shape[0], img.shape[1]), (k.shape[-2], k.shape[-1]))
    kernel_dims(k.shape, img.shape[2])
    if rows is None:
        src = PaddedOnDemand(img, geom, opts, dt)
        plan = plan_correlation(src.shape, k, geom, dt, threads or default_threads(), method=method)
        out = _run_plan(src, k, geom, plan)
    else:
        xp, geom = _pad_row_band(img, geom, rows, opts, dt)
        out = correlate_padded(xp, k, geom, threads=threads, method=method)
    if np.ndim(x) == 2 and out.shape[2] == 1:
        return out[:, :, 0]
    return out


def _pad_row_band(
    img: npt.NDArray[np.generic],
    geom: Geometry,
    rows: tuple[int, int],
    opts: ConvOptions,
    dtype: np.dtype[np.floating[Any]],
) -> tuple[FloatArray, Geometry]:
    """Pad only the input rows that output rows ``rows[0]:rows[1]`` read.

    Returns the padded band and the geometry of the band (no row padding left:
    the band's first row is padded row ``r0 * S``).
    """
    border, cval = opts.border, opts.cval
    r0, r1 = rows
    oh, ow = geom.out_hw
    if not 0 <= r0 < r1 <= oh:
        msg = f"`rows` must satisfy 0 <= start < stop <= {oh}; got {rows}"
        raise OptionError(msg)
    sh, dh = geom.stride[0], geom.dilation[0]
    first = r0 * sh
    stop = (r1 - 1) * sh + dh * (geom.kernel_hw[0] - 1) + 1
    src = border_index(np.arange(first, stop) - geom.pad_rows[0], img.shape[0], border)
    outside = src < 0
    band = img[np.where(outside, 0, src)]
    xp = pad(band, (0, 0), geom.pad_cols, border=border, cval=cval, dtype=dtype)
    if outside.any():
        xp[outside] = cval
    band_geom = Geometry(
        (stop - first, img.shape[1]),
        geom.kernel_hw,
        (0, 0),
        geom.pad_cols,
        geom.stride,
        geom.dilation,
        (r1 - r0, ow),
    )
    return xp, band_geom


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
    method: str | None = None,
    rows: tuple[int, int] | None = None,
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
    opts = ConvOptions(
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        flip=True,
    )
    return correlate_with(x, w, opts, dtype=dtype, threads=threads, method=method, rows=rows)
