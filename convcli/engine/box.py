"""The box method: an all-equal kernel as running sums, cost flat in its size."""

from __future__ import annotations

import numpy as np

from convcli.array_types import F64Array, FloatArray
from convcli.engine.parallel import row_strips, run_jobs
from convcli.engine.plan import Plan
from convcli.engine.sources import Source, strip_input
from convcli.shapes import Geometry


def run_box(src: Source, w: F64Array, geom: Geometry, plan: Plan) -> FloatArray:
    """All-equal kernel: running sums in float64 per strip, times the tap value.

    Vertical: a cumulative sum down the strip's rows (row by row, so each
    step is one contiguous add; residue classes mod the dilation), then one
    difference per output row.  Horizontal: the same along the columns of
    those sums, at the output columns only.  The kernel ``w`` itself is not
    read: ``plan.box_value`` is its every tap.
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
        block[dh:] = strip_input(src, geom, r0, r1)
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

    run_jobs(run_strip, row_strips(oh, plan.strip_rows), plan.threads)
    return out
