"""The separable method: a low-rank 2-D kernel as pairs of 1-D passes per strip.

The vertical passes run at the output rows only, either as one matrix
product of banded matrices (shared with the gemm method) or as einsum calls;
the horizontal passes at the output columns only, as planned sum steps or
one einsum call.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from convcli.array_types import F64Array, FloatArray
from convcli.engine.einsum import sum_tap_views
from convcli.engine.gemm import gemm_matrix, vertical_product
from convcli.engine.parallel import row_strips, run_jobs
from convcli.engine.plan import Plan
from convcli.engine.scratch import scratch
from convcli.engine.sources import Source, strip_rows_span
from convcli.engine.sumsteps import run_sum_steps
from convcli.shapes import Geometry


def run_separable(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """Sum over rank components of a vertical pass (output rows) then a horizontal one.

    Either both passes are ``numpy.einsum`` calls per strip (``plan.fused``:
    one fused multiply-add per tap, see :func:`~convcli.engine.einsum.sum_tap_views`),
    or the vertical passes of all components are one matrix product per
    strip (:func:`~convcli.engine.gemm.vertical_product` with banded matrices
    of the column factors) and the horizontal passes one sum of shifted
    views at the output columns, planned by
    :func:`~convcli.engine.analysis.horizontal_steps`.
    The kernel ``w`` itself is not read: ``plan.factors`` stand for it.
    """
    assert plan.factors is not None
    u, v = plan.factors
    oh, ow = geom.out_hw
    sw = geom.stride[1]
    dw = geom.dilation[1]
    wp, c = src.shape[1], src.shape[2]
    dt = src.dtype
    out = np.empty((oh, ow, c), dtype=dt)
    comps = list(range(u.shape[1]))  # horizontal_steps dropped the all-zero ones
    r, kw = len(comps), v.shape[1]
    strips = row_strips(oh, plan.strip_rows)
    if plan.fused:
        u_dt, v_dt = u.astype(dt), v.astype(dt)
        row_sums = {n: np.repeat(u.sum(axis=0), n).astype(dt) for n in {b - a for a, b in strips}}
    else:
        matrices = {n: gemm_matrix(u, comps, n, geom, dt) for n in {b - a for a, b in strips}}
        row_sums = {n: a.sum(axis=1) for n, a in matrices.items()}

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        acc = out[r0:r1]
        if not comps:
            acc.fill(0)
            return
        n = r1 - r0
        mids = scratch("mids", (r * n, wp * c), dt)
        if not plan.fused:
            vertical_product(src, geom, matrices[n], row_sums[n], r0, r1, mids)
            mids3 = mids.reshape(r, n, wp, c)

            def view(i: int) -> FloatArray:
                q = (i % kw) * dw
                return mids3[i // kw, :, q : q + (ow - 1) * sw + 1 : sw]

            run_sum_steps(acc, view, plan.sum_steps)
            return
        _vertical_einsum(src, geom, u_dt, row_sums[n], r0, r1, mids)
        item = dt.itemsize
        sum_tap_views(acc, mids, v_dt, (n * wp * c * item, dw * c * item), wp * c * item, sw)

    run_jobs(run_strip, strips, plan.threads)
    return out


def _vertical_einsum(
    src: Source,
    geom: Geometry,
    u: FloatArray,
    row_sums: FloatArray,
    r0: int,
    r1: int,
    out: FloatArray,
) -> None:
    """``out[k * R + i] = sum_p u[p, k] * row(i * S + p * D)`` for output rows ``r0:r1``.

    ``out`` is ``(r * R, Wp * C)`` (``r`` components, ``R`` rows); like
    :func:`vertical_product`, rows inside the image are read in place when
    in the working type and only the edge columns are padded afterwards.
    """
    wp, c = src.shape[1], src.shape[2]
    kh, r = u.shape
    n = r1 - r0
    sh, dh = geom.stride[0], geom.dilation[0]
    left, width = geom.pad_cols[0], geom.in_hw[1]
    item = out.dtype.itemsize
    start, stop = strip_rows_span(geom, r0, r1)
    inside = src.interior(start, stop) if src.image_dtype == out.dtype else None
    rows: npt.NDArray[np.generic]
    if inside is None:
        rows, target, cols = src.rows(start, stop), out, wp
    else:
        rows, target, cols = inside, out[:, left * c : (left + width) * c], width
    if rows.strides[1:] != (c * item, item):
        rows = np.ascontiguousarray(rows)
    taps = as_strided(
        rows,
        shape=(kh, n, cols * c),
        strides=(dh * rows.strides[0], sh * rows.strides[0], item),
        writeable=False,
    )
    target3 = as_strided(
        target, shape=(r, n, cols * c), strides=(n * out.strides[0], out.strides[0], item)
    )
    np.einsum("pil,pr->ril", taps, u, out=target3)
    if inside is not None:
        src.fill_edge_columns(out.reshape(-1, wp, c), row_sums)  # type: ignore[union-attr]
