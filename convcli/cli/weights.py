"""Kernels (and kernel gradients) as the terminal shows them, in bounded time and space.

A kernel that fits the console is one table of weights coloured by sign, its numbers as
short as they can be (``0.1111``, ``-2``, ``1.2e-5``); a bigger one is a summary (shape,
sum, range, the weights around the centre, block means); ``full=True`` writes every
weight, one row per line, without Rich (so a 1201x1201 kernel takes a second, not minutes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from rich.console import Console
    from rich.table import Table

#: kernels with more rows than this are summarised even if their rows fit the console
MAX_TABLE_ROWS = 25
#: at most this many 2-D slices of a 3-D or 4-D kernel are shown (all of them with ``full``)
MAX_SLICES = 16


def compact(v: float, digits: int = 4) -> str:
    """A weight in at most ``digits`` significant digits, exponent without padding zeros.

    Examples
    --------
    >>> compact(0.1111111), compact(-2.0), compact(1.234e-05), compact(0.0), compact(1e20)
    ('0.1111', '-2', '1.234e-5', '0', '1e+20')
    >>> compact(0.0002394), compact(0.001073)
    ('2.394e-4', '0.001073')
    """
    plain = f"{v:.{digits}g}"
    sci = f"{v:.{digits - 1}e}"
    mantissa, exponent = sci.split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    sci = f"{mantissa}e{int(exponent):+d}"  # no padding zeros: 2.394e-4
    return sci if len(sci) < len(plain) else plain.replace("e-0", "e-").replace("e+0", "e+")


def _style(v: float) -> str:
    return "green" if v > 0 else "red" if v < 0 else "dim"


def _cells(w: npt.NDArray[np.float64], width: int) -> list[list[str]] | None:
    """The matrix as text cells with the most digits (6, 4 or 3) that fit ``width``, or None."""
    for digits in (6, 4, 3):
        cells = [[compact(float(v), digits) for v in row] for row in w]
        cell = max(len(c) for row in cells for c in row)
        if w.shape[1] * (cell + 1) <= width:
            return cells
    return None


def weights_table(
    cells: list[list[str]], values: npt.NDArray[np.float64], title: str = ""
) -> Table:
    """A Rich table of text cells, each coloured by the sign of its value."""
    from rich.table import Table

    table = Table(title=title or None, show_header=False, box=None, padding=(0, 0, 0, 1))
    for _ in range(values.shape[1]):
        table.add_column(justify="right", no_wrap=True)
    for row, vals in zip(cells, values, strict=True):
        table.add_row(*(f"[{_style(float(v))}]{c}[/]" for c, v in zip(row, vals, strict=True)))
    return table


def _labelled(
    values: npt.NDArray[np.float64], row_labels: list[str], col_labels: list[str]
) -> Table:
    """A table of numbers with a header of column labels and a first column of row labels."""
    from rich.table import Table

    table = Table(box=None, padding=(0, 0, 0, 1), show_edge=False)
    table.add_column("", justify="right", style="dim", no_wrap=True)
    for label in col_labels:
        table.add_column(label, justify="right", no_wrap=True, header_style="dim")
    for label, row in zip(row_labels, values, strict=True):
        cells = (f"[{_style(float(v))}]{compact(float(v), 3)}[/]" for v in row)
        table.add_row(label, *cells)
    return table


def _fit_window(width: int) -> tuple[int, int]:
    """Centre window side (at most 7) and block count (at most 8) that fit ``width``.

    Each column of numbers takes 9 cells, the row labels 10.
    """
    room = max(3, (width - 10) // 9)
    return min(7, room), min(8, room)


def print_summary(console: Console, w: npt.NDArray[np.float64], hint: str = "") -> None:
    """Print the summary of a big 2-D matrix (see :mod:`convcli.kernelspec.summary`)."""
    from convcli.kernelspec.summary import summarize_weights

    window, blocks = _fit_window(console.width)
    s = summarize_weights(w, window=window, blocks=blocks)
    kh, kw = s.shape
    console.print(f"{kh}x{kw} weights, summarised{hint}", markup=False)
    console.print(
        f"sum {compact(s.sum, 6)}  min {compact(s.min)} at {s.argmin}  "
        f"max {compact(s.max)} at {s.argmax}",
        markup=False,
    )
    (r0, c0), (ch, cw) = s.centre_origin, s.centre.shape
    console.print(f"centre: rows {r0}..{r0 + ch - 1}, columns {c0}..{c0 + cw - 1}", markup=False)
    rows = [str(r0 + i) for i in range(ch)]
    console.print(_labelled(s.centre, rows, [str(c0 + j) for j in range(cw)]))
    br, bc = s.block_means.shape
    console.print(f"block means ({br}x{bc} blocks; labels are first row / column)", markup=False)
    console.print(
        _labelled(
            s.block_means, [str(v) for v in s.row_edges[:-1]], [str(v) for v in s.col_edges[:-1]]
        )
    )


def print_full(console: Console, w: npt.NDArray[np.float64]) -> None:
    """Every weight of a 2-D matrix, one row per line (6 significant digits), no Rich."""
    out = console.file
    for row in w:
        out.write(" ".join(compact(float(v), 6) for v in row) + "\n")
    out.flush()


def _rounding_noise_to_zero(w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Weights within 1e-12 of the largest magnitude shown as 0 (a fit's 1e-14 noise)."""
    import numpy as np

    peak = float(np.abs(w).max()) if w.size else 0.0
    return np.where(np.abs(w) <= 1e-12 * peak, 0.0, w)


def print_matrix(
    console: Console,
    w: npt.NDArray[np.float64],
    title: str = "",
    *,
    full: bool = False,
    hint: str = "",
) -> None:
    """One 2-D matrix: a table if it fits the console, else a summary; every weight if ``full``."""
    if title:
        console.print(title, markup=False)
    if full:
        print_full(console, w)
        return
    w = _rounding_noise_to_zero(w)
    cells = _cells(w, console.width) if w.shape[0] <= MAX_TABLE_ROWS else None
    if cells is None:
        print_summary(console, w, hint)
    else:
        console.print(weights_table(cells, w))


def print_weights(
    console: Console, w: npt.NDArray[np.float64], *, full: bool = False, hint: str = ""
) -> None:
    """Print a 2-D, 3-D or 4-D kernel (or kernel gradient) one 2-D slice at a time."""
    if w.ndim == 2:
        print_matrix(console, w, full=full, hint=hint)
        return
    w4 = w.reshape((1, *w.shape)) if w.ndim == 3 else w
    if w4.shape[2:] == (1, 1):
        # a channel mix (grayscale, sepia): one O x C matrix instead of O*C tables of one number
        title = "channel matrix: one row per output, one column per input channel"
        print_matrix(console, w4[:, :, 0, 0], title=title, full=full, hint=hint)
        return
    slices = [(o, c) for o in range(w4.shape[0]) for c in range(w4.shape[1])]
    shown = slices if full else slices[:MAX_SLICES]
    for o, c in shown:
        label = f"in {c}" if w.ndim == 3 else f"out {o}, in {c}"
        print_matrix(console, w4[o, c], title=label, full=full, hint=hint)
    if len(shown) < len(slices):
        console.print(f"... {len(slices) - len(shown)} more 2-D slices{hint}", markup=False)
