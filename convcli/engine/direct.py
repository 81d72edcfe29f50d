"""The direct method: shift-and-add of every non-zero tap, per strip (any kernel rank)."""

from __future__ import annotations

from typing import Any

import numpy as np

from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import row_strips, run_jobs
from convcli.engine.plan import Plan
from convcli.engine.scratch import scratch
from convcli.engine.sources import Source, strip_input
from convcli.engine.sumsteps import best_sum_steps, run_sum_steps
from convcli.shapes import Geometry, kernel_dims


def run_direct(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
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
        block = strip_input(src, geom, r0, r1)
        if depthwise:
            # (reading interior rows in place instead measured 15-40% slower)
            def view(i: int) -> FloatArray:
                rs, cs = geom.tap_slices(taps[i][0], taps[i][1], 0, r1 - r0)
                return block[rs, cs]

            run_sum_steps(acc, view, steps)
            return
        tmp = scratch("sum", acc.shape, dt)
        for i, (p, q, wt) in enumerate(taps):
            rs, cs = geom.tap_slices(p, q, 0, r1 - r0)
            # the first tap writes the accumulator: no zero fill, one add fewer
            np.matmul(block[rs, cs], wt, out=acc if i == 0 else tmp)
            if i:
                acc += tmp

    steps = best_sum_steps([float(t[2]) for t in taps]) if depthwise else []
    run_jobs(run_strip, row_strips(oh, plan.strip_rows), plan.threads)
    return out


def nonzero_taps(
    w: F64Array, channels: int, dtype: np.dtype[Any], *, transpose: bool
) -> list[tuple[int, int, Any]]:
    """The kernel's non-zero taps as ``(p, q, weight)`` in ``dtype``.

    ``weight`` is a scalar for a 2-D (depthwise) kernel, else the ``(O, C)``
    matrix of tap ``(p, q)`` (``(C, O)`` with ``transpose``, ready for
    ``image_slice @ weight``).
    """
    o, c, (kh, kw), depthwise = kernel_dims(w.shape, channels)
    if depthwise:
        # (np.nonzero, not a loop over every tap: a 2897x2897 motion kernel has 8.4M)
        return [(p, q, dtype.type(w[p, q])) for p, q in zip(*np.nonzero(w), strict=True)]
    w4 = w.reshape(o, c, kh, kw)
    used = np.any(w4 != 0, axis=(0, 1))
    return [
        (p, q, np.ascontiguousarray(w4[:, :, p, q].T if transpose else w4[:, :, p, q], dtype=dtype))
        for p, q in zip(*np.nonzero(used), strict=True)
    ]
