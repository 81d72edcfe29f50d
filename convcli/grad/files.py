"""Images and gradients on disk in the units of the gradient commands.

The ``grad`` and ``fit`` commands work on images scaled to [0, 1]: pixels are
divided by the full scale of their format (255 for 8-bit, 65535 for 16-bit;
see the table in :mod:`convcli.images`).  A value given in image units, such
as the ``constant`` border's fill, is scaled the same way.  Gradients
are written as raw ``.npy`` arrays, as JSON (kernel gradient) or as an image
with zero at mid-grey (input gradient).

Pillow is reached only through :mod:`convcli.images`, imported when a file
is read or written, so importing :mod:`convcli.grad` does not load it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convcli.array_types import F64Array, FloatArray
from convcli.errors import OptionError

__all__ = [
    "load_unit_colours",
    "load_unit_image",
    "save_input_grad",
    "save_kernel_grad",
    "unit_value",
]


def load_unit_image(path: str, max_pixels: int | None) -> tuple[F64Array, float]:
    """Load an image as float64 ``(H, W, C)`` scaled to [0, 1]; also return its full scale."""
    from convcli.images import load_image

    img = load_image(path, max_pixels=max_pixels)
    return np.asarray(img.pixels, dtype=np.float64) / float(img.max_value), float(img.max_value)


def load_unit_colours(path: str, max_pixels: int | None) -> tuple[F64Array, float, bool]:
    """:func:`load_unit_image` without the alpha channel of an RGBA/LA image.

    Returns the colour channels, the full scale and whether an alpha channel was dropped.
    """
    from convcli.images import load_image

    img = load_image(path, max_pixels=max_pixels)
    px = img.pixels[:, :, :-1] if img.has_alpha else img.pixels
    scale = float(img.max_value)
    return np.asarray(px, dtype=np.float64) / scale, scale, bool(img.has_alpha)


def unit_value(value: float, full_scale: float) -> float:
    """A value in image units (e.g. ``cval``) in the [0, 1] units of :func:`load_unit_image`."""
    return value / full_scale


def save_input_grad(path: Path, gx: FloatArray) -> None:
    """``.npy``: raw float64 ``(H, W, C)``; image: zero at mid-grey, +-max|g| at white/black."""
    from convcli.images import save_image

    if path.suffix.lower() == ".npy":
        save_image(path, gx)
        return
    if gx.shape[2] not in (1, 3):
        msg = f"an input gradient with {gx.shape[2]} channels can only be saved as .npy"
        raise OptionError(msg)
    peak = float(np.abs(gx).max())
    scaled = 127.5 + 127.5 * (gx / peak if peak > 0 else gx)
    save_image(path, np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def save_kernel_grad(path: Path, gk: F64Array) -> None:
    """``.npy`` (raw float64, the kernel's shape) or ``.json`` (nested list)."""
    from convcli.atomic import atomic_write

    suffix = path.suffix.lower()
    if suffix not in (".npy", ".json"):
        msg = f"`--save-kernel-grad` must end in .npy or .json; got {str(path)!r}"
        raise OptionError(msg)
    with atomic_write(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, gk)
        else:
            tmp.write_text(json.dumps(gk.tolist()) + "\n")
