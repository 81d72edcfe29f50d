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

Each method is a candidate (:mod:`convcli.engine.candidates`) with a check
(does it apply to this kernel, and if not, why) and an estimate (its cost
and the plan it would follow); the cheapest estimate wins.

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

from dataclasses import dataclass, field

import numpy.typing as npt

from convcli.array_types import F64Array
from convcli.engine.analysis import NO_GRID, GridAxis
from convcli.engine.candidates import Estimate, Problem, estimate_all
from convcli.engine.sumsteps import SumStep
from convcli.errors import OptionError
from convcli.parsing import one_of
from convcli.shapes import Geometry, Pair

METHODS = ("direct", "separable", "box", "fft", "gemm", "einsum")


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
    factors: tuple[F64Array, F64Array] | None = field(default=None, repr=False, compare=False)
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


def _choose(estimates: dict[str, Estimate], notes: dict[str, str], p: Problem) -> tuple[str, str]:
    """The forced method, or the cheapest (ties: the first in :data:`METHODS`); and why."""
    method = p.forced
    if method is not None:
        if method not in estimates:
            why = notes.get(method) or notes.get("all") or "it does not apply"
            msg = f"method {method!r} cannot run this kernel (shape {p.w.shape}): {why}"
            raise OptionError(msg)
        return method, f"Method forced ({method!r})."
    costs = {m: e.cost for m, e in estimates.items()}
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
    return chosen, reason


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
    if method is not None:
        one_of(method, METHODS, "method", fold=False)
    p = Problem(image_shape, kernel, geometry, dtype, threads, method)
    estimates, notes = estimate_all(p)
    chosen, reason = _choose(estimates, notes, p)
    e = estimates[chosen]
    return Plan(
        method=chosen,
        kernel_hw=(p.kh, p.kw),
        taps=e.taps,
        rank=e.rank,
        strip_rows=e.strip_rows,
        tile=e.tile,
        threads=e.threads,
        cost_ms=e.cost,
        reason=reason,
        factors=e.factors,
        sum_steps=e.sum_steps,
        # (the common tap of an all-equal kernel, whichever method runs it)
        box_value=float(p.w.ravel()[0]) if "box" in estimates else 0.0,
        block_rows=e.block_rows,
        grid=e.grid,
        fused=e.fused,
    )
