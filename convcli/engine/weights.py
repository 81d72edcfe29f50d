"""Correlations whose output is kernel-sized: the kernel gradient's sum over pixels.

``dw[p, q] = sum_{i,j,c} g[i, j, c] * xp[i*S + p*D, j*S + q*D, c]`` for a
padded image ``xp`` and an upstream gradient ``g`` of the output's shape (the
sum over ``c`` is that of a 2-D kernel shared by every channel).  Two methods:

``gemm``
    Blocks of ``R`` output rows: for each kernel column ``q``, one matrix
    product of the block's ``g`` rows with the padded rows they read (a
    strided view, no copy at column stride 1) gives every row pairing; the
    kernel's rows are the diagonals ``P[i, i*S + p*D]``.  It computes
    ``(R + (kh - 1) * D) / kh`` times the products needed, at BLAS speed.
``fft``
    Stride 1, dilation 1: one circular cross-correlation per channel of the
    padded image with ``g`` (no wrap-around reaches a kept lag), summed over
    the channels before the one inverse transform.  Cost flat in the kernel
    size.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import row_strips, run_jobs
from convcli.shapes import Geometry

#: Output rows per matrix product of the gemm method.  1080x1920x3, 2 cores (shared),
#: ms for rows 1/2/4/6: 9x9 float32 159/81/43/40, 15x15 float64 315/182/131/138,
#: 31x31 float32 880/673/319/1424 (8, 16, 32 rows: 39-90 ms at 9x9, 231-490 at 15x15).
WEIGHT_BLOCK_ROWS = 4

#: Milliseconds per million multiply-adds of the gemm method (15x15 float64 above:
#: 131 ms for 1,680 million) and per million padded samples of the fft method
#: (250 ms for 6.3 million: three forward transforms and an inverse).
MS_WEIGHT_GEMM_MAC = 0.078
MS_WEIGHT_FFT = 40.0


def weight_grad_costs(xp_shape: tuple[int, ...], geom: Geometry) -> dict[str, float]:
    """Estimated milliseconds of each method that applies (fft: stride and dilation 1)."""
    oh, ow = geom.out_hw
    kh, kw = geom.kernel_hw
    hp, wp, c = xp_shape
    span = (WEIGHT_BLOCK_ROWS - 1) * geom.stride[0] + (kh - 1) * geom.dilation[0] + 1
    costs = {"gemm": MS_WEIGHT_GEMM_MAC * oh * ow * c * kw * span / 1e6}
    if geom.stride == (1, 1) and geom.dilation == (1, 1):
        costs["fft"] = MS_WEIGHT_FFT * hp * wp * c / 1e6
    return costs


def weight_grad(
    xp: FloatArray, g: FloatArray, geom: Geometry, threads: int, *, method: str | None = None
) -> F64Array:
    """``dw`` for a kernel shared by every channel, by the cheaper method (or ``method``)."""
    if method is None:
        costs = weight_grad_costs(xp.shape, geom)
        method = min(costs, key=costs.__getitem__)
    if method == "fft":
        return weight_grad_fft(xp, g, geom, threads)
    return weight_grad_gemm(xp, g, geom, threads)


def weight_grad_pairs(xp: FloatArray, g: FloatArray, geom: Geometry, threads: int) -> F64Array:
    """``dw[o, c]`` (shape ``(O, C, kh, kw)``) for every output/input channel pair."""
    c, o = xp.shape[2], g.shape[2]
    xs = [np.ascontiguousarray(xp[:, :, i : i + 1]) for i in range(c)]
    gs = [np.ascontiguousarray(g[:, :, i : i + 1]) for i in range(o)]
    kh, kw = geom.kernel_hw
    out = np.empty((o, c, kh, kw), dtype=np.float64)
    for oo in range(o):
        for cc in range(c):
            out[oo, cc] = weight_grad(xs[cc], gs[oo], geom, threads)
    return out


def weight_grad_gemm(
    xp: FloatArray, g: FloatArray, geom: Geometry, threads: int, block: int | None = None
) -> F64Array:
    """``dw`` (shape ``(kh, kw)``, float64) by blocked matrix products (see the module)."""
    oh, ow = geom.out_hw
    kh, kw = geom.kernel_hw
    sh, sw = geom.stride
    dh, dw = geom.dilation
    c = xp.shape[2]
    block = block or WEIGHT_BLOCK_ROWS

    def run_block(bounds: tuple[int, int]) -> F64Array:
        r0, r1 = bounds
        n = r1 - r0
        first = r0 * sh
        span = (n - 1) * sh + (kh - 1) * dh + 1
        rows = xp[first : first + span]
        gb = g[r0:r1].reshape(n, ow * c)
        part = np.empty((kh, kw), dtype=np.float64)
        for q in range(kw):
            c0 = q * dw
            cols = rows[:, c0 : c0 + (ow - 1) * sw + 1 : sw]
            if sw != 1:
                cols = np.ascontiguousarray(cols)
            prod = gb @ cols.reshape(span, ow * c).T  # (n, span)
            s0, s1 = prod.strides
            diag = as_strided(prod, shape=(n, kh), strides=(s0 + sh * s1, dh * s1), writeable=False)
            part[:, q] = diag.sum(axis=0, dtype=np.float64)
        return part

    parts = run_jobs(run_block, row_strips(oh, block), threads)
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def weight_grad_fft(xp: FloatArray, g: FloatArray, geom: Geometry, threads: int) -> F64Array:
    """``dw`` (shape ``(kh, kw)``, float64) by FFT; stride 1 and dilation 1 only."""
    kh, kw = geom.kernel_hw
    hp, wp, c = xp.shape
    shape = (_smooth(hp), _smooth(wp))

    def run_channel(ch: int) -> np.ndarray:
        fx = np.fft.rfft2(xp[:, :, ch], s=shape)
        fg = np.fft.rfft2(g[:, :, ch], s=shape)
        return np.conj(fg) * fx

    spectra = run_jobs(run_channel, list(range(c)), threads)
    total = spectra[0]
    for s in spectra[1:]:
        total += s
    full = np.fft.irfft2(total, s=shape)
    return np.ascontiguousarray(full[:kh, :kw], dtype=np.float64)


def _smooth(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (a fast transform length)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best
