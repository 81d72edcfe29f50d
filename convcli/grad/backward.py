"""Backward pass of the convolution on a resolved problem: ``dL/dw`` and ``dL/dx``.

The forward pass is :func:`convcli.engine.correlate` on the padded image
``xpad`` (``H + top + bottom`` by ``W + left + right``, filled by the border
mode)::

    y[i, j, o] = sum_{c,p,q} w[o, c, p, q] * xpad[i*S + p*D, j*S + q*D, c]

Given the upstream gradient ``g = dL/dy`` (the shape of ``y``), the two
gradients are:

* the kernel gradient, a correlation of the padded input with ``g``::

      dL/dw[o, c, p, q] = sum_{i,j} g[i, j, o] * xpad[i*S + p*D, j*S + q*D, c]

  (for a 2-D depthwise kernel ``w[p, q]`` the sum also runs over the channels);

* the input gradient, a full convolution of ``g`` with the kernel, folded back
  through the border mode::

      dL/dxpad[i*S + p*D, j*S + q*D, c] += sum_o g[i, j, o] * w[o, c, p, q]
      dL/dx = fold_padding(dL/dxpad)

  where :func:`convcli.borders.fold_padding` sends the gradient of every
  padded cell back to the pixel it was copied from (``reflect``, ``mirror``,
  ``nearest``, ``wrap``) or drops it (``constant``).

Both go through the engine: the kernel gradient by
:mod:`convcli.engine.weights` (blocked matrix products, or FFT for large
kernels, by cost); the input gradient at stride 1 as the engine's planned
correlation of ``g`` (zero "full" padding) with the flipped kernel, so the
planner picks einsum, gemm, separable, box or FFT as for a forward pass.  At
a stride above 1 the input gradient is one scaled scatter-add per tap into a
strided slice over strips of output rows (only the samples the stride kept);
slices of one tap never overlap, so ``+=`` on a strided view is exact.

``flip=True`` means the forward was :func:`convcli.engine.convolve`: the
kernel is flipped (with its anchor, as in :func:`convcli.engine.flip_kernel`)
before the forward, and the kernel gradient is flipped back to the
orientation of the kernel as given.
"""

from __future__ import annotations

import numpy as np

from convcli import config
from convcli.array_types import F64Array, FloatArray
from convcli.borders import fold_padding
from convcli.config import default_threads
from convcli.conv_options import ConvOptions
from convcli.engine import correlate_with
from convcli.engine.direct import nonzero_taps
from convcli.engine.parallel import run_jobs
from convcli.engine.weights import weight_grad, weight_grad_pairs
from convcli.grad.problem import _Problem
from convcli.shapes import Geometry


def _strips(geom: Geometry, channels: int, itemsize: int) -> list[tuple[int, int]]:
    """Output row ranges of about :data:`convcli.config.GRAD_STRIP_BYTES` each."""
    oh, ow = geom.out_hw
    per_row = max(1, ow * channels * itemsize)
    rows = max(1, min(oh, config.GRAD_STRIP_BYTES // per_row))
    return [(r, min(r + rows, oh)) for r in range(0, oh, rows)]


# -- the two gradients, on a resolved problem ----------------------------------------


def _kernel_grad_padded(prob: _Problem, g: FloatArray) -> F64Array:
    """dL/dw in forward orientation, shape ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``."""
    threads = prob.threads or default_threads()
    if prob.depthwise:
        return weight_grad(prob.xp, g, prob.geom, threads)
    return weight_grad_pairs(prob.xp, g, prob.geom, threads)


def _input_grad_padded(prob: _Problem, g: FloatArray) -> FloatArray:
    """dL/dx, shape ``(H, W, C)``, in the working dtype."""
    if prob.geom.stride != (1, 1):
        return _input_grad_taps(prob, g)
    gp = _padded_input_grad_planned(prob, g)
    hw = (prob.x_shape[0], prob.x_shape[1])
    geom = prob.geom
    return fold_padding(gp, hw, geom.pad_rows, geom.pad_cols, border=prob.opts.border)


def _padded_input_grad_planned(prob: _Problem, g: FloatArray) -> FloatArray:
    """dL/dxpad at stride 1: a correlation, planned by the engine, of ``g`` with the flipped kernel.

    ``dxpad[a, b] = sum_{p,q} g[a - p*D, b - q*D] w[p, q]`` is the valid
    correlation of ``g`` zero-padded by ``(k - 1) * D`` on every side with the
    kernel flipped (and, for channel-mixing kernels, its channel axes swapped).
    """
    geom = prob.geom
    k = prob.kernel
    if k.ndim == 3:
        k = k[None]  # (1, C, kh, kw): one output channel
    if k.ndim == 4:
        k = k.transpose(1, 0, 2, 3)
    k = np.ascontiguousarray(k[..., ::-1, ::-1])
    # "full" padding with zeros is (k - 1) * D on every side; at stride 1 the result
    # has exactly the padded image's shape, (H' + (kh - 1) * D, W' + (kw - 1) * D)
    back = ConvOptions(padding="full", border="constant", dilation=geom.dilation)
    gp = correlate_with(g, k, back, dtype=prob.xp.dtype, threads=prob.threads)
    return gp.reshape(prob.xp.shape)


def _input_grad_taps(prob: _Problem, g: FloatArray) -> FloatArray:
    """dL/dx by scatter-adds, tap by tap (strided forwards: only the samples a stride keeps)."""
    xp, geom = prob.xp, prob.geom
    hp, wp, c = xp.shape
    o = g.shape[2]
    kh, kw = geom.kernel_hw
    ow = geom.out_hw[1]
    sh = geom.stride[0]
    dh = geom.dilation[0]
    dt = xp.dtype
    gp = np.zeros((hp, wp, c), dtype=dt)
    taps = nonzero_taps(prob.kernel, c, dt, transpose=False)

    def run_strip(bounds: tuple[int, int]) -> None:
        r0, r1 = bounds
        gs = g[r0:r1]
        tmp = np.empty((r1 - r0, ow, c), dtype=dt)
        for p, q, wt in taps:
            rs, cs = geom.tap_slices(p, q, r0, r1)
            if prob.depthwise:
                np.multiply(gs, wt, out=tmp)
            else:
                np.matmul(gs, wt, out=tmp)
            gp[rs, cs] += tmp

    strips = _strips(geom, max(c, o), dt.itemsize)
    n_threads = prob.threads or default_threads()
    # A strip writes padded rows [r0*S, (r1-1)*S + (kh-1)*D + 1): nearby strips share a
    # halo.  Strips are run in waves (every m-th strip) chosen so that no two strips of
    # a wave overlap; the wave order is kept on one thread too, so results never
    # depend on the thread count.
    spans = [(r0 * sh, (r1 - 1) * sh + (kh - 1) * dh + 1) for r0, r1 in strips]
    m = 1
    while any(spans[i][1] > spans[i + m][0] for i in range(len(spans) - m)):
        m += 1
    for wave in range(m):
        run_jobs(run_strip, strips[wave::m], n_threads)
    hw = (prob.x_shape[0], prob.x_shape[1])
    return fold_padding(gp, hw, geom.pad_rows, geom.pad_cols, border=prob.opts.border)


def _as_given_orientation(prob: _Problem, gk: F64Array) -> F64Array:
    gk = gk.reshape(prob.kernel_shape)
    if prob.opts.flip:
        gk = np.ascontiguousarray(gk[..., ::-1, ::-1])
    return gk


def _as_given_image(prob: _Problem, gx: FloatArray) -> FloatArray:
    return gx[:, :, 0] if len(prob.x_shape) == 2 else gx


def _kernel_grad_of(prob: _Problem, g: FloatArray) -> F64Array:
    """dL/dw in the orientation of the kernel as given, for ``g`` from ``prob.upstream``."""
    return _as_given_orientation(prob, _kernel_grad_padded(prob, g))


def _input_grad_of(prob: _Problem, g: FloatArray) -> FloatArray:
    """dL/dx in the shape of the image as given, for ``g`` from ``prob.upstream``."""
    return _as_given_image(prob, _input_grad_padded(prob, g))
