"""The multi-channel convolution engine.

Public entry points are :func:`correlate` (cross-correlation, as in CNNs and
OpenCV's ``filter2D``) and :func:`convolve` (kernel flipped, as
``scipy.ndimage.convolve``).  Images are ``(H, W)`` or ``(H, W, C)``; kernels
are ``(kh, kw)`` (depthwise: every channel on its own), ``(C, kh, kw)`` (sum
over channels, one output channel) or ``(O, C, kh, kw)`` (channel mixing).

Method: the padded image is kept in image layout ``(H, W, C)`` (no
channels-first copy), and the output is produced in row strips sized to stay
in the CPU cache.  Inside a strip, each kernel tap adds one strided slice of
the padded image, times the tap's weight (depthwise) or times a ``(C, O)``
matrix (channel mixing), to the strip's accumulator.  Zero taps are skipped.
Strips are independent and run on a thread pool (NumPy releases the GIL in
its loops).  Stride and dilation only change the slice steps, so outputs that
a stride throws away are never computed.

That is the ``direct`` method.  :func:`plan_correlation` picks, per kernel
and image size, the cheapest exact one among ``direct``, ``separable``
(low-rank 2-D kernels as pairs of 1-D passes), ``box`` (running sums),
``fft`` (overlap-save tiles), ``gemm`` (the vertical sums of a 2-D kernel's
columns as matrix products, then shifted adds) and ``einsum`` (one fused
multiply-add per tap); :func:`make_plan` returns that choice with a readable
explanation, and ``method=`` forces one.

Public here (everything else in the package is internal):

- :func:`correlate`, :func:`convolve`: filter an image.
- :func:`make_plan`, :class:`Plan`, :data:`METHODS`, :func:`plan_correlation`:
  the method that would run, and why.
- :func:`correlate_with`: the same, with the geometry options as one
  :class:`~convcli.conv_options.ConvOptions` (how filters and gradients call it).
- :func:`correlate_padded`: correlate an image padded beforehand (the
  gradient code's forward pass).
- :func:`check_image`, :func:`check_kernel`, :func:`result_dtype`,
  :func:`flip_kernel`, :func:`nonzero_taps`: the engine's input checks and
  kernel helpers, shared with the gradient code.
- :func:`default_threads` (from :mod:`convcli.config`), :func:`strip_rows`,
  :func:`run_jobs`, :func:`iter_jobs`: thread count, strip sizes and the one
  thread pool helper.

Examples
--------
>>> import numpy as np
>>> correlate(np.ones((4, 4)), np.ones((3, 3)) / 9).shape
(4, 4)
"""

from __future__ import annotations

from convcli.config import default_threads
from convcli.engine.api import convolve, correlate, correlate_padded, correlate_with, make_plan
from convcli.engine.direct import nonzero_taps
from convcli.engine.inputs import check_image, check_kernel, flip_kernel, result_dtype
from convcli.engine.parallel import iter_jobs, run_jobs, strip_rows
from convcli.engine.plan import METHODS, Plan, plan_correlation

__all__ = [
    "METHODS",
    "Plan",
    "check_image",
    "check_kernel",
    "convolve",
    "correlate",
    "correlate_padded",
    "correlate_with",
    "default_threads",
    "flip_kernel",
    "iter_jobs",
    "make_plan",
    "nonzero_taps",
    "plan_correlation",
    "result_dtype",
    "run_jobs",
    "strip_rows",
]
