"""Pixels made savable: the integer values and channels an output format can hold.

Image formats hold uint8 (or, for PNG and TIFF, uint16) values in 1
to 4 channels.  Other data is rounded and clipped to ``0..max_value``, and
whatever a format cannot hold (alpha, 16 bits, greyscale) is dropped with a
note, so the caller can tell the user what was lost.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from convcli.errors import OptionError
from convcli.images.formats import MODE_BY_CHANNELS, NO_ALPHA_FORMATS


def checked_array(pixels: npt.ArrayLike, name: str) -> np.ndarray:
    """``pixels`` as an array, refused unless it is ``(H, W)`` or ``(H, W, C)``."""
    array = np.asarray(pixels)
    if array.ndim not in (2, 3):
        msg = f"cannot save an array of shape {array.shape} to {name}; expected (H, W) or (H, W, C)"
        raise OptionError(msg)
    return array


def to_pillow(
    array: np.ndarray, name: str, fmt: str, max_value: float, notes: list[str]
) -> Image.Image:
    """Turn ``(H, W[, C])`` values into a Pillow image the format can hold."""
    return pillow_image(savable_array(array, name, fmt, max_value, notes))


def pillow_image(savable: np.ndarray) -> Image.Image:
    """A Pillow image of values :func:`savable_array` made savable."""
    plane = savable[:, :, 0] if savable.shape[2] == 1 else savable
    return Image.fromarray(np.ascontiguousarray(plane))


def savable_array(
    array: np.ndarray, name: str, fmt: str, max_value: float, notes: list[str]
) -> np.ndarray:
    """``(H, W, C)`` uint8/uint16 values the format can hold, noting what is lost."""
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    _check_savable_shape(array.shape, name)
    array = _to_integer(array, max_value)
    return _fit_format(array, name, fmt, notes)


def _check_savable_shape(shape: tuple[int, ...], name: str) -> None:
    """Raise OptionError unless ``(H, W, C)`` is a non-empty image of 1 to 4 channels."""
    h, w, c = shape
    if c not in MODE_BY_CHANNELS:
        msg = (
            f"cannot save {c} channels to {name}: image files hold 1 to 4 channels "
            "(L, LA, RGB, RGBA); save as .npy to keep them all"
        )
        raise OptionError(msg)
    if h < 1 or w < 1:
        msg = f"cannot save an empty image of shape {shape} to {name}"
        raise OptionError(msg)


def _fit_format(array: np.ndarray, name: str, fmt: str, notes: list[str]) -> np.ndarray:
    """Drop the alpha or the 16 bits ``fmt`` cannot hold, noting each."""
    c = array.shape[2]
    if fmt in NO_ALPHA_FORMATS and c in (2, 4):
        array = array[:, :, :-1]
        c -= 1
        notes.append(f"{fmt} has no alpha channel; dropped the alpha of {name}")
    if array.dtype == np.uint16 and fmt not in ("PNG", "TIFF"):
        array = _sixteen_to_eight(array)
        notes.append(
            f"wrote {name} as 8-bit ({fmt} holds 8 bits); use .png, .tif or .npy to keep 16 bits"
        )
    if fmt == "GIF":
        notes.append(f"GIF holds at most 256 colours; {name} is quantized (palette rebuilt)")
    if fmt == "WEBP" and c <= 2:
        notes.append(f"WebP has no greyscale mode; {name} is stored as RGB")
    return array


def _to_integer(array: np.ndarray, max_value: float) -> np.ndarray:
    """Round/clip to uint8 (max_value <= 255) or uint16 unless already uint8/uint16."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        if max_value <= 255:
            return np.asarray(np.minimum(array, 255), dtype=np.uint8)
        return array
    if array.dtype == np.bool_:
        return np.where(array, np.uint8(255), np.uint8(0))
    int_type = np.uint8 if max_value <= 255 else np.uint16
    top = 255 if int_type is np.uint8 else 65535
    values = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=0.0, posinf=top, neginf=0.0)
    return np.clip(np.rint(values), 0, top).astype(int_type)


def _sixteen_to_eight(array: np.ndarray) -> np.ndarray:
    """Map 0..65535 to 0..255 as round(v / 257), in integers."""
    # 257 is odd, so (v + 128) // 257 is exact rounding with no ties.
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
