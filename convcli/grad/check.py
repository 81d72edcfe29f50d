"""Finite-difference check of the gradients (:func:`check_gradients`) and its tolerance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array
from convcli.conv_options import ConvOptions
from convcli.engine import check_image, check_kernel, convolve, correlate
from convcli.errors import OptionError
from convcli.grad.backward import _input_grad_of, _kernel_grad_of
from convcli.grad.losses import (
    _check_loss,
    _loss_slope,
    _loss_terms,
    _match_target,
    loss_value_and_grad,
)
from convcli.grad.problem import _problem
from convcli.shapes import PaddingSpec, Pair

__all__ = ["CHECK_RTOL", "GradCheck", "check_gradients", "check_gradients_with"]

#: Relative tolerance of :func:`check_gradients` (on top of a rounding-noise floor).
CHECK_RTOL = 1e-6

#: Safety factor on the estimated floating-point noise of a finite difference.
_NOISE_FACTOR = 64.0

_MACHEPS = float(np.finfo(np.float64).eps)

_Forward = Callable[[F64Array, F64Array], F64Array]


@dataclass(frozen=True)
class GradCheck:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    max_abs_err : float
        Largest ``|analytic - numerical|`` over the checked entries.
    max_rel_err : float
        Largest ``|analytic - numerical| / max(|analytic|, |numerical|, noise / rtol)``,
        where ``noise`` is the entry's estimated rounding noise (so entries that
        are zero up to rounding do not count as large relative errors).
    ok : bool
        Every checked entry is within ``rtol * max(|analytic|, |numerical|) + noise``;
        then ``max_rel_err <= 2 * rtol``.
    n_kernel : int
        Kernel entries checked (all of them, up to ``n_weights``).
    n_pixels : int
        Input values ``x[i, j, c]`` checked.
    kernel_size, image_size : int
        Entries of the kernel and values of the image, of which those were drawn.
    n_kinks : int
        Probes in which some output crossed an ``l1`` kink (see :func:`check_gradients`).
    rtol : float
        Relative tolerance used.
    """

    max_abs_err: float
    max_rel_err: float
    ok: bool
    n_kernel: int
    n_pixels: int
    n_kinks: int = 0
    rtol: float = CHECK_RTOL
    kernel_size: int = 0
    image_size: int = 0


@dataclass
class _Tally:
    """Errors of the probes so far, and whether every one was within tolerance."""

    abs_errs: list[float] = field(default_factory=list)
    rel_errs: list[float] = field(default_factory=list)
    ok: bool = True
    kinks: int = 0

    def add(self, analytic: float, numeric: float, noise: float, rtol: float) -> None:
        """Record one probe: its analytic and numerical value and its rounding noise."""
        err = abs(analytic - numeric)
        scale = max(abs(analytic), abs(numeric))
        self.abs_errs.append(err)
        floor = noise / rtol if rtol > 0 else noise
        self.rel_errs.append(err / max(scale, floor, np.finfo(np.float64).tiny))
        if err > rtol * scale + noise:
            self.ok = False


@dataclass
class _Probe:
    """Central differences of the loss, one input or kernel entry per call."""

    forward: _Forward
    x64: F64Array  # perturbed in place, one entry at a time
    w64: F64Array
    y0: F64Array  # unperturbed forward output
    g: F64Array  # dL/dy at y0
    t: F64Array | None  # target (None for the sum loss)
    loss: str
    mag_y: F64Array  # |x| (*) |w|: the size of each output's sum of products
    eps: float
    rtol: float
    tally: _Tally = field(default_factory=_Tally)
    sign0: F64Array | None = field(init=False)  # sign(y0 - t), for the l1 kinks

    def __post_init__(self) -> None:
        self.sign0 = None if self.t is None else np.sign(self.y0 - self.t)

    def __call__(self, arr: F64Array, idx: int, analytic: float) -> None:
        """Compare ``analytic`` with the central difference at ``arr.flat[idx]``."""
        yp, ym = self._perturbed(arr, idx)
        keep = yp != ym  # outputs the probe does not reach cancel exactly
        if self.loss == "l1":
            keep, analytic = self._without_kinks(yp, ym, keep, analytic)
        numeric, noise = self._numeric(yp, ym, keep)
        self.tally.add(analytic, numeric, noise, self.rtol)

    def _perturbed(self, arr: F64Array, idx: int) -> tuple[F64Array, F64Array]:
        """Forward outputs with ``arr.flat[idx]`` moved by ``+eps`` and by ``-eps``."""
        flat = arr.reshape(-1)  # a view: arr is C-contiguous
        old = flat[idx]
        flat[idx] = old + self.eps
        yp = self.forward(self.x64, self.w64)
        flat[idx] = old - self.eps
        ym = self.forward(self.x64, self.w64)
        flat[idx] = old
        return yp, ym

    def _without_kinks(
        self, yp: F64Array, ym: F64Array, keep: npt.NDArray[np.bool_], analytic: float
    ) -> tuple[npt.NDArray[np.bool_], float]:
        """Leave the outputs that cross an ``l1`` kink out of both sides of the comparison."""
        t, sign0 = self.t, self.sign0
        assert t is not None
        assert sign0 is not None
        crossing = keep & (sign0 != 0) & ((np.sign(yp - t) != sign0) | (np.sign(ym - t) != sign0))
        if crossing.any():
            # leave kink-crossing outputs out of both sides: their share of the
            # analytic value is dL/dy times the measured (exact, linear) dy/dtheta
            self.tally.kinks += 1
            slope = (yp[crossing] - ym[crossing]) / (2 * self.eps)
            analytic -= float(np.sum(self.g[crossing] * slope))
            keep &= ~crossing
        return keep, analytic

    def _numeric(
        self, yp: F64Array, ym: F64Array, keep: npt.NDArray[np.bool_]
    ) -> tuple[float, float]:
        """The central difference over the ``keep`` outputs, and its rounding noise."""
        n = self.y0.size
        tk = None if self.t is None else self.t[keep]
        tp, norm = _loss_terms(yp[keep], tk, self.loss, n)
        tm, _ = _loss_terms(ym[keep], tk, self.loss, n)
        numeric = float(np.sum(tp - tm)) * norm / (2 * self.eps)
        # rounding of the loss terms, and of y itself (about macheps * |x| (*) |w|)
        # carried to the loss by its slope
        size = float(np.sum(np.abs(tp)) + np.sum(np.abs(tm))) * norm
        slope_pm = _loss_slope(yp[keep], tk, self.loss, n) + _loss_slope(ym[keep], tk, self.loss, n)
        size += float(np.sum(slope_pm * self.mag_y[keep]))
        noise = _NOISE_FACTOR * _MACHEPS * size / (2 * self.eps)
        return numeric, noise


def _check_probe_options(n_pixels: int, n_weights: int, eps: float, rtol: float) -> None:
    """Check the finite-difference settings of :func:`check_gradients`."""
    for name, n in (("n_pixels", n_pixels), ("n_weights", n_weights)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            msg = f"`{name}` must be a non-negative integer; got {n!r}"
            raise OptionError(msg)
    if not (np.isfinite(eps) and eps > 0):
        msg = f"`eps` must be a positive number; got {eps!r}"
        raise OptionError(msg)
    if not (np.isfinite(rtol) and rtol >= 0):
        msg = f"`rtol` must be a non-negative number; got {rtol!r}"
        raise OptionError(msg)


def _forward(opts: ConvOptions, threads: int | None) -> _Forward:
    """The float64 forward of ``opts``: :func:`correlate`, or :func:`convolve` for ``flip``."""
    op = convolve if opts.flip else correlate

    def forward(xx: F64Array, ww: F64Array) -> F64Array:
        y = op(
            xx,
            ww,
            padding=opts.padding,
            border=opts.border,
            cval=opts.cval,
            stride=opts.stride,
            dilation=opts.dilation,
            anchor=opts.anchor,
            threads=threads,
            dtype=np.float64,
        )
        return np.asarray(y, dtype=np.float64)

    return forward


def check_gradients(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None = None,
    *,
    loss: str = "mse",
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    n_pixels: int = 64,
    n_weights: int = 64,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = CHECK_RTOL,
    threads: int | None = None,
) -> GradCheck:
    """Compare :func:`kernel_grad` and :func:`input_grad` with central finite differences.

    ``n_weights`` kernel entries and ``n_pixels`` input values ``x[i, j, c]``
    drawn at random (all of them if there are fewer) are perturbed by
    ``+-eps``; each probe runs the float64 forward (:func:`convcli.correlate`
    or :func:`convcli.convolve`) twice, so the cost is at most
    ``2 * (n_weights + n_pixels)`` forward passes, whatever the kernel size.

    Tolerance.  All four losses are at most quadratic in any single weight or
    pixel (the forward is linear), so the central difference has no
    truncation error: only rounding remains.  The difference
    ``L(+eps) - L(-eps)`` is summed output by output (outputs a probe does not
    touch cancel exactly), and its rounding noise is estimated from the sizes
    of the loss terms and of ``|dL/dy| * (|x| (*) |w|)`` over the outputs the
    probe changes, times 64, divided by ``eps``.  An entry passes when
    ``|analytic - numerical| <= rtol * max(|analytic|, |numerical|) + noise``.

    ``l1`` kinks.  ``|y - t|`` has no derivative at ``y == t``.  An output
    sitting exactly on a kink is harmless: its central difference is 0, the
    subgradient convcli uses.  An output that a ``+-eps`` probe moves across
    a kink (``sign(y - t)`` changes) would make the difference quotient
    meaningless, so it is left out of both sides of that comparison: out of
    the numerical sum, and its share ``dL/dy * dy/dtheta`` (with the measured
    ``dy/dtheta``, exact since the forward is linear) out of the analytic
    value.  ``n_kinks`` counts the probes where this happened.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image.
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel, as given.
    target : ndarray, shape of the forward output, optional
        Required except for ``loss="sum"``.
    loss : {"mse", "sse", "l1", "sum"}
        Loss to differentiate.
    padding, border, cval, stride, dilation, flip, anchor, threads
        As for :func:`kernel_grad`.
    n_pixels, n_weights : int
        Most input values and kernel entries to check (>= 0).
    seed : int
        Seed for choosing the input values and kernel entries.
    eps : float
        Finite-difference step (> 0).
    rtol : float
        Relative tolerance (>= 0).

    Returns
    -------
    GradCheck

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, t = rng.uniform(size=(2, 6, 6))
    >>> check_gradients(x, rng.normal(size=(3, 3)), t).ok
    True
    """
    opts = ConvOptions(
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        flip=flip,
    )
    return check_gradients_with(
        x,
        w,
        target,
        opts,
        loss=loss,
        n_pixels=n_pixels,
        n_weights=n_weights,
        seed=seed,
        eps=eps,
        rtol=rtol,
        threads=threads,
    )


def check_gradients_with(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None,
    opts: ConvOptions,
    *,
    loss: str = "mse",
    n_pixels: int = 64,
    n_weights: int = 64,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = CHECK_RTOL,
    threads: int | None = None,
    progress: Callable[[str, float], object] | None = None,
) -> GradCheck:
    """:func:`check_gradients` with the geometry options as one :class:`ConvOptions`.

    ``progress(stage, fraction)``, if given, hears of every probe.
    """
    name = _check_loss(loss)
    _check_probe_options(n_pixels, n_weights, eps, rtol)
    check_image(x)
    # contiguous float64 copies, perturbed in place one entry at a time
    x64 = np.array(x, dtype=np.float64, order="C")
    w64 = np.array(check_kernel(w), dtype=np.float64, order="C")
    forward = _forward(opts, threads)
    y0 = forward(x64, w64)
    _value, g = loss_value_and_grad(y0, target, name)
    t = None if name == "sum" else _match_target(y0, target, name)
    # what kernel_grad and input_grad return, from one padded copy of x
    prob = _problem(x64, w64, opts, dtype=np.float64, threads=threads)
    an_w = np.asarray(_kernel_grad_of(prob, prob.upstream(g)))
    an_x = np.asarray(_input_grad_of(prob, prob.upstream(g)))
    # size of each output's sum of products, for the rounding-noise estimate
    mag_y = _forward(opts.replace(cval=abs(opts.cval)), threads)(np.abs(x64), np.abs(w64))
    probe = _Probe(
        forward=forward,
        x64=x64,
        w64=w64,
        y0=y0,
        g=g,
        t=t,
        loss=name,
        mag_y=mag_y,
        eps=eps,
        rtol=rtol,
    )

    n_x = min(n_pixels, x64.size)
    chosen = np.random.default_rng(seed).choice(x64.size, size=n_x, replace=False)
    n_w = min(n_weights, w64.size)
    taps = np.random.default_rng(seed + 1).choice(w64.size, size=n_w, replace=False)
    flat_w, flat_x = an_w.reshape(-1).astype(np.float64), an_x.reshape(-1).astype(np.float64)
    probes = [(w64, flat_w, int(k)) for k in np.sort(taps)]
    probes += [(x64, flat_x, int(k)) for k in chosen]
    for i, (arr, analytic, k) in enumerate(probes):
        if progress is not None:
            progress("checking gradients", i / len(probes))
        probe(arr, k, float(analytic[k]))
    tally = probe.tally
    return GradCheck(
        max_abs_err=max(tally.abs_errs, default=0.0),
        max_rel_err=max(tally.rel_errs, default=0.0),
        ok=tally.ok,
        n_kernel=n_w,
        n_pixels=n_x,
        kernel_size=w64.size,
        image_size=x64.size,
        n_kinks=tally.kinks,
        rtol=rtol,
    )
