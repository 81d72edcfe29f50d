"""Choosing how to compute a correlation: the planner behind :mod:`convcli.engine`.

:func:`plan_correlation` looks at the kernel and the image size and picks the
cheapest exact method; the engine then runs it.  Methods:

``direct``
    Shift-and-add in cache-sized row strips, one pass per non-zero tap
    (cost ~ taps per output sample).  Works for every kernel rank.
``separable``
    A 2-D (depthwise) kernel of numerical rank ``r`` (by SVD) is ``r`` pairs
    of 1-D passes: a vertical pass at the output rows only (the row stride is
    applied there), then a horizontal pass at the output columns only
    (cost ~ ``r * (kh + kw)``).  Used only when the rank-``r`` reconstruction
    is exact to the working precision relative to the kernel's scale.
``box``
    A 2-D kernel whose taps are all equal: running sums (cumulative sums in
    float64 per strip, so float32 input loses nothing), cost independent of
    the kernel size.
``gemm``
    A 2-D (depthwise) kernel as matrix products: for a block of ``R`` output
    rows, one product of the stacked banded matrices of the kernel's columns
    with the block's input rows gives every column's vertical sum (BLAS does
    the ``kh`` taps), then ``kw - 1`` shifted adds make the output (cost ~
    ``kw`` passes plus the product).
``einsum``
    A 2-D (depthwise) kernel as one ``numpy.einsum`` call per strip over a
    strided view of the strip's taps: every tap is a fused multiply-add in
    NumPy's C loop (no temporary, no pass per operation), zero taps skipped
    where they form whole rows or columns of the grid (cost ~ taps of that
    grid).  About 4x slower per tap at column strides above 1.
``fft``
    Overlap-save in tiles with ``numpy.fft.rfft2`` for large 2-D kernels; cost
    flat in the kernel size.  Computes the stride-1 result inside each tile
    and keeps every ``stride``-th sample.

Costs below are in milliseconds per million output samples (one sample = one
pixel of one channel), measured on the 2-core development machine (AMD EPYC,
Zen 3, 512 KB L2 per core and 32 MB L3, 2160x3840x3 float32, 2 threads, median of 5).

Examples
--------
>>> import numpy as np
>>> from convcli.shapes import make_geometry
>>> g = np.exp(-0.5 * (np.arange(-7, 8) / 2.5) ** 2)
>>> geom = make_geometry((480, 640), (15, 15))
>>> plan_correlation((480, 640, 3), np.outer(g, g), geom, np.float32, 2).method
'separable'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from convcli.errors import OptionError
from convcli.shapes import Pair, kernel_dims

if TYPE_CHECKING:
    from convcli.shapes import Geometry

METHODS = ("direct", "separable", "box", "fft", "gemm", "einsum")

#: Kernel rows (or columns) as ``(first, count, step)``.
GridAxis = tuple[int, int, int]
#: The grid of a plan that reads none (every method but einsum).
NO_GRID: tuple[GridAxis, GridAxis] = ((0, 0, 1), (0, 0, 1))

#: Target size of one strip's accumulator, in bytes, for the separable and box
#: methods.  Measured on this 2-core machine (2160x3840x3 float32, 2 threads,
#: median ms for 3x3 / 5x5 / 15x15, when strips still read a padded copy):
#: 192 KB 224/464/3561, 512 KB 126/232/1295, 1 MB 123/202/1470, 2 MB 107/177/1194.
#: Small strips lose to per-task thread overhead.
STRIP_BYTES = 1024 * 1024

#: The same for the direct method, whose strips now pad their own input rows:
#: sharpen / 3x3 random / 5x5 random, median ms of 7, two sweeps:
#: 1 MB 69-61/81-82/182-176, 1.5 MB 60/80-79/154-151, 2 MB 56-62/71-68/147-146,
#: 3 MB 70-62/102-96/242-206.
DIRECT_STRIP_BYTES = 2 * 1024 * 1024

#: The same for the einsum method (its output strip) and for the fused
#: separable passes (their padded-width intermediate).  Per einsum call
#: NumPy sets up an iterator, so larger strips pay: rows per strip vs ms,
#: 3x3 random einsum 8 129, 16 86, 22 73, 32 66, 45 64, 64 61, 90 61; 9x9
#: gaussian fused separable 8 143, 16 100, 22 100, 32 85, 45 92, 64 92, 5x5
#: 16 80, 32 66, 45 68, 64 73 (one row is 46 KB here).
EINSUM_STRIP_BYTES = 3 * 1024 * 1024
FUSED_STRIP_BYTES = 3 * 1024 * 1024 // 2

# Costs re-measured on 2026-11-28 with every method in the same process,
# interleaved (2160x3840x3 float32 = 24.9 M samples, 2 threads, median of 5;
# the machine was slower that day than in earlier sessions, so all methods
# were measured together and only their ratios matter).

#: Direct cost per array touch (one read or write of one sample, counted by
#: :func:`step_traffic`) per million output samples, summed over threads
#: (ms), and its fixed part per million input samples read (padding each
#: strip's rows).  A per-channel kernel makes the touches counted by
#: :func:`direct_traffic` (+1/-1 weights need no product; Horner's rule where
#: it moves less); a channel-mixing tap costs about 7 (a product and an add).
#: Measured with Horner's rule, 2 threads, median ms (touches): sharpen (14)
#: 58, laplacian (16) 56, detail (16) 50, sobel-x (19) 62, box (26) 63,
#: contour (26) 60, smooth (28) 65, gaussian-3x3 (30) 74, 3x3 random (44) 85,
#: blur (47) 81, gaussian-5x5 (84) 117, 5x5 random (124) 162, 9x9 gaussian
#: (270) 266, 9x9 rank 2 (404) 397: about 46 + 0.87 per touch, i.e. 3.7 per
#: million input samples plus 0.070 per touch per million output samples
#: per thread.
MS_DIRECT_TOUCH = 0.070
MS_DIRECT_FIXED = 3.7
#: Separable cost per touch of the horizontal sum (see :func:`horizontal_steps`)
#: per million output samples (ms), and, per million samples of the
#: padded-width intermediate, a fixed part (reading the rows) and a part per
#: rank component (its share of the vertical matrix product).  Measured in the
#: same run as the direct costs (touches, rank): sobel-x (3, 1) 61, box (6, 1)
#: 71, gaussian-3x3 (8, 1) 70, 5x5 gaussians (16, 1) 70-79, 9x9 (32, 1) 101,
#: 15x15 (56, 1) 129, 31x31 (122, 1) 218, 15x15 box (42, 1) 104; sharpen,
#: laplacian, smooth, detail, contour (19, 2) 85-97, unsharp-5x5 (37, 2) 107,
#: blur (31, 2) 102, 9x9 rank 2 (85, 2) 161, 3x3 random (38, 3) 137, 5x5
#: random (114, 5) 305: about 39 + 18 per component + 1.32 per touch.
MS_SEPARABLE_TOUCH = 0.106
MS_SEPARABLE_FIXED = 3.1
MS_SEPARABLE_RANK = 1.45
#: Box cost per million output samples, summed over threads (ms): 2160x3840x3
#: float32 measured 264-370 ms for 3x3 ... 63x63 (flat) in earlier sessions,
#: 282 (15x15) and 307 (63x63) on 2026-11-28, i.e. 22-25.  Beats the separable
#: path of a box kernel from about 63x63 (measured 15x15: box 282 vs separable
#: 109 ms; 63x63: 307 vs 357).
MS_BOX = 22.0
#: FFT cost per million stride-1 samples for a 256x256 tile and a small kernel
#: (ms), all threads together: 2160x3840x3 float32 measured 460-550 ms for
#: 7x7 ... 31x31 (flat) on a quiet machine (earlier, shared: 630-1300), and
#: 517 / 542 / 591 / 868 ms for 9x9 / 15x15 / 31x31 / 63x63 with the rest
#: (about 20 for the factor of :func:`fft_tile`).  Gemm wins up to about
#: 21x21 random kernels, FFT from there.
MS_FFT = 20.0
#: FFT tile sizes tried (fast sizes).  Measured at 31x31: 128 688, 256 633,
#: 512 1152, 1024 836 ms; at 63x63 512-1024 are best.  A tile must be at least
#: four times the dilated kernel (the largest tile is always allowed).
FFT_TILES = (256, 512, 1024)
#: Gemm cost per million output samples (ms, summed over threads): a fixed
#: part, a part per non-zero kernel column (one shifted add over the output)
#: and a part per multiply-add of the product (``m * K / R`` per sample for
#: ``m`` columns, ``K = R + kh - 1`` input rows per block of ``R``).
#: Measured random kernels: 3x3 71 ms, 5x5 97, 7x7 147, 9x9 189, 11x11 229,
#: 15x15 311, 21x21 592 (sharpen 77; FFT 517-591 for 9x9 ... 31x31), fitted
#: by least squares.
MS_GEMM_FIXED = 5.2
MS_GEMM_PER_COLUMN = 0.12
MS_GEMM_PER_MAC = 0.31
#: Output rows per matrix product (``R``) by kernel height: ``(up to kh, R)``,
#: the last entry for every taller kernel.  Measured (random kernels, ms for
#: R = 4 / 6 / 8 / 12 / 16): 3x3 98/87/84/77/82, 5x5 126/121/115/109/128,
#: 7x7 170/146/149/169/216, 9x9 215/197/201/238/324; R = 4 / 6 / 8: 11x11
#: 249/240/256, 15x15 375/442/525, 21x21 656/758/889.
GEMM_BLOCK_ROWS = ((5, 12), (11, 8), (4096, 4))
#: Strips per thread for gemm.  Measured 1 / 2 / 4 / 8 strips per thread, ms:
#: 3x3 71/65/70/70, 5x5 93/99/100/100, 9x9 180/176/181/166 (within noise);
#: 4 keeps the threads balanced on small images.
GEMM_STRIPS_PER_THREAD = 4
#: Einsum cost per tap of its grid (see :func:`tap_grid`) per million output
#: samples, and a fixed part per million input samples (padding edge
#: columns, zeroing the output, the iterator), summed over threads (ms).
#: Measured (taps) ms, 2 threads, median of 8, in the same run as direct and
#: gemm: sobel-x (6) 50, 3x3 random (9) 62, sharpen (9) 59, smooth (9) 62,
#: 5x5 random (25) 105, 7x7 (49) 174, 9x9 (81) 217 (direct 56, 84, 50, 68,
#: 152, 257, 415; gemm 58, 69, 70, 73, 111, 138, 187): about 36 + 2.8 per tap.
#: The fused separable passes cost the same per tap (vertical taps per
#: intermediate sample, horizontal ones per output sample) plus
#: :data:`MS_FUSED_RANK` per component: 3x3 / 5x5 / 9x9 / 15x15 / 31x31
#: gaussians (6 / 10 / 18 / 30 / 62 taps) 50 / 65 / 85 / 128 / 208 ms,
#: unsharp-5x5 (rank 2, 20 taps) 108 (with sum steps: 66, 76, 93, 119, 189, 115).
MS_EINSUM_TAP = 0.225
MS_EINSUM_FIXED = 2.9
MS_FUSED_RANK = 1.5
#: Relative error allowed for a low-rank kernel: the summed absolute residual
#: of the rank-r reconstruction over the summed absolute kernel.
LOWRANK_RTOL = {4: 1e-7, 8: 1e-14}
#: Fixed cost per call (ms) so tiny images stay on the simplest path.
MS_SETUP = {
    "direct": 0.0,
    "separable": 0.05,
    "box": 0.05,
    "fft": 0.5,
    "gemm": 0.05,
    "einsum": 0.05,
}


@dataclass(frozen=True)
class Plan:
    """How one correlation will be computed, and why.

    Attributes
    ----------
    method : {"direct", "separable", "box", "fft", "gemm", "einsum"}
        The method chosen.
    kernel_hw : (int, int)
        Kernel size ``(kh, kw)`` before dilation.
    taps : int
        Taps per output sample the method applies: non-zero taps (direct),
        ``rank * (kh + kw)`` (separable), the taps of the grid (einsum),
        non-zero kernel columns (gemm), 0 (box and FFT, flat in size).
    rank : int
        SVD rank used by ``separable`` (1 for ``box``; 0 otherwise).
    strip_rows : int
        Output rows per strip (every method but fft).
    tile : (int, int)
        FFT tile ``(Th, Tw)`` in padded pixels (fft only; else ``(0, 0)``).
    threads : int
        Worker threads used.
    cost_ms : float
        Estimated run time in milliseconds on the reference machine.
    reason : str
        Why this method won (or that it was forced).
    """

    method: str
    kernel_hw: Pair
    taps: int
    rank: int
    strip_rows: int
    tile: Pair
    threads: int
    cost_ms: float
    reason: str
    #: ``(u, v)`` with ``w ~= u @ v``, shapes ``(kh, r)`` and ``(r, kw)``.
    factors: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = field(
        default=None, repr=False, compare=False
    )
    #: The horizontal sum of the separable method: steps over views numbered
    #: ``k * kw + q`` (see :func:`horizontal_steps`).
    sum_steps: tuple[SumStep, ...] = field(default=(), repr=False, compare=False)
    #: The common tap value of a box kernel.
    box_value: float = 0.0
    #: Output rows per matrix product (gemm only; else 0).
    block_rows: int = 0
    #: Kernel rows and columns as ``(first, count, step)`` that the einsum
    #: method reads (:func:`tap_grid`; einsum only).
    grid: tuple[GridAxis, GridAxis] = NO_GRID
    #: Separable passes as einsum calls (fused multiply-adds) rather than a
    #: matrix product and :attr:`sum_steps`.
    fused: bool = False

    def explain(self) -> str:
        """One paragraph saying what will run and why.

        Returns
        -------
        str
        """
        kh, kw = self.kernel_hw
        if self.method == "direct":
            how = f"direct shift-and-add of {self.taps} non-zero taps of the {kh}x{kw} kernel"
        elif self.method == "separable":
            how = (
                f"separable, as the {kh}x{kw} kernel has rank {self.rank}, so it runs as"
                f" {self.rank} pair(s) of 1-D passes ({self.taps} taps instead of {kh * kw})"
                + (", each pass one numpy.einsum call per strip" if self.fused else "")
            )
        elif self.method == "box":
            how = f"box, as all {kh}x{kw} taps are equal: running sums replace the taps"
        elif self.method == "gemm":
            how = (
                f"gemm, the vertical sums of the {kh}x{kw} kernel's {self.taps} non-zero"
                f" column(s) as matrix products over blocks of {self.block_rows} output rows,"
                " then shifted adds"
            )
        elif self.method == "einsum":
            (_, rows, _), (_, cols, _) = self.grid
            how = (
                f"einsum, the {kh}x{kw} kernel's {rows}x{cols} grid of taps holding every"
                " non-zero one as fused multiply-adds in one numpy.einsum call per strip"
            )
        else:
            how = f"fft, overlap-save with numpy.fft, cost flat in the {kh}x{kw} kernel's size"
        where = (
            f"tiles of {self.tile[0]}x{self.tile[1]} pixels"
            if self.method == "fft"
            else f"strips of {self.strip_rows} output rows"
        )
        return (
            f"Method: {how}; work split in {where} on {self.threads} thread(s);"
            f" estimated {self.cost_ms:.1f} ms on the reference machine. {self.reason}"
        )

    def __str__(self) -> str:
        return self.explain()


def strip_rows(
    out_w: int, channels: int, itemsize: int, out_h: int, target: int | None = None
) -> int:
    """Output rows per strip so the accumulator is about ``target`` (:data:`STRIP_BYTES`)."""
    per_row = max(1, out_w * channels * itemsize)
    return int(min(out_h, max(1, (target or STRIP_BYTES) // per_row)))


def low_rank(
    w: npt.NDArray[np.float64], rtol: float
) -> tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Smallest-rank factors ``u (kh, r)``, ``v (r, kw)`` with ``|w - u @ v|_1 <= rtol |w|_1``."""
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    scale = float(np.abs(w).sum())
    for r in range(1, len(s) + 1):
        uu = u[:, :r] * s[:r]
        vv = vt[:r]
        if float(np.abs(w - uu @ vv).sum()) <= rtol * scale:
            return r, uu, vv
    r = len(s)
    return r, u * s, vt


def tap_grid(w: npt.NDArray[np.float64]) -> tuple[GridAxis, GridAxis]:
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


#: One step of a weighted sum of shifted views (see :func:`weighted_sum_steps`):
#: ``(kind, weight, tap indices)``.
SumStep = tuple[str, float, tuple[int, ...]]


def _passes(kind: str, views: int, weight: float) -> int:
    """Passes over the accumulator one step takes."""
    if kind == "set_sum":  # acc = wt * (v0 + v1 + ...)
        return views - 1 + (weight != 1)
    if kind == "add_scaled":  # tmp = wt * (v0 + ...); acc += tmp
        return views + 1
    return 1  # set (acc = wt * v), set_diff (v0 - v1), add (acc +-= v), negate, scale


def weighted_sum_steps(
    weights: Sequence[float], *, units_only: bool = False, started: bool = False
) -> list[SumStep]:
    """Plan ``acc = sum_i weights[i] * view_i`` in few passes over ``acc``.

    Weights of +1 and -1 need no product: two of them start the sum with one
    add or subtract, the rest are added or subtracted.  Other taps of equal
    weight are summed before one product (unless ``units_only``, which gives
    every such tap its own product).  Zero weights are skipped.  With
    ``started`` the accumulator already holds a partial sum; otherwise the
    first step writes it (no zero fill).

    Parameters
    ----------
    weights : sequence of float
        One weight per view.
    units_only : bool
        Group only the +1 and -1 weights.
    started : bool
        Whether ``acc`` already holds values to add to.

    Returns
    -------
    list of (kind, weight, indices)
        Kinds: ``set``, ``set_sum``, ``set_diff``, ``add``, ``add_scaled``,
        ``negate``.

    Examples
    --------
    >>> weighted_sum_steps([-1.0, 0.0, 1.0])  # a Sobel row
    [('set_diff', 1.0, (2, 0))]
    >>> weighted_sum_steps([0.0, -1.0, 5.0, -1.0])
    [('set', 5.0, (2,)), ('add', -1.0, (1,)), ('add', -1.0, (3,))]
    """
    plus = [i for i, wt in enumerate(weights) if wt == 1]
    minus = [i for i, wt in enumerate(weights) if wt == -1]
    groups: dict[object, tuple[float, list[int]]] = {}
    for i, wt in enumerate(weights):
        if wt not in (0, 1, -1):
            groups.setdefault(("tap", i) if units_only else wt, (float(wt), []))[1].append(i)
    others = list(groups.values())
    steps: list[SumStep] = []
    negate = False
    if not started:
        if len(plus) >= 2:
            steps.append(("set_sum", 1.0, (plus[0], plus[1])))
            plus = plus[2:]
        elif plus and minus:
            steps.append(("set_diff", 1.0, (plus[0], minus[0])))
            plus, minus = [], minus[1:]
        elif plus:
            steps.append(("set", 1.0, (plus[0],)))
            plus = []
        elif others:
            wt, idx = others.pop(0)
            steps.append(("set", wt, (idx[0],)) if len(idx) == 1 else ("set_sum", wt, tuple(idx)))
        elif len(minus) >= 2:
            steps.append(("set_sum", 1.0, (minus[0], minus[1])))
            plus, minus, negate = minus[2:], [], True  # -(sum of the rest), then negate
        elif minus:
            steps.append(("set", -1.0, (minus[0],)))
            minus = []
    steps.extend(("add", 1.0, (i,)) for i in plus)
    steps.extend(("add_scaled", wt, tuple(idx)) for wt, idx in others)
    steps.extend(("add", -1.0, (i,)) for i in minus)
    if negate:
        steps.append(("negate", -1.0, ()))
    return steps


def step_passes(steps: Sequence[SumStep]) -> int:
    """Passes over the accumulator that ``steps`` take.

    Examples
    --------
    >>> step_passes(weighted_sum_steps([2.0, 3.0, 4.0]))  # 1 + 2 + 2
    5
    """
    return sum(_passes(kind, len(idx), wt) for kind, wt, idx in steps)


def horner_sum_steps(weights: Sequence[float]) -> list[SumStep]:
    """Plan ``acc = sum_i weights[i] * view_i`` by Horner's rule over the magnitudes.

    The distinct magnitudes ``a_1 < a_2 < ...`` are taken smallest first:
    ``acc`` holds the partial sum divided by the current magnitude, so each
    new magnitude costs one in-place scaling by ``a_(i-1) / a_i`` (at most
    1, so rounding errors shrink rather than grow), and every tap one add or
    subtract, with no temporary array.  A last scaling by the largest
    magnitude is skipped when that is 1.  Zero weights are skipped.

    Examples
    --------
    >>> horner_sum_steps([0.5, 1.0, 0.5])  # 0.5 * (v0 + v2) + v1
    [('set_sum', 1.0, (0, 2)), ('scale', 0.5, ()), ('add', 1.0, (1,))]
    """
    by_mag: dict[float, list[int]] = {}
    for i, wt in enumerate(weights):
        if wt:
            by_mag.setdefault(abs(wt), []).append(i)
    if not by_mag:
        return []
    mags = sorted(by_mag)
    steps: list[SumStep] = []
    plus = [i for i in by_mag[mags[0]] if weights[i] > 0]
    minus = [i for i in by_mag[mags[0]] if weights[i] < 0]
    sign = 1.0  # acc holds sign * (partial sum) / (current magnitude)
    if len(plus) >= 2:
        steps.append(("set_sum", 1.0, (plus[0], plus[1])))
        plus = plus[2:]
    elif plus and minus:
        steps.append(("set_diff", 1.0, (plus[0], minus[0])))
        plus, minus = [], minus[1:]
    elif plus:
        steps.append(("set", 1.0, (plus[0],)))
        plus = []
    elif len(minus) >= 2:
        steps.append(("set_sum", 1.0, (minus[0], minus[1])))
        minus, sign = minus[2:], -1.0
    else:
        steps.append(("set", -1.0, (minus[0],)))
        minus = []
    steps.extend(("add", sign, (i,)) for i in plus)
    steps.extend(("add", -sign, (i,)) for i in minus)
    prev = mags[0]
    for mag in mags[1:]:
        steps.append(("scale", sign * prev / mag, ()))
        sign = 1.0
        steps.extend(("add", 1.0 if weights[i] > 0 else -1.0, (i,)) for i in by_mag[mag])
        prev = mag
    if sign * prev != 1:
        steps.append(("scale", sign * prev, ()))
    return steps


def step_traffic(steps: Sequence[SumStep]) -> int:
    """Array reads and writes per output sample that ``steps`` make.

    A pass that reads ``acc`` and a view and writes ``acc`` counts 3; one
    that only rescales ``acc`` counts 2.  Steps that build a sum in a
    temporary array (``add_scaled``) count one more for the cache space the
    temporary takes: Horner's rule, which needs none, measured 13% faster
    than products in a temporary on 9-tap gaussian rows (85 against 98 ms).

    Examples
    --------
    >>> step_traffic(weighted_sum_steps([0.0, -1.0, 5.0, -1.0]))  # set, 2 subtracts
    8
    """
    total = 0
    for kind, wt, idx in steps:
        if kind in ("set", "negate", "scale"):
            total += 2
        elif kind in ("set_diff", "add"):
            total += 3
        else:  # set_sum, add_scaled: a sum of views, then one product
            total += 2 if len(idx) == 1 else 3 * (len(idx) - 1)
            if wt != 1 and (kind == "add_scaled" or len(idx) > 1):
                total += 2
            if kind == "add_scaled":
                total += 4
    return total


def best_sum_steps(
    weights: Sequence[float], *, units_only: bool = False, started: bool = False
) -> list[SumStep]:
    """The cheaper (by :func:`step_traffic`) of :func:`weighted_sum_steps` and Horner's rule.

    Horner's rule rescales ``acc``, so it is used only when ``acc`` starts empty.

    Examples
    --------
    >>> best_sum_steps([0.0, -1.0, 5.0, -1.0])[0]  # sharpen's row: products win
    ('set', 5.0, (2,))
    >>> best_sum_steps([0.25, 0.5, 0.25])[1]  # a gaussian row: Horner wins
    ('scale', 0.5, ())
    """
    plain = weighted_sum_steps(weights, units_only=units_only, started=started)
    if started:
        return plain
    horner = horner_sum_steps(weights)
    return horner if step_traffic(horner) < step_traffic(plain) else plain


def direct_traffic(w: npt.NDArray[np.float64]) -> int:
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
    taps = [v for v in w.ravel().tolist() if v != 0]
    if len(taps) > DIRECT_PLAN_TAPS:
        return 5 * len(taps)  # a scaling and an add per tap: the direct method loses anyway
    return step_traffic(best_sum_steps(taps))


#: Kernels with more non-zero taps than this get the direct method's traffic
#: estimated instead of planned step by step (planning is Python-speed: a
#: 127x127 kernel took 0.14 s).
DIRECT_PLAN_TAPS = 400


def unit_scaled(
    u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
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


def _snap_magnitudes(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
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


def horizontal_steps(
    u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[SumStep]]:
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
    ([[0.25, 1.0, 0.25]], ('set_sum', 1.0, (0, 2)))
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


def plan_correlation(
    image_shape: tuple[int, ...],
    kernel: npt.ArrayLike,
    geometry: Geometry,
    dtype: npt.DTypeLike,
    threads: int,
    *,
    method: str | None = None,
) -> Plan:
    """Pick the cheapest exact method for one correlation.

    Parameters
    ----------
    image_shape : (H, W, C) or (Hp, Wp, C)
        Image shape (unpadded or padded; only ``C`` and the geometry's sizes
        are used).
    kernel : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel in correlation orientation.
    geometry : Geometry
        Padding, stride, dilation and output size (:func:`convcli.shapes.make_geometry`).
    dtype : float32 or float64
        Working precision; it sets the tolerance for low-rank kernels.
    threads : int
        Worker threads available.
    method : {None, "direct", "separable", "box", "fft", "gemm", "einsum"}
        Force a method (``None``: choose).  A forced method that cannot run
        this kernel raises :class:`~convcli.errors.OptionError`.

    Returns
    -------
    Plan

    Raises
    ------
    OptionError
        For an unknown ``method`` or one that does not apply to the kernel.
    """
    if method is not None and method not in METHODS:
        msg = f"`method` must be one of {', '.join(METHODS)}; got {method!r}"
        raise OptionError(msg)
    w = np.asarray(kernel, dtype=np.float64)
    c = int(image_shape[-1])
    o, _, (kh, kw), depthwise = kernel_dims(w.shape, c)
    oh, ow = geometry.out_hw
    pl, pr = geometry.pad_cols
    wp = geometry.in_hw[1] + pl + pr
    dh, dw = geometry.dilation
    sh, sw = geometry.stride
    itemsize = np.dtype(dtype).itemsize
    mega_out = oh * ow * o / 1e6
    rows = strip_rows(ow, max(c, o), itemsize, oh, DIRECT_STRIP_BYTES)
    n_strips = -(-oh // rows)
    nz = int(np.count_nonzero(np.any(w.reshape(-1, kh, kw) != 0, axis=0)))
    par = max(1, min(threads, n_strips))

    # a channel-mixing tap is a (C, O) matrix product per pixel: C times the work
    mix = 1 if depthwise else c
    touches = direct_traffic(w) if depthwise else 7 * nz * mix
    # strips pad every input row they read; strided passes read whole cache lines
    # (measured 11x11 random at stride 4: 551 ms, against 513 for 9x9 at stride 1)
    mega_in = min(geometry.in_hw[0], (oh - 1) * sh + (kh - 1) * dh + 1) * wp * c / 1e6
    costs: dict[str, float] = {
        "direct": (MS_DIRECT_FIXED * mega_in + MS_DIRECT_TOUCH * max(touches, 1) * sw * mega_out)
        / par
    }
    notes: dict[str, str] = {}
    factors = None
    sum_steps: list[SumStep] = []
    rank = 0
    box_value = 0.0
    tile: Pair = (0, 0)
    fft_par = par
    block = cols = 0
    grid: tuple[GridAxis, GridAxis] = NO_GRID
    fused = False
    if not depthwise:
        notes["all"] = "only the direct method handles channel-summing 3-D and 4-D kernels"
    elif nz == 0:
        notes["all"] = "the kernel is all zeros"
    else:
        flat = w.ravel()
        if np.all(flat == flat[0]):
            box_value = float(flat[0])
            costs["box"] = MS_BOX * mega_out / par + MS_SETUP["box"]
        else:
            notes["box"] = "box needs all taps equal"
        if min(kh, kw) > 1 or method == "separable":
            rtol = LOWRANK_RTOL[8 if itemsize >= 8 else 4]
            rank, u, v = low_rank(w, rtol)
            if rank * (kh + kw) < nz or method == "separable":
                u, v, sum_steps = horizontal_steps(u, v)
                factors = (u, v)
                mega_mid = oh * wp * c / 1e6
                costs["separable"] = (
                    MS_SEPARABLE_TOUCH * step_traffic(sum_steps) * mega_out
                    + (MS_SEPARABLE_FIXED + MS_SEPARABLE_RANK * v.shape[0]) * mega_mid
                ) / par + MS_SETUP["separable"]
                if sw == 1:
                    r = v.shape[0]
                    cost_fused = (
                        (MS_EINSUM_FIXED + MS_FUSED_RANK * (r - 1)) * mega_mid
                        + MS_EINSUM_TAP * r * (kh * mega_mid + kw * mega_out)
                    ) / par + MS_SETUP["separable"]
                    fused = cost_fused < costs["separable"]
                    costs["separable"] = min(cost_fused, costs["separable"])
            else:
                notes["separable"] = (
                    f"rank {rank} needs {rank * (kh + kw)} taps, not fewer than {nz}"
                )
        else:
            notes["separable"] = "the kernel is already 1-D"
        extent = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        need = ((oh - 1) * sh + 1, (ow - 1) * sw + 1)
        tile, factor = fft_tile(extent, need)
        n_tiles = -(-need[0] // (tile[0] - extent[0] + 1)) * -(
            -need[1] // (tile[1] - extent[1] + 1)
        )
        fft_par = max(1, min(threads, n_tiles))
        cols = int(np.count_nonzero(np.any(w != 0, axis=0)))
        block = next(rows for tallest, rows in GEMM_BLOCK_ROWS if kh <= tallest)
        k_rows = (block - 1) * sh + (kh - 1) * dh + 1
        mega_z = oh * wp * c / 1e6
        costs["gemm"] = (
            MS_GEMM_FIXED * mega_out
            + MS_GEMM_PER_COLUMN * cols * mega_out
            + MS_GEMM_PER_MAC * cols * k_rows / block * mega_z
        ) / par + MS_SETUP["gemm"]
        grid = tap_grid(w)
        costs["einsum"] = (
            MS_EINSUM_FIXED * mega_in + MS_EINSUM_TAP * grid[0][1] * grid[1][1] * mega_out
        ) / par + MS_SETUP["einsum"]
        if sw > 1:
            # the output's columns and channels are then separate axes and
            # einsum's inner loop runs over the channels only (3x3 at column
            # stride 2, one 45-row strip: 30 ms against 7.6 for shifted adds)
            costs["einsum"] *= 4
        # the FFT computes every stride-1 sample inside its tiles (no thread gain measured)
        costs["fft"] = MS_FFT * factor * need[0] * need[1] * c / 1e6 + MS_SETUP["fft"]

    if method is not None:
        if method not in costs:
            why = notes.get(method) or notes.get("all") or "it does not apply"
            msg = f"method {method!r} cannot run this kernel (shape {w.shape}): {why}"
            raise OptionError(msg)
        chosen = method
        reason = f"Method forced ({method!r})."
    else:
        chosen = min(costs, key=lambda m: (costs[m], METHODS.index(m)))
        others = ", ".join(f"{m} ~{costs[m]:.1f} ms" for m in METHODS if m in costs and m != chosen)
        reason = (
            f"Cheapest of the exact methods (vs {others})."
            if others
            else "The only method that applies."
        )
        skipped = "; ".join(n.rstrip(".") for n in notes.values())
        if skipped:
            reason += f" Not considered: {skipped}."
    if chosen == "separable":
        # sized by the padded-width intermediate; 15x15 gaussian, rows per
        # strip vs ms: 8 531, 16 493, 32 451, 64 725 (this gives ~22)
        rows = strip_rows(wp, c, itemsize, oh, FUSED_STRIP_BYTES if fused else None)
    elif chosen == "einsum":
        rows = strip_rows(ow, c, itemsize, oh, EINSUM_STRIP_BYTES)
    elif chosen == "box":
        # the running sums restart per strip: keep the kernel's overlap small
        rows = min(oh, max(strip_rows(wp, c, 8, oh), 4 * (kh - 1) * dh))
    elif chosen == "gemm":
        # a few strips per thread, whole blocks each
        rows = block * max(1, -(-oh // (block * GEMM_STRIPS_PER_THREAD * max(1, threads))))
    if chosen != "fft":
        par = max(1, min(threads, -(-oh // rows)))
    taps = {"direct": nz, "separable": rank * (kh + kw), "box": 0, "fft": 0}.get(chosen, 0)
    if chosen == "gemm":
        taps = cols
    elif chosen == "einsum":
        taps = grid[0][1] * grid[1][1]
    return Plan(
        method=chosen,
        kernel_hw=(kh, kw),
        taps=taps,
        rank=rank if chosen == "separable" else (1 if chosen == "box" else 0),
        strip_rows=rows,
        tile=tile if chosen == "fft" else (0, 0),
        threads=fft_par if chosen == "fft" else par,
        cost_ms=costs[chosen],
        reason=reason,
        factors=factors if chosen == "separable" else None,
        sum_steps=tuple(sum_steps) if chosen == "separable" else (),
        box_value=box_value,
        block_rows=block if chosen == "gemm" else 0,
        grid=grid if chosen == "einsum" else NO_GRID,
        fused=fused and chosen == "separable",
    )
