"""Output values: a float result mapped to what gets saved (``--abs``, ``--rescale``, rounding)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from convcli.array_types import FloatArray

__all__ = ["map_values"]


def map_values(
    y: FloatArray,
    *,
    max_value: float = 255.0,
    abs_values: bool = False,
    rescale: bool = False,
    has_alpha: bool = False,
    to_integer: bool = True,
) -> npt.NDArray[np.generic]:
    """Map a float result to what gets saved.

    Parameters
    ----------
    y : ndarray, shape (H, W, C)
        Float result in image units.
    max_value : float
        Full scale: 255 (uint8 output) or 65535 (uint16 output).
    abs_values : bool
        Take absolute values of the colour channels first (edge maps).
    rescale : bool
        Stretch the colour channels' joint min..max to ``0..max_value`` (one
        range for all colour channels, so hues keep their ratios).
    has_alpha : bool
        The last channel is alpha: never made absolute or rescaled.
    to_integer : bool
        Round and clip to ``0..max_value`` and return uint8/uint16; if False
        (``.npy`` output) return floats as they are after abs/rescale.

    Returns
    -------
    ndarray, shape (H, W, C)
        uint8 if ``max_value <= 255`` else uint16 (or float when not ``to_integer``).
    """
    out = y.copy() if (abs_values or rescale) else y
    colour = out[..., :-1] if has_alpha else out
    if abs_values:
        np.abs(colour, out=colour)
    if rescale:
        lo, hi = float(colour.min()), float(colour.max())
        if hi > lo:
            colour -= lo
            colour *= max_value / (hi - lo)
        else:
            colour[...] = 0
    if not to_integer:
        return out
    int_type = np.uint8 if max_value <= 255 else np.uint16
    # One float temporary instead of two (rint, then clip in place): a 10000x10000
    # RGB float32 result is 1.2 GB per copy.
    rounded = np.rint(out, out=out) if out is not y else np.rint(out)
    np.clip(rounded, 0, max_value, out=rounded)
    return rounded.astype(int_type)
