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

That is the ``direct`` method.  :func:`convcli.plan.plan_correlation` picks,
per kernel and image size, the cheapest exact one among ``direct``,
``separable`` (low-rank 2-D kernels as pairs of 1-D passes), ``box``
(running sums), ``fft`` (overlap-save tiles) and ``gemm`` (the vertical sums
of a 2-D kernel's columns as matrix products, then shifted adds);
:func:`make_plan` returns that choice with a readable explanation, and
``method=`` forces one.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from convcli.borders import border_index, canonical_border, pad
from convcli.errors import OptionError, ShapeError
from convcli.plan import (
    STRIP_BYTES,
    Plan,
    SumStep,
    best_sum_steps,
    plan_correlation,
    strip_rows,
    weighted_sum_steps,
)
from convcli.shapes import Geometry, PaddingSpec, Pair, kernel_dims, make_geometry

FloatArray = npt.NDArray[np.floating]
_J = TypeVar("_J")

__all__ = [
    "STRIP_BYTES",
    "Plan",
    "check_image",
    "check_kernel",
    "convolve",
    "correlate",
    "correlate_padded",
    "default_threads",
    "flip_kernel",
    "make_plan",
    "result_dtype",
    "strip_rows",
]


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


def _run_jobs(fn: Callable[[_J], None], jobs: list[_J], threads: int) -> None:
    """Run ``fn`` on every job, on a thread pool when ``threads > 1``."""
    n = min(threads, len(jobs))
    if n <= 1:
        for j in jobs:
            fn(j)
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            list(pool.map(fn, jobs))


def _strips(oh: int, rows: int) -> list[tuple[int, int]]:
    return [(r, min(r + rows, oh)) for r in range(0, oh, rows)]


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> FloatArray:
    """A per-thread work buffer, reused from strip to strip (contents undefined).

    Allocating a fresh strip-sized array per strip made glibc map and unmap
    it each time, and the page faults of refilling it cost more than the
    work on this machine: 3x3 random direct on one thread 303 -> 90 ms when
    such memory was kept.  ``name`` keeps buffers that are alive together
    apart; a buffer lives as long as its thread.
    """
    dt = np.dtype(dtype)
    need = int(np.prod(shape)) * dt.itemsize
    buffers: dict[str, npt.NDArray[np.uint8]] = _SCRATCH.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < need:
        buf = np.empty(need, dtype=np.uint8)
        buffers[name] = buf
    return buf[:need].view(dt).reshape(shape)


class _PaddedArray:
    """Rows of an image that is already padded (views, no copies)."""

    def __init__(self, xp: FloatArray) -> None:
        self.shape: tuple[int, int, int] = (xp.shape[0], xp.shape[1], xp.shape[2])
        self.dtype = xp.dtype
        self.image_dtype = xp.dtype
        self._xp = xp

    def rows(self, start: int, stop: int) -> FloatArray:
        """Padded rows ``start:stop``, shape (stop - start, Wp, C)."""
        return self._xp[start:stop]

    def whole(self) -> FloatArray:
        """The whole padded image."""
        return self._xp

    def interior(self, start: int, stop: int) -> None:
        """Already padded: strips read :meth:`rows` views, nothing to save."""
        return None


class _PaddedOnDemand:
    """Rows of the padded image made when a strip asks for them.

    Each strip converts and pads only the input rows it reads, in a buffer
    that stays in cache, on its own thread; the whole padded float copy that
    :func:`convcli.borders.pad` would make first (about 30 ms and 100 MB for
    a 3840x2160 RGB float32 image on the benchmark machine) never exists.
    """

    def __init__(
        self,
        img: npt.NDArray[np.generic],
        geom: Geometry,
        *,
        border: str,
        cval: float,
        dtype: np.dtype[np.floating],
    ) -> None:
        h, w, c = img.shape
        (top, bottom), (left, right) = geom.pad_rows, geom.pad_cols
        self.shape = (h + top + bottom, w + left + right, c)
        self.dtype = dtype
        self.image_dtype = img.dtype
        self._img, self._geom = img, geom
        self._border, self._cval = border, cval
        self._row_source = border_index(np.arange(-top, h + bottom), h, border)
        self._left = border_index(np.arange(-left, 0), w, border)
        self._right = border_index(np.arange(w, w + right), w, border)

    def rows(self, start: int, stop: int) -> FloatArray:
        """Padded rows ``start:stop``, shape (stop - start, Wp, C), a new array."""
        img = self._img
        w = img.shape[1]
        left = self._geom.pad_cols[0]
        buf = _scratch("rows", (stop - start, *self.shape[1:]), self.dtype)
        middle = buf[:, left : left + w]
        for i, src in enumerate(self._row_source[start:stop].tolist()):
            if src < 0:
                middle[i] = self._cval
            else:
                middle[i] = img[src]
        for cols, source in ((slice(0, left), self._left), (slice(left + w, None), self._right)):
            if source.size:
                buf[:, cols] = buf[:, left + np.maximum(source, 0)]
                if (source < 0).any():
                    buf[:, cols][:, source < 0] = self._cval
        return buf

    def interior(self, start: int, stop: int) -> npt.NDArray[np.generic] | None:
        """The image's rows for padded rows ``start:stop``, or None at the border.

        A view in the image's own dtype; None when any of the rows is padding.
        """
        top = self._geom.pad_rows[0]
        if start - top < 0 or stop - top > self._img.shape[0]:
            return None
        return self._img[start - top : stop - top]

    def columns(self, start: int, stop: int, first: int, last: int) -> FloatArray:
        """Padded rows ``start:stop`` (inside the image), padded columns ``first:last``.

        A new array in the working type, shape (stop - start, last - first, C).
        """
        top, left = self._geom.pad_rows[0], self._geom.pad_cols[0]
        source = border_index(
            np.arange(first - left, last - left), self._img.shape[1], self._border
        )
        rows = self._img[start - top : stop - top]
        block = np.asarray(rows[:, np.maximum(source, 0)], dtype=self.dtype)
        if (source < 0).any():
            block[:, source < 0] = self._cval
        return block

    def fill_edge_columns(self, block: FloatArray, row_sums: FloatArray) -> None:
        """Fill the padded columns of ``block`` (M, Wp, C) from its middle ones.

        The middle columns hold ``a @ rows`` of interior image rows, for a
        matrix ``a`` with row sums ``row_sums`` (M,); a padded column is then
        the middle column it copies, or ``cval * row_sums`` (constant border).
        """
        left = self._geom.pad_cols[0]
        w = self._img.shape[1]
        for cols, source in ((slice(0, left), self._left), (slice(left + w, None), self._right)):
            if not source.size:
                continue
            if source[0] < 0:  # constant border: every padded column
                block[:, cols] = (self._cval * row_sums)[:, None, None]
            else:
                block[:, cols] = block[:, left + source]

    def whole(self) -> FloatArray:
        """The whole padded image (one array)."""
        return pad(
            self._img,
            self._geom.pad_rows,
            self._geom.pad_cols,
            border=self._border,
            cval=self._cval,
            dtype=self.dtype,
        )


_Source = _PaddedArray | _PaddedOnDemand


def _strip_input(src: _Source, geom: Geometry, r0: int, r1: int) -> FloatArray:
    """The padded input rows that output rows ``r0:r1`` read (first row: ``r0 * S``)."""
    return src.rows(*_strip_rows_span(geom, r0, r1))


def _direct(src: _Source, w: npt.NDArray[np.float64], geom: Geometry, plan: Plan) -> FloatArray:
    """Shift-and-add of every non-zero tap, per strip (any kernel rank)."""
    c = src.shape[2]
    o, _, (kh, kw), depthwise = kernel_dims(w.shape, c)
    oh, ow = geom.out_hw
    dt = src.dtype
    out = np.empty((oh, ow, o), dtype=dt)
    taps = nonzero_taps(w, c, dt, transpose=True)

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        acc = out[r0:r1]
        if not taps:
            acc.fill(0)
            return
        block = _strip_input(src, geom, r0, r1)
        if depthwise:
            # (reading interior rows in place instead measured 15-40% slower)
            def view(i: int) -> FloatArray:
                rs, cs = geom.tap_slices(taps[i][0], taps[i][1], 0, r1 - r0)
                return block[rs, cs]

            _run_sum_steps(acc, view, steps)
            return
        tmp = _scratch("sum", acc.shape, dt)
        for i, (p, q, wt) in enumerate(taps):
            rs, cs = geom.tap_slices(p, q, 0, r1 - r0)
            # the first tap writes the accumulator: no zero fill, one add fewer
            np.matmul(block[rs, cs], wt, out=acc if i == 0 else tmp)
            if i:
                acc += tmp

    steps = best_sum_steps([float(t[2]) for t in taps]) if depthwise else []
    _run_jobs(run_strip, _strips(oh, plan.strip_rows), plan.threads)
    return out


def _strip_rows_span(geom: Geometry, r0: int, r1: int) -> tuple[int, int]:
    """Padded input rows ``start:stop`` that output rows ``r0:r1`` read."""
    sh, dh = geom.stride[0], geom.dilation[0]
    first = r0 * sh
    return first, first + (r1 - 1 - r0) * sh + (geom.kernel_hw[0] - 1) * dh + 1


def _run_sum_steps(
    acc: FloatArray,
    views: Callable[[int], npt.NDArray[np.generic]],
    steps: Sequence[SumStep],
) -> None:
    """Carry out :func:`convcli.plan.weighted_sum_steps` (or Horner's rule) on ``acc``.

    ``views(i)`` is the shifted view of tap ``i`` (same shape as ``acc``; it
    may be in the image's integer type: every operation computes in
    ``acc``'s type).
    """
    dt = acc.dtype
    tmp: FloatArray | None = None
    for kind, wt, idx in steps:
        if kind == "set":
            np.multiply(views(idx[0]), dt.type(wt), out=acc, dtype=dt)
        elif kind == "set_diff":
            np.subtract(views(idx[0]), views(idx[1]), out=acc, dtype=dt)
        elif kind == "add":
            (np.add if wt == 1 else np.subtract)(acc, views(idx[0]), out=acc, dtype=dt)
        elif kind == "negate":
            np.negative(acc, out=acc)
        elif kind == "scale":
            np.multiply(acc, dt.type(wt), out=acc)
        else:  # set_sum, add_scaled: a sum of views, then one product
            if kind == "set_sum":
                target = acc
            else:
                tmp = _scratch("sum", acc.shape, dt) if tmp is None else tmp
                target = tmp
            if len(idx) == 1:
                np.multiply(views(idx[0]), dt.type(wt), out=target, dtype=dt)
            else:
                np.add(views(idx[0]), views(idx[1]), out=target, dtype=dt)
                for i in idx[2:]:
                    np.add(target, views(i), out=target, dtype=dt)
                if wt != 1:
                    target *= dt.type(wt)
            if kind == "add_scaled":
                acc += target


def _separable(src: _Source, geom: Geometry, plan: Plan) -> FloatArray:
    """Sum over rank components of a vertical pass (output rows) then a horizontal one.

    Either both passes are ``numpy.einsum`` calls per strip (``plan.fused``:
    one fused multiply-add per tap, see :func:`_einsum_taps`), or the
    vertical passes of all components are one matrix product per strip
    (:func:`_vertical_product` with banded matrices of the column factors)
    and the horizontal passes one sum of shifted views at the output
    columns, planned by :func:`convcli.plan.horizontal_steps`.
    """
    assert plan.factors is not None
    u, v = plan.factors
    oh, ow = geom.out_hw
    sw = geom.stride[1]
    dw = geom.dilation[1]
    wp, c = src.shape[1], src.shape[2]
    dt = src.dtype
    out = np.empty((oh, ow, c), dtype=dt)
    comps = list(range(u.shape[1]))  # plan.horizontal_steps dropped the all-zero ones
    r, kw = len(comps), v.shape[1]
    strips = _strips(oh, plan.strip_rows)
    if plan.fused:
        u_dt, v_dt = u.astype(dt), v.astype(dt)
        row_sums = {n: np.repeat(u.sum(axis=0), n).astype(dt) for n in {b - a for a, b in strips}}
    else:
        matrices = {n: _gemm_matrix(u, comps, n, geom, dt) for n in {b - a for a, b in strips}}
        row_sums = {n: a.sum(axis=1) for n, a in matrices.items()}

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        acc = out[r0:r1]
        if not comps:
            acc.fill(0)
            return
        n = r1 - r0
        mids = _scratch("mids", (r * n, wp * c), dt)
        if not plan.fused:
            _vertical_product(src, geom, matrices[n], row_sums[n], r0, r1, mids)
            mids3 = mids.reshape(r, n, wp, c)

            def view(i: int) -> FloatArray:
                q = (i % kw) * dw
                return mids3[i // kw, :, q : q + (ow - 1) * sw + 1 : sw]

            _run_sum_steps(acc, view, plan.sum_steps)
            return
        _vertical_einsum(src, geom, u_dt, row_sums[n], r0, r1, mids)
        item = dt.itemsize
        _sum_tap_views(acc, mids, v_dt, (n * wp * c * item, dw * c * item), wp * c * item, sw)

    _run_jobs(run_strip, strips, plan.threads)
    return out


def _vertical_einsum(
    src: _Source,
    geom: Geometry,
    u: FloatArray,
    row_sums: FloatArray,
    r0: int,
    r1: int,
    out: FloatArray,
) -> None:
    """``out[k * R + i] = sum_p u[p, k] * row(i * S + p * D)`` for output rows ``r0:r1``.

    ``out`` is ``(r * R, Wp * C)`` (``r`` components, ``R`` rows); like
    :func:`_vertical_product`, rows inside the image are read in place when
    in the working type and only the edge columns are padded afterwards.
    """
    wp, c = src.shape[1], src.shape[2]
    kh, r = u.shape
    n = r1 - r0
    sh, dh = geom.stride[0], geom.dilation[0]
    left, width = geom.pad_cols[0], geom.in_hw[1]
    item = out.dtype.itemsize
    start, stop = _strip_rows_span(geom, r0, r1)
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


#: OpenBLAS runs a matrix product on its own threads once ``M * N * K``
#: exceeds 65536 * 4; those threads then fight the engine's pool (measured
#: 3x3: 82 ms against 58 ms single-threaded).  The ``gemm`` method splits its
#: products into column chunks under this size, passed as one batched call.
GEMM_CHUNK_MNK = 65536 * 4


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


def _matmul_in_chunks(a: FloatArray, b: FloatArray, out: FloatArray) -> None:
    """``out = a @ b`` for 2-D arrays, in column chunks each below :data:`GEMM_CHUNK_MNK`.

    The chunks are one batched call on ``(chunks, K, width)`` views: one
    Python-level call (few GIL hand-overs), one BLAS call per chunk.
    """
    m, k = a.shape
    n = b.shape[1]
    limit = max(1, GEMM_CHUNK_MNK // max(1, m * k))
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


def _gemm_matrix(
    w: npt.NDArray[np.float64], cols: list[int], n: int, geom: Geometry, dt: np.dtype[Any]
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


def _vertical_product(
    src: _Source,
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
    start, stop = _strip_rows_span(geom, r0, r1)
    inside = src.interior(start, stop)
    if inside is None:
        rows = src.rows(start, stop)
        _matmul_in_chunks(a, rows.reshape(stop - start, wp * c), out)
        return
    rows_f: FloatArray = np.asarray(inside, dtype=src.dtype)  # converts 8/16-bit rows only
    mid = out[:, left * c : (left + width) * c]
    _matmul_in_chunks(a, rows_f.reshape(stop - start, width * c), mid)
    src.fill_edge_columns(out.reshape(-1, wp, c), a_sums)  # type: ignore[union-attr]


def _gemm(src: _Source, w: npt.NDArray[np.float64], geom: Geometry, plan: Plan) -> FloatArray:
    """Per-channel kernel: vertical pass as a matrix product, horizontal shifted adds.

    For a block of ``R`` output rows, one product ``A @ rows`` (``A`` from
    :func:`_gemm_matrix`, ``rows`` the block's input rows viewed as ``(K, W*C)``)
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
    strips = _strips(oh, plan.strip_rows)
    # one matrix per block height: full blocks, and the shorter last block of a strip
    sizes = {block_rows} | {(r1 - r0) % block_rows for r0, r1 in strips} - {0}
    matrices = {n: _gemm_matrix(w, cols, n, geom, dt) for n in sizes}
    row_sums = {n: a.sum(axis=1) for n, a in matrices.items()}
    sum_steps = weighted_sum_steps([1.0] * m)  # the shifted column sums, added up

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        z = _scratch("mids", (m * block_rows, wp * c), dt)
        for b0 in range(r0, r1, block_rows):
            b1 = min(b0 + block_rows, r1)
            n = b1 - b0
            a = matrices[n]
            zb = z[: m * n]
            _vertical_product(src, geom, a, row_sums[n], b0, b1, zb)
            z3 = zb.reshape(m, n, wp, c)

            def view(j: int, z3: FloatArray = z3) -> FloatArray:
                q = cols[j] * dw
                return z3[j, :, q : q + (ow - 1) * sw + 1 : sw]

            _run_sum_steps(out[b0:b1], view, sum_steps)

    _run_jobs(run_strip, strips, plan.threads)
    return out


def _einsum(src: _Source, w: npt.NDArray[np.float64], geom: Geometry, plan: Plan) -> FloatArray:
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
        start, stop = _strip_rows_span(geom, r0, r1)
        image_rows = src.interior(start, stop) if in_place else None
        if image_rows is None:
            _einsum_taps(acc, src.rows(start, stop)[:, q_first:], weights, plan.grid, geom)
            return
        assert isinstance(src, _PaddedOnDemand)
        j0, j1 = inner
        _einsum_taps(
            acc[:, j0:j1], image_rows[:, j0 * sw + q_first - left :], weights, plan.grid, geom
        )
        for a, b in ((0, j0), (j1, ow)):
            if a < b:
                edge = src.columns(start, stop, a * sw + q_first, (b - 1) * sw + q_last + 1)
                _einsum_taps(acc[:, a:b], edge, weights, plan.grid, geom)

    _run_jobs(run_strip, _strips(oh, plan.strip_rows), plan.threads)
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
    _sum_tap_views(acc, block, weights, (p_step * dh * row, q_step * dw * c * item), sh * row, sw)


def _sum_tap_views(
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


def _box(src: _Source, geom: Geometry, plan: Plan) -> FloatArray:
    """All-equal kernel: running sums in float64 per strip, times the tap value.

    Vertical: a cumulative sum down the strip's rows (row by row, so each
    step is one contiguous add; residue classes mod the dilation), then one
    difference per output row.  Horizontal: the same along the columns of
    those sums, at the output columns only.
    """
    kh, kw = plan.kernel_hw
    oh, ow = geom.out_hw
    sh, sw = geom.stride
    dh, dw = geom.dilation
    wp, c = src.shape[1], src.shape[2]
    dt = src.dtype
    out = np.empty((oh, ow, c), dtype=dt)
    span_h, span_w = (kh - 1) * dh, (kw - 1) * dw
    m = -(-wp // dw)

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        n_in = (r1 - 1 - r0) * sh + span_h + 1
        block = np.empty((dh + n_in, wp, c), dtype=np.float64)
        block[:dh] = 0
        block[dh:] = _strip_input(src, geom, r0, r1)
        for i in range(2 * dh, dh + n_in):
            np.add(block[i - dh], block[i], out=block[i])
        last = (r1 - 1 - r0) * sh + 1
        cols = np.zeros((r1 - r0, (m + 1) * dw, c), dtype=np.float64)
        np.subtract(
            block[dh + span_h : dh + span_h + last : sh], block[:last:sh], out=cols[:, dw : dw + wp]
        )
        grouped = cols.reshape(r1 - r0, m + 1, dw, c)
        np.cumsum(grouped, axis=1, out=grouped)
        lastc = (ow - 1) * sw + 1
        sums = cols[:, dw + span_w : dw + span_w + lastc : sw] - cols[:, :lastc:sw]
        np.multiply(sums, plan.box_value, out=out[r0:r1], casting="same_kind")

    _run_jobs(run_strip, _strips(oh, plan.strip_rows), plan.threads)
    return out


def _fft(xp: FloatArray, w: npt.NDArray[np.float64], geom: Geometry, plan: Plan) -> FloatArray:
    """Overlap-save: each tile's circular correlation is exact away from its far edges."""
    kh, kw = w.shape
    oh, ow = geom.out_hw
    sh, sw = geom.stride
    dh, dw = geom.dilation
    c = xp.shape[2]
    dt = xp.dtype
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    th, tw = plan.tile
    bh, bw = th - eh + 1, tw - ew + 1
    need_h, need_w = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    wd = np.zeros((eh, ew), dtype=dt)
    wd[::dh, ::dw] = w
    # correlation = product with the conjugate spectrum of the kernel
    spec = np.conj(np.fft.rfft2(wd.astype(np.float64), s=(th, tw)))
    # numpy's single-precision forward FFT is the slow one: forward in float64,
    # inverse in the working type (512x512x3 tile, 63x63 kernel, median of 15:
    # all float32 34.7 ms, this 28.2, all float64 31.6)
    spec_dt = np.result_type(dt, np.complex64)
    out = np.empty((oh, ow, c), dtype=dt)

    def run_tile(origin: tuple[int, int]) -> None:
        a, b = origin
        block = np.moveaxis(xp[a : a + th, b : b + tw], 2, 0)
        f = np.fft.rfft2(block.astype(np.float64), s=(th, tw))
        f *= spec
        y = np.fft.irfft2(f.astype(spec_dt, copy=False), s=(th, tw))
        # stride-1 rows a .. a+bh-1 hold valid results; keep those on the stride grid
        i0, i1 = -(-a // sh), min(oh, -(-min(a + bh, need_h) // sh))
        j0, j1 = -(-b // sw), min(ow, -(-min(b + bw, need_w) // sw))
        if i1 <= i0 or j1 <= j0:
            return
        rows = slice(i0 * sh - a, (i1 - 1) * sh - a + 1, sh)
        cols = slice(j0 * sw - b, (j1 - 1) * sw - b + 1, sw)
        out[i0:i1, j0:j1] = np.moveaxis(y[:, rows, cols], 0, 2)

    origins = [(a, b) for a in range(0, need_h, bh) for b in range(0, need_w, bw)]
    _run_jobs(run_tile, origins, plan.threads)
    return out


def nonzero_taps(
    w: npt.NDArray[np.float64], channels: int, dtype: np.dtype[Any], *, transpose: bool
) -> list[tuple[int, int, Any]]:
    """The kernel's non-zero taps as ``(p, q, weight)`` in ``dtype``.

    ``weight`` is a scalar for a 2-D (depthwise) kernel, else the ``(O, C)``
    matrix of tap ``(p, q)`` (``(C, O)`` with ``transpose``, ready for
    ``image_slice @ weight``).
    """
    o, c, (kh, kw), depthwise = kernel_dims(w.shape, channels)
    if depthwise:
        return [(p, q, dtype.type(w[p, q])) for p in range(kh) for q in range(kw) if w[p, q] != 0]
    w4 = w.reshape(o, c, kh, kw)
    return [
        (p, q, np.ascontiguousarray(w4[:, :, p, q].T if transpose else w4[:, :, p, q], dtype=dtype))
        for p in range(kh)
        for q in range(kw)
        if np.any(w4[:, :, p, q] != 0)
    ]


def correlate_padded(
    xp: FloatArray,
    w: npt.NDArray[np.float64],
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
        Force a method; ``None`` lets :func:`convcli.plan.plan_correlation` choose.
    plan : Plan, optional
        A plan made beforehand for this image shape, kernel and geometry.

    Returns
    -------
    ndarray, shape (H', W', C'), dtype of ``xp``
    """
    if plan is None:
        plan = plan_correlation(
            xp.shape, w, geom, xp.dtype, threads or default_threads(), method=method
        )
    return _run_plan(_PaddedArray(xp), w, geom, plan)


def _run_plan(src: _Source, w: npt.NDArray[np.float64], geom: Geometry, plan: Plan) -> FloatArray:
    if plan.method == "separable":
        return _separable(src, geom, plan)
    if plan.method == "box":
        return _box(src, geom, plan)
    if plan.method == "gemm":
        return _gemm(src, w, geom, plan)
    if plan.method == "einsum":
        return _einsum(src, w, geom, plan)
    if plan.method == "fft":
        return _fft(src.whole(), w, geom, plan)
    return _direct(src, w, geom, plan)


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
    shape = tuple(int(v) for v in image_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    k = check_kernel(w)
    dt = result_dtype(np.empty(0, np.float32), dtype)
    geom = make_geometry(
        (shape[0], shape[1]),
        (k.shape[-2], k.shape[-1]),
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
    )
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
        cheapest exact one (see :mod:`convcli.plan` and :func:`make_plan`).
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
    if rows is None:
        src = _PaddedOnDemand(img, geom, border=mode, cval=cval, dtype=dt)
        plan = plan_correlation(src.shape, k, geom, dt, threads or default_threads(), method=method)
        out = _run_plan(src, k, geom, plan)
    else:
        xp, geom = _pad_row_band(img, geom, rows, border=mode, cval=cval, dtype=dt)
        out = correlate_padded(xp, k, geom, threads=threads, method=method)
    if np.ndim(x) == 2 and out.shape[2] == 1:
        return out[:, :, 0]
    return out


def _pad_row_band(
    img: npt.NDArray[np.generic],
    geom: Geometry,
    rows: tuple[int, int],
    *,
    border: str,
    cval: float,
    dtype: np.dtype[np.floating],
) -> tuple[FloatArray, Geometry]:
    """Pad only the input rows that output rows ``rows[0]:rows[1]`` read.

    Returns the padded band and the geometry of the band (no row padding left:
    the band's first row is padded row ``r0 * S``).
    """
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
        method=method,
        rows=rows,
    )
