"""Decoding one image: a file Pillow reads, or a ``.npy`` array, as ``(H, W, C)`` pixels.

The mode -> dtype/max_value table is in the :mod:`convcli.images` docstring.
The pixel limit is checked from the header before any pixel is decoded, EXIF
orientation is applied, and large images are copied out of Pillow in bands of
rows (:data:`convcli.config.WHOLE_COPY_BYTES`).  :func:`read_shape` reads only
the header.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from convcli import config
from convcli.errors import ConvCliError, ImageError, ImageTooLargeError, OptionError
from convcli.images.formats import CONVERTED_MODES, KEPT_MODES, MODE_BY_CHANNELS
from convcli.images.inputs import (
    check_input_file,
    check_pixel_limit,
    n_frames,
    open_image,
    pillow_limit_off,
    read_failure,
    resolve_limit,
    stream_data,
)
from convcli.images.loaded import LoadedImage
from convcli.images.metadata import ORIENTATION_TAG, carried_info
from convcli.images.npy import is_npy, load_npy, npy_header
from convcli.images.wide import (
    apply_orientation,
    is_tiff,
    load_png16,
    load_tiff,
    tiff_shape,
    wide_kind,
)


def load_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = None, frame: int | None = None
) -> LoadedImage:
    """Load an image file or ``.npy`` array as ``(H, W, C)`` pixels.

    Parameters
    ----------
    path : str or path-like
        Any image Pillow can decode (first frame only), or a ``.npy`` file of
        shape ``(H, W)`` or ``(H, W, C)`` (recognised by its magic bytes).
    max_pixels : int, optional
        Refuse images with more than this many pixels (H * W), checked from
        the header before decoding.  Default: :func:`default_max_pixels`.
    frame : int, optional
        Frame of a multi-frame file (GIF, TIFF, animated WebP) to read,
        counted from 0.  Default: the first frame.

    Returns
    -------
    LoadedImage
        See the :mod:`convcli.images` docstring for the mode -> dtype/max_value
        table.  EXIF orientation has been applied.

    Raises
    ------
    InputNotFoundError
        The file does not exist or is a folder.
    ImageTooLargeError
        The image has more pixels than ``max_pixels``.
    ImageError
        The file cannot be read or decoded (unreadable, corrupt, truncated,
        unsupported mode or array type).
    OptionError
        ``max_pixels`` is not a positive integer, or ``frame`` is not a frame
        of the file.

    Examples
    --------
    >>> img = load_image("samples/card.png")  # doctest: +SKIP
    >>> img.shape, img.pixels.dtype, img.max_value  # doctest: +SKIP
    ((384, 512, 3), dtype('uint8'), 255)
    """
    name = os.fspath(path)
    limit = resolve_limit(max_pixels)
    check_input_file(name)
    return _load(name, stream_data(name), limit, frame)


def load_image_bytes(
    data: bytes, *, name: str = "<stdin>", max_pixels: int | None = None, frame: int | None = None
) -> LoadedImage:
    """Load an encoded image (or ``.npy`` array) held in memory, e.g. read from stdin.

    Parameters
    ----------
    data : bytes
        The whole file: any image Pillow can decode, or a ``.npy`` array
        (recognised by its magic bytes).
    name : str
        What to call the data in error messages and :attr:`LoadedImage.path`.
    max_pixels : int, optional
        As for :func:`load_image`.
    frame : int, optional
        As for :func:`load_image`.

    Returns
    -------
    LoadedImage
        As :func:`load_image` gives for the same bytes in a file.

    Raises
    ------
    ImageError
        The data is empty, cannot be decoded, or is too large.
    OptionError
        Bad ``max_pixels`` or ``frame``.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), np.uint8))
    >>> load_image_bytes(buf.getvalue()).shape
    (2, 3, 1)
    """
    limit = resolve_limit(max_pixels)
    if not data:
        msg = f"cannot read {name}: it is empty (no image data)"
        raise ImageError(msg)
    return _load(name, bytes(data), limit, frame)


def _load(name: str, data: bytes | None, limit: int | None, frame: int | None) -> LoadedImage:
    """Load from the file ``name`` or, when given, from ``data`` (named ``name``)."""
    if is_npy(name, data):
        if frame not in (None, 0):
            msg = f"`--frame` {frame!r} is out of range: {name} is a .npy array with 1 frame"
            raise OptionError(msg)
        return load_npy(name, data, limit)
    try:
        with pillow_limit_off(), open_image(name, data) as im:
            kind = wide_kind(im, frame)
            if kind is None:
                return _load_with_pillow(im, name, limit, frame)
            check_pixel_limit(name, im.size, limit)
            info = carried_info(im)
            orientation = _header_orientation(im)
    except ImageTooLargeError:
        raise
    except ImageError:
        if not is_tiff(name, data):
            raise
        kind, info, orientation = "tiff", {}, 1  # Pillow cannot decode it: tifffile can
    return _load_wide(kind, name, data, limit, frame, info, orientation)


def _load_with_pillow(
    im: Image.Image, name: str, limit: int | None, frame: int | None
) -> LoadedImage:
    """Decode an opened image with Pillow (every file :func:`wide_kind` does not claim)."""
    opened_mode = im.mode
    fmt = im.format
    check_pixel_limit(name, im.size, limit)
    try:
        _seek_frame(im, name, frame)
        # Force a full decode inside the try: truncation shows up here.
        im.load()
        ImageOps.exif_transpose(im, in_place=True)
        info = carried_info(im)
        pixels, max_value = to_array(im, name)
    except ConvCliError:
        raise
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
    loaded = _loaded(pixels, max_value, opened_mode, fmt, info, name)
    loaded.n_frames = n_frames(im)
    return loaded


def load_tiff_page(name: str, data: bytes | None, limit: int | None, frame: int) -> LoadedImage:
    """One page of a TIFF decoded with tifffile, as :func:`load_image` gives it."""
    return _load_wide("tiff", name, data, limit, frame, {}, 1)


def _load_wide(
    kind: str,
    name: str,
    data: bytes | None,
    limit: int | None,
    frame: int | None,
    info: dict[str, Any],
    orientation: int,
) -> LoadedImage:
    """Decode what Pillow would reduce to 8 bits (or cannot read) with imagecodecs/tifffile."""
    if kind == "png16":
        pixels = apply_orientation(load_png16(name, data), orientation)
        fmt, mode = "PNG", f"{MODE_BY_CHANNELS.get(pixels.shape[2], '?')};16"
    else:
        pixels, pages = load_tiff(name, data, limit, frame)
        fmt, mode = "TIFF", f"tifffile {pixels.dtype.name}x{pixels.shape[2]}"
    max_value: float = 255 if pixels.dtype == np.uint8 else 255.0
    if pixels.dtype in (np.uint16, np.int32):
        max_value = 65535
    loaded = _loaded(pixels, max_value, mode, fmt, info, name)
    loaded.n_frames = 1 if kind == "png16" else pages
    return loaded


def _loaded(
    pixels: np.ndarray,
    max_value: float,
    mode: str,
    fmt: str | None,
    info: dict[str, Any],
    name: str,
) -> LoadedImage:
    c = pixels.shape[2]
    has_alpha = c in (2, 4) and pixels.dtype in (np.uint8, np.uint16)
    return LoadedImage(
        pixels=pixels,
        max_value=max_value,
        has_alpha=has_alpha,
        mode=mode,
        format=fmt,
        info=info,
        path=name,
    )


def read_shape(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """Return ``(H, W, C)`` of an image from its header, without decoding pixels.

    H and W are swapped for EXIF orientations 5-8 (as :func:`load_image`
    rotates those), and C is the channel count :func:`load_image` would give.
    No pixel limit applies: nothing is decoded.

    Parameters
    ----------
    path : str or path-like
        Image file or ``.npy`` array.

    Returns
    -------
    tuple of int
        ``(H, W, C)``.

    Raises
    ------
    InputNotFoundError
        The file does not exist or is a folder.
    ImageError
        The header cannot be read, or the mode/array is unsupported.
    """
    name = os.fspath(path)
    check_input_file(name)
    data = stream_data(name)
    if is_npy(name, data):
        shape, _ = npy_header(name, data)
        return shape
    try:
        with pillow_limit_off(), open_image(name, data) as im:
            try:
                w, h = im.size
                if _header_orientation(im) in (5, 6, 7, 8):
                    w, h = h, w
                c = Image.getmodebands(target_mode(im, name))
                if wide_kind(im, None) == "png16" and getattr(im, "tile", [])[0].args == "LA;16B":
                    c = 2  # Pillow widens 16-bit LA to RGBA; imagecodecs keeps LA
            except ConvCliError:
                raise
            except Exception as exc:
                raise ImageError(read_failure(name, exc)) from exc
    except ImageError:
        if not is_tiff(name, data):
            raise
        return tiff_shape(name)
    return int(h), int(w), c


def _seek_frame(im: Image.Image, name: str, frame: int | None) -> None:
    """Move to ``frame`` (0-based) or raise OptionError naming the frame count."""
    if frame is None:
        return
    n = n_frames(im)
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n:
        allowed = "only frame 0" if n == 1 else f"frames 0 to {n - 1}"
        msg = f"`--frame` {frame!r} is out of range: {name} has {n} frame(s) ({allowed})"
        raise OptionError(msg)
    if frame:
        im.seek(frame)


def _header_orientation(im: Image.Image) -> int:
    """EXIF orientation known from the header, without decoding any pixels."""
    # PngImageFile.getexif() decodes the image when no eXIf chunk precedes the
    # pixel data; the base implementation only looks at what the header gave.
    exif = Image.Image.getexif(im)
    value = exif.get(ORIENTATION_TAG, 1)
    if im.format == "TIFF":  # Pillow already gives a TIFF's size (and pixels) upright
        return 1
    return value if isinstance(value, int) else 1


def target_mode(im: Image.Image, name: str) -> str:
    """Mode an opened image is converted to on load."""
    mode = im.mode
    if mode == "P":
        return "RGBA" if im.has_transparency_data else "RGB"
    if mode in ("L", "RGB") and "transparency" in im.info:
        return "LA" if mode == "L" else "RGBA"
    if mode in CONVERTED_MODES:
        return CONVERTED_MODES[mode]
    if mode in KEPT_MODES:
        return mode
    msg = f"cannot read {name}: pixel mode {mode!r} is not supported"
    raise ImageError(msg)


def to_array(im: Image.Image, name: str) -> tuple[np.ndarray, float]:
    """Convert a decoded image to ``(H, W, C)`` pixels and their full-scale value."""
    target = target_mode(im, name)
    if target != im.mode:
        im = im.convert(target)
    pixels = _pixels_in_bands(im)
    max_value: float
    if target.startswith("I;16"):
        pixels = pixels.astype(np.uint16, copy=False)
        max_value = 65535
    elif target == "I":
        pixels = pixels.astype(np.int32, copy=False)
        max_value = 65535
    elif target == "F":
        pixels = pixels.astype(np.float32, copy=False)
        max_value = 255.0
        if not np.isfinite(pixels).all():  # as for a .npy array (exit 1, not the kernel's fault)
            msg = f"cannot read {name}: the image contains NaN or infinite values"
            raise ImageError(msg)
    else:
        max_value = 255
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return pixels, max_value


def _pixels_in_bands(im: Image.Image) -> np.ndarray:
    """``np.array(im)`` without a whole-image bytes copy on the way."""
    w, h = im.size
    row = np.asarray(im.crop((0, 0, w, 1)))
    if row.nbytes * h <= config.WHOLE_COPY_BYTES:
        return np.array(im)
    pixels = np.empty((h, *row.shape[1:]), dtype=row.dtype)
    band = max(1, config.COPY_BAND_BYTES // max(1, row.nbytes))
    for y0 in range(0, h, band):
        y1 = min(y0 + band, h)
        pixels[y0:y1] = np.asarray(im.crop((0, y0, w, y1)))
    return pixels
