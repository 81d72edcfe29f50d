"""One image file in, one out: load, filter, map values, save atomically."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from convcli.atomic import write_stream
from convcli.errors import OptionError
from convcli.filters import (
    FilterOptions,
    FilterReport,
    filter_and_map,
    from_input_range,
    prepare_kernels,
    unit_range_note,
)
from convcli.runner.frames import filter_frames

if TYPE_CHECKING:
    from convcli.images import LoadedImage
    from convcli.kernelspec import Kernel

__all__ = ["filter_image"]


def filter_image(
    input_path: str | Path,
    output_path: str | Path | BinaryIO,
    kernels: Sequence[Kernel],
    *,
    options: FilterOptions | None = None,
    quality: int | None = None,
    compress_level: int | None = None,
    max_pixels: int | None = None,
    max_memory: int | str | None = None,
    input_data: bytes | None = None,
    fmt: str | None = None,
    frame: int | None = None,
    all_frames: bool = False,
    progress: Callable[[str, float], object] | None = None,
) -> FilterReport:
    """Load an image, run the kernel chain, map values and save atomically.

    ``progress(stage, fraction)``, if given, hears about the work on a single
    image (``"filtering"`` per band of a large image, then ``"saving"``).

    Parameters
    ----------
    input_path : path
        Input file, or only the name used in messages when ``input_data`` is
        given.
    output_path : path or binary stream
        Output file; its format comes from its extension (``.npy`` keeps raw
        float values) and it may be the input path.  A writable binary stream
        (e.g. ``sys.stdout.buffer``) receives the encoded file in one write,
        after encoding has succeeded; ``fmt`` is then required.
    kernels : sequence of Kernel
        The chain as loaded; ``options`` normalize/scale/flip are applied here.
    options : FilterOptions
        See :class:`convcli.filters.FilterOptions`.
    quality : int, optional
        JPEG/WebP quality.
    compress_level : int, optional
        PNG zlib level, 0 to 9 (default 6, see :func:`convcli.images.save_image`).
    max_pixels : int, optional
        Refuse larger images before decoding (default: Pillow's limit).
    max_memory : int or str, optional
        Refuse a chain estimated to need more bytes (``8G`` style strings
        too) before filtering; default ``CONVCLI_MAX_MEMORY`` or 8 GiB.
    input_data : bytes, optional
        The encoded input (e.g. read from stdin) instead of reading ``input_path``.
    fmt : str, optional
        Output extension (``png``, ``npy`` ...) for a stream output.
    frame : int, optional
        Frame of a multi-frame input, from 0 (default: the first).
    all_frames : bool
        Filter every frame of a GIF/TIFF/WebP input and write an animated
        ``.gif`` or ``.webp`` that keeps the frame durations and loop count.

    Returns
    -------
    FilterReport

    Raises
    ------
    OptionError
        A stream output without ``fmt``, ``frame`` with ``all_frames``, an
        animation to a format other than GIF/WebP, or a bad option.
    ConvCliError
        Whatever loading, filtering or saving raises.
    """
    opts = options or FilterOptions()
    start = time.perf_counter()
    if all_frames and frame is not None:
        msg = "give either --frame N or --all-frames, not both"
        raise OptionError(msg)
    if input_data is None:
        from convcli.images.inputs import check_input_file

        check_input_file(str(input_path))  # a folder is named as such, not as a bad output
    out_name, kind, stream = _output_target(output_path, fmt, all_frames=all_frames)
    if all_frames:
        return filter_frames(
            str(input_path),
            output_path,
            kernels,
            opts,
            quality=quality,
            max_pixels=max_pixels,
            input_data=input_data,
            fmt=fmt,
            start=start,
        )
    img = _load(input_path, input_data, max_pixels=max_pixels, frame=frame)
    frame_notes = []
    if frame is None and img.n_frames > 1:
        frame_notes.append(
            f"took frame 0 of {img.n_frames} of {input_path}; use --frame N for another, "
            "--all-frames for every one"
        )
    pixels = img.pixels
    if opts.input_range is not None:
        pixels = from_input_range(pixels, opts.input_range, img.max_value)
    elif kind != "NPY":
        note = unit_range_note(pixels, str(input_path), img.max_value)
        frame_notes.extend([note] if note else [])
    chain = prepare_kernels(kernels, opts)
    _check_memory(img.pixels.shape, chain, opts, max_memory, str(input_path))
    in_shape = tuple(int(v) for v in img.pixels.shape)
    mapped = filter_and_map(
        pixels,
        chain,
        has_alpha=img.has_alpha,
        max_value=img.max_value,
        options=opts,
        to_integer=kind != "NPY",
        progress=progress,
    )
    out_shape = tuple(int(v) for v in mapped.shape)
    if progress is not None:
        progress("saving", 1.0)
    notes = _save(
        mapped,
        out_name,
        stream,
        fmt=fmt,
        max_value=img.max_value,
        quality=quality,
        compress_level=compress_level,
        info=img.info,
    )
    return FilterReport(
        input=str(input_path),
        output=out_name,
        input_shape=in_shape,
        output_shape=out_shape,
        seconds=time.perf_counter() - start,
        notes=[*frame_notes, *notes],
    )


def _check_memory(
    shape: tuple[int, ...],
    chain: Sequence[Kernel],
    opts: FilterOptions,
    max_memory: int | str | None,
    name: str,
) -> None:
    """Refuse the chain before work when its largest step's estimate is over the limit."""
    from convcli.budget import check_memory, filter_bytes

    h, w, c = shape
    float_bytes = np.dtype(opts.working_dtype).itemsize
    need = 0
    for k in chain:
        geom = opts.conv.geometry((h, w), (k.weights.shape[-2], k.weights.shape[-1]))
        out_c = k.weights.shape[0] if k.weights.ndim == 4 else c
        need = max(need, filter_bytes(geom, c, out_c, float_bytes=float_bytes))
        h, w, c = (*geom.out_hw, out_c)
    check_memory(need, f"filtering {name}", max_memory)


def _output_target(
    output_path: str | Path | BinaryIO, fmt: str | None, *, all_frames: bool
) -> tuple[str, str, BinaryIO | None]:
    """The output's name in reports, its format and the stream to write (None for a file).

    Checks the format before any work: an image format, or GIF/WebP for an animation.
    """
    from convcli.images import animation_format, format_from_extension, output_format

    check_format = animation_format if all_frames else output_format
    if isinstance(output_path, str | os.PathLike):
        return str(output_path), check_format(output_path), None
    if not fmt:
        msg = "writing to a stream (-o -) needs `--format` (png, jpg, tif, webp, bmp, npy)"
        raise OptionError(msg)
    kind = animation_format(fmt) if all_frames else format_from_extension(fmt)
    return "<stdout>", kind, output_path


def _load(
    input_path: str | Path, input_data: bytes | None, *, max_pixels: int | None, frame: int | None
) -> LoadedImage:
    """The input image, decoded from ``input_data`` if given, else read from ``input_path``."""
    from convcli.images import load_image, load_image_bytes

    if input_data is not None:
        return load_image_bytes(
            input_data, name=str(input_path), max_pixels=max_pixels, frame=frame
        )
    return load_image(input_path, max_pixels=max_pixels, frame=frame)


def _save(
    mapped: npt.NDArray[np.generic],
    out_name: str,
    stream: BinaryIO | None,
    *,
    fmt: str | None,
    max_value: float,
    quality: int | None,
    compress_level: int | None,
    info: dict[str, Any],
) -> list[str]:
    """Save to ``out_name`` atomically, or encode and write to ``stream`` in one write."""
    from convcli.images import encode_image, save_image

    if stream is None:
        return save_image(
            out_name,
            mapped,
            max_value=max_value,
            quality=quality,
            compress_level=compress_level,
            info=info,
        )
    data, notes = encode_image(
        mapped,
        str(fmt),
        max_value=max_value,
        quality=quality,
        compress_level=compress_level,
        info=info,
    )
    write_stream(stream, data)
    return notes
