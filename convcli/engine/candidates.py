"""The planner's candidates: for each method, whether it applies and what it would cost.

Each entry of :data:`CANDIDATES` pairs a check (``None`` when the method can
run the kernel, else why not, for the plan's explanation) with an estimate:
the cost in milliseconds on the reference machine (from
:mod:`convcli.engine.costs`) and the plan fields the method would run with.
:func:`estimate_all` evaluates every candidate for one :class:`Problem`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from convcli import config
from convcli.array_types import F64Array
from convcli.engine.analysis import (
    NO_GRID,
    GridAxis,
    direct_traffic,
    fft_tile,
    horizontal_steps,
    low_rank,
    tap_grid,
)
from convcli.engine.costs import (
    GEMM_BLOCK_ROWS,
    GEMM_STRIPS_PER_THREAD,
    LOWRANK_MAX,
    LOWRANK_RTOL,
    MS_BOX,
    MS_DIRECT_FIXED,
    MS_DIRECT_TOUCH,
    MS_EINSUM_FIXED,
    MS_EINSUM_TAP,
    MS_FFT,
    MS_FUSED_RANK,
    MS_GEMM_FIXED,
    MS_GEMM_PER_COLUMN,
    MS_GEMM_PER_MAC,
    MS_SEPARABLE_FIXED,
    MS_SEPARABLE_RANK,
    MS_SEPARABLE_TOUCH,
    MS_SETUP,
)
from convcli.engine.parallel import blas_limited, strip_rows
from convcli.engine.sumsteps import SumStep, step_traffic
from convcli.shapes import Geometry, Pair, kernel_dims


class Problem:
    """What the candidates' checks and estimates read: kernel, sizes, threads, forced method."""

    def __init__(
        self,
        image_shape: tuple[int, ...],
        kernel: npt.ArrayLike,
        geometry: Geometry,
        dtype: npt.DTypeLike,
        threads: int,
        method: str | None,
    ) -> None:
        w = np.asarray(kernel, dtype=np.float64)
        c = int(image_shape[-1])
        o, _, (kh, kw), depthwise = kernel_dims(w.shape, c)
        oh, ow = geometry.out_hw
        pl, pr = geometry.pad_cols
        wp = geometry.in_hw[1] + pl + pr
        self.w, self.c, self.o, self.kh, self.kw, self.depthwise = w, c, o, kh, kw, depthwise
        self.oh, self.ow, self.wp = oh, ow, wp
        self.dh, self.dw = geometry.dilation
        self.sh, self.sw = geometry.stride
        self.itemsize = np.dtype(dtype).itemsize
        self.threads = threads
        self.forced = method
        self.mega_out = oh * ow * o / 1e6
        #: Output rows per strip of the direct method (kept by the fft's plan).
        self.rows = strip_rows(ow, max(c, o), self.itemsize, oh, config.DIRECT_STRIP_BYTES)
        n_strips = -(-oh // self.rows)
        self.nz = int(np.count_nonzero(np.any(w.reshape(-1, kh, kw) != 0, axis=0)))
        #: Threads the direct method's strips keep busy; every strip method's cost uses it.
        self.par = max(1, min(threads, n_strips))
        # strips pad every input row they read; strided passes read whole cache lines
        # (measured 11x11 random at stride 4: 551 ms, against 513 for 9x9 at stride 1)
        # (a kernel taller than the image reads, and pads, rows far outside it)
        read = (oh - 1) * self.sh + (kh - 1) * self.dh + 1
        h = geometry.in_hw[0]
        self.mega_in = max(min(h, read), read - h) * wp * c / 1e6
        #: Million samples of a padded-width intermediate of ``oh`` rows.
        self.mega_mid = oh * wp * c / 1e6

    def halo_ms(self, rows: int) -> float:
        """Milliseconds spent padding rows that more than one strip of ``rows`` reads.

        Each strip pads every input row it reads, ``(rows - 1) * S + (kh - 1) * D + 1``:
        a 1201-row kernel over 48-row strips pads 26 times the rows it needs (1.5 s
        of 3.6 s on a 400x600 image; taller strips measured slower still, 8.3 s, as
        the horizontal passes then leave the cache).
        """
        n_strips = -(-self.oh // rows)
        extra = (n_strips - 1) * ((self.kh - 1) * self.dh + 1 - self.sh) * self.wp * self.c
        return MS_DIRECT_FIXED * max(0, extra) / 1e6 / self.threads_for(rows)

    def threads_for(self, rows: int) -> int:
        """Threads that strips of ``rows`` output rows keep busy."""
        return max(1, min(self.threads, -(-self.oh // rows)))

    @functools.cached_property
    def rank_factors(self) -> tuple[int, F64Array, F64Array]:
        """The kernel's low-rank factors at the working precision (:func:`low_rank`)."""
        rtol = LOWRANK_RTOL[8 if self.itemsize >= 8 else 4]
        # only a rank whose passes have fewer taps than the kernel can win
        top = max(1, min(LOWRANK_MAX, (self.nz - 1) // (self.kh + self.kw)))
        # LAPACK on small matrices: BLAS's own threads only wait on each other (a
        # 1201x40 QR took 1,344 ms with them beside a busy process, 1.3 ms without)
        with blas_limited(1):
            return low_rank(self.w, rtol, None if self.forced == "separable" else top)


@dataclass(frozen=True)
class Estimate:
    """One method's estimated cost and the plan fields it would run with."""

    cost: float
    taps: int
    strip_rows: int
    threads: int
    rank: int = 0
    tile: Pair = (0, 0)
    factors: tuple[F64Array, F64Array] | None = None
    sum_steps: tuple[SumStep, ...] = ()
    block_rows: int = 0
    grid: tuple[GridAxis, GridAxis] = NO_GRID
    fused: bool = False


def _applies(_p: Problem) -> str | None:
    """No condition: the method runs every kernel it is offered."""
    return None


def _direct(p: Problem) -> Estimate:
    """Direct: a pass per tap, as counted by :func:`direct_traffic` (or 7 per mixing tap)."""
    # a channel-mixing tap is a (C, O) matrix product per pixel: C times the work
    mix = 1 if p.depthwise else p.c
    touches = direct_traffic(p.w) if p.depthwise else 7 * p.nz * mix
    cost = (
        MS_DIRECT_FIXED * p.mega_in + MS_DIRECT_TOUCH * max(touches, 1) * p.sw * p.mega_out
    ) / p.par + p.halo_ms(p.rows)
    return Estimate(cost, taps=p.nz, strip_rows=p.rows, threads=p.par)


def _box_refusal(p: Problem) -> str | None:
    """Box needs every tap equal."""
    flat = p.w.ravel()
    return None if np.all(flat == flat[0]) else "box needs all taps equal"


def _box(p: Problem) -> Estimate:
    """Box: running sums, flat in the kernel size."""
    cost = MS_BOX * p.mega_out / p.par + MS_SETUP["box"]
    # the running sums restart per strip: keep the kernel's overlap small
    rows = min(p.oh, max(strip_rows(p.wp, p.c, 8, p.oh), 4 * (p.kh - 1) * p.dh))
    return Estimate(cost, taps=0, strip_rows=rows, threads=p.threads_for(rows), rank=1)


def _separable_refusal(p: Problem) -> str | None:
    """Separable needs a 2-D kernel whose rank saves taps (unless forced)."""
    forced = p.forced == "separable"
    if min(p.kh, p.kw) <= 1 and not forced:
        return "the kernel is already 1-D"
    if p.nz <= p.kh + p.kw and not forced:
        # even rank 1 has kh + kw taps: no need to look for the rank
        return f"rank 1 needs {p.kh + p.kw} taps, not fewer than {p.nz}"
    rank = p.rank_factors[0]
    if rank * (p.kh + p.kw) < p.nz or forced:
        return None
    return f"rank {rank} needs {rank * (p.kh + p.kw)} taps, not fewer than {p.nz}"


def _separable(p: Problem) -> Estimate:
    """Separable: a matrix product and sum steps, or einsum passes when cheaper."""
    rank, u, v = p.rank_factors
    u, v, sum_steps = horizontal_steps(u, v)
    cost = (
        MS_SEPARABLE_TOUCH * step_traffic(sum_steps) * p.mega_out
        + (MS_SEPARABLE_FIXED + MS_SEPARABLE_RANK * v.shape[0]) * p.mega_mid
    ) / p.par + MS_SETUP["separable"]
    fused = False
    if p.sw == 1:
        r = v.shape[0]
        cost_fused = (
            (MS_EINSUM_FIXED + MS_FUSED_RANK * (r - 1)) * p.mega_mid
            + MS_EINSUM_TAP * r * (p.kh * p.mega_mid + p.kw * p.mega_out)
        ) / p.par + MS_SETUP["separable"]
        fused = cost_fused < cost
        cost = min(cost_fused, cost)
    # sized by the padded-width intermediate; 15x15 gaussian, rows per
    # strip vs ms: 8 531, 16 493, 32 451, 64 725 (this gives ~22)
    rows = strip_rows(p.wp, p.c, p.itemsize, p.oh, config.FUSED_STRIP_BYTES if fused else None)
    cost += p.halo_ms(rows)
    return Estimate(
        cost,
        taps=rank * (p.kh + p.kw),
        strip_rows=rows,
        threads=p.threads_for(rows),
        rank=rank,
        factors=(u, v),
        sum_steps=tuple(sum_steps),
        fused=fused,
    )


def _gemm(p: Problem) -> Estimate:
    """Gemm: a matrix product per block of rows, then a shifted add per column."""
    cols = int(np.count_nonzero(np.any(p.w != 0, axis=0)))
    block = next(rows for tallest, rows in GEMM_BLOCK_ROWS if p.kh <= tallest)
    k_rows = (block - 1) * p.sh + (p.kh - 1) * p.dh + 1
    cost = (
        MS_GEMM_FIXED * p.mega_out
        + MS_GEMM_PER_COLUMN * cols * p.mega_out
        + MS_GEMM_PER_MAC * cols * k_rows / block * p.mega_mid
    ) / p.par + MS_SETUP["gemm"]
    # a few strips per thread, whole blocks each
    rows = block * max(1, -(-p.oh // (block * GEMM_STRIPS_PER_THREAD * max(1, p.threads))))
    return Estimate(cost, taps=cols, strip_rows=rows, threads=p.threads_for(rows), block_rows=block)


def _einsum(p: Problem) -> Estimate:
    """Einsum: a fused multiply-add per tap of the kernel's grid."""
    grid = tap_grid(p.w)
    cost = (
        MS_EINSUM_FIXED * p.mega_in + MS_EINSUM_TAP * grid[0][1] * grid[1][1] * p.mega_out
    ) / p.par + MS_SETUP["einsum"]
    if p.sw > 1:
        # the output's columns and channels are then separate axes and
        # einsum's inner loop runs over the channels only (3x3 at column
        # stride 2, one 45-row strip: 30 ms against 7.6 for shifted adds)
        cost *= 4
    rows = strip_rows(p.ow, p.c, p.itemsize, p.oh, config.EINSUM_STRIP_BYTES)
    cost += p.halo_ms(rows)
    taps = grid[0][1] * grid[1][1]
    return Estimate(cost, taps=taps, strip_rows=rows, threads=p.threads_for(rows), grid=grid)


def _fft(p: Problem) -> Estimate:
    """FFT: overlap-save tiles, flat in the kernel size."""
    extent = ((p.kh - 1) * p.dh + 1, (p.kw - 1) * p.dw + 1)
    need = ((p.oh - 1) * p.sh + 1, (p.ow - 1) * p.sw + 1)
    tile, factor = fft_tile(extent, need)
    n_tiles = -(-need[0] // (tile[0] - extent[0] + 1)) * -(-need[1] // (tile[1] - extent[1] + 1))
    # the FFT computes every stride-1 sample inside its tiles (no thread gain measured)
    cost = MS_FFT * factor * need[0] * need[1] * p.c / 1e6 + MS_SETUP["fft"]
    return Estimate(
        cost, taps=0, strip_rows=p.rows, threads=max(1, min(p.threads, n_tiles)), tile=tile
    )


@dataclass(frozen=True)
class Candidate:
    """A method the planner may pick: whether it applies, and what it would cost."""

    method: str
    #: Why the method cannot run the problem, or None when it can.
    refusal: Callable[[Problem], str | None]
    estimate: Callable[[Problem], Estimate]
    #: Offered only for a per-channel (2-D) kernel with a non-zero tap.
    per_channel: bool = True


#: Every method, in the order a plan's reason lists the ones not considered
#: (box before separable).
CANDIDATES = (
    Candidate("direct", _applies, _direct, per_channel=False),
    Candidate("box", _box_refusal, _box),
    Candidate("separable", _separable_refusal, _separable),
    Candidate("gemm", _applies, _gemm),
    Candidate("einsum", _applies, _einsum),
    Candidate("fft", _applies, _fft),
)


def _only_direct(p: Problem) -> str | None:
    """Why only the direct method can run the kernel, or None when the others may."""
    if not p.depthwise:
        return "only the direct method handles channel-summing 3-D and 4-D kernels"
    if p.nz == 0:
        return "the kernel is all zeros (in the working precision)"
    return None


def estimate_all(p: Problem) -> tuple[dict[str, Estimate], dict[str, str]]:
    """The estimate of every method that applies, and why each other one does not."""
    estimates: dict[str, Estimate] = {}
    notes: dict[str, str] = {}
    only_direct = _only_direct(p)
    if only_direct is not None:
        notes["all"] = only_direct
    for candidate in CANDIDATES:
        if candidate.per_channel and only_direct is not None:
            continue
        why = candidate.refusal(p)
        if why is None:
            estimates[candidate.method] = candidate.estimate(p)
        else:
            notes[candidate.method] = why
    return estimates, notes
