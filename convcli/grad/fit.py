"""Fitting a kernel to an input and a target: exact least squares, or gradient descent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from convcli import config
from convcli.array_types import F64Array
from convcli.conv_options import ConvOptions
from convcli.engine import check_image
from convcli.errors import OptionError, ShapeError
from convcli.grad.backward import _kernel_grad_padded
from convcli.grad.losses import loss_value_and_grad
from convcli.grad.problem import _Problem, _problem
from convcli.parsing import one_of
from convcli.shapes import PaddingSpec, as_pair

__all__ = ["FIT_METHODS", "FitResult", "fit_kernel", "fit_kernel_with"]

#: Methods accepted by :func:`fit_kernel`.
FIT_METHODS = ("lstsq", "gd")


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
        Gradient steps taken (0 for ``lstsq``; fewer than asked when ``gd`` stopped early).
    history : list of float
        ``gd``: the loss at the start of every step; ``lstsq``: empty.
    """

    kernel: F64Array
    loss: float
    method: str
    steps: int
    history: list[float] = field(default_factory=list)


def _fit_target(t: npt.ArrayLike, x_shape: tuple[int, ...], out: tuple[int, int, int]) -> F64Array:
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


def _normal_equations(prob: _Problem, t3: F64Array, tile_rows: int) -> tuple[F64Array, F64Array]:
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
    t3: F64Array,
    w0: F64Array,
    *,
    steps: int,
    lr: float,
    callback: Callable[[int, float], object] | None,
) -> tuple[F64Array, list[float]]:
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


#: Relative loss decrease below which gradient descent stops early.
GD_TOL = 1e-7
#: Loss, relative to the first step's, below which it stops too (float64 rounding:
#: an exact fit's loss then wanders near 1e-25 without settling).
GD_FLOOR = 1e-20


def _descend(
    prob: _Problem,
    t3: F64Array,
    w0: F64Array,
    *,
    steps: int,
    callback: Callable[[int, float], object] | None,
) -> tuple[F64Array, list[float]]:
    """Gradient descent along conjugate directions (Polak-Ribiere+) with exact line search.

    The mean squared error is quadratic in the kernel (the forward is linear
    in it for every border), so the best step along a direction ``d`` is
    ``-<r, A d> / |A d|^2`` with ``A d`` one more forward pass: no learning
    rate to tune, and on a quadratic the directions are those of linear
    conjugate gradients, which reach the least-squares kernel in at most as
    many steps as it has weights (a 9x9 blur of a photo: ~20).  Stops early
    when a step lowers the loss by less than :data:`GD_TOL` of itself, or the
    loss falls below :data:`GD_FLOOR` of the first one.
    """
    k = w0.copy()
    history: list[float] = []
    d = g_prev = None
    for step in range(1, steps + 1):
        current = replace(prob, kernel=k)
        y = current.forward()
        value, gy = loss_value_and_grad(y, t3, "mse")
        history.append(value)
        if callback is not None:
            callback(step, value)
        if value <= GD_FLOOR * history[0] or (
            step > 1 and history[-2] - value <= GD_TOL * history[-2]
        ):
            break
        grad = _kernel_grad_padded(current, gy).reshape(k.shape)
        gg = float(np.vdot(grad, grad))
        if gg == 0.0:
            break
        if d is None or g_prev is None:
            d = -grad
        else:
            beta = max(0.0, float(np.vdot(grad, grad - g_prev)) / float(np.vdot(g_prev, g_prev)))
            d = beta * d - grad
        ad = replace(prob, kernel=d).forward()
        denom = float(np.vdot(ad, ad))
        if not denom > 0.0:
            break
        k = k - (float(np.vdot(y - t3, ad)) / denom) * d
        g_prev = grad
    return k, history


def _check_method(method: str) -> str:
    """The canonical name of a fitting method."""
    return one_of(method, FIT_METHODS, "method")


def _tile_rows(tile_rows: int | None, prob: _Problem) -> int:
    """Rows per im2col tile: ``tile_rows``, or as many as fit in ``config.FIT_TILE_BYTES``."""
    if tile_rows is None:
        c: int = prob.xp.shape[2]
        kh, kw = prob.geom.kernel_hw
        ow = prob.geom.out_hw[1]
        per_row = ow * c * kh * kw * 8
        return max(1, config.FIT_TILE_BYTES // per_row)
    if isinstance(tile_rows, bool) or not isinstance(tile_rows, int) or tile_rows < 1:
        msg = f"`tile_rows` must be a positive integer; got {tile_rows!r}"
        raise OptionError(msg)
    return tile_rows


def _fit_lstsq(prob: _Problem, t3: F64Array, tile_rows: int | None) -> F64Array:
    """The least-squares kernel, from the normal equations summed over row tiles."""
    rows = _tile_rows(tile_rows, prob)
    ata, atb = _normal_equations(prob, t3, rows)
    sol = np.asarray(np.linalg.lstsq(ata, atb, rcond=None)[0], dtype=np.float64)
    kh, kw = prob.geom.kernel_hw
    kernel: F64Array = (
        sol[:, 0].reshape(kh, kw) if prob.depthwise else sol.T.reshape(prob.kernel_shape)
    )
    return kernel


def _fit_gd(
    prob: _Problem,
    t3: F64Array,
    *,
    steps: int,
    lr: float | None,
    seed: int,
    callback: Callable[[int, float], object] | None,
) -> tuple[F64Array, list[float]]:
    """Descent from a small random kernel (``seed``): line-searched, or Adam at rate ``lr``.

    Returns the kernel and the loss before each step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        msg = f"`steps` must be a positive integer; got {steps!r}"
        raise OptionError(msg)
    if lr is not None and not (np.isfinite(lr) and lr > 0):
        msg = f"`lr` must be a positive number; got {lr!r}"
        raise OptionError(msg)
    kh, kw = prob.geom.kernel_hw
    fan_in = kh * kw * (1 if prob.depthwise else prob.xp.shape[2])
    w0 = np.random.default_rng(seed).normal(scale=1.0 / fan_in, size=prob.kernel_shape)
    if lr is None:
        return _descend(prob, t3, w0, steps=steps, callback=callback)
    return _adam(prob, t3, w0, steps=steps, lr=lr, callback=callback)


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
    lr: float | None = None,
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

    ``gd`` runs gradient descent on the mean squared error from a small
    random kernel (``seed``), using the kernel gradient: by default along
    conjugate directions with an exact line search (the loss is quadratic in
    the kernel), stopping early once a step gains less than
    :data:`GD_TOL` of the loss, so it converges to the least-squares kernel
    without a learning rate; with ``lr`` given, ``steps`` steps of Adam at
    that rate.  ``callback(step, loss)`` is called after every step.

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
        ``gd`` only: the most steps to take (>= 1).
    lr : float, optional
        ``gd`` only: run Adam at this learning rate (> 0) instead of the
        line-searched descent.
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
    opts = ConvOptions(padding=padding, border=border, cval=cval, stride=stride, dilation=dilation)
    return fit_kernel_with(
        x,
        target,
        size,
        opts,
        method=method,
        depthwise=depthwise,
        steps=steps,
        lr=lr,
        seed=seed,
        callback=callback,
        tile_rows=tile_rows,
        threads=threads,
    )


def fit_kernel_with(
    x: npt.ArrayLike,
    target: npt.ArrayLike,
    size: int | Sequence[int],
    opts: ConvOptions,
    *,
    method: str = "lstsq",
    depthwise: bool = True,
    steps: int = 500,
    lr: float | None = None,
    seed: int = 0,
    callback: Callable[[int, float], object] | None = None,
    tile_rows: int | None = None,
    threads: int | None = None,
) -> FitResult:
    """:func:`fit_kernel` with the geometry options as one :class:`ConvOptions`.

    ``anchor`` and ``flip`` are ignored: the fitted kernel is in correlation
    orientation, anchored at ``k // 2``.
    """
    if opts.anchor is not None or opts.flip:
        opts = opts.replace(anchor=None, flip=False)
    name = _check_method(method)
    kh, kw = as_pair(size, "size")
    img = check_image(x)
    c = img.shape[2]
    if not np.all(np.isfinite(img)):
        msg = "image contains NaN or infinite values"
        raise ShapeError(msg)
    t_arr = np.asarray(target)
    o_fit = t_arr.shape[2] if t_arr.ndim == 3 else 1
    shape = (kh, kw) if depthwise else (o_fit, c, kh, kw)
    image = img if np.ndim(x) == 3 else img[:, :, 0]
    prob = _problem(image, np.zeros(shape), opts, dtype=np.float64, threads=threads)
    oh, ow = prob.geom.out_hw
    t3 = _fit_target(target, prob.x_shape, (oh, ow, c if depthwise else -1))

    if name == "lstsq":
        kernel = _fit_lstsq(prob, t3, tile_rows)
        history: list[float] = []
        n_steps = 0
    else:
        kernel, history = _fit_gd(prob, t3, steps=steps, lr=lr, seed=seed, callback=callback)
        n_steps = len(history)
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    final = replace(prob, kernel=kernel).forward()
    loss = float(np.mean((final - t3) ** 2))
    return FitResult(kernel=kernel, loss=loss, method=name, steps=n_steps, history=history)
