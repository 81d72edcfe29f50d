"""Border modes: how pixels outside the image are filled.

Each mode is an index map from any integer position ``i`` on an axis of
length ``n`` to a position inside ``0 .. n-1`` (or to "outside" for
``constant``).  Padding is a gather through that map; the backward pass of
padding (:func:`fold_padding`) is the scatter-add through the same map, so
the two can never disagree.  The maps are periodic, so padding wider than
the image repeats the pattern exactly as scipy.ndimage does.

Left edge of ``a b c d`` for each mode::

    reflect  (symmetric)          b a | a b c d    period 2n
    mirror   (reflect101)         c b | a b c d    period 2n-2
    nearest  (edge, replicate)    a a | a b c d
    wrap     (circular)           c d | a b c d    period n
    constant (zeros)              v v | a b c d    v = cval
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from convcli.errors import OptionError

BORDER_MODES = ("reflect", "mirror", "nearest", "wrap", "constant")

#: Every accepted spelling (lower case, ``-`` read as ``_``, OpenCV's ``BORDER_`` prefix
#: dropped) -> canonical mode.  scipy's ``grid-*`` modes, OpenCV's ``BORDER_*`` names,
#: numpy.pad's and PyTorch's names are here; of ImageMagick's virtual-pixel methods,
#: ``Edge`` and ``Tile`` are (IM's ``Mirror`` is convcli's ``reflect``, not ``mirror``).
BORDER_ALIASES = {
    "reflect": "reflect",
    "symmetric": "reflect",
    "grid_mirror": "reflect",
    "mirror": "mirror",
    "reflect101": "mirror",
    "reflect_101": "mirror",
    "default": "mirror",
    "nearest": "nearest",
    "edge": "nearest",
    "replicate": "nearest",
    "wrap": "wrap",
    "circular": "wrap",
    "grid_wrap": "wrap",
    "tile": "wrap",
    "constant": "constant",
    "zeros": "constant",
    "grid_constant": "constant",
}


IntArray = npt.NDArray[np.intp]


def canonical_border(border: str) -> str:
    """Return the canonical name of a border mode or alias (any case, OpenCV or scipy spelling).

    Examples
    --------
    >>> canonical_border("replicate"), canonical_border("BORDER_REFLECT_101")
    ('nearest', 'mirror')
    >>> canonical_border("grid-wrap")
    'wrap'
    >>> canonical_border("refelct")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.OptionError: unknown border 'refelct'; did you mean reflect, ...? (modes: ...)
    """
    key = str(border).strip().lower().replace("-", "_")
    key = key.removeprefix("border_")
    name = BORDER_ALIASES.get(key) or BORDER_ALIASES.get(key.replace("_", ""))
    if name is None:
        import difflib

        close, taken = [], set()
        for alias in difflib.get_close_matches(key, list(BORDER_ALIASES), n=6, cutoff=0.6):
            if BORDER_ALIASES[alias] not in taken:  # one spelling per mode
                taken.add(BORDER_ALIASES[alias])
                close.append(alias)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        msg = (
            f"unknown border {border!r}; {hint}(modes: {', '.join(BORDER_MODES)}; "
            "aliases in convcli filter --help)"
        )
        raise OptionError(msg)
    return name


def border_index(positions: npt.ArrayLike, n: int, border: str) -> IntArray:
    """Map positions on an axis of length ``n`` to source indices.

    Parameters
    ----------
    positions : array of int
        Positions relative to the first pixel (may be negative or >= n).
    n : int
        Axis length in pixels (>= 1).
    border : str
        Canonical border mode.

    Returns
    -------
    ndarray of intp
        Source index for each position; ``-1`` marks "outside" for ``constant``.

    Examples
    --------
    >>> border_index([-2, -1, 4, 5], 4, "reflect").tolist()
    [1, 0, 3, 2]
    >>> border_index([-2, -1], 4, "mirror").tolist()
    [2, 1]
    """
    i = np.asarray(positions, dtype=np.intp)
    if border == "reflect":
        m = np.mod(i, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    if border == "mirror":
        if n == 1:
            return np.zeros_like(i)
        m = np.mod(i, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    if border == "nearest":
        return np.clip(i, 0, n - 1)
    if border == "wrap":
        return np.mod(i, n)
    if border == "constant":
        return np.where((i >= 0) & (i < n), i, -1)
    msg = f"unknown border mode {border!r}"
    raise OptionError(msg)


def _edge_indices(n: int, before: int, after: int, border: str) -> tuple[IntArray, IntArray]:
    return (
        border_index(np.arange(-before, 0), n, border),
        border_index(np.arange(n, n + after), n, border),
    )


def pad(
    x: npt.NDArray[np.generic],
    pad_rows: tuple[int, int],
    pad_cols: tuple[int, int],
    *,
    border: str = "reflect",
    cval: float = 0.0,
    dtype: npt.DTypeLike = np.float32,
) -> npt.NDArray[np.floating]:
    """Pad the first two axes of ``x`` and convert it to ``dtype`` in one pass.

    Parameters
    ----------
    x : ndarray, shape (H, W, ...)
        Image (any trailing axes, e.g. channels).
    pad_rows, pad_cols : (int, int)
        Pixels to add before and after the rows and the columns.
    border : str
        Border mode or alias (see module docstring).
    cval : float
        Fill value for ``constant``, in image units.
    dtype : dtype
        Float type of the result.

    Returns
    -------
    ndarray, shape (H + top + bottom, W + left + right, ...)
    """
    mode = canonical_border(border)
    h, w = x.shape[:2]
    (top, bottom), (left, right) = pad_rows, pad_cols
    out = np.empty((h + top + bottom, w + left + right, *x.shape[2:]), dtype=dtype)
    out[top : top + h, left : left + w] = x
    if mode == "constant":
        out[:top] = cval
        out[top + h :] = cval
        out[top : top + h, :left] = cval
        out[top : top + h, left + w :] = cval
        return out
    before, after = _edge_indices(w, left, right, mode)
    centre_rows = out[top : top + h]
    if left:
        centre_rows[:, :left] = centre_rows[:, left + before]
    if right:
        centre_rows[:, left + w :] = centre_rows[:, left + after]
    before, after = _edge_indices(h, top, bottom, mode)
    if top:
        out[:top] = out[top + before]
    if bottom:
        out[top + h :] = out[top + after]
    return out


def fold_padding(
    g: npt.NDArray[np.floating],
    shape_hw: tuple[int, int],
    pad_rows: tuple[int, int],
    pad_cols: tuple[int, int],
    *,
    border: str = "reflect",
) -> npt.NDArray[np.floating]:
    """Backward pass of :func:`pad`: add padded-cell gradients to their sources.

    Parameters
    ----------
    g : ndarray, shape (H + top + bottom, W + left + right, ...)
        Gradient with respect to the padded array.
    shape_hw : (int, int)
        ``(H, W)`` of the unpadded image.
    pad_rows, pad_cols, border
        As given to :func:`pad`.

    Returns
    -------
    ndarray, shape (H, W, ...)
        Gradient with respect to the unpadded image.  With ``constant`` the
        padded cells hold no pixel, so their gradient is dropped.
    """
    mode = canonical_border(border)
    h, w = shape_hw
    (top, bottom), (left, right) = pad_rows, pad_cols
    rows = g[:, left : left + w].copy()
    if mode != "constant":
        before, after = _edge_indices(w, left, right, mode)
        for idx, block in ((before, g[:, :left]), (after, g[:, left + w :])):
            if idx.size:
                np.add.at(rows, (slice(None), idx), block)  # type: ignore[arg-type]
    out = rows[top : top + h].copy()
    if mode != "constant":
        before, after = _edge_indices(h, top, bottom, mode)
        for idx, block in ((before, rows[:top]), (after, rows[top + h :])):
            if idx.size:
                np.add.at(out, idx, block)
    return out
