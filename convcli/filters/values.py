"""Output values: a float result mapped to what gets saved (``--abs``, ``--rescale``, rounding)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from convcli.array_types import FloatArray
from convcli.errors import OptionError

__all__ = ["from_input_range", "map_values", "unit_range_note"]


def from_input_range(
    x: npt.NDArray[np.generic], input_range: tuple[float, float], max_value: float
) -> FloatArray:
    """Map values from ``input_range`` (``--input-range A,B``) linearly to ``0..max_value``.

    Examples
    --------
    >>> from_input_range(np.array([0.0, 0.5, 1.0]), (0.0, 1.0), 255.0).tolist()
    [0.0, 127.5, 255.0]
    """
    low, high = (float(v) for v in input_range)
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        msg = f"`input_range` must be two finite numbers A,B with A < B; got {input_range!r}"
        raise OptionError(msg)
    dtype = np.float64 if np.asarray(x).dtype == np.float64 else np.float32
    scale = max_value / (high - low)
    return ((np.asarray(x, dtype=np.float64) - low) * scale).astype(dtype)


def unit_range_note(x: npt.NDArray[np.generic], name: str, max_value: float) -> str | None:
    """A note when float pixels all lie within 0..1 (likely meant as 0..1, not image units)."""
    array = np.asarray(x)
    if array.dtype.kind != "f" or not array.size:
        return None
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if not (0.0 <= low and high <= 1.0):
        return None
    return (
        f"the float values of {name} all lie within 0..1, but are taken in image units "
        f"(0..{max_value:g}), so the result is nearly black; --input-range 0,1 maps them "
        "to the full range"
    )


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
