"""Backward pass of the convolution: losses, dL/dw, dL/dx, gradient check, kernel fitting.

The forward pass is :func:`convcli.engine.correlate` on the padded image
``xpad`` (``H + top + bottom`` by ``W + left + right``, filled by the border
mode)::

    y[i, j, o] = sum_{c,p,q} w[o, c, p, q] * xpad[i*S + p*D, j*S + q*D, c]

Given the upstream gradient ``g = dL/dy`` (the shape of ``y``), the two
gradients are:

* the kernel gradient, a correlation of the padded input with ``g``::

      dL/dw[o, c, p, q] = sum_{i,j} g[i, j, o] * xpad[i*S + p*D, j*S + q*D, c]

  (for a 2-D depthwise kernel ``w[p, q]`` the sum also runs over the channels);

* the input gradient, a full convolution of ``g`` with the kernel, folded back
  through the border mode::

      dL/dxpad[i*S + p*D, j*S + q*D, c] += sum_o g[i, j, o] * w[o, c, p, q]
      dL/dx = fold_padding(dL/dxpad)

  where :func:`convcli.borders.fold_padding` sends the gradient of every
  padded cell back to the pixel it was copied from (``reflect``, ``mirror``,
  ``nearest``, ``wrap``) or drops it (``constant``).

Both are computed tap by tap: for each of the ``kh * kw`` taps, one
vectorised dot product / matrix product (kernel gradient) or one scaled
scatter-add into a strided slice (input gradient) over a strip of output
rows, so no Python loop ever runs over pixels.  Slices of one tap never
overlap, so ``+=`` on a strided view is exact.  Strips run on a thread pool
like the forward pass.

``flip=True`` means the forward was :func:`convcli.engine.convolve`: the
kernel is flipped (with its anchor, as in :func:`convcli.engine.flip_kernel`)
before the forward, and the kernel gradient is flipped back to the
orientation of the kernel as given.

Everything is float64 unless ``dtype=np.float32`` is asked for (benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from convcli.borders import canonical_border, fold_padding, pad
from convcli.engine import (
    check_image,
    check_kernel,
    convolve,
    correlate,
    correlate_padded,
    default_threads,
    flip_kernel,
    nonzero_taps,
    result_dtype,
)
from convcli.errors import OptionError, ShapeError, UsageError
from convcli.shapes import Geometry, PaddingSpec, Pair, as_pair, kernel_dims, make_geometry

__all__ = [
    "LOSSES",
    "FIT_METHODS",
    "FitResult",
    "GradCheck",
    "GradResult",
    "check_gradients",
    "fit_kernel",
    "input_grad",
    "kernel_grad",
    "loss_and_grad",
    "loss_value_and_grad",
]

F64 = npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.floating[Any]]
_T = TypeVar("_T")

#: Loss names accepted by :func:`loss_value_and_grad` (SPEC section 6).
LOSSES = ("mse", "sse", "l1", "sum")

#: Methods accepted by :func:`fit_kernel`.
FIT_METHODS = ("lstsq", "gd")

#: Target size of one strip of ``grad_out`` in the backward pass, in bytes.  Larger
#: than the forward's strips: a tap's work per strip is only a copy and a dot
#: product, so per-call overhead dominates small strips (4K RGB float32, 2 cores:
#: 15x15 kernel gradient 3.1 s with 192 KB strips, 1.2 s with 1 MB).
GRAD_STRIP_BYTES = 1024 * 1024

#: Upper bound on the size of one im2col tile in :func:`fit_kernel` (bytes).
FIT_TILE_BYTES = 4 * 1024 * 1024

#: Relative tolerance of :func:`check_gradients` (on top of a rounding-noise floor).
CHECK_RTOL = 1e-6

#: Safety factor on the estimated floating-point noise of a finite difference.
_NOISE_FACTOR = 64.0

_MACHEPS = float(np.finfo(np.float64).eps)


# -- losses -----------------------------------------------------------------------


def _check_loss(loss: str) -> str:
    name = str(loss).strip().lower()
    if name not in LOSSES:
        msg = f"`loss` must be one of {', '.join(LOSSES)}; got {loss!r}"
        raise OptionError(msg)
    return name


def _match_target(y: F64, target: npt.ArrayLike | None, loss: str) -> F64:
    """Return ``target`` as float64 shaped like ``y`` (a trailing axis of 1 may differ)."""
    if target is None:
        msg = f"loss {loss!r} needs a target; pass `target` (or use loss='sum')"
        raise UsageError(msg)
    t = np.asarray(target, dtype=np.float64)
    if t.shape != y.shape:
        if t.shape + (1,) == y.shape or t.shape == y.shape + (1,):
            t = t.reshape(y.shape)
        else:
            msg = (
                f"target has shape {t.shape} but the convolution output has shape {y.shape};"
                " they must be equal"
            )
            raise ShapeError(msg)
    return t


def _loss_terms(y: F64, t: F64 | None, loss: str, n: int) -> tuple[F64, float]:
    """Per-output loss terms and the factor that turns their sum into the loss (``n`` outputs)."""
    if loss == "sum":
        return y, 1.0
    assert t is not None
    d = y - t
    if loss == "mse":
        return d * d, 1.0 / n
    if loss == "sse":
        return 0.5 * (d * d), 1.0
    return np.abs(d), 1.0 / n


def _loss_slope(y: F64, t: F64 | None, loss: str, n: int) -> F64:
    """``|d loss / d y|`` per output (an upper bound on either side of an ``l1`` kink)."""
    if loss == "sum":
        return np.ones_like(y)
    if loss == "l1":
        return np.full_like(y, 1.0 / n)
    assert t is not None
    d = np.abs(y - t)
    return d * (2.0 / n) if loss == "mse" else d


def loss_value_and_grad(
    y: npt.ArrayLike, target: npt.ArrayLike | None, loss: str
) -> tuple[float, F64]:
    """Value of a loss and its gradient with respect to the output.

    ========  ===========================  ======================
    loss      value ``L``                  ``dL/dy``
    ========  ===========================  ======================
    ``mse``   ``mean((y - t)**2)``         ``2 (y - t) / N``
    ``sse``   ``sum((y - t)**2) / 2``      ``y - t``
    ``l1``    ``mean(|y - t|)``            ``sign(y - t) / N`` (0 where ``y == t``)
    ``sum``   ``sum(y)``                   ``1``
    ========  ===========================  ======================

    ``N`` is the number of values in ``y``.

    Parameters
    ----------
    y : ndarray, shape (H', W') or (H', W', C')
        Output of the convolution.
    target : ndarray, same shape as ``y``, or None
        Desired output.  Only ``sum`` accepts ``None`` (and ignores a target).
        A missing or extra trailing axis of length 1 is tolerated.
    loss : {"mse", "sse", "l1", "sum"}
        Loss name.

    Returns
    -------
    loss : float
        The loss value.
    grad : ndarray, shape of ``y``, float64
        ``dL/dy``.

    Raises
    ------
    OptionError
        Unknown loss name.
    UsageError
        No target for a loss that needs one.
    ShapeError
        Target and output shapes differ (both are named).

    Examples
    --------
    >>> value, grad = loss_value_and_grad([1.0, 2.0], [0.0, 2.0], "l1")
    >>> value, grad.tolist()
    (0.5, [0.5, 0.0])
    """
    name = _check_loss(loss)
    yy = np.asarray(y, dtype=np.float64)
    if name == "sum":
        return float(np.sum(yy)), np.ones_like(yy)
    t = _match_target(yy, target, name)
    d = yy - t
    n = d.size
    if name == "mse":
        return float(np.mean(d * d)), d * (2.0 / n)
    if name == "sse":
        return float(0.5 * np.sum(d * d)), d
    return float(np.mean(np.abs(d))), np.sign(d) / n


# -- shared set-up -----------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """A forward convolution resolved once: padded image, kernel, geometry."""

    x_shape: tuple[int, ...]
    xp: FloatArray  # (Hp, Wp, C) padded image
    kernel: F64  # kernel in forward (correlation) orientation, as given rank
    kernel_shape: tuple[int, ...]
    geom: Geometry
    border: str
    out_channels: int
    depthwise: bool
    flip: bool
    threads: int | None

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the forward output as :func:`convcli.correlate` returns it."""
        oh, ow = self.geom.out_hw
        if len(self.x_shape) == 2 and self.out_channels == 1:
            return (oh, ow)
        return (oh, ow, self.out_channels)

    def forward(self) -> FloatArray:
        """Forward output ``(H', W', C')`` (always 3-D)."""
        return correlate_padded(self.xp, self.kernel, self.geom, threads=self.threads)

    def shaped(self, y: FloatArray) -> FloatArray:
        """Drop the channel axis the way :func:`convcli.correlate` does."""
        return y[:, :, 0] if len(self.out_shape) == 2 else y

    def upstream(self, grad_out: npt.ArrayLike) -> FloatArray:
        """``grad_out`` as a contiguous ``(H', W', C')`` array in the working dtype."""
        g = np.asarray(grad_out)
        oh, ow = self.geom.out_hw
        want = (oh, ow, self.out_channels)
        if g.ndim == 2 and self.out_channels == 1:
            g = g[:, :, None]
        if g.shape != want:
            msg = (
                f"`grad_out` has shape {g.shape} but the forward output has shape"
                f" {self.out_shape}; they must be equal"
            )
            raise ShapeError(msg)
        return np.ascontiguousarray(g, dtype=self.xp.dtype)


def _problem(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec,
    border: str,
    cval: float,
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
    flip: bool,
    anchor: Pair | None,
    dtype: npt.DTypeLike | None,
    threads: int | None,
) -> _Problem:
    img = check_image(x)
    k = check_kernel(w)
    mode = canonical_border(border)
    dt = result_dtype(img, np.float64 if dtype is None else dtype)
    kf, anchor_f = flip_kernel(k, anchor) if flip else (k, anchor)
    geom = make_geometry(
        (img.shape[0], img.shape[1]),
        (k.shape[-2], k.shape[-1]),
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=anchor_f,
    )
    o, _c, _hw, depthwise = kernel_dims(k.shape, img.shape[2])
    xp = pad(img, geom.pad_rows, geom.pad_cols, border=mode, cval=cval, dtype=dt)
    return _Problem(
        x_shape=tuple(np.shape(x)),
        xp=xp,
        kernel=kf,
        kernel_shape=k.shape,
        geom=geom,
        border=mode,
        out_channels=o,
        depthwise=depthwise,
        flip=flip,
        threads=threads,
    )


def _strips(geom: Geometry, channels: int, itemsize: int) -> list[tuple[int, int]]:
    """Output row ranges of about :data:`GRAD_STRIP_BYTES` each."""
    oh, ow = geom.out_hw
    per_row = max(1, ow * channels * itemsize)
    rows = max(1, min(oh, GRAD_STRIP_BYTES // per_row))
    return [(r, min(r + rows, oh)) for r in range(0, oh, rows)]


def _run_parallel(
    fn: Callable[[tuple[int, int]], _T], jobs: list[tuple[int, int]], n: int
) -> list[_T]:
    """``[fn(j) for j in jobs]``, on ``n`` threads when there is more than one job."""
    n = min(n, len(jobs))
    if n <= 1:
        return [fn(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, jobs))


# -- the two gradients, on a resolved problem ----------------------------------------


def _kernel_grad_padded(prob: _Problem, g: FloatArray) -> F64:
    """dL/dw in forward orientation, shape ``(kh, kw)`` or ``(O, C, kh, kw)``."""
    xp, geom = prob.xp, prob.geom
    c = xp.shape[2]
    o = g.shape[2]
    kh, kw = geom.kernel_hw
    ow = geom.out_hw[1]
    dt = xp.dtype

    # Few (o, c) pairs: one BLAS dot per pair on channel-planar copies beats a
    # (o, N) @ (N, c) product with a long inner dimension by 2-3x.
    pairwise = o * c <= 16

    def run_strip(bounds: tuple[int, int]) -> F64:
        r0, r1 = bounds
        n = (r1 - r0) * ow
        gs = g[r0:r1]
        if prob.depthwise:
            tmp = np.empty((r1 - r0, ow, c), dtype=dt)
            gflat = gs.reshape(-1)
            tflat = tmp.reshape(-1)
            part = np.empty((kh, kw), dtype=np.float64)
        else:
            tmp = np.empty((c, r1 - r0, ow), dtype=dt)
            tplanar = tmp.reshape(c, n)
            gplanar = np.ascontiguousarray(gs.reshape(n, o).T)
            part = np.empty((kh, kw, o, c), dtype=np.float64)
        for p in range(kh):
            for q in range(kw):
                rs, cs = geom.tap_slices(p, q, r0, r1)
                src = xp[rs, cs]
                # a contiguous copy lets BLAS do the reduction; it stays in cache
                if prob.depthwise:
                    np.copyto(tmp, src)
                    part[p, q] = np.dot(gflat, tflat)
                    continue
                np.copyto(tmp, src.transpose(2, 0, 1))
                if pairwise:
                    for oo in range(o):
                        for cc in range(c):
                            part[p, q, oo, cc] = np.dot(gplanar[oo], tplanar[cc])
                else:
                    part[p, q] = gplanar @ tplanar.T
        return part

    strips = _strips(geom, max(c, o), dt.itemsize)
    parts = _run_parallel(run_strip, strips, prob.threads or default_threads())
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    if prob.depthwise:
        return total
    return np.ascontiguousarray(total.transpose(2, 3, 0, 1))


def _input_grad_padded(prob: _Problem, g: FloatArray) -> FloatArray:
    """dL/dx, shape ``(H, W, C)``, in the working dtype."""
    xp, geom = prob.xp, prob.geom
    hp, wp, c = xp.shape
    o = g.shape[2]
    kh, kw = geom.kernel_hw
    ow = geom.out_hw[1]
    sh = geom.stride[0]
    dh = geom.dilation[0]
    dt = xp.dtype
    gp = np.zeros((hp, wp, c), dtype=dt)
    taps = nonzero_taps(prob.kernel, c, dt, transpose=False)

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        gs = g[r0:r1]
        tmp = np.empty((r1 - r0, ow, c), dtype=dt)
        for p, q, wt in taps:
            rs, cs = geom.tap_slices(p, q, r0, r1)
            if prob.depthwise:
                np.multiply(gs, wt, out=tmp)
            else:
                np.matmul(gs, wt, out=tmp)
            gp[rs, cs] += tmp

    strips = _strips(geom, max(c, o), dt.itemsize)
    n_threads = prob.threads or default_threads()
    # A strip writes padded rows [r0*S, (r1-1)*S + (kh-1)*D + 1): nearby strips share a
    # halo.  Strips are run in waves (every m-th strip) chosen so that no two strips of
    # a wave overlap; the wave order is kept on one thread too, so results never
    # depend on the thread count.
    spans = [(r0 * sh, (r1 - 1) * sh + (kh - 1) * dh + 1) for r0, r1 in strips]
    m = 1
    while any(spans[i][1] > spans[i + m][0] for i in range(len(spans) - m)):
        m += 1
    for wave in range(m):
        _run_parallel(run_strip, strips[wave::m], n_threads)
    hw = (prob.x_shape[0], prob.x_shape[1])
    return fold_padding(gp, hw, geom.pad_rows, geom.pad_cols, border=prob.border)


def _as_given_orientation(prob: _Problem, gk: F64) -> F64:
    gk = gk.reshape(prob.kernel_shape)
    if prob.flip:
        gk = np.ascontiguousarray(gk[..., ::-1, ::-1])
    return gk


def _as_given_image(prob: _Problem, gx: FloatArray) -> FloatArray:
    return gx[:, :, 0] if len(prob.x_shape) == 2 else gx


# -- public gradients -----------------------------------------------------------------


def kernel_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    grad_out: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> F64:
    """Gradient of a loss with respect to the kernel, ``dL/dw``.

    ``dL/dw[o, c, p, q] = sum_{i,j} grad_out[i, j, o] * xpad[i*S + p*D, j*S + q*D, c]``

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image of the forward pass (any real dtype, its own units).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel of the forward pass, as given (before any flip).
    grad_out : ndarray, shape (H', W') or (H', W', C')
        ``dL/dy`` for the forward output ``y`` (its exact shape).
    padding, border, cval, stride, dilation, anchor, threads
        As for :func:`convcli.correlate`.
    flip : bool
        The forward was :func:`convcli.convolve` (kernel flipped).  The
        gradient is returned in the orientation of ``w`` as given.
    dtype : {float64, float32}
        Working precision (float64 by default; float32 for speed).

    Returns
    -------
    ndarray, shape of ``w``, float64
        For a 2-D (depthwise) kernel, the sum over channels of the per-channel
        gradients, since one kernel is shared by all channels.

    Raises
    ------
    ShapeError
        Kernel/image channel mismatch, empty output, or ``grad_out`` not of
        the forward output's shape.
    OptionError
        Invalid padding, border, stride, dilation or dtype.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(1, 4)
    >>> kernel_grad(x, [[0.0, 1.0, 0.0]], np.ones((1, 4)), border="constant")
    array([[3., 6., 6.]])
    """
    prob = _problem(
        x,
        w,
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=flip,
        anchor=anchor,
        dtype=dtype,
        threads=threads,
    )
    return _as_given_orientation(prob, _kernel_grad_padded(prob, prob.upstream(grad_out)))


def input_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    grad_out: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> FloatArray:
    """Gradient of a loss with respect to the input image, ``dL/dx``.

    The full convolution of ``grad_out`` with the kernel, scattered into the
    padded frame and folded back through the border mode (padded cells give
    their gradient to the pixel they copy; with ``constant`` it is dropped).

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image of the forward pass.
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel of the forward pass, as given.
    grad_out : ndarray, shape (H', W') or (H', W', C')
        ``dL/dy`` for the forward output ``y``.
    padding, border, cval, stride, dilation, flip, anchor, dtype, threads
        As for :func:`kernel_grad`.  ``cval`` does not change the result.

    Returns
    -------
    ndarray, shape of ``x``
        float64, or float32 when ``dtype=float32``.

    Raises
    ------
    ShapeError, OptionError
        As for :func:`kernel_grad`.

    Examples
    --------
    >>> import numpy as np
    >>> input_grad(np.zeros((1, 4)), [[1.0, 2.0, 3.0]], np.ones((1, 4)), border="constant")
    array([[3., 6., 6., 5.]])
    """
    prob = _problem(
        x,
        w,
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=flip,
        anchor=anchor,
        dtype=dtype,
        threads=threads,
    )
    return _as_given_image(prob, _input_grad_padded(prob, prob.upstream(grad_out)))


@dataclass(frozen=True)
class GradResult:
    """Loss, forward output and gradients of one convolution.

    Attributes
    ----------
    loss : float
        Loss value.
    output : ndarray, shape (H', W') or (H', W', C')
        Forward output ``y`` (as :func:`convcli.correlate` returns it).
    kernel_grad : ndarray, shape of the kernel as given
        ``dL/dw``.
    input_grad : ndarray, shape of the input, or None
        ``dL/dx`` when asked for.
    loss_name : str
        Name of the loss.
    """

    loss: float
    output: FloatArray
    kernel_grad: F64
    input_grad: FloatArray | None
    loss_name: str = "mse"


def loss_and_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None = None,
    *,
    loss: str = "mse",
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    with_input_grad: bool = False,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> GradResult:
    """Forward convolution, loss and backward pass in one call (pads the image once).

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image (the CLI passes it scaled to [0, 1]).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel, as given.
    target : ndarray, shape of the forward output, optional
        Required except for ``loss="sum"``.
    loss : {"mse", "sse", "l1", "sum"}
        See :func:`loss_value_and_grad`.
    padding, border, cval, stride, dilation, flip, anchor, dtype, threads
        As for :func:`kernel_grad`.
    with_input_grad : bool
        Also compute ``dL/dx``.

    Returns
    -------
    GradResult

    Examples
    --------
    >>> import numpy as np
    >>> res = loss_and_grad(np.ones((3, 3)), np.ones((1, 1)), loss="sum")
    >>> res.loss, res.kernel_grad.tolist()
    (9.0, [[9.0]])
    """
    name = _check_loss(loss)
    prob = _problem(
        x,
        w,
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=flip,
        anchor=anchor,
        dtype=dtype,
        threads=threads,
    )
    y = prob.shaped(prob.forward())
    value, g = loss_value_and_grad(y, target, name)
    g3 = prob.upstream(g)
    gk = _as_given_orientation(prob, _kernel_grad_padded(prob, g3))
    gx = _as_given_image(prob, _input_grad_padded(prob, g3)) if with_input_grad else None
    return GradResult(loss=value, output=y, kernel_grad=gk, input_grad=gx, loss_name=name)


# -- finite-difference check -------------------------------------------------------------


@dataclass(frozen=True)
class GradCheck:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    max_abs_err : float
        Largest ``|analytic - numerical|`` over the checked entries.
    max_rel_err : float
        Largest ``|analytic - numerical| / max(|analytic|, |numerical|, noise / rtol)``,
        where ``noise`` is the entry's estimated rounding noise (so entries that
        are zero up to rounding do not count as large relative errors).
    ok : bool
        Every checked entry is within ``rtol * max(|analytic|, |numerical|) + noise``;
        then ``max_rel_err <= 2 * rtol``.
    n_kernel : int
        Kernel entries checked (all of them).
    n_pixels : int
        Input values ``x[i, j, c]`` checked.
    n_kinks : int
        Probes in which some output crossed an ``l1`` kink (see :func:`check_gradients`).
    rtol : float
        Relative tolerance used.
    """

    max_abs_err: float
    max_rel_err: float
    ok: bool
    n_kernel: int
    n_pixels: int
    n_kinks: int = 0
    rtol: float = CHECK_RTOL


@dataclass
class _Tally:
    abs_errs: list[float] = field(default_factory=list)
    rel_errs: list[float] = field(default_factory=list)
    ok: bool = True
    kinks: int = 0


def check_gradients(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None = None,
    *,
    loss: str = "mse",
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    n_pixels: int = 64,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = CHECK_RTOL,
    threads: int | None = None,
) -> GradCheck:
    """Compare :func:`kernel_grad` and :func:`input_grad` with central finite differences.

    Every kernel entry and ``n_pixels`` input values ``x[i, j, c]`` drawn at
    random (all of them if the image has fewer) are perturbed by ``+-eps``;
    each probe runs the float64 forward (:func:`convcli.correlate` or
    :func:`convcli.convolve`) twice, so the cost is
    ``2 * (w.size + n_pixels)`` forward passes.

    Tolerance.  All four losses are at most quadratic in any single weight or
    pixel (the forward is linear), so the central difference has no
    truncation error: only rounding remains.  The difference
    ``L(+eps) - L(-eps)`` is summed output by output (outputs a probe does not
    touch cancel exactly), and its rounding noise is estimated from the sizes
    of the loss terms and of ``|dL/dy| * (|x| (*) |w|)`` over the outputs the
    probe changes, times 64, divided by ``eps``.  An entry passes when
    ``|analytic - numerical| <= rtol * max(|analytic|, |numerical|) + noise``.

    ``l1`` kinks.  ``|y - t|`` has no derivative at ``y == t``.  An output
    sitting exactly on a kink is harmless: its central difference is 0, the
    subgradient convcli uses.  An output that a ``+-eps`` probe moves across
    a kink (``sign(y - t)`` changes) would make the difference quotient
    meaningless, so it is left out of both sides of that comparison: out of
    the numerical sum, and its share ``dL/dy * dy/dtheta`` (with the measured
    ``dy/dtheta``, exact since the forward is linear) out of the analytic
    value.  ``n_kinks`` counts the probes where this happened.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image.
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel, as given.
    target : ndarray, shape of the forward output, optional
        Required except for ``loss="sum"``.
    loss : {"mse", "sse", "l1", "sum"}
        Loss to differentiate.
    padding, border, cval, stride, dilation, flip, anchor, threads
        As for :func:`kernel_grad`.
    n_pixels : int
        Number of input values to check (>= 0).
    seed : int
        Seed for choosing the input values.
    eps : float
        Finite-difference step (> 0).
    rtol : float
        Relative tolerance (>= 0).

    Returns
    -------
    GradCheck

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, t = rng.uniform(size=(2, 6, 6))
    >>> check_gradients(x, rng.normal(size=(3, 3)), t).ok
    True
    """
    name = _check_loss(loss)
    if isinstance(n_pixels, bool) or not isinstance(n_pixels, int) or n_pixels < 0:
        msg = f"`n_pixels` must be a non-negative integer; got {n_pixels!r}"
        raise OptionError(msg)
    if not (np.isfinite(eps) and eps > 0):
        msg = f"`eps` must be a positive number; got {eps!r}"
        raise OptionError(msg)
    if not (np.isfinite(rtol) and rtol >= 0):
        msg = f"`rtol` must be a non-negative number; got {rtol!r}"
        raise OptionError(msg)
    check_image(x)
    # contiguous float64 copies, perturbed in place one entry at a time
    x64 = np.array(x, dtype=np.float64, order="C")
    w64 = np.array(check_kernel(w), dtype=np.float64, order="C")
    options: dict[str, Any] = {
        "padding": padding,
        "border": border,
        "cval": cval,
        "stride": stride,
        "dilation": dilation,
        "anchor": anchor,
        "threads": threads,
    }
    op = convolve if flip else correlate

    def forward(xx: F64, ww: F64) -> F64:
        return np.asarray(op(xx, ww, dtype=np.float64, **options), dtype=np.float64)

    y0 = forward(x64, w64)
    _value, g = loss_value_and_grad(y0, target, name)
    t = None if name == "sum" else _match_target(y0, target, name)
    an_w = np.asarray(kernel_grad(x64, w64, g, flip=flip, dtype=np.float64, **options))
    an_x = np.asarray(input_grad(x64, w64, g, flip=flip, dtype=np.float64, **options))
    # size of each output's sum of products, for the rounding-noise estimate
    mag_y = np.asarray(
        op(np.abs(x64), np.abs(w64), dtype=np.float64, **{**options, "cval": abs(cval)})
    )
    tally = _Tally()

    sign0 = None if t is None else np.sign(y0 - t)

    def probe(arr: F64, idx: int, analytic: float) -> None:
        flat = arr.reshape(-1)  # a view: arr is C-contiguous
        old = flat[idx]
        flat[idx] = old + eps
        yp = forward(x64, w64)
        flat[idx] = old - eps
        ym = forward(x64, w64)
        flat[idx] = old
        keep = yp != ym  # outputs the probe does not reach cancel exactly
        if name == "l1":
            assert t is not None
            assert sign0 is not None
            crossing = (
                keep & (sign0 != 0) & ((np.sign(yp - t) != sign0) | (np.sign(ym - t) != sign0))
            )
            if crossing.any():
                # leave kink-crossing outputs out of both sides: their share of the
                # analytic value is dL/dy times the measured (exact, linear) dy/dtheta
                tally.kinks += 1
                slope = (yp[crossing] - ym[crossing]) / (2 * eps)
                analytic -= float(np.sum(g[crossing] * slope))
                keep &= ~crossing
        tk = None if t is None else t[keep]
        tp, norm = _loss_terms(yp[keep], tk, name, y0.size)
        tm, _ = _loss_terms(ym[keep], tk, name, y0.size)
        numeric = float(np.sum(tp - tm)) * norm / (2 * eps)
        # rounding of the loss terms, and of y itself (about macheps * |x| (*) |w|)
        # carried to the loss by its slope
        size = float(np.sum(np.abs(tp)) + np.sum(np.abs(tm))) * norm
        slope_pm = _loss_slope(yp[keep], tk, name, y0.size) + _loss_slope(
            ym[keep], tk, name, y0.size
        )
        size += float(np.sum(slope_pm * mag_y[keep]))
        noise = _NOISE_FACTOR * _MACHEPS * size / (2 * eps)
        err = abs(analytic - numeric)
        scale = max(abs(analytic), abs(numeric))
        tally.abs_errs.append(err)
        floor = noise / rtol if rtol > 0 else noise
        tally.rel_errs.append(err / max(scale, floor, np.finfo(np.float64).tiny))
        if err > rtol * scale + noise:
            tally.ok = False

    an_w_flat = an_w.reshape(-1)
    for k in range(w64.size):
        probe(w64, k, float(an_w_flat[k]))
    an_x_flat = an_x.reshape(-1)
    n_x = min(n_pixels, x64.size)
    chosen = np.random.default_rng(seed).choice(x64.size, size=n_x, replace=False)
    for k in chosen.tolist():
        probe(x64, int(k), float(an_x_flat[k]))
    return GradCheck(
        max_abs_err=max(tally.abs_errs, default=0.0),
        max_rel_err=max(tally.rel_errs, default=0.0),
        ok=tally.ok,
        n_kernel=w64.size,
        n_pixels=n_x,
        n_kinks=tally.kinks,
        rtol=rtol,
    )


# -- fitting a kernel --------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit_kernel`.

    Attributes
    ----------
    kernel : ndarray, shape (kh, kw) (depthwise) or (O, C, kh, kw)
        Fitted kernel, in correlation orientation, float64.
    loss : float
        Mean squared error of ``correlate(x, kernel)`` against the target.
    method : str
        ``"lstsq"`` or ``"gd"``.
    steps : int
        Gradient steps taken (0 for ``lstsq``).
    history : list of float
        ``gd``: the loss at the start of every step; ``lstsq``: empty.
    """

    kernel: F64
    loss: float
    method: str
    steps: int
    history: list[float] = field(default_factory=list)


def _fit_target(t: npt.ArrayLike, x_shape: tuple[int, ...], out: tuple[int, int, int]) -> F64:
    """Target as ``(H', W', O)`` float64, checked against the forward output shape."""
    arr = np.asarray(t)
    if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
        msg = f"target must be a real array of shape (H, W) or (H, W, C); got shape {arr.shape}"
        raise ShapeError(msg)
    t3 = np.asarray(arr[:, :, None] if arr.ndim == 2 else arr, dtype=np.float64)
    oh, ow, o = out
    expect: tuple[int, ...] = (oh, ow) if len(x_shape) == 2 and o == 1 else (oh, ow, o)
    if o < 0:  # full kernels: the target's channels define O
        o = t3.shape[2]
        expect = (oh, ow) if arr.ndim == 2 else (oh, ow, o)
    if t3.shape != (oh, ow, o):
        msg = (
            f"target has shape {arr.shape} but the convolution of the input {x_shape} gives"
            f" shape {expect}; they must be equal"
        )
        raise ShapeError(msg)
    if not np.all(np.isfinite(t3)):
        msg = "target contains NaN or infinite values"
        raise ShapeError(msg)
    return t3


def _normal_equations(prob: _Problem, t3: F64, tile_rows: int) -> tuple[F64, F64]:
    """Accumulate ``A^T A`` and ``A^T b`` over row tiles of the output.

    ``A`` is the im2col matrix of the padded image (one row per output value
    for depthwise, one row per output pixel otherwise); a tile of it holds
    ``tile_rows`` output rows and is discarded after use.
    """
    xp, geom = prob.xp, prob.geom
    c = xp.shape[2]
    kh, kw = geom.kernel_hw
    oh, ow = geom.out_hw
    taps = [(p, q) for p in range(kh) for q in range(kw)]
    n_t = len(taps)
    o = t3.shape[2]
    n_cols = n_t if prob.depthwise else c * n_t
    ata = np.zeros((n_cols, n_cols))
    atb = np.zeros((n_cols, 1 if prob.depthwise else o))
    for r0 in range(0, oh, tile_rows):
        r1 = min(r0 + tile_rows, oh)
        n = r1 - r0
        if prob.depthwise:
            # rows of A are (i, j, c): every channel is one more sample for the shared kernel
            block = np.empty((n_t, n, ow, c))
            for t, (p, q) in enumerate(taps):
                rs, cs = geom.tap_slices(p, q, r0, r1)
                block[t] = xp[rs, cs]
            at = block.reshape(n_t, -1)
            b = t3[r0:r1].reshape(-1, 1)
        else:
            # rows of A are pixels (i, j); columns (c, p, q) match w[o].reshape(-1)
            block = np.empty((c, n_t, n, ow))
            for t, (p, q) in enumerate(taps):
                rs, cs = geom.tap_slices(p, q, r0, r1)
                block[:, t] = np.moveaxis(xp[rs, cs], 2, 0)
            at = block.reshape(c * n_t, -1)
            b = t3[r0:r1].reshape(-1, o)
        ata += at @ at.T
        atb += at @ b
    return ata, atb


def _adam(
    prob: _Problem,
    t3: F64,
    w0: F64,
    *,
    steps: int,
    lr: float,
    callback: Callable[[int, float], object] | None,
) -> tuple[F64, list[float]]:
    """Adam (beta1 0.9, beta2 0.999, epsilon 1e-8) on the mean squared error."""
    b1, b2, tiny = 0.9, 0.999, 1e-8
    k = w0.copy()
    m = np.zeros_like(k)
    v = np.zeros_like(k)
    history: list[float] = []
    for step in range(1, steps + 1):
        current = replace(prob, kernel=k)
        y = current.forward()
        value, g = loss_value_and_grad(y, t3, "mse")
        grad = _kernel_grad_padded(current, g).reshape(k.shape)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        m_hat = m / (1 - b1**step)
        v_hat = v / (1 - b2**step)
        k = k - lr * m_hat / (np.sqrt(v_hat) + tiny)
        history.append(value)
        if callback is not None:
            callback(step, value)
    return k, history


def fit_kernel(
    x: npt.ArrayLike,
    target: npt.ArrayLike,
    size: int | Sequence[int],
    *,
    method: str = "lstsq",
    depthwise: bool = True,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    steps: int = 500,
    lr: float = 0.01,
    seed: int = 0,
    callback: Callable[[int, float], object] | None = None,
    tile_rows: int | None = None,
    threads: int | None = None,
) -> FitResult:
    """Find the kernel whose correlation with ``x`` best matches ``target`` (least squares).

    Images are used as given, in float64 (the CLI scales them to [0, 1]).

    ``lstsq`` solves the problem exactly.  It never builds the image-sized
    im2col matrix ``A``: it adds up ``A^T A`` and ``A^T b`` over tiles of
    output rows (each tile's block of ``A`` is at most about 4 MB), then
    solves the small ``(K*K)`` or ``(C*K*K)`` system with
    :func:`numpy.linalg.lstsq`, which also copes with rank deficiency
    (e.g. a constant image) by returning the minimum-norm kernel.

    ``gd`` runs ``steps`` steps of Adam on the mean squared error, starting
    from a small random kernel (``seed``), using :func:`kernel_grad` for the
    gradient; ``callback(step, loss)`` is called after every step.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image.
    target : ndarray, shape (H', W') or (H', W', C')
        Desired output; ``(H', W')`` must be the forward output size.  For a
        depthwise fit ``C' = C``; otherwise ``C'`` is the number of output
        channels ``O``.
    size : int or (int, int)
        Kernel size ``K`` or ``(kh, kw)``.
    method : {"lstsq", "gd"}
        Exact least squares or gradient descent.
    depthwise : bool
        True: one 2-D kernel shared by all channels (channels are extra
        samples).  False: an ``(O, C, kh, kw)`` kernel, one least-squares
        problem per output channel, all sharing ``A^T A``.
    padding, border, cval, stride, dilation, threads
        As for :func:`convcli.correlate`.
    steps : int
        ``gd`` only: number of Adam steps (>= 1).
    lr : float
        ``gd`` only: Adam learning rate (> 0).
    seed : int
        ``gd`` only: seed of the initial kernel.
    callback : callable ``(step, loss)``, optional
        ``gd`` only: called after every step (step counts from 1).
    tile_rows : int, optional
        ``lstsq`` only: output rows per tile (default: as many as fit in about 4 MB).

    Returns
    -------
    FitResult

    Raises
    ------
    ShapeError
        ``target`` is not the shape of the forward output (both shapes are
        named), or holds NaN/Inf.
    OptionError
        Unknown method or a bad number.

    Examples
    --------
    >>> import numpy as np
    >>> from convcli.engine import correlate
    >>> x = np.random.default_rng(1).uniform(size=(12, 12))
    >>> k = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    >>> fit = fit_kernel(x, correlate(x, k, dtype=np.float64), 3)
    >>> bool(np.allclose(fit.kernel, k))
    True
    """
    name = str(method).strip().lower()
    if name not in FIT_METHODS:
        msg = f"`method` must be one of {', '.join(FIT_METHODS)}; got {method!r}"
        raise OptionError(msg)
    kh, kw = as_pair(size, "size")
    img = check_image(x)
    c = img.shape[2]
    if not np.all(np.isfinite(img)):
        msg = "image contains NaN or infinite values"
        raise ShapeError(msg)
    t_arr = np.asarray(target)
    o_fit = t_arr.shape[2] if t_arr.ndim == 3 else 1
    shape = (kh, kw) if depthwise else (o_fit, c, kh, kw)
    prob = _problem(
        img if np.ndim(x) == 3 else img[:, :, 0],
        np.zeros(shape),
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        flip=False,
        anchor=None,
        dtype=np.float64,
        threads=threads,
    )
    oh, ow = prob.geom.out_hw
    t3 = _fit_target(target, prob.x_shape, (oh, ow, c if depthwise else -1))

    if name == "lstsq":
        if tile_rows is None:
            per_row = ow * c * kh * kw * 8
            rows = max(1, FIT_TILE_BYTES // per_row)
        elif isinstance(tile_rows, bool) or not isinstance(tile_rows, int) or tile_rows < 1:
            msg = f"`tile_rows` must be a positive integer; got {tile_rows!r}"
            raise OptionError(msg)
        else:
            rows = tile_rows
        ata, atb = _normal_equations(prob, t3, rows)
        sol = np.asarray(np.linalg.lstsq(ata, atb, rcond=None)[0], dtype=np.float64)
        kernel: F64 = sol[:, 0].reshape(kh, kw) if depthwise else sol.T.reshape(shape)
        history: list[float] = []
        n_steps = 0
    else:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            msg = f"`steps` must be a positive integer; got {steps!r}"
            raise OptionError(msg)
        if not (np.isfinite(lr) and lr > 0):
            msg = f"`lr` must be a positive number; got {lr!r}"
            raise OptionError(msg)
        fan_in = kh * kw * (1 if depthwise else c)
        w0 = np.random.default_rng(seed).normal(scale=1.0 / fan_in, size=shape)
        kernel, history = _adam(prob, t3, w0, steps=steps, lr=lr, callback=callback)
        n_steps = steps
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    final = replace(prob, kernel=kernel).forward()
    loss = float(np.mean((final - t3) ** 2))
    return FitResult(kernel=kernel, loss=loss, method=name, steps=n_steps, history=history)
