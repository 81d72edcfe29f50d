"""The figures of ``--plot``: kernel heat map and frequency response, gradients, a fit."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convcli.array_types import F64Array, FloatArray
from convcli.errors import OptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: diverging colour map for signed values: blue negative, white zero, red positive
DIVERGING = "RdBu_r"
#: pixels of the frequency response on each side (the kernel is zero-padded to this)
FREQ_SIZE = 128
#: heat maps of bigger matrices are drawn from block means of at most this many cells a side
MAX_CELLS = 512


def check_plot_path(path: str) -> None:
    """Refuse, before any work, a ``--plot`` that is not ``.png`` or that matplotlib can't draw."""
    if Path(path).suffix.lower() != ".png":
        msg = f"`--plot` writes a PNG file; give a name ending in .png, got {path!r}"
        raise OptionError(msg)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        msg = "`--plot` needs matplotlib: pip install 'convcli[plot]'"
        raise OptionError(msg) from None


def robust_limit(values: FloatArray, percentile: float = 99.0) -> float:
    """The colour limit of a signed map: the ``percentile`` of ``|values|`` (not the maximum).

    A few large gradients at edges would otherwise squeeze everything else to
    mid-grey; values beyond the limit are drawn in the end colours.

    Examples
    --------
    >>> robust_limit(np.r_[np.linspace(-1, 1, 199), 100.0])
    1.0
    >>> robust_limit(np.zeros(4))
    1.0
    """
    mags = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    limit = float(np.percentile(mags, percentile)) if mags.size else 0.0
    if limit <= 0:
        limit = float(mags.max()) if mags.size else 0.0
    return limit if limit > 0 else 1.0


def frequency_response(w: F64Array, size: int = FREQ_SIZE) -> F64Array:
    """``|H(f)|`` of a 2-D kernel on a ``size x size`` grid, zero frequency at the centre.

    Examples
    --------
    >>> h = frequency_response(np.full((3, 3), 1 / 9), size=8)
    >>> h.shape, float(h[4, 4])
    ((8, 8), 1.0)
    """
    n = max(size, *w.shape)
    return np.asarray(np.fft.fftshift(np.abs(np.fft.fft2(w, s=(n, n)))), dtype=np.float64)


def _coarse(w: FloatArray) -> F64Array:
    """Block means so a heat map has at most :data:`MAX_CELLS` cells a side."""
    a = np.asarray(w, dtype=np.float64)
    fh, fw = (max(1, -(-n // MAX_CELLS)) for n in a.shape[:2])
    if fh == fw == 1:
        return a
    h, wd = a.shape[0] // fh * fh, a.shape[1] // fw * fw
    return np.asarray(a[:h, :wd].reshape(h // fh, fh, wd // fw, fw).mean(axis=(1, 3)))


def _figure(ncols: int, nrows: int = 1) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(4.6 * ncols, 4.0 * nrows), dpi=100, layout="constrained")


def _heat(fig: Figure, ax: Axes, w: FloatArray, title: str, limit: float | None = None) -> None:
    """A signed matrix with zero at white, the colour limit symmetric, and a colour bar."""
    a = _coarse(w)
    lim = float(np.abs(a).max()) if limit is None else limit
    lim = lim if lim > 0 else 1.0
    from matplotlib.ticker import MaxNLocator

    im = ax.imshow(a, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=ax, shrink=0.85)


def _save(fig: Figure, path: str) -> None:
    """Render on the Agg canvas and write the PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from convcli.atomic import atomic_write

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)  # type: ignore[no-untyped-call]
    with atomic_write(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def _plane(w: FloatArray) -> tuple[F64Array, str]:
    """The 2-D matrix drawn for a kernel (the first slice of a 3-D or 4-D one) and its label."""
    a = np.asarray(w, dtype=np.float64)
    if a.ndim == 2:
        return a, ""
    index = (0,) * (a.ndim - 2)
    return a[index], f" [{', '.join('0' for _ in index)}, :, :] of {a.shape}"


def plot_kernel(path: str, w: FloatArray, *, title: str = "kernel") -> None:
    """Weights as a diverging heat map, beside the magnitude of the 2-D frequency response."""
    check_plot_path(path)
    plane, which = _plane(w)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    _heat(fig, left, plane, f"{title}{which}: weights")
    h = frequency_response(plane)
    n = h.shape[0]
    extent = (-0.5, 0.5 - 1 / n, 0.5 - 1 / n, -0.5)
    im = right.imshow(h, cmap="magma", extent=extent, interpolation="nearest")
    right.set_title("|frequency response| (cycles/pixel)", fontsize=10)
    right.set_xlabel("fx")
    right.set_ylabel("fy")
    fig.colorbar(im, ax=right, shrink=0.85)
    _save(fig, path)


def plot_grad(path: str, kernel_grad: FloatArray, input_grad: FloatArray | None) -> None:
    """dL/dw as a heat map and, if given, dL/dx with its colours limited at the 99th percentile."""
    check_plot_path(path)
    plane, which = _plane(kernel_grad)
    fig = _figure(2 if input_grad is not None else 1)
    axes: Any = fig.subplots(1, 2 if input_grad is not None else 1)
    first = axes[0] if input_grad is not None else axes
    _heat(fig, first, plane, f"dL/dw{which}")
    if input_grad is not None:
        gx = np.asarray(input_grad, dtype=np.float64)
        gx2 = gx.sum(axis=2) if gx.ndim == 3 else gx
        lim = robust_limit(gx2)
        title = f"dL/dx (sum over channels)\ncolours end at +-{lim:.3g}, the 99th percentile"
        _heat(fig, axes[1], gx2, title, lim)
    _save(fig, path)


def plot_fit(path: str, kernel: FloatArray, history: Sequence[float], loss: float) -> None:
    """The loss curve (log scale) of a gradient fit, and the fitted kernel as a heat map."""
    check_plot_path(path)
    plane, which = _plane(kernel)
    fig = _figure(2)
    left, right = fig.subplots(1, 2)
    curve = [*history, loss]
    left.plot(range(len(curve)), curve, color="tab:blue")
    if min(curve) > 0:
        left.set_yscale("log")
    left.set_xlabel("step")
    left.set_ylabel("loss (mse)")
    left.set_title(f"loss: final {loss:.4g}" + ("" if history else " (lstsq: exact)"), fontsize=10)
    left.grid(True, alpha=0.3)
    _heat(fig, right, plane, f"fitted kernel{which}")
    _save(fig, path)
