"""The gemm method: a 2-D kernel's vertical sums as matrix products, then shifted adds.

Also the banded matrices and the chunked matrix product that the separable
method's vertical pass shares.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from convcli import config
from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import row_strips, run_jobs
from convcli.engine.plan import Plan
from convcli.engine.scratch import scratch
from convcli.engine.sources import Source, strip_rows_span
from convcli.engine.sumsteps import run_sum_steps, weighted_sum_steps
from convcli.shapes import Geometry


@functools.lru_cache(maxsize=64)
def _chunk_width(n: int, limit: int) -> int:
    """The largest divisor of ``n`` not above ``limit`` (at least 1)."""
    best = 1
    d = 1
    while d * d <= n:
        if n % d == 0:
            for cand in (d, n // d):
                if best < cand <= limit:
                    best = cand
        d += 1
    return best


def matmul_in_chunks(a: FloatArray, b: FloatArray, out: FloatArray) -> None:
    """``out = a @ b`` for 2-D arrays, in column chunks each below ``config.GEMM_CHUNK_MNK``.

    The chunks are one batched call on ``(chunks, K, width)`` views: one
    Python-level call (few GIL hand-overs), one BLAS call per chunk.
    """
    m, k = a.shape
    n = b.shape[1]
    limit = max(1, config.GEMM_CHUNK_MNK // max(1, m * k))
    if n <= limit:
        np.matmul(a, b, out=out)
        return
    width = _chunk_width(n, limit)
    if width * 8 < limit:  # few divisors: equal chunks and one remainder instead
        width = limit
    nch = n // width
    body = nch * width
    # splitting the (unit-stride) last axis is always a view, so `out` is written in place
    out_chunks = out[:, :body].reshape(m, nch, width).transpose(1, 0, 2)
    np.matmul(a, b[:, :body].reshape(k, nch, width).transpose(1, 0, 2), out=out_chunks)
    if body < n:
        np.matmul(a, b[:, body:], out=out[:, body:])


def gemm_matrix(
    w: F64Array, cols: list[int], n: int, geom: Geometry, dt: np.dtype[Any]
) -> FloatArray:
    """Stacked banded matrices of the vertical pass: shape ``(len(cols) * n, K)``.

    Row ``j * n + i`` holds kernel column ``cols[j]`` placed where output row
    ``i`` of a block reads its input rows (``i * S + p * D``), so that
    ``A @ rows`` gives every kernel column's vertical sum for ``n`` output rows.
    """
    kh = w.shape[0]
    sh, dh = geom.stride[0], geom.dilation[0]
    k_rows = (n - 1) * sh + (kh - 1) * dh + 1
    a = np.zeros((len(cols), n, k_rows), dtype=np.float64)
    for i in range(n):
        a[:, i, i * sh : i * sh + (kh - 1) * dh + 1 : dh] = w[:, cols].T
    return a.reshape(len(cols) * n, k_rows).astype(dt)


def vertical_product(
    src: Source,
    geom: Geometry,
    a: FloatArray,
    a_sums: FloatArray,
    r0: int,
    r1: int,
    out: FloatArray,
) -> None:
    """``out = a @ rows`` for the padded input rows of output rows ``r0:r1``.

    ``rows`` is viewed as ``(K, Wp*C)`` and ``out`` is ``(M, Wp*C)``;
    ``a_sums`` are the row sums of ``a``.  When the rows lie inside the image
    they are read in place (converted to the working type only if needed),
    and the padded edge columns of ``out`` are filled from its own columns
    (``out`` is linear in each input column), with ``cval * a_sums`` for a
    constant border.
    """
    wp, c = src.shape[1], src.shape[2]
    left, width = geom.pad_cols[0], geom.in_hw[1]
    start, stop = strip_rows_span(geom, r0, r1)
    inside = src.interior(start, stop)
    if inside is None:
        rows = src.rows(start, stop)
        matmul_in_chunks(a, rows.reshape(stop - start, wp * c), out)
        return
    rows_f: FloatArray = np.asarray(inside, dtype=src.dtype)  # converts 8/16-bit rows only
    mid = out[:, left * c : (left + width) * c]
    matmul_in_chunks(a, rows_f.reshape(stop - start, width * c), mid)
    src.fill_edge_columns(out.reshape(-1, wp, c), a_sums)  # type: ignore[union-attr]


def run_gemm(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """Per-channel kernel: vertical pass as a matrix product, horizontal shifted adds.

    For a block of ``R`` output rows, one product ``A @ rows`` (``A`` from
    :func:`gemm_matrix`, ``rows`` the block's input rows viewed as ``(K, W*C)``)
    gives, for every non-zero kernel column ``q``, the vertical sum
    ``Z_q``; the output is then ``sum_q Z_q`` shifted by ``q * D`` columns and
    taken every ``S`` columns.  Blocks inside the image read its rows in place
    and pad only the few edge columns of ``Z``.
    """
    c = src.shape[2]
    kw = w.shape[1]
    oh, ow = geom.out_hw
    sw, dw = geom.stride[1], geom.dilation[1]
    wp = src.shape[1]
    dt = src.dtype
    out = np.empty((oh, ow, c), dtype=dt)
    cols = [q for q in range(kw) if np.any(w[:, q] != 0)]
    m = len(cols)
    block_rows = max(1, plan.block_rows)
    strips = row_strips(oh, plan.strip_rows)
    # one matrix per block height: full blocks, and the shorter last block of a strip
    sizes = {block_rows} | {(r1 - r0) % block_rows for r0, r1 in strips} - {0}
    matrices = {n: gemm_matrix(w, cols, n, geom, dt) for n in sizes}
    row_sums = {n: a.sum(axis=1) for n, a in matrices.items()}
    sum_steps = weighted_sum_steps([1.0] * m)  # the shifted column sums, added up

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        z = scratch("mids", (m * block_rows, wp * c), dt)
        for b0 in range(r0, r1, block_rows):
            b1 = min(b0 + block_rows, r1)
            n = b1 - b0
            a = matrices[n]
            zb = z[: m * n]
            vertical_product(src, geom, a, row_sums[n], b0, b1, zb)
            z3 = zb.reshape(m, n, wp, c)

            def view(j: int, z3: FloatArray = z3) -> FloatArray:
                q = cols[j] * dw
                return z3[j, :, q : q + (ow - 1) * sw + 1 : sw]

            run_sum_steps(out[b0:b1], view, sum_steps)

    run_jobs(run_strip, strips, plan.threads)
    return out
