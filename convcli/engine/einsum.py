"""The einsum method: a 2-D kernel as one ``numpy.einsum`` call per strip over its taps.

:func:`sum_tap_views` (one einsum call over strided views of the taps) is
shared with the separable method's fused passes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import row_strips, run_jobs
from convcli.engine.plan import Plan
from convcli.engine.sources import PaddedOnDemand, Source, strip_rows_span
from convcli.shapes import Geometry


def run_einsum(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """Per-channel kernel: one ``numpy.einsum`` per strip over its taps.

    A strided view ``(rows, cols, R, W' * C)`` of a strip's padded input puts
    tap ``(p, q)`` of the plan's grid at ``[p, q]``; einsum then adds
    ``weight * view`` tap by tap into the strip's output in its C loop, one
    fused multiply-add per tap and sample.  Strips inside the image read its
    rows in place when they are in the working type (only the few edge
    columns get padded: measured 3x3 random 71 -> 55 ms).
    """
    c = src.shape[2]
    oh, ow = geom.out_hw
    dt = src.dtype
    out = np.empty((oh, ow, c), dtype=dt)
    # (the planner offers einsum only for kernels with a non-zero tap)
    (p0, rows, p_step), (q0, cols, q_step) = plan.grid
    weights = np.ascontiguousarray(
        w[p0 : p0 + (rows - 1) * p_step + 1 : p_step, q0 : q0 + (cols - 1) * q_step + 1 : q_step],
        dtype=dt,
    )
    sw, dw = geom.stride[1], geom.dilation[1]
    q_first, q_last = q0 * dw, (q0 + (cols - 1) * q_step) * dw
    # output columns whose every tap reads inside the image (when rows are)
    left, width = geom.pad_cols[0], geom.in_hw[1]
    inner = (
        min(ow, max(0, -(-(left - q_first) // sw))),
        max(0, min(ow, (width + left - q_last - 1) // sw + 1)),
    )
    in_place = src.image_dtype == dt and inner[0] < inner[1]

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        acc = out[r0:r1]
        start, stop = strip_rows_span(geom, r0, r1)
        image_rows = src.interior(start, stop) if in_place else None
        if image_rows is None:
            _einsum_taps(acc, src.rows(start, stop)[:, q_first:], weights, plan.grid, geom)
            return
        assert isinstance(src, PaddedOnDemand)
        j0, j1 = inner
        _einsum_taps(
            acc[:, j0:j1], image_rows[:, j0 * sw + q_first - left :], weights, plan.grid, geom
        )
        for a, b in ((0, j0), (j1, ow)):
            if a < b:
                edge = src.columns(start, stop, a * sw + q_first, (b - 1) * sw + q_last + 1)
                _einsum_taps(acc[:, a:b], edge, weights, plan.grid, geom)

    run_jobs(run_strip, row_strips(oh, plan.strip_rows), plan.threads)
    return out


def _einsum_taps(
    acc: FloatArray,
    block: npt.NDArray[np.generic],
    weights: FloatArray,
    grid: tuple[tuple[int, int, int], tuple[int, int, int]],
    geom: Geometry,
) -> None:
    """``acc (R, W', C) = sum over the grid's taps of weight * shifted block``.

    ``block`` holds the padded input from the strip's first row, and from
    the column that the grid's first kernel column reads for the first
    output column.
    """
    p0, p_step, q_step = grid[0][0], grid[0][2], grid[1][2]
    c = acc.shape[2]
    sh, sw = geom.stride
    dh, dw = geom.dilation
    item = block.dtype.itemsize
    if block.strides[1:] != (c * item, item):
        block = np.ascontiguousarray(block)
    block = block[p0 * dh :]
    row = block.strides[0]
    sum_tap_views(acc, block, weights, (p_step * dh * row, q_step * dw * c * item), sh * row, sw)


def sum_tap_views(
    acc: FloatArray,
    base: npt.NDArray[np.generic],
    weights: FloatArray,
    tap_strides: tuple[int, int],
    row_stride: int,
    sw: int,
) -> None:
    """``acc (R, W', C) = sum_pq weights[p, q] * view_pq``, one einsum call.

    ``view_pq[i, j, ch]`` is the element of ``base`` (unit-stride channels
    after unit-stride columns) at byte offset ``p * tap_strides[0] + q *
    tap_strides[1] + i * row_stride + (j * sw * C + ch) * itemsize``.  The
    tap labels must sort after ``i`` and ``l``: einsum orders its loops by
    label, and taps outermost ("abil") measured 3x3 random 58 -> 74 ms.
    """
    n, width, c = acc.shape
    item = base.dtype.itemsize
    if sw == 1:
        # columns and channels as one unit-stride axis (``acc`` is a column
        # range of a C-contiguous array): with separate axes einsum's inner
        # loop runs over the channels only (measured 64x slower)
        taps = as_strided(
            base,
            shape=(*weights.shape, n, width * c),
            strides=(*tap_strides, row_stride, item),
            writeable=False,
        )
        out2 = as_strided(acc, shape=(n, width * c), strides=(acc.strides[0], item))
        np.einsum("pqil,pq->il", taps, weights, out=out2)
        return
    taps = as_strided(
        base,
        shape=(*weights.shape, n, width, c),
        strides=(*tap_strides, row_stride, sw * c * item, item),
        writeable=False,
    )
    np.einsum("pqijc,pq->ijc", taps, weights, out=acc)
