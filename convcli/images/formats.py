"""Output formats: the extension -> format tables, what each format can hold, and load modes.

:func:`output_format`, :func:`animation_format` and :func:`format_from_extension`
name the format a path or ``--format`` value is written in.  The tables below
say which formats hold alpha, 16 bits, colour profiles, resolution and EXIF,
and which Pillow modes are converted (or kept) on load.
"""

from __future__ import annotations

import os
from pathlib import Path

from convcli.errors import OptionError

SUPPORTED_OUTPUT_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".npy",
)  # fmt: skip

ANIMATION_EXTENSIONS = (".gif", ".webp", ".tif", ".tiff")
_ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".npy": "NPY",
}

# Modes that are converted on load; everything not listed here or handled in
# :func:`convcli.images.read.target_mode` is refused.
CONVERTED_MODES = {
    "1": "L",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "PA": "RGBA",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}
KEPT_MODES = ("L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
#: Pillow mode an image file is written in, by channel count.
MODE_BY_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

#: Largest EXIF block a JPEG holds (one APP1 segment).
JPEG_MAX_EXIF_BYTES = 65533
#: Quality of the lossy formats when none is given.
DEFAULT_QUALITY = {"JPEG": 95, "WEBP": 90}
#: Formats without an alpha channel, and those that carry a colour profile,
#: a resolution and EXIF data.
NO_ALPHA_FORMATS = ("JPEG", "BMP")
ICC_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")
DPI_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
EXIF_FORMATS = ("PNG", "JPEG", "WEBP")


def output_format(path: str | os.PathLike[str]) -> str:
    """Return the format a path will be written in, from its extension.

    Parameters
    ----------
    path : str or path-like
        Output file; the extension is matched case-insensitively.

    Returns
    -------
    str
        Pillow format name (``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"WEBP"``,
        ``"BMP"``) or ``"NPY"``.

    Raises
    ------
    OptionError
        The extension is not one of :data:`SUPPORTED_OUTPUT_EXTENSIONS`.

    Examples
    --------
    >>> output_format("out.JPG")
    'JPEG'
    """
    ext = Path(path).suffix.lower()
    try:
        return _FORMAT_BY_EXTENSION[ext]
    except KeyError:
        shown = repr(ext) if ext else "no extension"
        msg = (
            f"unsupported output extension {shown} for {os.fspath(path)}; "
            f"use one of {' '.join(SUPPORTED_OUTPUT_EXTENSIONS)}"
        )
        raise OptionError(msg) from None


def animation_format(path: str | os.PathLike[str]) -> str:
    """Return the multi-frame format a path will be written in: ``"GIF"``, ``"WEBP"`` or ``"TIFF"``.

    Parameters
    ----------
    path : str or path-like
        Output file (or a bare extension such as ``gif``).

    Returns
    -------
    str
        ``"GIF"`` or ``"WEBP"``.

    Raises
    ------
    OptionError
        Any other extension: only GIF and WebP hold animations.

    Examples
    --------
    >>> animation_format("out.GIF")
    'GIF'
    """
    text = os.fspath(path)
    ext = Path(text).suffix.lower() or "." + text.lower().lstrip(".")
    try:
        return _ANIMATION_FORMATS[ext]
    except KeyError:
        msg = (
            "--all-frames writes every frame, so the output must be .gif, .webp (animations) "
            f"or .tif/.tiff (multi-page); got {text}"
        )
        raise OptionError(msg) from None


def format_from_extension(ext: str) -> str:
    """Return the format named by an extension such as ``png``, ``.JPG`` or ``npy``.

    Parameters
    ----------
    ext : str
        Extension with or without the leading dot (the value of ``--format``).

    Returns
    -------
    str
        Pillow format name or ``"NPY"``, as :func:`output_format`.

    Raises
    ------
    OptionError
        The extension is not one of :data:`SUPPORTED_OUTPUT_EXTENSIONS`.

    Examples
    --------
    >>> format_from_extension("tif")
    'TIFF'
    """
    key = "." + str(ext).strip().lower().lstrip(".")
    try:
        return _FORMAT_BY_EXTENSION[key]
    except KeyError:
        allowed = " ".join(e.lstrip(".") for e in SUPPORTED_OUTPUT_EXTENSIONS)
        msg = f"unsupported output format {ext!r}; use one of {allowed}"
        raise OptionError(msg) from None
