"""What loading gives: :class:`LoadedImage` (one image) and :class:`Animation` (all frames)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LoadedImage:
    """An image as loaded from a file, in image layout.

    Attributes
    ----------
    pixels : ndarray, shape (H, W, C)
        Always 3-D.  uint8 for 8-bit files, uint16 for 16-bit files, int32 for
        mode ``I``, float32 (or float64 from a float64 ``.npy``) for float
        data.  Colour channels first, then alpha last if ``has_alpha``.
    max_value : float
        Nominal full-scale value in image units: 255 for 8-bit data, 65535 for
        16-bit and 32-bit integer data, 255.0 for float data (float data is
        taken to be in 8-bit units).
    has_alpha : bool
        True when the last channel is alpha (``LA``/``RGBA``, or a ``.npy``
        array with 2 or 4 channels).
    mode : str
        Pillow mode of the file as opened (before any conversion), or
        ``"npy"``.
    format : str or None
        Pillow format name (``"PNG"``, ``"JPEG"`` ...) or ``"NPY"``.
    info : dict
        Metadata to carry to the output where the format allows:
        ``"icc_profile"`` (bytes), ``"dpi"`` (pair of floats) and ``"exif"``
        (bytes, with the orientation tag removed since it has been applied).
    path : str
        The path the image was loaded from.
    n_frames : int
        Frames (or pages) in the file; only one of them is in :attr:`pixels`.
    """

    pixels: np.ndarray
    max_value: float
    has_alpha: bool
    mode: str
    format: str | None
    info: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    n_frames: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of :attr:`pixels`."""
        h, w, c = self.pixels.shape
        return int(h), int(w), int(c)

    @property
    def color(self) -> np.ndarray:
        """Colour channels, shape ``(H, W, C)`` or ``(H, W, C - 1)`` with alpha (a view)."""
        return self.pixels[..., :-1] if self.has_alpha else self.pixels

    @property
    def alpha(self) -> np.ndarray | None:
        """Alpha channel, shape ``(H, W, 1)`` (a view), or None without alpha."""
        return self.pixels[..., -1:] if self.has_alpha else None


@dataclass
class Animation:
    """Every frame of a multi-frame file, with its timing.

    Attributes
    ----------
    frames : list of LoadedImage
        One per frame, all with the same channel count and dtype.
    durations : list of int
        Display time of each frame in milliseconds (0 when the file has none).
    loop : int or None
        Times the animation repeats (0 = forever), or None when the file
        does not say.
    """

    frames: list[LoadedImage]
    durations: list[int]
    loop: int | None
