"""Opening an input: file checks, the pixel limit, Pillow's bomb check and read errors.

Every reader (single images, frames, ``.npy`` arrays, headers) opens its input
through these, so a missing file, an image over the pixel limit or a corrupt
file gives the same message whichever command reads it.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from convcli import config
from convcli.errors import (
    ConvCliError,
    ImageError,
    ImageTooLargeError,
    InputNotFoundError,
    OptionError,
    error_detail,
)

# Pillow's own decompression-bomb check reads the global Image.MAX_IMAGE_PIXELS;
# it is switched off (under this lock) while we open and decode a file, because
# the pixel limit is enforced here, from the header, with a better message.
_PILLOW_LIMIT_LOCK = threading.RLock()


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


def resolve_limit(max_pixels: int | None) -> int | None:
    """The pixel limit to apply: ``max_pixels`` checked, or :func:`default_max_pixels`."""
    if max_pixels is None:
        return default_max_pixels()
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int | np.integer):
        msg = f"`max_pixels` must be a positive integer; got {max_pixels!r}"
        raise OptionError(msg)
    if max_pixels < 1:
        msg = f"`max_pixels` must be a positive integer; got {max_pixels!r}"
        raise OptionError(msg)
    return int(max_pixels)


def check_input_file(name: str) -> None:
    """Raise InputNotFoundError unless ``name`` is an existing file (not a folder)."""
    if os.path.isdir(name):
        msg = f"input is a folder, not an image file: {name}"
        raise InputNotFoundError(msg)
    if not os.path.exists(name):
        msg = f"input file not found: {name}"
        raise InputNotFoundError(msg)


def read_limited(stream: BinaryIO, name: str) -> bytes:
    """All of ``stream`` (stdin, a FIFO), refused beyond ``CONVCLI_MAX_INPUT_BYTES``.

    Read in chunks, so a stream without end (``< /dev/zero``) stops at the
    limit instead of filling memory.
    """
    most = config.limit("input_bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(1 << 20, most + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > most:
            msg = (
                f"cannot read {name}: more than {config.describe_size(most)}, the limit "
                f"for a stream input ({config.LIMITS['input_bytes'].env})"
            )
            raise ImageTooLargeError(msg)


def stream_data(name: str) -> bytes | None:
    """The bytes of ``name`` when it is not a regular file (FIFO, ``<(...)``), read once; else None.

    A pipe can be read only once, and the readers would open the input twice
    (to sniff ``.npy``, then to decode), so a non-regular input is read here
    (within the stream limit of :func:`read_limited`) and decoded from memory.
    """
    try:
        mode = os.stat(name).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    try:
        with open(name, "rb") as f:
            data = read_limited(f, name)
    except OSError as exc:
        raise open_failure(name, exc) from exc
    if not data:
        msg = f"cannot read {name}: it is empty (no image data)"
        raise ImageError(msg)
    return data


def check_pixel_limit(name: str, size: tuple[int, int], limit: int | None) -> None:
    """Raise ImageTooLargeError when ``size`` (W, H) has more pixels than ``limit``."""
    w, h = size
    pixels = int(w) * int(h)
    if limit is not None and pixels > limit:
        msg = (
            f"{name} is {h}x{w} (HxW) = {pixels:,} pixels, over the limit of {limit:,} "
            "(--max-pixels)"
        )
        raise ImageTooLargeError(msg)


def check_frames_pixels(
    name: str, size: tuple[int, int], frames: int, *, total: int | None = None
) -> None:
    """Refuse ``frames`` frames of ``size`` (W, H) over ``CONVCLI_MAX_FRAMES_PIXELS`` together.

    ``total`` is the exact count when frames differ in size (default: frames * W * H).
    """
    w, h = size
    pixels = frames * int(w) * int(h) if total is None else total
    most = config.limit("frames_pixels")
    if pixels > most:
        msg = (
            f"{name}: {frames:,} frames of {h}x{w} (HxW) hold {pixels:,} pixels together, "
            f"over the limit of {most:,} for --all-frames ({config.LIMITS['frames_pixels'].env})"
        )
        raise ImageTooLargeError(msg)


@contextmanager
def pillow_limit_off() -> Iterator[None]:
    """Switch Pillow's global decompression-bomb check off while a file is read."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


@contextmanager
def open_image(name: str, data: bytes | None) -> Iterator[Image.Image]:
    """Open ``name`` (or ``data``) with Pillow (header only) and close it afterwards."""
    try:
        im = Image.open(io.BytesIO(data) if data is not None else name)
    except UnidentifiedImageError as exc:
        msg = f"cannot read {name}: not an image file Pillow can decode"
        raise ImageError(msg) from exc
    except OSError as exc:
        raise open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
    try:
        yield im
    finally:
        im.close()


def open_failure(name: str, exc: OSError) -> ConvCliError:
    """The error to raise for an OSError while opening ``name``."""
    if isinstance(exc, FileNotFoundError):
        return InputNotFoundError(f"input file not found: {name}")
    if isinstance(exc, PermissionError):
        return ImageError(f"cannot read {name}: permission denied")
    return ImageError(read_failure(name, exc))


def read_failure(name: str, exc: BaseException) -> str:
    """The message for a failure while decoding ``name``."""
    detail = error_detail(exc)
    if "truncated" in detail.lower():
        return f"cannot read {name}: the file is truncated or corrupt ({detail})"
    return f"cannot read {name}: the file is corrupt or unsupported ({detail})"


def n_frames(im: Image.Image) -> int:
    """Frames in an opened image, at least 1."""
    n = getattr(im, "n_frames", 1)
    return n if isinstance(n, int) and n > 0 else 1
