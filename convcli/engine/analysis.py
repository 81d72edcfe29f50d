"""What the planner reads off a kernel to cost each method.

The separable method's low-rank factors (:func:`low_rank`, scaled for the
cheapest horizontal sum by :func:`horizontal_steps`), the einsum method's
grid of taps (:func:`tap_grid`), the FFT method's tile (:func:`fft_tile`)
and the direct method's array traffic (:func:`direct_traffic`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array
from convcli.engine.costs import FFT_TILES
from convcli.engine.sumsteps import (
    SumStep,
    best_sum_steps,
    horner_sum_steps,
    step_traffic,
    weighted_sum_steps,
)
from convcli.shapes import Pair

#: Kernel rows (or columns) as ``(first, count, step)``.
GridAxis = tuple[int, int, int]
#: The grid of a plan that reads none (every method but einsum).
NO_GRID: tuple[GridAxis, GridAxis] = ((0, 0, 1), (0, 0, 1))


#: Kernels with both sides above this get their rank from a randomized range finder
#: (an SVD is O(n^3): 1201x1201 took 10.7 s on the shared 2-core machine).
LOWRANK_EXACT_SIDE = 64


def low_rank(
    w: F64Array, rtol: float, max_rank: int | None = None
) -> tuple[int, F64Array, F64Array]:
    """Smallest-rank factors ``u (kh, r)``, ``v (r, kw)`` with ``|w - u @ v|_1 <= rtol |w|_1``.

    Ranks above ``max_rank`` are not looked for: when none up to it is exact
    enough, the rank returned is ``min(kh, kw)`` with empty factors.  Ranks
    whose Frobenius residual (a lower bound of the summed absolute one)
    already exceeds the tolerance are skipped without forming the product.

    Examples
    --------
    >>> r, u, v = low_rank(np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0]), 1e-14)
    >>> r, u.shape, v.shape
    (1, (3, 1), (1, 3))
    """
    peak = float(np.abs(w).max())
    if peak > 0 and not 1e-100 < peak < 1e100:
        # the rank does not depend on the scale; squares of weights near 1e308 would overflow
        r, uu, vv = low_rank(w / peak, rtol, max_rank)
        return r, uu * peak, vv
    n = min(w.shape)
    if max_rank is not None and n > LOWRANK_EXACT_SIDE and max_rank + 8 < n:
        # w ~= Q (Q^T w) on the range of w @ G: exact for every rank up to max_rank
        g = np.random.default_rng(0).standard_normal((w.shape[1], max_rank + 8))
        q = np.linalg.qr(w @ g)[0]
        ub, s, vt = np.linalg.svd(q.T @ w, full_matrices=False)
        u = q @ ub
        # |w - u_r s_r v_r|_F^2 = |w|_F^2 - (first r squared singular values), less
        # a margin for the rounding of that difference
        norm2 = float(np.sum(w * w))
        tail = norm2 * (1 - 1e-12) - np.cumsum(s * s)
    else:
        u, s, vt = np.linalg.svd(w, full_matrices=False)
        tail = np.append(np.cumsum((s * s)[::-1])[::-1][1:], 0.0)
    scale = float(np.abs(w).sum())
    top = len(s) if max_rank is None else min(len(s), max_rank)
    for r in range(1, top + 1):
        if tail[r - 1] > (rtol * scale) ** 2 * (1 + 1e-9) and r < len(s):
            continue
        uu = u[:, :r] * s[:r]
        vv = vt[:r]
        if float(np.abs(w - uu @ vv).sum()) <= rtol * scale:
            return r, uu, vv
    if max_rank is not None and top < n:
        return n, np.zeros((w.shape[0], 0)), np.zeros((0, w.shape[1]))
    return len(s), u * s, vt


def tap_grid(w: F64Array) -> tuple[GridAxis, GridAxis]:
    """The smallest evenly spaced rows and columns of a 2-D kernel holding every non-zero tap.

    Each axis is ``(first, count, step)``: rows ``first, first + step, ...``.

    Examples
    --------
    >>> tap_grid(np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))  # Sobel: 3 rows, 2 columns
    ((0, 3, 1), (0, 2, 2))
    >>> tap_grid(np.array([[0.0, 0, 0], [0, 0, 1], [0, 0, 0]]))
    ((1, 1, 1), (2, 1, 1))
    """

    def axis(used: npt.NDArray[np.bool_]) -> GridAxis:
        idx = np.flatnonzero(used)
        if idx.size == 0:
            return (0, 0, 1)
        step = int(np.gcd.reduce(np.diff(idx))) if idx.size > 1 else 1
        return int(idx[0]), int((idx[-1] - idx[0]) // step + 1), step

    nz = w != 0
    return axis(nz.any(axis=1)), axis(nz.any(axis=0))


def direct_traffic(w: F64Array) -> int:
    """Array touches per output sample of the direct method for a 2-D (per-channel) kernel.

    Examples
    --------
    >>> direct_traffic(np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]))  # sharpen
    14
    >>> direct_traffic(np.arange(2.0, 11.0).reshape(3, 3))  # 9 magnitudes: Horner's rule
    44
    >>> direct_traffic(np.full((3, 3), 1 / 9))  # box: 8 adds and one product
    26
    """
    nz = int(np.count_nonzero(w))
    if nz > DIRECT_PLAN_TAPS:
        return 5 * nz  # a scaling and an add per tap: the direct method loses anyway
    return step_traffic(best_sum_steps([v for v in w.ravel().tolist() if v != 0]))


#: Kernels with more non-zero taps than this get the direct method's traffic
#: estimated instead of planned step by step (planning is Python-speed: a
#: 127x127 kernel took 0.14 s).
DIRECT_PLAN_TAPS = 400


def unit_scaled(u: F64Array, v: F64Array) -> tuple[F64Array, F64Array]:
    """Rescale each factor pair so the commonest magnitude in ``v``'s row is 1.

    ``u[:, k] * c`` and ``v[k] / c`` give the same product; horizontal taps of
    weight +1 or -1 then need no multiplication (a Sobel row ``[-1, 0, 1]``
    becomes one subtraction).

    Examples
    --------
    >>> u, v = unit_scaled(np.array([[2.0], [4.0]]), np.array([[-0.5, 0.0, 0.5]]))
    >>> u.ravel().tolist(), v.ravel().tolist()
    ([1.0, 2.0], [-1.0, 0.0, 1.0])
    """
    u = u.copy()
    v = v.copy()
    for k in range(v.shape[0]):
        magnitudes = np.abs(v[k][v[k] != 0])
        if magnitudes.size == 0:
            continue
        values, counts = np.unique(magnitudes, return_counts=True)
        c = float(values[np.argmax(counts)])  # ties: the smallest magnitude
        u[:, k] *= c
        v[k] /= c
    return u, v


#: Magnitudes of a factor row closer than this (relative, about 18 ulps) are made equal:
#: an SVD gives the mirrored taps of a symmetric kernel a few ulps apart
#: (a 9x9 gaussian: 4e-16), which would cost Horner's rule a step each.
SNAP_RTOL = 4e-15


def _snap_magnitudes(v: F64Array) -> F64Array:
    """``v`` with each row's magnitudes within :data:`SNAP_RTOL` of each other made equal."""
    v = v.copy()
    for row in v:
        order = np.argsort(np.abs(row))
        mags = np.abs(row[order])
        start = 0
        for i in range(1, len(order) + 1):
            if i == len(order) or mags[i] - mags[start] > SNAP_RTOL * mags[i]:
                if i - start > 1:
                    group = order[start:i]
                    row[group] = np.sign(row[group]) * mags[start:i].mean()
                start = i
    return v


def horizontal_steps(u: F64Array, v: F64Array) -> tuple[F64Array, F64Array, list[SumStep]]:
    """Rank factors scaled for the cheapest horizontal sum, and that sum's steps.

    Components with an all-zero factor are dropped.  The steps add up views
    numbered ``k * kw + q`` (component ``k``, tap ``q``) with weights
    ``v[k, q]``.  Two scalings are compared by :func:`step_traffic`: the
    commonest magnitude of each row of ``v`` made 1 (:func:`unit_scaled`:
    those taps need no product) with :func:`weighted_sum_steps`, and the
    largest made 1 with :func:`horner_sum_steps` (which then ends without a
    product).

    Examples
    --------
    >>> u, v, steps = horizontal_steps(np.array([[1.0], [2.0]]), np.array([[0.5, 2.0, 0.5]]))
    >>> v.tolist(), steps[0]
    ([[0.25, 1.0, 0.25]], SumStep(kind='set_sum', weight=1.0, taps=(0, 2)))
    """
    keep = [k for k in range(v.shape[0]) if np.any(u[:, k] != 0) and np.any(v[k] != 0)]
    u, v = u[:, keep], v[keep]
    if not keep:
        return u, v, []
    v = _snap_magnitudes(v)
    ua, va = unit_scaled(u, v)
    plain = weighted_sum_steps(va.ravel().tolist(), units_only=True)
    # the largest tap of each row becomes +1 (signed, so an SVD's sign flip costs nothing)
    peak = v[np.arange(v.shape[0]), np.abs(v).argmax(axis=1)]
    ub, vb = u * peak, v / peak[:, None]
    horner = horner_sum_steps(vb.ravel().tolist())
    if step_traffic(horner) < step_traffic(plain):
        return ub, vb, horner
    return ua, va, plain


def fft_tile(extent: Pair, need: Pair) -> tuple[Pair, float]:
    """FFT tile for a dilated kernel ``extent`` and stride-1 output ``need``; cost factor.

    Per axis, the work per valid output of a tile ``T`` is ``T log2 T / (T - K + 1)``
    (``T - K + 1`` valid outputs per tile).  The factor is that work relative
    to a 256 tile with a 1-pixel kernel, at which :data:`MS_FFT` is measured.
    """
    tile = []
    factor = 1.0
    for k, n in zip(extent, need, strict=True):
        best: tuple[float, int] | None = None
        for t in FFT_TILES:
            if t < 4 * k and t != FFT_TILES[-1]:
                continue
            valid = min(t - k + 1, n)
            if valid < 1:
                continue
            per = t * math.log2(t) / valid
            if best is None or per < best[0]:
                best = (per, t)
        if best is None:
            # kernel wider than the largest tile: one tile spans it all
            t = 1 << max(1, (k + n - 1).bit_length())
            best = (t * math.log2(t) / n, t)
        tile.append(best[1])
        factor *= best[0] / 8.0
    return (tile[0], tile[1]), factor
