"""Reading and writing image files: the only module that talks to Pillow.

Loading (:func:`load_image`) turns any file Pillow can decode, or a ``.npy``
array, into a :class:`LoadedImage` whose ``pixels`` are always ``(H, W, C)``:

========================  =====================  ==========  ===========
file mode                 loaded as              dtype       max_value
========================  =====================  ==========  ===========
``L``, ``1``              1 channel (``1`` is    uint8       255
                          0/255)
``LA``, ``La``            grey + alpha           uint8       255
``RGB``, ``YCbCr``,       3 channels             uint8       255
``CMYK``, ``LAB``,
``HSV``, ``RGBX``
``RGBA``, ``RGBa``,       colour + alpha         uint8       255
``PA``
``P``                     RGB, or RGBA if it     uint8       255
                          has transparency
``I;16`` (and B/L/N)      1 channel              uint16      65535
``I`` (32-bit integer)    1 channel              int32       65535
``F`` (32-bit float)      1 channel              float32     255.0
``.npy`` uint8 / int8     as stored              as stored   255
``.npy`` other integers   as stored              as stored   65535
``.npy`` floats           as stored              float32 or  255.0
                                                 float64
========================  =====================  ==========  ===========

``L``/``RGB`` images with a transparent colour key (PNG ``tRNS``) gain an
alpha channel.  ``I`` images are assumed to hold 16-bit values (values above
65535 are kept but are above the nominal full scale).  Float data (``F``
images and float ``.npy`` arrays) is taken to be in 8-bit units, so 255.0 is
full scale; float16 is widened to float32, float64 stays float64.  EXIF
orientation is applied, only the first frame of a multi-frame file is read,
and images over the pixel limit are refused from their header, before any
pixel is decoded.

Saving (:func:`save_image`) picks the format from the extension and writes
through :func:`atomic_write`, so a failure never leaves a partial file and
never damages the input, even when the output path is the input path.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError, features

from convcli.errors import (
    ConvCliError,
    ImageError,
    ImageTooLargeError,
    InputNotFoundError,
    OptionError,
)

__all__ = [
    "ANIMATION_EXTENSIONS",
    "SUPPORTED_OUTPUT_EXTENSIONS",
    "Animation",
    "LoadedImage",
    "animation_format",
    "atomic_write",
    "default_max_pixels",
    "encode_image",
    "format_from_extension",
    "frame_count",
    "load_frames",
    "load_image",
    "load_image_bytes",
    "output_format",
    "read_shape",
    "save_animation",
    "save_image",
]

SUPPORTED_OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".npy")

ANIMATION_EXTENSIONS = (".gif", ".webp")
_ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".npy": "NPY",
}

# Modes that are converted on load; everything not listed here or handled in
# ``_target_mode`` is refused.
_CONVERTED_MODES = {
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
_KEPT_MODES = ("L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
_MODE_BY_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}

_NPY_MAGIC = b"\x93NUMPY"
_ORIENTATION_TAG = 0x0112
_JPEG_MAX_EXIF_BYTES = 65533
_DEFAULT_QUALITY = {"JPEG": 95, "WEBP": 90}
_NO_ALPHA_FORMATS = ("JPEG", "BMP")
_ICC_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")
_DPI_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
_EXIF_FORMATS = ("PNG", "JPEG", "WEBP")

# Pillow's own decompression-bomb check reads the global Image.MAX_IMAGE_PIXELS;
# it is switched off (under this lock) while we open and decode a file, because
# the pixel limit is enforced here, from the header, with a better message.
_PILLOW_LIMIT_LOCK = threading.RLock()


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
    """

    pixels: np.ndarray
    max_value: float
    has_alpha: bool
    mode: str
    format: str | None
    info: dict[str, Any] = field(default_factory=dict)
    path: str = ""

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


# --------------------------------------------------------------------------
# Loading


def default_max_pixels() -> int | None:
    """Pixel limit used when ``max_pixels`` is None: the size Pillow refuses to open.

    That is ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (178,956,970 with Pillow's
    defaults), the threshold of Pillow's ``DecompressionBombError``; None when
    Pillow's check has been switched off (``MAX_IMAGE_PIXELS = None``).

    Returns
    -------
    int or None
        The limit in pixels (H * W), or None for no limit.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return None if pillow_limit is None else 2 * int(pillow_limit)


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
        See the module docstring for the mode -> dtype/max_value table.  EXIF
        orientation has been applied.

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
    limit = _resolve_limit(max_pixels)
    _check_input_file(name)
    return _load(name, None, limit, frame)


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
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), np.uint8))
    >>> load_image_bytes(buf.getvalue()).shape
    (2, 3, 1)
    """
    limit = _resolve_limit(max_pixels)
    if not data:
        msg = f"cannot read {name}: it is empty (no image data)"
        raise ImageError(msg)
    return _load(name, bytes(data), limit, frame)


def load_frames(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = None,
    data: bytes | None = None,
) -> Animation:
    """Load every frame of a GIF, TIFF or animated WebP (a single-frame file gives one).

    Frames are composited as Pillow shows them (GIF disposal applied) and all
    converted to one mode: the first frame's, or RGB/RGBA when frames differ
    (RGBA when any frame has transparency).

    Parameters
    ----------
    path : str or path-like
        Image file, or only the name used in messages when ``data`` is given.
    max_pixels : int, optional
        Pixel limit per frame, checked before decoding (see :func:`load_image`).
    data : bytes, optional
        The encoded file held in memory (e.g. read from stdin).

    Returns
    -------
    Animation

    Raises
    ------
    InputNotFoundError, ImageTooLargeError, ImageError
        As :func:`load_image`; ``.npy`` arrays are refused (they have no frames).
    """
    name = os.fspath(path)
    limit = _resolve_limit(max_pixels)
    if data is None:
        _check_input_file(name)
    elif not data:
        msg = f"cannot read {name}: it is empty (no image data)"
        raise ImageError(msg)
    if _is_npy(name, data):
        msg = f"cannot read frames from {name}: a .npy array is one image; drop --all-frames"
        raise OptionError(msg)
    with _pillow_limit_off(), _open_image(name, data) as im:
        _check_pixel_limit(name, im.size, limit)
        opened_mode, fmt = im.mode, im.format
        loop = im.info.get("loop")
        try:
            decoded: list[Image.Image] = []
            durations: list[int] = []
            for index in range(_n_frames(im)):
                im.seek(index)
                im.load()
                durations.append(int(im.info.get("duration", 0) or 0))
                decoded.append(im.copy())
            info = _carried_info(decoded[0])
            targets = {_target_mode(frame, name) for frame in decoded}
            if len(targets) == 1:
                common = targets.pop()
            else:
                common = "RGBA" if targets & {"LA", "RGBA"} else "RGB"
            frames = []
            for frame in decoded:
                frame = frame if frame.mode == common else frame.convert(common)
                ImageOps.exif_transpose(frame, in_place=True)
                pixels, max_value = _to_array(frame, name)
                frames.append(
                    LoadedImage(
                        pixels=pixels,
                        max_value=max_value,
                        has_alpha=pixels.shape[2] in (2, 4) and pixels.dtype == np.uint8,
                        mode=opened_mode,
                        format=fmt,
                        info=info,
                        path=name,
                    )
                )
        except ConvCliError:
            raise
        except Exception as exc:
            raise ImageError(_read_failure(name, exc)) from exc
    return Animation(
        frames=frames, durations=durations, loop=loop if isinstance(loop, int) else None
    )


def frame_count(path: str | os.PathLike[str]) -> int:
    """Number of frames in an image file (1 for single-frame formats and ``.npy``).

    Parameters
    ----------
    path : str or path-like
        Image file.

    Returns
    -------
    int
        Frames Pillow reports (``n_frames``), at least 1.

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    ImageError
        The file cannot be opened as an image.
    """
    name = os.fspath(path)
    _check_input_file(name)
    if _is_npy(name, None):
        return 1
    with _pillow_limit_off(), _open_image(name, None) as im:
        return _n_frames(im)


def _n_frames(im: Image.Image) -> int:
    n = getattr(im, "n_frames", 1)
    return n if isinstance(n, int) and n > 0 else 1


def _seek_frame(im: Image.Image, name: str, frame: int | None) -> None:
    """Move to ``frame`` (0-based) or raise OptionError naming the frame count."""
    if frame is None:
        return
    n = _n_frames(im)
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n:
        allowed = "only frame 0" if n == 1 else f"frames 0 to {n - 1}"
        msg = f"`--frame` {frame!r} is out of range: {name} has {n} frame(s) ({allowed})"
        raise OptionError(msg)
    if frame:
        im.seek(frame)


def _load(name: str, data: bytes | None, limit: int | None, frame: int | None) -> LoadedImage:
    """Load from the file ``name`` or, when given, from ``data`` (named ``name``)."""
    if _is_npy(name, data):
        if frame not in (None, 0):
            msg = f"`--frame` {frame!r} is out of range: {name} is a .npy array with 1 frame"
            raise OptionError(msg)
        return _load_npy(name, data, limit)
    with _pillow_limit_off(), _open_image(name, data) as im:
        opened_mode = im.mode
        fmt = im.format
        _check_pixel_limit(name, im.size, limit)
        try:
            _seek_frame(im, name, frame)
            # Force a full decode inside the try: truncation shows up here.
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            info = _carried_info(im)
            pixels, max_value = _to_array(im, name)
        except ConvCliError:
            raise
        except Exception as exc:
            raise ImageError(_read_failure(name, exc)) from exc
    c = pixels.shape[2]
    has_alpha = c in (2, 4) and pixels.dtype == np.uint8
    return LoadedImage(
        pixels=pixels,
        max_value=max_value,
        has_alpha=has_alpha,
        mode=opened_mode,
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
    _check_input_file(name)
    if _is_npy(name, None):
        shape, _ = _npy_header(name, None)
        return shape
    with _pillow_limit_off(), _open_image(name, None) as im:
        try:
            w, h = im.size
            if _header_orientation(im) in (5, 6, 7, 8):
                w, h = h, w
            c = Image.getmodebands(_target_mode(im, name))
        except ConvCliError:
            raise
        except Exception as exc:
            raise ImageError(_read_failure(name, exc)) from exc
    return int(h), int(w), c


def _resolve_limit(max_pixels: int | None) -> int | None:
    if max_pixels is None:
        return default_max_pixels()
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int | np.integer):
        msg = f"`max_pixels` must be a positive integer; got {max_pixels!r}"
        raise OptionError(msg)
    if max_pixels < 1:
        msg = f"`max_pixels` must be a positive integer; got {max_pixels!r}"
        raise OptionError(msg)
    return int(max_pixels)


def _check_input_file(name: str) -> None:
    if os.path.isdir(name):
        msg = f"input is a folder, not an image file: {name}"
        raise InputNotFoundError(msg)
    if not os.path.exists(name):
        msg = f"input file not found: {name}"
        raise InputNotFoundError(msg)


def _check_pixel_limit(name: str, size: tuple[int, int], limit: int | None) -> None:
    w, h = size
    pixels = int(w) * int(h)
    if limit is not None and pixels > limit:
        msg = (
            f"{name} is {h}x{w} (HxW) = {pixels:,} pixels, over the limit of {limit:,} "
            "(--max-pixels)"
        )
        raise ImageTooLargeError(msg)


def _reader(name: str, data: bytes | None) -> BinaryIO:
    """Binary reader over ``data`` if given, else over the file ``name``."""
    return io.BytesIO(data) if data is not None else open(name, "rb")


def _is_npy(name: str, data: bytes | None) -> bool:
    if data is not None:
        return data.startswith(_NPY_MAGIC)
    try:
        with open(name, "rb") as f:
            return f.read(len(_NPY_MAGIC)) == _NPY_MAGIC
    except OSError as exc:
        raise _open_failure(name, exc) from exc


@contextmanager
def _pillow_limit_off() -> Iterator[None]:
    """Switch Pillow's global decompression-bomb check off while a file is read."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


@contextmanager
def _open_image(name: str, data: bytes | None) -> Iterator[Image.Image]:
    """Open ``name`` (or ``data``) with Pillow (header only) and close it afterwards."""
    try:
        im = Image.open(io.BytesIO(data) if data is not None else name)
    except UnidentifiedImageError as exc:
        msg = f"cannot read {name}: not an image file Pillow can decode"
        raise ImageError(msg) from exc
    except OSError as exc:
        raise _open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(_read_failure(name, exc)) from exc
    try:
        yield im
    finally:
        im.close()


def _open_failure(name: str, exc: OSError) -> ConvCliError:
    if isinstance(exc, FileNotFoundError):
        return InputNotFoundError(f"input file not found: {name}")
    if isinstance(exc, PermissionError):
        return ImageError(f"cannot read {name}: permission denied")
    return ImageError(_read_failure(name, exc))


def _read_failure(name: str, exc: BaseException) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if "truncated" in detail.lower():
        return f"cannot read {name}: the file is truncated or corrupt ({detail})"
    return f"cannot read {name}: the file is corrupt or unsupported ({detail})"


def _header_orientation(im: Image.Image) -> int:
    """EXIF orientation known from the header, without decoding any pixels."""
    # PngImageFile.getexif() decodes the image when no eXIf chunk precedes the
    # pixel data; the base implementation only looks at what the header gave.
    exif = Image.Image.getexif(im)
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) else 1


def _target_mode(im: Image.Image, name: str) -> str:
    """Mode an opened image is converted to on load."""
    mode = im.mode
    if mode == "P":
        return "RGBA" if im.has_transparency_data else "RGB"
    if mode in ("L", "RGB") and "transparency" in im.info:
        return "LA" if mode == "L" else "RGBA"
    if mode in _CONVERTED_MODES:
        return _CONVERTED_MODES[mode]
    if mode in _KEPT_MODES:
        return mode
    msg = f"cannot read {name}: pixel mode {mode!r} is not supported"
    raise ImageError(msg)


def _to_array(im: Image.Image, name: str) -> tuple[np.ndarray, float]:
    """Convert a decoded image to ``(H, W, C)`` pixels and their full-scale value."""
    target = _target_mode(im, name)
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
    else:
        max_value = 255
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    return pixels, max_value


#: Images larger than this (bytes of pixels) are copied out of Pillow in bands
#: of rows: ``np.array(im)`` holds Pillow's image, a bytes copy and the array at
#: once (126 MB peak RSS for a 3840x2160 RGB PNG, against 105 MB in bands).
WHOLE_COPY_BYTES = 8 << 20
#: Bytes of pixels per band of that copy.
COPY_BAND_BYTES = 1 << 20


def _pixels_in_bands(im: Image.Image) -> np.ndarray:
    """``np.array(im)`` without a whole-image bytes copy on the way."""
    w, h = im.size
    row = np.asarray(im.crop((0, 0, w, 1)))
    if row.nbytes * h <= WHOLE_COPY_BYTES:
        return np.array(im)
    pixels = np.empty((h, *row.shape[1:]), dtype=row.dtype)
    band = max(1, COPY_BAND_BYTES // max(1, row.nbytes))
    for y0 in range(0, h, band):
        y1 = min(y0 + band, h)
        pixels[y0:y1] = np.asarray(im.crop((0, y0, w, y1)))
    return pixels


def _carried_info(im: Image.Image) -> dict[str, Any]:
    """Metadata worth writing to the output (after exif_transpose)."""
    info: dict[str, Any] = {}
    icc = im.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    dpi = _dpi_pair(im.info.get("dpi"))
    if dpi is not None:
        info["dpi"] = dpi
    exif = im.info.get("exif")
    if isinstance(exif, bytes) and exif:
        info["exif"] = exif
    return info


def _dpi_pair(dpi: Any) -> tuple[float, float] | None:
    """``(x, y)`` dots per inch if ``dpi`` is a pair of positive numbers, else None."""
    if not isinstance(dpi, tuple | list) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 and np.isfinite([x, y]).all() else None


def _npy_header(name: str, data: bytes | None) -> tuple[tuple[int, int, int], np.dtype[Any]]:
    """Read and validate a ``.npy`` header: ``(H, W, C)`` and dtype."""
    try:
        with _reader(name, data) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except OSError as exc:
        raise _open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(_read_failure(name, exc)) from exc
    if dtype.kind not in "uif" or dtype.hasobject:
        msg = (
            f"cannot read {name}: arrays of type {dtype} are not images; "
            "use an integer or float array"
        )
        raise ImageError(msg)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[2] < 1:
        msg = f"cannot read {name}: array shape {tuple(shape)} is not (H, W) or (H, W, C)"
        raise ImageError(msg)
    if shape[0] < 1 or shape[1] < 1:
        msg = f"cannot read {name}: array shape {tuple(shape)} has no pixels"
        raise ImageError(msg)
    h, w, c = (int(v) for v in shape)
    return (h, w, c), dtype


def _load_npy(name: str, data: bytes | None, limit: int | None) -> LoadedImage:
    (h, w, c), dtype = _npy_header(name, data)
    _check_pixel_limit(name, (w, h), limit)
    try:
        with _reader(name, data) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
    except OSError as exc:
        raise _open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(_read_failure(name, exc)) from exc
    pixels = np.ascontiguousarray(array).reshape(h, w, c)
    max_value: float
    if dtype.kind == "f":
        if dtype.itemsize < 4:
            pixels = pixels.astype(np.float32)
        elif dtype.itemsize > 8:
            pixels = pixels.astype(np.float64)
        if not np.isfinite(pixels).all():
            msg = f"cannot read {name}: the array contains NaN or infinite values"
            raise ImageError(msg)
        max_value = 255.0
    else:
        max_value = 255 if dtype.itemsize == 1 else 65535
    if not pixels.dtype.isnative:
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    return LoadedImage(
        pixels=pixels,
        max_value=max_value,
        has_alpha=c in (2, 4),
        mode="npy",
        format="NPY",
        info={},
        path=name,
    )


# --------------------------------------------------------------------------
# Saving


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
    """Return the animated format a path will be written in: ``"GIF"`` or ``"WEBP"``.

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
        msg = f"--all-frames writes an animation, so the output must be .gif or .webp; got {text}"
        raise OptionError(msg) from None


def save_animation(
    target: str | os.PathLike[str] | BinaryIO,
    frames: list[np.ndarray],
    *,
    durations: list[int],
    loop: int | None = 0,
    fmt: str | None = None,
    quality: int | None = None,
) -> list[str]:
    """Write frames as an animated GIF or WebP (atomically when ``target`` is a path).

    Parameters
    ----------
    target : str, path-like or binary stream
        Output ``.gif``/``.webp`` file, or a stream that receives the whole
        file in one write (then ``fmt`` names the format).
    frames : list of ndarray, shape (H, W, C)
        uint8 frames with 1 to 4 channels, all the same shape.
    durations : list of int
        Milliseconds per frame.
    loop : int or None
        Repeat count (0 = forever); None writes no loop setting.
    fmt : str, optional
        ``gif`` or ``webp`` for a stream target.
    quality : int, optional
        WebP quality (default 90).

    Returns
    -------
    list of str
        Notes on anything lost (e.g. GIF keeps 256 colours per frame).

    Raises
    ------
    OptionError
        Not GIF/WebP, no frames, or frames of different shapes.
    ImageError
        The file cannot be written.
    """
    stream = None if isinstance(target, str | os.PathLike) else target
    name = "<stdout>" if stream is not None else os.fspath(target)  # type: ignore[arg-type]
    kind = animation_format(str(fmt) if stream is not None else name)
    if not frames or len({f.shape for f in frames}) != 1:
        msg = f"cannot save an animation to {name}: frames missing or of different shapes"
        raise OptionError(msg)
    notes: list[str] = []
    images = []
    for frame in frames:
        array = np.asarray(frame)
        full_scale = 65535 if array.dtype == np.uint16 else 255
        images.append(_to_pillow(array, name, kind, full_scale, notes))
    notes = list(dict.fromkeys(notes))  # one note per kind, not one per frame
    params: dict[str, Any] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": [max(0, int(d)) for d in durations],
    }
    if loop is not None:
        params["loop"] = int(loop)
    if kind == "WEBP":
        params["quality"] = _check_quality(quality, "WEBP")
    else:
        notes.append(f"GIF holds at most 256 colours per frame; {name} is quantized")
    try:
        if stream is not None:
            buf = io.BytesIO()
            images[0].save(buf, format=kind, **params)
            stream.write(buf.getvalue())
            stream.flush()
        else:
            with atomic_write(name) as tmp:
                images[0].save(tmp, format=kind, **params)
    except ConvCliError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        msg = f"cannot write {name}: {detail}"
        raise ImageError(msg) from exc
    return notes


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
    array = _checked_array(pixels, name)
    buf = io.BytesIO()
    if kind == "NPY":
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue(), []
    notes: list[str] = []
    if kind == "PNG":
        _write_png(
            buf,
            _savable_array(array, name, kind, max_value, notes),
            name,
            compress_level,
            info or {},
            notes,
        )
        return buf.getvalue(), notes
    image = _to_pillow(array, name, kind, max_value, notes)
    params = _save_params(image.mode, name, kind, quality, info or {}, notes)
    try:
        image.save(buf, format=kind, **params)
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        msg = f"cannot encode {name} as {kind}: {detail}"
        raise ImageError(msg) from exc
    return buf.getvalue(), notes


def _checked_array(pixels: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(pixels)
    if array.ndim not in (2, 3):
        msg = f"cannot save an array of shape {array.shape} to {name}; expected (H, W) or (H, W, C)"
        raise OptionError(msg)
    return array


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
        :data:`convcli.png_writer.DEFAULT_COMPRESS_LEVEL`, 6); ignored by
        other formats.  PNGs are written by :mod:`convcli.png_writer` on
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
    array = _checked_array(pixels, name)
    if fmt == "NPY":
        _save_npy(name, array)
        return []
    notes: list[str] = []
    if fmt == "PNG":
        savable = _savable_array(array, name, fmt, max_value, notes)
        level = _check_compress_level(compress_level)
        try:
            with atomic_write(name) as tmp, open(tmp, "wb") as f:
                _write_png(f, savable, name, level, info or {}, notes)
        except ConvCliError:
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            msg = f"cannot write {name}: {detail}"
            raise ImageError(msg) from exc
        return notes
    image = _to_pillow(array, name, fmt, max_value, notes)
    params = _save_params(image.mode, name, fmt, quality, info or {}, notes)
    try:
        with atomic_write(name) as tmp:
            image.save(tmp, format=fmt, **params)
    except ConvCliError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        msg = f"cannot write {name}: {detail}"
        raise ImageError(msg) from exc
    return notes


def _save_npy(name: str, array: np.ndarray) -> None:
    try:
        with atomic_write(name) as tmp, open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    except ConvCliError:
        raise
    except ValueError as exc:
        msg = f"cannot write {name}: {exc}"
        raise ImageError(msg) from exc


def _to_pillow(
    array: np.ndarray, name: str, fmt: str, max_value: float, notes: list[str]
) -> Image.Image:
    """Turn ``(H, W[, C])`` values into a Pillow image the format can hold."""
    array = _savable_array(array, name, fmt, max_value, notes)
    plane = array[:, :, 0] if array.shape[2] == 1 else array
    return Image.fromarray(np.ascontiguousarray(plane))


def _savable_array(
    array: np.ndarray, name: str, fmt: str, max_value: float, notes: list[str]
) -> np.ndarray:
    """``(H, W, C)`` uint8/uint16 values the format can hold, noting what is lost."""
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    h, w, c = array.shape
    if c not in _MODE_BY_CHANNELS:
        msg = (
            f"cannot save {c} channels to {name}: image files hold 1 to 4 channels "
            "(L, LA, RGB, RGBA); save as .npy to keep them all"
        )
        raise OptionError(msg)
    if h < 1 or w < 1:
        msg = f"cannot save an empty image of shape {array.shape} to {name}"
        raise OptionError(msg)
    array = _to_integer(array, max_value)
    if fmt in _NO_ALPHA_FORMATS and c in (2, 4):
        array = array[:, :, :-1]
        c -= 1
        notes.append(f"{fmt} has no alpha channel; dropped the alpha of {name}")
    if array.dtype == np.uint16 and not (fmt == "PNG" or (fmt == "TIFF" and c == 1)):
        array = _sixteen_to_eight(array)
        why = "16-bit colour TIFF" if fmt == "TIFF" else f"16-bit {fmt}"
        notes.append(f"wrote {name} as 8-bit (Pillow cannot write {why}); use .npy to keep 16 bits")
    if fmt == "WEBP" and c <= 2:
        notes.append(f"WebP has no greyscale mode; {name} is stored as RGB")
    return array


def _write_png(
    target: BinaryIO,
    array: np.ndarray,
    name: str,
    compress_level: int | None,
    info: dict[str, Any],
    notes: list[str],
) -> None:
    """Encode savable ``(H, W, C)`` values with :mod:`convcli.png_writer`."""
    from convcli.engine import default_threads
    from convcli.png_writer import write_png

    mode = _MODE_BY_CHANNELS[array.shape[2]]
    meta = _save_params(mode, name, "PNG", None, info, notes)
    write_png(
        target,
        array,
        compress_level=_check_compress_level(compress_level),
        icc_profile=meta.get("icc_profile"),
        dpi=meta.get("dpi"),
        exif=meta.get("exif"),
        threads=default_threads(),
    )


def _check_compress_level(level: int | None) -> int:
    from convcli.png_writer import DEFAULT_COMPRESS_LEVEL

    if level is None:
        return DEFAULT_COMPRESS_LEVEL
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 0 <= level <= 9:
        msg = f"`compress_level` must be an integer from 0 to 9; got {level!r}"
        raise OptionError(msg)
    return int(level)


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
    if fmt in _DEFAULT_QUALITY:
        params["quality"] = _check_quality(quality, fmt)
    if fmt == "TIFF" and features.check_codec("libtiff"):
        params["compression"] = "tiff_deflate"
    icc = info.get("icc_profile")
    if isinstance(icc, bytes) and icc and fmt in _ICC_FORMATS:
        space = icc[16:20]
        wanted = b"GRAY" if mode in ("L", "LA", "I;16") else b"RGB "
        if space == wanted:
            params["icc_profile"] = icc
        else:
            shown = space.decode("ascii", "replace").strip() or "unknown"
            notes.append(f"did not carry the {shown} colour profile to the {mode} image {name}")
    dpi = _dpi_pair(info.get("dpi"))
    if fmt in _DPI_FORMATS and dpi is not None:
        params["dpi"] = dpi
    exif = info.get("exif")
    if fmt in _EXIF_FORMATS and isinstance(exif, bytes | Image.Exif) and exif:
        exif_bytes = _exif_without_orientation(exif)
        if exif_bytes is None:
            notes.append(f"dropped unreadable EXIF data from {name}")
        elif fmt == "JPEG" and len(exif_bytes) > _JPEG_MAX_EXIF_BYTES:
            notes.append(f"dropped EXIF data too large for JPEG from {name}")
        else:
            params["exif"] = exif_bytes
    return params


def _check_quality(quality: int | None, fmt: str) -> int:
    if quality is None:
        return _DEFAULT_QUALITY[fmt]
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
        msg = f"`quality` must be an integer from 1 to 100; got {quality!r}"
        raise OptionError(msg)
    if not 1 <= quality <= 100:
        msg = f"`quality` must be an integer from 1 to 100; got {quality!r}"
        raise OptionError(msg)
    return int(quality)


def _exif_without_orientation(exif: bytes | Image.Exif) -> bytes | None:
    """EXIF bytes with any orientation tag removed (it has been applied)."""
    if isinstance(exif, Image.Exif):
        parsed = exif
    else:
        parsed = Image.Exif()
        try:
            parsed.load(exif)
        except Exception:
            return None
        if _ORIENTATION_TAG not in parsed:
            return exif
    if _ORIENTATION_TAG in parsed:
        del parsed[_ORIENTATION_TAG]
    try:
        return parsed.tobytes()
    except Exception:
        return None


# --------------------------------------------------------------------------
# Atomic writes


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a file through a temporary sibling, renamed onto ``path`` on success.

    The temporary file is hidden (``.<name>.<random>.tmp``) in the target's own
    folder, so the final :func:`os.replace` is atomic.  Writers must pass the
    format explicitly: the temporary name ends in ``.tmp``.  On any exception,
    including ``KeyboardInterrupt``, the temporary file is removed and the
    target (possibly the input file) is left exactly as it was.  An existing
    target's permission bits are kept; symbolic links are written through.

    Parameters
    ----------
    path : str or path-like
        Final file name.

    Yields
    ------
    Path
        Temporary file to write (it exists, empty).

    Raises
    ------
    ImageError
        The output folder does not exist, the target is a folder or is
        read-only, or the file cannot be created, written or renamed.

    Examples
    --------
    >>> with atomic_write(tmp_dir / "out.txt") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    name = os.fspath(path)
    target = Path(os.path.realpath(name)) if os.path.islink(name) else Path(name)
    folder = target.parent
    if not folder.is_dir():
        msg = f"output folder does not exist: {folder} (for {name})"
        raise ImageError(msg)
    if target.is_dir():
        msg = f"cannot write {name}: it is a folder"
        raise ImageError(msg)
    if target.exists() and not os.access(target, os.W_OK):
        msg = f"cannot write {name}: the file is read-only"
        raise ImageError(msg)
    tmp = _create_temp(target, name)
    try:
        yield tmp
        _finish(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ImageError(_write_failure(name, exc)) from exc
        raise


def _create_temp(target: Path, name: str) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666 filtered by the umask: the permissions a plain open() gives.
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ImageError(_write_failure(name, exc)) from exc
        os.close(fd)
        return tmp
    msg = f"cannot write {name}: could not create a temporary file in {target.parent}"
    raise ImageError(msg)


def _finish(tmp: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _write_failure(name: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"cannot write {name}: permission denied"
    detail = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"cannot write {name}: {detail}"
