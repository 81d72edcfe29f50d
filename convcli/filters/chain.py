"""A kernel chain over an image array: prepare the kernels, check the range, run the steps.

:func:`filter_array` runs the chain (``--repeat`` times) through the engine in
float, never rounding or clipping between steps; alpha is kept, filtered or
premultiplied.  Every call into the engine goes through :func:`_correlate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array, FloatArray
from convcli.engine import correlate_with
from convcli.errors import ImageError, OptionError, RangeError
from convcli.filters.options import ALPHA_MODES, FilterOptions
from convcli.parsing import one_of
from convcli.shapes import Pair

if TYPE_CHECKING:
    from convcli.conv_options import ConvOptions
    from convcli.kernelspec import Kernel

__all__ = ["ChainCorrelate", "alpha_weighted", "check_range", "filter_array", "prepare_kernels"]

#: Where ``conv(a)`` is at most this fraction of ``conv(1)``, no visible pixel is near and
#: the colour is filtered as is (rounding of the engine's sums stays far below it).
_ALPHA_FLOOR = 1e-5

#: ``correlate(x, w, conv, dtype)``: what a step of the chain calls instead of
#: the engine (``conv`` already holds the kernel's anchor).  :mod:`convcli.dask`
#: passes its lazy, chunked correlation, so the chain runs on dask arrays.
ChainCorrelate = Callable[[Any, "F64Array", "ConvOptions", type[np.floating]], Any]


def prepare_kernels(kernels: Sequence[Kernel], options: FilterOptions) -> list[Kernel]:
    """Apply ``normalize``, ``scale`` and ``convolve`` (flip) to each kernel."""
    return [
        k.transformed(normalize=options.normalize, scale=options.scale, flip=options.convolve)
        for k in kernels
    ]


def _delta_like(kernel: Kernel) -> F64Array:
    """A 2-D kernel of the same size with a single 1 at the anchor (moves pixels, no blur)."""
    kh, kw = kernel.weights.shape[-2:]
    delta = np.zeros((kh, kw))
    delta[kernel.effective_anchor] = 1.0
    return delta


def check_range(
    x: npt.NDArray[np.generic],
    kernels: Sequence[Kernel],
    repeat: int,
    dtype: type[np.floating],
    *,
    offset: float = 0.0,
) -> None:
    """Refuse a chain whose results could overflow ``dtype``, before any work.

    Each step can grow the largest magnitude by at most ``sum(|w|)`` (plus its
    offset), so this bound is exact enough to only ever reject absurd weights.
    """
    if not np.isfinite(offset):
        msg = f"`offset` must be a finite number; got {offset!r}"
        raise OptionError(msg)
    bound = float(np.max(np.abs(x))) if x.size else 0.0
    if not np.isfinite(bound):
        msg = "the image contains NaN or infinite values"
        raise ImageError(msg)
    with np.errstate(over="ignore"):  # an overflowing bound is the answer, not a warning
        for _ in range(repeat):
            for k in kernels:
                bound = bound * float(np.abs(k.effective_weights).sum()) + abs(k.offset)
        bound += abs(offset)
    limit = float(np.finfo(dtype).max) / 16
    if not bound <= limit:
        msg = (
            f"kernel weights too large: results could reach {bound:.3g}, beyond what "
            f"{np.dtype(dtype).name} holds ({limit * 16:.3g}); use smaller weights"
            + (" or --precision float64" if dtype is np.float32 else "")
        )
        raise RangeError(msg)


def _correlate(
    x: npt.NDArray[np.generic],
    w: F64Array,
    conv: ConvOptions,
    *,
    anchor: Pair | None,
    dtype: type[np.floating],
    threads: int | None,
    rows: tuple[int, int] | None,
    hook: ChainCorrelate | None = None,
) -> FloatArray:
    """The one call into the engine: correlate ``x`` with ``w`` under ``conv``."""
    if hook is not None:
        return hook(x, w, conv.replace(anchor=anchor), dtype)  # type: ignore[no-any-return]
    return correlate_with(
        x, w, conv.replace(anchor=anchor), dtype=dtype, threads=threads, rows=rows
    )


def _check_request(opts: FilterOptions, n_kernels: int, rows: tuple[int, int] | None) -> None:
    """Refuse an unknown alpha mode, a repeat below 1 and ``rows`` the chain cannot do."""
    one_of(opts.alpha, ALPHA_MODES, "alpha", fold=False)
    if opts.repeat < 1:
        msg = f"`repeat` must be a positive integer; got {opts.repeat}"
        raise OptionError(msg)
    if rows is not None and (n_kernels != 1 or opts.repeat != 1 or opts.alpha == "premultiply"):
        msg = "`rows` needs a single kernel, repeat 1 and no alpha premultiplication"
        raise OptionError(msg)


def _split_alpha(
    x: npt.NDArray[np.generic],
    *,
    has_alpha: bool,
    premultiply: bool,
    max_value: float,
    dtype: type[np.floating],
) -> tuple[FloatArray, FloatArray | None]:
    """Colour channels and alpha (or None); colour times alpha when premultiplying."""
    colour: FloatArray = x[..., :-1] if has_alpha else x  # type: ignore[assignment]
    alpha: FloatArray | None = x[..., -1:] if has_alpha else None  # type: ignore[assignment]
    if alpha is not None and premultiply:
        alpha = alpha.astype(dtype)
        colour = np.multiply(colour, alpha / dtype(max_value), dtype=dtype)
    return colour, alpha


def _chain_step(
    colour: FloatArray,
    alpha: FloatArray | None,
    kernel: Kernel,
    opts: FilterOptions,
    *,
    dtype: type[np.floating],
    rows: tuple[int, int] | None,
    hook: ChainCorrelate | None,
) -> tuple[FloatArray, FloatArray | None]:
    """One kernel on the colour channels, and on alpha as ``opts.alpha`` says.

    A 3-D/4-D kernel with one channel more than the colour reads alpha as a
    channel in ``filter`` mode (alpha then becomes part of the colour).
    Otherwise a 2-D kernel also filters alpha in ``filter`` and ``premultiply``
    modes; in every other case alpha is only moved (a delta at the anchor, so
    padding, stride and dilation still apply).
    """
    w = kernel.effective_weights
    depthwise = w.ndim == 2
    anchor = kernel.effective_anchor
    if alpha is not None and opts.alpha == "filter" and not depthwise:
        if w.shape[-3] == colour.shape[2] + 1:
            colour = np.concatenate([colour, alpha], axis=2)
            alpha = None
    threads = opts.threads
    colour = _correlate(
        colour, w, opts.conv, anchor=anchor, dtype=dtype, threads=threads, rows=rows, hook=hook
    )
    if kernel.offset:
        colour += dtype(kernel.offset)
    if alpha is not None:
        if depthwise and opts.alpha in ("filter", "premultiply"):
            alpha_w = w
        else:
            alpha_w = _delta_like(kernel)
        alpha = _correlate(
            alpha,
            alpha_w,
            opts.conv,
            anchor=anchor,
            dtype=dtype,
            threads=threads,
            rows=rows,
            hook=hook,
        )
    return colour, alpha


def _join_alpha(
    colour: FloatArray,
    alpha: FloatArray | None,
    *,
    premultiplied: bool,
    max_value: float,
    dtype: type[np.floating],
) -> FloatArray:
    """Colour with alpha appended (colour divided by alpha again if premultiplied)."""
    if alpha is None:
        return colour
    if premultiplied:
        safe = np.where(alpha > 0, alpha, 1.0)
        colour = np.where(alpha > 0, colour * (max_value / safe), 0.0).astype(dtype)
    return np.concatenate([colour, alpha.astype(dtype)], axis=2)


def filter_array(
    x: npt.NDArray[np.generic],
    kernels: Sequence[Kernel],
    *,
    has_alpha: bool = False,
    max_value: float = 255.0,
    options: FilterOptions | None = None,
    rows: tuple[int, int] | None = None,
    correlate: ChainCorrelate | None = None,
) -> FloatArray:
    """Run a kernel chain over an image array.

    Parameters
    ----------
    x : ndarray, shape (H, W, C)
        Pixels in image units; if ``has_alpha`` the last channel is alpha.
    kernels : sequence of Kernel
        The chain, already prepared (see :func:`prepare_kernels`).
    has_alpha : bool
        Whether the last channel is alpha.
    max_value : float
        Full-scale value (alpha is opaque at ``max_value``).
    options : FilterOptions
        Geometry and alpha options.
    rows : (int, int), optional
        Only output rows ``start:stop`` (single kernel, no repeat, no
        premultiplication): lets :func:`convcli.filters.filter_and_map` work
        band by band.
    correlate : ChainCorrelate, optional
        Called for every step instead of the engine (:mod:`convcli.dask`
        passes its lazy chunked correlation and a dask array as ``x``); the
        caller then checks the value range itself.

    Returns
    -------
    ndarray, shape (H', W', C')
        Float result (alpha last if the input had alpha), not rounded or clipped.
    """
    opts = options or FilterOptions()
    _check_request(opts, len(kernels), rows)
    dtype = opts.working_dtype
    if correlate is None and (rows is None or rows[0] == 0):
        check_range(x, kernels, opts.repeat, dtype, offset=opts.offset)
    premultiplied = has_alpha and opts.alpha == "premultiply"
    colour, alpha = _split_alpha(
        x, has_alpha=has_alpha, premultiply=premultiplied, max_value=max_value, dtype=dtype
    )
    if alpha is not None and alpha_weighted(kernels, opts):
        return _join_alpha(
            _weighted_colour(
                colour, alpha, kernels, opts, max_value=max_value, dtype=dtype, rows=rows
            ),
            _moved_alpha(alpha, kernels, opts, dtype=dtype, rows=rows),
            premultiplied=False,
            max_value=max_value,
            dtype=dtype,
        )
    for _ in range(opts.repeat):
        for kernel in kernels:
            colour, alpha = _chain_step(
                colour, alpha, kernel, opts, dtype=dtype, rows=rows, hook=correlate
            )
    if opts.offset:
        colour = colour + dtype(opts.offset)
    return _join_alpha(colour, alpha, premultiplied=premultiplied, max_value=max_value, dtype=dtype)


def alpha_weighted(kernels: Sequence[Kernel], opts: FilterOptions) -> bool:
    """Whether ``--alpha keep`` weights colour by alpha: every kernel 2-D with weights >= 0."""
    return opts.alpha == "keep" and all(
        k.effective_weights.ndim == 2 and bool(np.all(k.effective_weights >= 0)) for k in kernels
    )


def _run_linear(
    x: FloatArray,
    kernels: Sequence[Kernel],
    opts: FilterOptions,
    conv: ConvOptions,
    *,
    dtype: type[np.floating],
    rows: tuple[int, int] | None,
    offsets: bool = False,
) -> FloatArray:
    """The whole chain (``repeat`` times) on ``x`` under ``conv``; kernel offsets if asked."""
    for _ in range(opts.repeat):
        for k in kernels:
            x = _correlate(
                x,
                k.effective_weights,
                conv,
                anchor=k.effective_anchor,
                dtype=dtype,
                threads=opts.threads,
                rows=rows,
            )
            if offsets and k.offset:
                x += dtype(k.offset)
    return x


def _weighted_colour(
    colour: FloatArray,
    alpha: FloatArray,
    kernels: Sequence[Kernel],
    opts: FilterOptions,
    *,
    max_value: float,
    dtype: type[np.floating],
    rows: tuple[int, int] | None,
) -> FloatArray:
    """``conv(a*c) * conv(1) / conv(a)`` where ``conv(a) > 0``, else ``conv(c)`` (no bleeding).

    ``conv`` is the chain without its kernels' offsets; those (and nothing else) are
    carried by the chain run on zeros with a zero border, and added at the end, so that
    where the image is opaque the result is the chain's result without alpha.  Outside a
    constant border, alpha and the ones image are taken as opaque (padded with 1).
    """
    conv = opts.conv
    a = np.asarray(alpha, dtype=dtype) / dtype(max_value)
    premult = _run_linear(
        np.multiply(colour, a, dtype=dtype), kernels, opts, conv, dtype=dtype, rows=rows
    )
    pair = np.concatenate([a, np.ones_like(a)], axis=2)
    pair = _run_linear(pair, kernels, opts, conv.replace(cval=1.0), dtype=dtype, rows=rows)
    weight, ones = pair[..., :1], pair[..., 1:]
    seen = weight > _ALPHA_FLOOR * np.abs(ones)
    out = premult * np.where(seen, ones / np.where(seen, weight, 1), 0).astype(dtype)
    if not bool(seen.all()):
        plain = _run_linear(
            colour.astype(dtype, copy=False), kernels, opts, conv, dtype=dtype, rows=rows
        )
        out = np.where(seen, out, plain).astype(dtype)
    if any(k.offset for k in kernels):
        zeros = np.zeros((*colour.shape[:2], 1), dtype=dtype)
        out += _run_linear(
            zeros, kernels, opts, conv.replace(cval=0.0), dtype=dtype, rows=rows, offsets=True
        )
    return out


def _moved_alpha(
    alpha: FloatArray,
    kernels: Sequence[Kernel],
    opts: FilterOptions,
    *,
    dtype: type[np.floating],
    rows: tuple[int, int] | None,
) -> FloatArray:
    """Alpha moved, not filtered: a delta at each kernel's anchor (same geometry as colour)."""
    for _ in range(opts.repeat):
        for k in kernels:
            alpha = _correlate(
                alpha,
                _delta_like(k),
                opts.conv,
                anchor=k.effective_anchor,
                dtype=dtype,
                threads=opts.threads,
                rows=rows,
            )
    return alpha
