"""Multi-frame files: reading every frame, counting them, writing GIF/WebP animations.

:func:`load_frames` reads every frame of a GIF, TIFF or animated WebP,
:func:`frame_count` counts them, and :func:`save_animation` writes frames as
an animated GIF or WebP.

A single frame is read by :func:`convcli.images.read.load_image` (its
``frame`` argument); this module reads them all, in one common mode, with
their timing.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps

from convcli.atomic import atomic_write, write_failures, write_stream
from convcli.errors import ConvCliError, ImageError, OptionError
from convcli.images.formats import animation_format
from convcli.images.inputs import (
    check_frames_pixels,
    check_input_file,
    check_pixel_limit,
    n_frames,
    open_image,
    pillow_limit_off,
    read_failure,
    resolve_limit,
    stream_data,
)
from convcli.images.loaded import Animation, LoadedImage
from convcli.images.metadata import carried_info
from convcli.images.npy import is_npy
from convcli.images.read import load_tiff_page, target_mode, to_array
from convcli.images.savable import to_pillow
from convcli.images.wide import is_tiff, wide_kind
from convcli.images.write import check_quality


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
    limit = resolve_limit(max_pixels)
    if data is None:
        check_input_file(name)
        data = stream_data(name)
    _check_frames_input(name, data)
    if is_tiff(name, data) and _tifffile_decodes(name, data):
        return _tiff_pages(name, data, limit)
    with pillow_limit_off(), open_image(name, data) as im:
        check_pixel_limit(name, im.size, limit)
        # The mode and format of the file as opened: seeking may change im.mode.
        opened_mode, fmt = im.mode, im.format
        loop = im.info.get("loop")
        try:
            check_frames_pixels(name, im.size, n_frames(im))
            decoded, durations = _decode_frames(im, name)
            frames = _loaded_frames(decoded, name, opened_mode, fmt)
        except ConvCliError:
            raise
        except Exception as exc:
            raise ImageError(read_failure(name, exc)) from exc
    return Animation(
        frames=frames, durations=durations, loop=loop if isinstance(loop, int) else None
    )


def _tifffile_decodes(name: str, data: bytes | None) -> bool:
    """Whether this TIFF is one Pillow cannot decode or would reduce to 8 bits."""
    try:
        with pillow_limit_off(), open_image(name, data) as im:
            return wide_kind(im, 0) == "tiff"
    except ImageError:
        return True


def _tiff_pages(name: str, data: bytes | None, limit: int | None) -> Animation:
    """Every page of a TIFF, decoded with tifffile (see :mod:`convcli.images.wide`)."""
    first = load_tiff_page(name, data, limit, 0)
    pages = [first] + [load_tiff_page(name, data, limit, i) for i in range(1, first.n_frames)]
    return Animation(frames=pages, durations=[0] * len(pages), loop=None)


def _check_frames_input(name: str, data: bytes | None) -> None:
    """Refuse a missing file, empty data or a ``.npy`` array (it has no frames)."""
    if data is None:
        check_input_file(name)
    elif not data:
        msg = f"cannot read {name}: it is empty (no image data)"
        raise ImageError(msg)
    if is_npy(name, data):
        msg = f"cannot read frames from {name}: a .npy array is one image; drop --all-frames"
        raise OptionError(msg)


def _decode_frames(im: Image.Image, name: str) -> tuple[list[Image.Image], list[int]]:
    """Every frame decoded (as Pillow composites it) and its duration in milliseconds.

    The pixels of the frames so far are counted against the limit before each
    frame is decoded (pages of a TIFF may differ in size).
    """
    decoded: list[Image.Image] = []
    durations: list[int] = []
    pixels = 0
    for index in range(n_frames(im)):
        im.seek(index)
        pixels += im.size[0] * im.size[1]
        check_frames_pixels(name, im.size, index + 1, total=pixels)
        im.load()
        durations.append(int(im.info.get("duration", 0) or 0))
        decoded.append(im.copy())
    return decoded, durations


def _loaded_frames(
    decoded: list[Image.Image], name: str, opened_mode: str, fmt: str | None
) -> list[LoadedImage]:
    """Decoded frames in one common mode, as images of the file ``name``."""
    info = carried_info(decoded[0])
    targets = {target_mode(frame, name) for frame in decoded}
    if len(targets) == 1:
        common = targets.pop()
    else:
        common = "RGBA" if targets & {"LA", "RGBA"} else "RGB"
    frames = []
    for frame in decoded:
        frame = frame if frame.mode == common else frame.convert(common)
        ImageOps.exif_transpose(frame, in_place=True)
        pixels, max_value = to_array(frame, name)
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
    return frames


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
    check_input_file(name)
    data = stream_data(name)
    if is_npy(name, data):
        return 1
    with pillow_limit_off(), open_image(name, data) as im:
        return n_frames(im)


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
        WebP quality; without it WebP is written lossless.

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
    if kind == "TIFF" and frames[0].dtype == np.uint16 and frames[0].shape[2] > 1:
        _write_wide_pages(stream, name, frames)  # Pillow cannot hold 16-bit colour
        return notes
    images = _frames_to_pillow(frames, name, kind, notes)
    notes = list(dict.fromkeys(notes))  # one note per kind, not one per frame
    params = _animation_params(images, durations, loop, kind, quality)
    if kind == "GIF":
        notes.append(f"GIF holds at most 256 colours per frame; {name} is quantized")
    with write_failures(name):
        _write_animation(stream, name, kind, images[0], params)
    return notes


def _write_wide_pages(stream: BinaryIO | None, name: str, frames: list[np.ndarray]) -> None:
    """16-bit colour pages as one multi-page TIFF (tifffile), to ``stream`` or atomically."""
    from convcli.images.wide import write_tiff_pages

    with write_failures(name):
        if stream is not None:
            buf = io.BytesIO()
            write_tiff_pages(buf, frames)
            stream.write(buf.getvalue())
            stream.flush()
        else:
            with atomic_write(name) as tmp:
                write_tiff_pages(tmp, frames)


def _frames_to_pillow(
    frames: list[np.ndarray], name: str, kind: str, notes: list[str]
) -> list[Image.Image]:
    """Each frame as a Pillow image ``kind`` can hold, at its dtype's full scale."""
    images = []
    for frame in frames:
        array = np.asarray(frame)
        full_scale = 65535 if array.dtype == np.uint16 else 255
        images.append(to_pillow(array, name, kind, full_scale, notes))
    return images


def _animation_params(
    images: list[Image.Image],
    durations: list[int],
    loop: int | None,
    kind: str,
    quality: int | None,
) -> dict[str, Any]:
    """Keyword arguments for ``Image.save`` of the first frame: the rest, timing, quality."""
    params: dict[str, Any] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": [max(0, int(d)) for d in durations],
    }
    if loop is not None:
        params["loop"] = int(loop)
    if kind == "WEBP" and quality is None:
        params["lossless"] = True  # issue 14 measured 12.7 levels of mean error at quality 90
    elif kind == "WEBP":
        params["quality"] = check_quality(quality, "WEBP")
    if kind == "TIFF":
        params.pop("duration")
        params.pop("loop", None)
    return params


def _write_animation(
    stream: BinaryIO | None, name: str, kind: str, first: Image.Image, params: dict[str, Any]
) -> None:
    """Save the animation to ``stream`` in one write, or atomically to the file ``name``."""
    if stream is not None:
        buf = io.BytesIO()
        first.save(buf, format=kind, **params)
        write_stream(stream, buf.getvalue(), name)
    else:
        with atomic_write(name) as tmp:
            first.save(tmp, format=kind, **params)
