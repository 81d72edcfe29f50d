"""``convcli.dask.correlate`` and ``convolve``: :func:`convcli.correlate` on dask arrays."""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da
import numpy.typing as npt

from convcli.conv_options import ConvOptions
from convcli.dask.blocks import correlate_chunked
from convcli.shapes import PaddingSpec, Pair

__all__ = ["convolve", "correlate"]


def correlate(
    x: da.Array,
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dtype: npt.DTypeLike | None = None,
    anchor: Pair | None = None,
    method: str | None = None,
    threads: int | None = 1,
    chunks: tuple[int | None, int | None] = (None, None),
) -> da.Array:
    """Cross-correlate a dask array image with a kernel, lazily, block by block.

    The options and the result (shape, dtype, values) are those of
    :func:`convcli.correlate`; the result is a lazy dask array whose blocks
    are computed where the array's scheduler runs them (threads, or a
    ``distributed`` cluster).

    Parameters
    ----------
    x : dask.array.Array, shape (H, W) or (H, W, C)
        Image, in chunks of any size (a block's halo may be larger than a chunk).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel, as for :func:`convcli.correlate`.
    padding, border, cval, stride, dilation, dtype, anchor, method
        As for :func:`convcli.correlate`; ``method`` defaults to the planner's
        choice for the whole image, used in every block.
    threads : int, optional
        Engine threads per block (default 1: dask runs the blocks side by side).
    chunks : (int or None, int or None)
        Output block height and width (default: input chunk over the stride).

    Returns
    -------
    dask.array.Array, shape (H', W') or (H', W', C')

    Examples
    --------
    >>> import numpy as np, dask.array as da, convcli
    >>> x = np.arange(64.0).reshape(8, 8)
    >>> y = correlate(da.from_array(x, chunks=3), [[1.0, 2.0], [3.0, 4.0]], border="wrap")
    >>> bool((y.compute() == convcli.correlate(x, [[1.0, 2.0], [3.0, 4.0]], border="wrap")).all())
    True
    """
    opts = ConvOptions(
        padding=padding, border=border, cval=cval, stride=stride, dilation=dilation, anchor=anchor
    )
    return _squeeze(
        x,
        correlate_chunked(
            x, w, opts, dtype=dtype, method=method, threads=threads, out_chunks=chunks
        ),
    )


def convolve(
    x: da.Array,
    w: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dtype: npt.DTypeLike | None = None,
    anchor: Pair | None = None,
    method: str | None = None,
    threads: int | None = 1,
    chunks: tuple[int | None, int | None] = (None, None),
) -> da.Array:
    """Convolve a dask array image: :func:`correlate` with the kernel flipped.

    Same arguments and result as :func:`convcli.convolve`, lazily (see :func:`correlate`).
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
    return _squeeze(
        x,
        correlate_chunked(
            x, w, opts, dtype=dtype, method=method, threads=threads, out_chunks=chunks
        ),
    )


def _squeeze(x: da.Array, y: da.Array) -> da.Array:
    """A 2-D result for a 2-D input when there is one output channel (as the engine does)."""
    return y[:, :, 0] if x.ndim == 2 and y.shape[2] == 1 else y
