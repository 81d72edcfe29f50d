"""The fft method: overlap-save tiles with ``numpy.fft.rfft2``, cost flat in the kernel size."""

from __future__ import annotations

import numpy as np

from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import run_jobs
from convcli.engine.plan import Plan
from convcli.engine.sources import Source
from convcli.shapes import Geometry


def run_fft(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """Overlap-save: each tile's circular correlation is exact away from its far edges."""
    xp = src.whole()
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
    run_jobs(run_tile, origins, plan.threads)
    return out
