"""Writing one image: :func:`save_image` to a file, :func:`encode_image` to bytes.

The format comes from the extension; files are written through
:func:`convcli.atomic.atomic_write`, so a failure never leaves a partial file
and never damages the input, even when the output path is the input path.
PNGs go to the project's own parallel encoder (:mod:`convcli.images.png`),
every other format to Pillow, with the quality, compression and metadata
parameters chosen here.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import features

from convcli import config
from convcli.atomic import atomic_write, write_failures
from convcli.errors import ImageError, OptionError, error_detail
from convcli.images.formats import (
    DEFAULT_QUALITY,
    MODE_BY_CHANNELS,
    format_from_extension,
    output_format,
)
from convcli.images.metadata import metadata_params
from convcli.images.npy import save_npy
from convcli.images.savable import checked_array, pillow_image, savable_array


def encode_image(
    pixels: npt.ArrayLike,
    fmt: str,
    *,
    max_value: float = 255,
    quality: int | None = None,
    compress_level: int | None = None,
    info: dict[str, Any] | None = None,
    name: str = "<stdout>",
) -> tuple[bytes, list[str]]:
    """Encode pixels in memory, as :func:`save_image` would write them (e.g. for stdout).

    Parameters
    ----------
    pixels : array_like, shape (H, W, C) or (H, W)
        As for :func:`save_image`.
    fmt : str
        Output extension (``png``, ``.jpg``, ``npy`` ...), see
        :func:`format_from_extension`.
    max_value, quality, compress_level, info
        As for :func:`save_image`.
    name : str
        What to call the destination in messages.

    Returns
    -------
    data : bytes
        The complete encoded file.
    notes : list of str
        Notes on anything lost, as :func:`save_image` returns.

    Raises
    ------
    OptionError
        Unsupported format, channel count or quality.
    ImageError
        The encoder fails.

    Examples
    --------
    >>> import numpy as np
    >>> data, notes = encode_image(np.zeros((2, 2, 3), np.uint8), "png")
    >>> data[1:4], notes
    (b'PNG', [])
    """
    kind = format_from_extension(fmt)
    array = checked_array(pixels, name)
    buf = io.BytesIO()
    if kind == "NPY":
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue(), []
    notes: list[str] = []
    if kind == "PNG":
        _write_png(
            buf,
            savable_array(array, name, kind, max_value, notes),
            name,
            compress_level,
            info or {},
            notes,
        )
        return buf.getvalue(), notes
    savable = savable_array(array, name, kind, max_value, notes)
    if _is_wide_tiff(kind, savable):
        _write_wide_tiff(buf, savable, name, info or {})
        return buf.getvalue(), notes
    image = pillow_image(savable)
    params = _save_params(image.mode, name, kind, quality, info or {}, notes)
    try:
        image.save(buf, format=kind, **params)
    except Exception as exc:
        detail = error_detail(exc)
        msg = f"cannot encode {name} as {kind}: {detail}"
        raise ImageError(msg) from exc
    return buf.getvalue(), notes


def save_image(
    path: str | os.PathLike[str],
    pixels: npt.ArrayLike,
    *,
    max_value: float = 255,
    quality: int | None = None,
    compress_level: int | None = None,
    info: dict[str, Any] | None = None,
) -> list[str]:
    """Write pixels to an image file or ``.npy`` atomically.

    Parameters
    ----------
    path : str or path-like
        Output file; the format comes from the extension (see
        :func:`output_format`).
    pixels : array_like, shape (H, W, C) or (H, W)
        For ``.npy``: written as given (any dtype and channel count).  For
        image formats: uint8 or uint16 values with C from 1 to 4 (L, LA, RGB,
        RGBA); float data is rounded and clipped to ``0..max_value`` as a
        fallback.
    max_value : float
        Full-scale value of ``pixels``: 255 for 8-bit, 65535 for 16-bit.
    quality : int, optional
        JPEG/WebP quality from 1 to 100 (default 95 for JPEG, 90 for WebP);
        ignored by other formats.
    compress_level : int, optional
        PNG zlib level from 0 (fastest, largest) to 9 (default
        :data:`convcli.images.png.DEFAULT_COMPRESS_LEVEL`, 6); ignored by
        other formats.  PNGs are written by :mod:`convcli.images.png` on
        ``CONVCLI_THREADS`` threads, 16-bit colour included.
    info : dict, optional
        ``icc_profile``, ``dpi`` and ``exif`` to write where the format
        allows (e.g. :attr:`LoadedImage.info`).

    Returns
    -------
    list of str
        Notes on anything lost on the way (16-bit to 8-bit, dropped alpha or
        metadata); empty when the file holds exactly what was given.

    Raises
    ------
    OptionError
        Unsupported extension, channel count or quality.
    ImageError
        The file cannot be written (missing folder, permission, encoder error).
    """
    fmt = output_format(path)
    name = os.fspath(path)
    array = checked_array(pixels, name)
    if fmt == "NPY":
        save_npy(name, array)
        return []
    notes: list[str] = []
    if fmt == "PNG":
        savable = savable_array(array, name, fmt, max_value, notes)
        level = _check_compress_level(compress_level)
        with write_failures(name):
            with atomic_write(name) as tmp, open(tmp, "wb") as f:
                _write_png(f, savable, name, level, info or {}, notes)
        return notes
    savable = savable_array(array, name, fmt, max_value, notes)
    if _is_wide_tiff(fmt, savable):
        with write_failures(name):
            with atomic_write(name) as tmp:
                _write_wide_tiff(tmp, savable, name, info or {})
        return notes
    image = pillow_image(savable)
    params = _save_params(image.mode, name, fmt, quality, info or {}, notes)
    with write_failures(name):
        with atomic_write(name) as tmp:
            image.save(tmp, format=fmt, **params)
    return notes


def _is_wide_tiff(fmt: str, savable: np.ndarray) -> bool:
    """Whether Pillow cannot write this TIFF (16-bit with more than one channel)."""
    return fmt == "TIFF" and savable.dtype == np.uint16 and savable.shape[2] > 1


def _write_wide_tiff(target: Any, array: np.ndarray, name: str, info: dict[str, Any]) -> None:
    """16-bit colour TIFF through tifffile (see :mod:`convcli.images.wide`)."""
    from convcli.images.wide import write_tiff

    try:
        write_tiff(target, array, info)
    except OSError:
        raise
    except Exception as exc:
        msg = f"cannot encode {name} as TIFF: {error_detail(exc)}"
        raise ImageError(msg) from exc


def _write_png(
    target: BinaryIO,
    array: np.ndarray,
    name: str,
    compress_level: int | None,
    info: dict[str, Any],
    notes: list[str],
) -> None:
    """Encode savable ``(H, W, C)`` values with :mod:`convcli.images.png`."""
    from convcli.images.png import write_png

    mode = MODE_BY_CHANNELS[array.shape[2]]
    meta = _save_params(mode, name, "PNG", None, info, notes)
    write_png(
        target,
        array,
        compress_level=_check_compress_level(compress_level),
        icc_profile=meta.get("icc_profile"),
        dpi=meta.get("dpi"),
        exif=meta.get("exif"),
        threads=config.default_threads(),
    )


def _check_compress_level(level: int | None) -> int:
    """The PNG zlib level to use: ``level`` checked, or the default."""
    from convcli.images.png import DEFAULT_COMPRESS_LEVEL

    if level is None:
        return DEFAULT_COMPRESS_LEVEL
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 0 <= level <= 9:
        msg = f"`compress_level` must be an integer from 0 to 9; got {level!r}"
        raise OptionError(msg)
    return int(level)


def _save_params(
    mode: str,
    name: str,
    fmt: str,
    quality: int | None,
    info: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """Keyword arguments for ``Image.save``: quality, compression and metadata."""
    params: dict[str, Any] = {}
    if fmt in DEFAULT_QUALITY:
        params["quality"] = check_quality(quality, fmt)
    if fmt == "TIFF" and features.check_codec("libtiff"):
        params["compression"] = "tiff_deflate"
    params.update(metadata_params(mode, name, fmt, info, notes))
    return params


def check_quality(quality: int | None, fmt: str) -> int:
    """The JPEG/WebP quality to use: ``quality`` checked, or the format's default."""
    if quality is None:
        return DEFAULT_QUALITY[fmt]
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
        msg = f"`quality` must be an integer from 1 to 100; got {quality!r}"
        raise OptionError(msg)
    if not 1 <= quality <= 100:
        msg = f"`quality` must be an integer from 1 to 100; got {quality!r}"
        raise OptionError(msg)
    return int(quality)
