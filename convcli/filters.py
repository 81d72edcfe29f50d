"""Image-level filtering: kernel pipelines, alpha handling and value mapping.

This is what ``convcli filter`` does, as a library:

1. :func:`prepare_kernels` applies ``--normalize``, ``--scale`` and
   ``--convolve`` to each kernel of the chain.
2. :func:`filter_array` runs the chain (``--repeat`` times) through
   :func:`convcli.engine.correlate` in float, never rounding or clipping
   between steps; alpha is kept, filtered or premultiplied.
3. :func:`map_values` turns the float result into the output's integer type
   (``--abs``, ``--rescale``, else round and clip).
4. :func:`filter_image` ties it to files: load, filter, map, save atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from convcli.engine import correlate
from convcli.errors import OptionError, RangeError
from convcli.shapes import PaddingSpec

if TYPE_CHECKING:
    from convcli.kernelspec import Kernel

AlphaMode = Literal["keep", "filter", "premultiply"]
ALPHA_MODES = ("keep", "filter", "premultiply")
FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True)
class FilterOptions:
    """Geometry, precision and value options shared by every kernel of a chain.

    ``cval`` and ``offset`` are in image units (0..255 for 8-bit images).
    ``offset`` is added once, to the result of the whole chain; a preset's own
    offset is added after its step.
    """

    padding: PaddingSpec = "same"
    border: str = "reflect"
    cval: float = 0.0
    stride: int | tuple[int, int] = 1
    dilation: int | tuple[int, int] = 1
    convolve: bool = False
    precision: Literal["float32", "float64"] = "float32"
    normalize: bool = False
    scale: float = 1.0
    offset: float = 0.0
    repeat: int = 1
    alpha: AlphaMode = "keep"
    abs: bool = False
    rescale: bool = False
    threads: int | None = None


@dataclass
class FilterReport:
    """What happened to one image: shapes ``(H, W, C)`` (of each frame), time in seconds, notes."""

    input: str
    output: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seconds: float
    notes: list[str] = field(default_factory=list)
    frames: int = 1


def prepare_kernels(kernels: Sequence[Kernel], options: FilterOptions) -> list[Kernel]:
    """Apply ``normalize``, ``scale`` and ``convolve`` (flip) to each kernel."""
    return [
        k.transformed(normalize=options.normalize, scale=options.scale, flip=options.convolve)
        for k in kernels
    ]


def _delta_like(kernel: Kernel) -> npt.NDArray[np.float64]:
    """A 2-D kernel of the same size with a single 1 at the anchor (moves pixels, no blur)."""
    kh, kw = kernel.weights.shape[-2:]
    delta = np.zeros((kh, kw))
    delta[kernel.effective_anchor] = 1.0
    return delta


def check_range(
    x: npt.NDArray[np.generic],
    kernels: Sequence[Kernel],
    repeat: int,
    dtype: type[np.floating],
    *,
    offset: float = 0.0,
) -> None:
    """Refuse a chain whose results could overflow ``dtype``, before any work.

    Each step can grow the largest magnitude by at most ``sum(|w|)`` (plus its
    offset), so this bound is exact enough to only ever reject absurd weights.
    """
    bound = float(np.max(np.abs(x))) if x.size else 0.0
    for _ in range(repeat):
        for k in kernels:
            bound = bound * float(np.abs(k.effective_weights).sum()) + abs(k.offset)
    bound += abs(offset)
    limit = float(np.finfo(dtype).max) / 16
    if not bound <= limit:
        msg = (
            f"kernel weights too large: results could reach {bound:.3g}, beyond what "
            f"{np.dtype(dtype).name} holds ({limit * 16:.3g}); use smaller weights"
            + (" or --precision float64" if dtype is np.float32 else "")
        )
        raise RangeError(msg)


def filter_array(
    x: npt.NDArray[np.generic],
    kernels: Sequence[Kernel],
    *,
    has_alpha: bool = False,
    max_value: float = 255.0,
    options: FilterOptions | None = None,
    rows: tuple[int, int] | None = None,
) -> FloatArray:
    """Run a kernel chain over an image array.

    Parameters
    ----------
    x : ndarray, shape (H, W, C)
        Pixels in image units; if ``has_alpha`` the last channel is alpha.
    kernels : sequence of Kernel
        The chain, already prepared (see :func:`prepare_kernels`).
    has_alpha : bool
        Whether the last channel is alpha.
    max_value : float
        Full-scale value (alpha is opaque at ``max_value``).
    options : FilterOptions
        Geometry and alpha options.
    rows : (int, int), optional
        Only output rows ``start:stop`` (single kernel, no repeat, no
        premultiplication): lets :func:`filter_image` work band by band.

    Returns
    -------
    ndarray, shape (H', W', C')
        Float result (alpha last if the input had alpha), not rounded or clipped.
    """
    opts = options or FilterOptions()
    if opts.alpha not in ALPHA_MODES:
        msg = f"`alpha` must be one of {', '.join(ALPHA_MODES)}; got {opts.alpha!r}"
        raise OptionError(msg)
    if opts.repeat < 1:
        msg = f"`repeat` must be a positive integer; got {opts.repeat}"
        raise OptionError(msg)
    dtype = np.float64 if opts.precision == "float64" else np.float32
    geometry = {
        "padding": opts.padding,
        "border": opts.border,
        "stride": opts.stride,
        "dilation": opts.dilation,
        "dtype": dtype,
        "threads": opts.threads,
    }
    if rows is not None and (len(kernels) != 1 or opts.repeat != 1 or opts.alpha == "premultiply"):
        msg = "`rows` needs a single kernel, repeat 1 and no alpha premultiplication"
        raise OptionError(msg)
    if rows is None or rows[0] == 0:
        check_range(x, kernels, opts.repeat, dtype, offset=opts.offset)
    if rows is not None:
        geometry["rows"] = rows
    colour: FloatArray = x[..., :-1] if has_alpha else x  # type: ignore[assignment]
    alpha: FloatArray | None = x[..., -1:] if has_alpha else None  # type: ignore[assignment]
    premultiplied = False
    if alpha is not None and opts.alpha == "premultiply":
        alpha = alpha.astype(dtype)
        colour = np.multiply(colour, alpha / dtype(max_value), dtype=dtype)
        premultiplied = True
    for _ in range(opts.repeat):
        for kernel in kernels:
            w = kernel.effective_weights
            depthwise = w.ndim == 2
            anchor = kernel.effective_anchor
            if alpha is not None and opts.alpha == "filter" and not depthwise:
                if w.shape[-3] == colour.shape[2] + 1:
                    colour = np.concatenate([colour, alpha], axis=2)
                    alpha = None
            colour = correlate(colour, w, cval=opts.cval, anchor=anchor, **geometry)  # type: ignore[arg-type]
            if kernel.offset:
                colour += dtype(kernel.offset)
            if alpha is not None:
                if depthwise and opts.alpha in ("filter", "premultiply"):
                    alpha_w = w
                else:
                    alpha_w = _delta_like(kernel)
                alpha = correlate(alpha, alpha_w, cval=opts.cval, anchor=anchor, **geometry)  # type: ignore[arg-type]
    if opts.offset:
        colour = colour + dtype(opts.offset)
    if alpha is None:
        return colour
    if premultiplied:
        safe = np.where(alpha > 0, alpha, 1.0)
        colour = np.where(alpha > 0, colour * (max_value / safe), 0.0).astype(dtype)
    return np.concatenate([colour, alpha.astype(dtype)], axis=2)


def explain_chain(
    image_shape: tuple[int, ...], kernels: Sequence[Kernel], options: FilterOptions
) -> list[str]:
    """The engine's plan for each step of a prepared chain, as one paragraph per step.

    Parameters
    ----------
    image_shape : (H, W, C)
        Shape of the image the chain starts from (colour channels only).
    kernels : sequence of Kernel
        The chain, prepared (see :func:`prepare_kernels`).
    options : FilterOptions
        Geometry and precision.

    Returns
    -------
    list of str
        ``"step i (name): <plan explanation>"`` for each kernel of one repeat.
    """
    from convcli.engine import make_plan
    from convcli.layers import output_shape

    dtype = np.float64 if options.precision == "float64" else np.float32
    shape = tuple(image_shape)
    lines = []
    for i, k in enumerate(kernels, 1):
        plan = make_plan(
            shape,
            k.effective_weights,
            padding=options.padding,
            stride=options.stride,
            dilation=options.dilation,
            anchor=k.effective_anchor,
            dtype=dtype,
            threads=options.threads,
        )
        lines.append(f"step {i} ({k.name}): {plan}")
        shape = output_shape(
            shape,
            k.shape,
            padding=options.padding,
            stride=options.stride,
            dilation=options.dilation,
            anchor=k.effective_anchor,
        )
    return lines


def map_values(
    y: FloatArray,
    *,
    max_value: float = 255.0,
    abs_values: bool = False,
    rescale: bool = False,
    has_alpha: bool = False,
    to_integer: bool = True,
) -> npt.NDArray[np.generic]:
    """Map a float result to what gets saved.

    Parameters
    ----------
    y : ndarray, shape (H, W, C)
        Float result in image units.
    max_value : float
        Full scale: 255 (uint8 output) or 65535 (uint16 output).
    abs_values : bool
        Take absolute values of the colour channels first (edge maps).
    rescale : bool
        Stretch the colour channels' joint min..max to ``0..max_value`` (one
        range for all colour channels, so hues keep their ratios).
    has_alpha : bool
        The last channel is alpha: never made absolute or rescaled.
    to_integer : bool
        Round and clip to ``0..max_value`` and return uint8/uint16; if False
        (``.npy`` output) return floats as they are after abs/rescale.

    Returns
    -------
    ndarray, shape (H, W, C)
        uint8 if ``max_value <= 255`` else uint16 (or float when not ``to_integer``).
    """
    out = y.copy() if (abs_values or rescale) else y
    colour = out[..., :-1] if has_alpha else out
    if abs_values:
        np.abs(colour, out=colour)
    if rescale:
        lo, hi = float(colour.min()), float(colour.max())
        if hi > lo:
            colour -= lo
            colour *= max_value / (hi - lo)
        else:
            colour[...] = 0
    if not to_integer:
        return out
    int_type = np.uint8 if max_value <= 255 else np.uint16
    # One float temporary instead of two (rint, then clip in place): a 10000x10000
    # RGB float32 result is 1.2 GB per copy.
    rounded = np.rint(out, out=out) if out is not y else np.rint(out)
    np.clip(rounded, 0, max_value, out=rounded)
    return rounded.astype(int_type)


def output_path_for(
    input_path: str | Path, outdir: str | Path, *, suffix: str = "", fmt: str | None = None
) -> Path:
    """``OUTDIR/<input stem><suffix>.<fmt or the input's extension>``."""
    src = Path(input_path)
    ext = ("." + fmt.lower().lstrip(".")) if fmt else src.suffix
    return Path(outdir) / f"{src.stem}{suffix}{ext}"


#: Float working set of one band when large images are filtered band by band, in
#: bytes.  On the 3840x2160 RGB PNG with a 3x3 kernel, peak RSS of the whole
#: ``convcli filter`` was 131 MB with 8 MiB bands and 117 MB with 4 MiB, at the
#: same speed (the 32 MiB used before peaked at 208 MB).
BAND_BYTES = 4 << 20


def filter_and_map(
    x: npt.NDArray[np.generic],
    chain: Sequence[Kernel],
    *,
    has_alpha: bool,
    max_value: float,
    options: FilterOptions,
    to_integer: bool,
    progress: Callable[[str, float], object] | None = None,
) -> npt.NDArray[np.generic]:
    """Filter and map values; large images in bands of output rows when the result allows.

    ``progress(stage, fraction)`` is called after every band (``stage`` is
    ``"filtering"``) when given.

    With one kernel, no repeat, no premultiplication and no ``--rescale``
    (which needs the whole result first), integer output is made band by band
    (:data:`BAND_BYTES` of floats at a time), so no whole float copy of the
    image is ever held.  Otherwise :func:`filter_array` then :func:`map_values`.
    """
    simple = (
        len(chain) == 1
        and options.repeat == 1
        and options.alpha != "premultiply"
        and not options.rescale
        and to_integer
    )
    row_bytes = max(1, x.shape[1] * x.shape[2] * 4)
    if not simple or x.shape[0] * row_bytes <= 2 * BAND_BYTES:
        y = filter_array(x, chain, has_alpha=has_alpha, max_value=max_value, options=options)
        return map_values(
            y,
            max_value=max_value,
            abs_values=options.abs,
            rescale=options.rescale,
            has_alpha=has_alpha,
            to_integer=to_integer,
        )
    from convcli.layers import output_shape

    kernel = chain[0]
    colour_channels = x.shape[2] - (1 if has_alpha else 0)
    oh = output_shape(
        (x.shape[0], x.shape[1], colour_channels),
        kernel.shape,
        padding=options.padding,
        stride=options.stride,
        dilation=options.dilation,
        anchor=kernel.effective_anchor,
    )[0]
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from convcli.engine import default_threads

    band = max(1, BAND_BYTES // row_bytes)
    threads = options.threads or default_threads()
    # Bands run side by side, one thread each, so the value mapping (rounding,
    # clipping, conversion) runs in parallel too and no pool is made per band:
    # measured on the 3840x2160 PNG with sharpen, filter_and_map 0.18 -> 0.10 s
    # (peak RSS of the whole command 115 -> 124 MB).
    per_band = replace(options, threads=1) if threads > 1 else options

    def run_band(r0: int) -> npt.NDArray[np.generic]:
        r1 = min(r0 + band, oh)
        y = filter_array(
            x, chain, has_alpha=has_alpha, max_value=max_value, options=per_band, rows=(r0, r1)
        )
        return map_values(y, max_value=max_value, abs_values=options.abs, has_alpha=has_alpha)

    # the first band alone: it checks the value range and fixes the output's type
    first = run_band(0)
    out = np.empty((oh, *first.shape[1:]), dtype=first.dtype)
    out[: first.shape[0]] = first
    if progress is not None:
        progress("filtering", first.shape[0] / oh)
    starts = list(range(band, oh, band))
    if not starts:
        return out

    def store(r0: int, part: npt.NDArray[np.generic]) -> None:
        out[r0 : r0 + part.shape[0]] = part
        if progress is not None:
            progress("filtering", (r0 + part.shape[0]) / oh)

    if threads <= 1:
        for r0 in starts:
            store(r0, run_band(r0))
        return out
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # at most `threads` bands in flight beside the one being stored: bounded memory
        pending = deque(pool.submit(run_band, r0) for r0 in starts[:threads])
        for i, r0 in enumerate(starts):
            part = pending.popleft().result()
            if i + threads < len(starts):
                pending.append(pool.submit(run_band, starts[i + threads]))
            store(r0, part)
    return out


def filter_image(
    input_path: str | Path,
    output_path: str | Path | BinaryIO,
    kernels: Sequence[Kernel],
    *,
    options: FilterOptions | None = None,
    quality: int | None = None,
    compress_level: int | None = None,
    max_pixels: int | None = None,
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
        See :class:`FilterOptions`.
    quality : int, optional
        JPEG/WebP quality.
    compress_level : int, optional
        PNG zlib level, 0 to 9 (default 6, see :func:`convcli.images.save_image`).
    max_pixels : int, optional
        Refuse larger images before decoding (default: Pillow's limit).
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
    from convcli.images import (
        animation_format,
        encode_image,
        format_from_extension,
        load_image,
        load_image_bytes,
        output_format,
        save_image,
    )

    opts = options or FilterOptions()
    start = time.perf_counter()
    stream: BinaryIO | None = None
    if all_frames and frame is not None:
        msg = "give either --frame N or --all-frames, not both"
        raise OptionError(msg)
    check_format = animation_format if all_frames else output_format
    if isinstance(output_path, str | os.PathLike):
        out_name = str(output_path)
        kind = check_format(output_path)
    else:
        stream = output_path
        if not fmt:
            msg = "writing to a stream (-o -) needs `--format` (png, jpg, tif, webp, bmp, npy)"
            raise OptionError(msg)
        out_name = "<stdout>"
        kind = animation_format(fmt) if all_frames else format_from_extension(fmt)
    if all_frames:
        return _filter_frames(
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
    if input_data is not None:
        img = load_image_bytes(input_data, name=str(input_path), max_pixels=max_pixels, frame=frame)
    else:
        img = load_image(input_path, max_pixels=max_pixels, frame=frame)
    chain = prepare_kernels(kernels, opts)
    in_shape = tuple(int(v) for v in img.pixels.shape)
    mapped = filter_and_map(
        img.pixels,
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
    if stream is None:
        notes = save_image(
            out_name,
            mapped,
            max_value=img.max_value,
            quality=quality,
            compress_level=compress_level,
            info=img.info,
        )
    else:
        data, notes = encode_image(
            mapped,
            str(fmt),
            max_value=img.max_value,
            quality=quality,
            compress_level=compress_level,
            info=img.info,
        )
        stream.write(data)
        stream.flush()
    return FilterReport(
        input=str(input_path),
        output=out_name,
        input_shape=in_shape,
        output_shape=out_shape,
        seconds=time.perf_counter() - start,
        notes=list(notes),
    )


def _filter_frames(
    input_name: str,
    output: str | Path | BinaryIO,
    kernels: Sequence[Kernel],
    opts: FilterOptions,
    *,
    quality: int | None,
    max_pixels: int | None,
    input_data: bytes | None,
    fmt: str | None,
    start: float,
) -> FilterReport:
    """Filter every frame and save an animation (see :func:`filter_image`)."""
    from convcli.images import load_frames, save_animation

    animation = load_frames(input_name, max_pixels=max_pixels, data=input_data)
    chain = prepare_kernels(kernels, opts)
    outputs: list[npt.NDArray[np.generic]] = []
    out_shape: tuple[int, ...] = ()
    for img in animation.frames:
        y = filter_array(
            img.pixels, chain, has_alpha=img.has_alpha, max_value=img.max_value, options=opts
        )
        out_shape = tuple(int(v) for v in y.shape)
        outputs.append(
            map_values(
                y,
                max_value=img.max_value,
                abs_values=opts.abs,
                rescale=opts.rescale,
                has_alpha=img.has_alpha,
            )
        )
    notes = save_animation(
        output,
        outputs,
        durations=animation.durations,
        loop=animation.loop,
        fmt=fmt,
        quality=quality,
    )
    first = animation.frames[0]
    return FilterReport(
        input=input_name,
        output="<stdout>" if not isinstance(output, str | os.PathLike) else str(output),
        input_shape=tuple(int(v) for v in first.pixels.shape),
        output_shape=out_shape,
        seconds=time.perf_counter() - start,
        notes=notes,
        frames=len(outputs),
    )
