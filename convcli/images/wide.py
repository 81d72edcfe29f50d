"""What Pillow reduces or cannot read: 16-bit colour PNG (imagecodecs) and TIFFs (tifffile).

Pillow decodes 16-bit RGB/RGBA/LA PNGs and 16-bit colour TIFFs to 8 bits, and
cannot decode float colour, planar or many scientific TIFFs.  Those are decoded
here with the field's libraries instead of a decoder of our own: imagecodecs'
PNG codec (libpng) and tifffile (both by C. Gohlke, used by scikit-image,
napari and imageio).  Both are imported only when such a file is read.
:func:`write_tiff` writes 16-bit colour TIFFs, which Pillow cannot write.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from PIL import Image

from convcli.errors import ConvCliError, ImageError, OptionError
from convcli.images.inputs import check_pixel_limit, read_failure

__all__ = [
    "apply_orientation",
    "is_tiff",
    "load_png16",
    "load_tiff",
    "tiff_shape",
    "wide_kind",
    "write_tiff",
    "write_tiff_pages",
]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG16_RAWMODES = ("RGB;16B", "RGBA;16B", "LA;16B")
_BITS, _SAMPLES, _PLANAR, _SAMPLE_FORMAT, _ORIENTATION = 258, 277, 284, 339, 274


def is_tiff(name: str, data: bytes | None) -> bool:
    """Whether the file (or ``data``) starts with a TIFF or BigTIFF signature."""
    if data is None:
        try:
            with open(name, "rb") as f:
                data = f.read(4)
        except OSError:
            return False
    return data[:4] in _TIFF_MAGIC


def wide_kind(im: Image.Image, frame: int | None) -> str | None:
    """``"png16"`` or ``"tiff"`` when Pillow would lose bits of this file (or cannot decode it)."""
    if frame not in (None, 0):
        return None
    if im.format == "PNG":
        tile = getattr(im, "tile", None)
        args = tile[0].args if tile else None
        return "png16" if isinstance(args, str) and args in _PNG16_RAWMODES else None
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(_BITS, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        samples = int(tags.get(_SAMPLES, 1))
        floats = tags.get(_SAMPLE_FORMAT, 1) in (3, (3,) * samples)
        if tags.get(_PLANAR, 1) == 2 or (samples > 1 and (max(bits) > 8 or floats)):
            return "tiff"
    return None


def apply_orientation(pixels: np.ndarray, orientation: int | None) -> np.ndarray:
    """``(H, W, C)`` pixels turned upright as EXIF/TIFF orientation 1-8 says (as Pillow does)."""
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation or 1)
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


def load_png16(name: str, data: bytes | None) -> np.ndarray:
    """Decode a 16-bit colour PNG to ``(H, W, C)`` uint16 with imagecodecs (libpng)."""
    import imagecodecs

    try:
        if data is None:
            with open(name, "rb") as f:
                data = f.read()
        pixels = np.asarray(imagecodecs.png_decode(data))
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
    return pixels[:, :, np.newaxis] if pixels.ndim == 2 else pixels


def load_tiff(
    name: str, data: bytes | None, limit: int | None, frame: int | None
) -> tuple[np.ndarray, int]:
    """Decode one page of a TIFF with tifffile: ``(H, W, C)`` pixels, and the page count.

    Planar pages are made interleaved, the orientation tag is applied, and the
    pixel limit is checked from the page header before decoding.
    """
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data) if data is not None else name) as tif:
            n = len(tif.pages)
            index = _page_index(name, frame, n)
            page = tif.pages[index]
            check_pixel_limit(name, (page.imagewidth, page.imagelength), limit)  # type: ignore[union-attr]
            pixels = np.asarray(page.asarray())
            axes = str(page.axes)
            tag = page.tags.get(_ORIENTATION)  # type: ignore[union-attr]
    except ConvCliError:
        raise
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
    if axes.startswith("S") and pixels.ndim == 3:
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    if pixels.ndim != 3:
        msg = f"cannot read {name}: TIFF page of shape {pixels.shape} (axes {axes}) is not an image"
        raise ImageError(msg)
    orientation = tag.value if tag is not None else None
    return apply_orientation(_usable(pixels), orientation), n


def tiff_shape(name: str) -> tuple[int, int, int]:
    """``(H, W, C)`` of a TIFF's first page from its header, as :func:`load_tiff` would give."""
    import tifffile

    try:
        with tifffile.TiffFile(name) as tif:
            page = tif.pages[0]
            h, w = int(page.imagelength), int(page.imagewidth)  # type: ignore[union-attr]
            c = int(page.samplesperpixel)  # type: ignore[union-attr]
            tag = page.tags.get(_ORIENTATION)  # type: ignore[union-attr]
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
    if tag is not None and tag.value in (5, 6, 7, 8):
        h, w = w, h
    return h, w, c


def _page_index(name: str, frame: int | None, n: int) -> int:
    if frame is None:
        return 0
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n:
        allowed = "only frame 0" if n == 1 else f"frames 0 to {n - 1}"
        msg = f"`--frame` {frame!r} is out of range: {name} has {n} frame(s) ({allowed})"
        raise OptionError(msg)
    return frame


def _usable(pixels: np.ndarray) -> np.ndarray:
    """uint8/uint16/int32/float32/float64 as they are; other types widened to hold every value."""
    if pixels.dtype in (np.uint8, np.uint16, np.int32, np.float32, np.float64):
        return pixels
    if pixels.dtype == np.float16:
        return pixels.astype(np.float32)
    if pixels.dtype.kind in "iu" and pixels.dtype.itemsize <= 2:
        return pixels.astype(np.int32)
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * np.uint8(255)
    return pixels.astype(np.float64)


def write_tiff_pages(target: str | os.PathLike[str] | io.BytesIO, pages: list[np.ndarray]) -> None:
    """Write ``(H, W, C)`` uint16 pages as one multi-page deflate TIFF with tifffile."""
    import tifffile

    with tifffile.TiffWriter(target) as tif:
        for page in pages:
            c = page.shape[2]
            tif.write(
                page[:, :, 0] if c == 1 else page,
                photometric="minisblack" if c <= 2 else "rgb",
                extrasamples=(2,) if c in (2, 4) else None,
                compression="zlib",
            )


def write_tiff(
    target: str | os.PathLike[str] | io.BytesIO, array: np.ndarray, info: dict[str, Any]
) -> None:
    """Write ``(H, W, C)`` uint16 colour as a deflate-compressed TIFF with tifffile."""
    import tifffile

    c = array.shape[2]
    extra: list[tuple[int, str, int, Any, bool]] = []
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        extra.append((34675, "B", len(icc), icc, True))
    dpi = info.get("dpi")
    tifffile.imwrite(
        target,
        array[:, :, 0] if c == 1 else array,
        photometric="minisblack" if c <= 2 else "rgb",
        extrasamples=(2,) if c in (2, 4) else None,  # unassociated alpha, as PNG's
        compression="zlib",
        resolution=(float(dpi[0]), float(dpi[1])) if dpi else None,
        resolutionunit=2 if dpi else None,  # inch
        extratags=extra,
    )
