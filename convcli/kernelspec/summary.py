"""A summary of a big 2-D weight matrix that stays small whatever the kernel's size.

``kernels show`` (and ``grad``/``fit``) print small kernels weight by weight; a
1201x1201 Gaussian would be 1.4 million numbers, so they print this instead: the
shape, sum and range, the weights of a window around the centre, and block means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convcli.array_types import F64Array

__all__ = ["WeightSummary", "summarize_weights"]


@dataclass(frozen=True)
class WeightSummary:
    """What :func:`summarize_weights` found; indexes are ``(row, column)`` of the full matrix."""

    shape: tuple[int, int]
    sum: float
    min: float
    max: float
    argmin: tuple[int, int]
    argmax: tuple[int, int]
    #: first row and column of :attr:`centre` in the full matrix
    centre_origin: tuple[int, int]
    #: the weights of a window around the centre, at most ``window x window``
    centre: F64Array
    #: block boundaries: rows ``row_edges[i]:row_edges[i+1]`` make block row i
    row_edges: tuple[int, ...]
    col_edges: tuple[int, ...]
    #: mean weight of each block, shape ``(len(row_edges) - 1, len(col_edges) - 1)``
    block_means: F64Array


def _edges(n: int, parts: int) -> tuple[int, ...]:
    """``parts + 1`` boundaries splitting ``range(n)`` into near-equal runs (fewer if n < parts)."""
    parts = max(1, min(n, parts))
    return tuple(int(v) for v in np.linspace(0, n, parts + 1).round().astype(int))


def summarize_weights(w: F64Array, *, window: int = 7, blocks: int = 8) -> WeightSummary:
    """Summarise a 2-D weight matrix in O(size) time and O(window² + blocks²) output.

    Parameters
    ----------
    w : ndarray, shape (kh, kw)
        The weights.
    window : int
        Side of the centre window (the centre is ``(kh // 2, kw // 2)``).
    blocks : int
        At most this many block rows and block columns.

    Examples
    --------
    >>> s = summarize_weights(np.arange(100.0).reshape(10, 10), window=3, blocks=2)
    >>> s.centre_origin, s.centre.tolist()
    ((4, 4), [[44.0, 45.0, 46.0], [54.0, 55.0, 56.0], [64.0, 65.0, 66.0]])
    >>> s.row_edges, s.block_means.tolist()
    ((0, 5, 10), [[22.0, 27.0], [72.0, 77.0]])
    """
    if w.ndim != 2:
        msg = f"summarize_weights takes a 2-D matrix; got shape {w.shape}"
        raise ValueError(msg)
    kh, kw = (int(v) for v in w.shape)
    r0 = max(0, min(kh - window, kh // 2 - window // 2))
    c0 = max(0, min(kw - window, kw // 2 - window // 2))
    rows, cols = _edges(kh, blocks), _edges(kw, blocks)
    # block means from sums over runs: np.add.reduceat along each axis
    sums = np.add.reduceat(np.add.reduceat(w, rows[:-1], axis=0), cols[:-1], axis=1)
    counts = np.outer(np.diff(rows), np.diff(cols))
    amin = np.unravel_index(int(np.argmin(w)), w.shape)
    amax = np.unravel_index(int(np.argmax(w)), w.shape)
    return WeightSummary(
        shape=(kh, kw),
        sum=float(w.sum()),
        min=float(w[amin]),
        max=float(w[amax]),
        argmin=(int(amin[0]), int(amin[1])),
        argmax=(int(amax[0]), int(amax[1])),
        centre_origin=(r0, c0),
        centre=np.array(w[r0 : r0 + window, c0 : c0 + window], dtype=np.float64),
        row_edges=rows,
        col_edges=cols,
        block_means=sums / counts,
    )
