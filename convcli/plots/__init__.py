"""Pictures of kernels, gradients and fits as PNG files (``--plot FILE.png``).

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global state), so it works headless and in threads.  matplotlib is an optional
extra (``pip install 'convcli[plot]'``), imported only when a plot is drawn; without
it, ``--plot`` is a clear error (exit 2) before any work.  Files are written
atomically like every other output.

Public: :func:`plot_kernel`, :func:`plot_grad`, :func:`plot_fit`,
:func:`check_plot_path`, :func:`robust_limit`, :func:`frequency_response`.
"""

from __future__ import annotations

from convcli.plots.figures import (
    check_plot_path,
    frequency_response,
    plot_fit,
    plot_grad,
    plot_kernel,
    robust_limit,
)

__all__ = [
    "check_plot_path",
    "frequency_response",
    "plot_fit",
    "plot_grad",
    "plot_kernel",
    "robust_limit",
]
