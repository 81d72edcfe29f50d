"""A huge image file in, one out, chunk by chunk: :func:`filter_chunked` and its ``--explain``.

The whole ``filter`` chain runs lazily on the dask array of the input
(:func:`convcli.filters.filter_array` with :func:`~convcli.dask.blocks.correlate_chunked`
as each step's correlation: kernels, repeat, offsets, alpha modes), then the
value mapping of :func:`convcli.filters.map_values` block by block; ``--rescale``
first computes the range of the result (a first pass), then maps with it.
Memory per process follows the chunk size, not the image.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import numpy.typing as npt

from convcli.conv_options import ConvOptions
from convcli.dask.blocks import correlate_chunked
from convcli.dask.cluster import Runner
from convcli.dask.stores import ChunkOptions, chunked_kind, open_chunked, write_tiff, write_zarr
from convcli.errors import ConvCliError, ImageError, OptionError, error_detail
from convcli.filters import (
    FilterOptions,
    FilterReport,
    check_range,
    filter_array,
    map_values,
    prepare_kernels,
)

if TYPE_CHECKING:
    from convcli.kernelspec import Kernel

__all__ = ["explain_chunked", "filter_chunked"]


def _max_value(dtype: np.dtype[Any]) -> float:
    return 65535.0 if dtype.kind in "ui" and dtype.itemsize > 1 else 255.0


def _step_chunks(tile: int | None) -> Callable[[da.Array, int], int]:
    def size(x: da.Array, stride: int) -> int:
        n = max(1, int(x.chunks[0][0]) // stride)
        return n if tile is None else max(tile, -(-n // tile) * tile)

    return size


def _hook(tile: int | None) -> Any:
    """Each step of the chain: the chunked correlation (output rows in whole tiles for TIFF)."""
    size = _step_chunks(tile)

    def run(x: da.Array, w: npt.NDArray[np.float64], conv: ConvOptions, dtype: Any) -> da.Array:
        return correlate_chunked(
            x, w, conv, dtype=dtype, out_chunks=(size(x, conv.stride[0]), None)
        )

    return run


def _check_range(
    x: da.Array, chain: Sequence[Kernel], options: FilterOptions, runner: Runner
) -> None:
    """The range check of the whole-image path, from the dtype's range for integer input."""
    dtype = options.working_dtype
    if x.dtype.kind in "ui":
        top = np.array([np.iinfo(x.dtype).max])
    else:
        top = np.array([float(runner.compute(da.max(da.fabs(x)))[0])])
    check_range(top, chain, options.repeat, dtype, offset=options.offset)


def lazy_result(
    x: da.Array,
    kernels: Sequence[Kernel],
    options: FilterOptions,
    *,
    runner: Runner,
    to_integer: bool,
    tile: int | None = None,
) -> da.Array:
    """The lazy mapped result of the ``filter`` chain on ``x`` (``(H', W'[, C'])``)."""
    chain = prepare_kernels(kernels, options)
    _check_range(x, chain, options, runner)
    x3 = x if x.ndim == 3 else x[:, :, None]
    channels = int(x3.shape[2])
    has_alpha = channels in (2, 4)
    max_value = _max_value(x.dtype)
    y: Any = filter_array(
        x3,  # type: ignore[arg-type]  # (a dask array: every step goes through the hook)
        chain,
        has_alpha=has_alpha,
        max_value=max_value,
        options=options,
        correlate=_hook(tile),
    )
    y = y.rechunk({2: -1})  # (alpha joined on: the mapping sees every channel of a block)
    mapping = {"max_value": max_value, "has_alpha": has_alpha, "to_integer": to_integer}
    out_dtype = (np.uint8 if max_value <= 255 else np.uint16) if to_integer else y.dtype
    if options.rescale:
        colour = y[..., :-1] if has_alpha else y
        if options.abs:
            colour = da.fabs(colour)
        lo, hi = runner.compute(colour.min(), colour.max())
        out = y.map_blocks(
            _rescaled, float(lo), float(hi), abs_values=options.abs, dtype=out_dtype, **mapping
        )
    else:
        out = y.map_blocks(map_values, abs_values=options.abs, dtype=out_dtype, **mapping)
    return out[:, :, 0] if x.ndim == 2 and out.shape[2] == 1 else out


def _rescaled(
    y: npt.NDArray[np.floating],
    lo: float,
    hi: float,
    *,
    abs_values: bool,
    max_value: float,
    has_alpha: bool,
    to_integer: bool,
) -> npt.NDArray[np.generic]:
    """:func:`convcli.filters.map_values` with ``rescale``, given the whole result's range."""
    out = y.copy()
    colour = out[..., :-1] if has_alpha else out
    if abs_values:
        np.abs(colour, out=colour)
    if hi > lo:
        colour -= lo
        colour *= max_value / (hi - lo)
    else:
        colour[...] = 0
    return map_values(out, max_value=max_value, has_alpha=has_alpha, to_integer=to_integer)


def filter_chunked(
    input_path: str,
    output_path: str,
    kernels: Sequence[Kernel],
    *,
    options: FilterOptions | None = None,
    chunking: ChunkOptions | None = None,
    client: Any = None,
    progress: Callable[[str, float], object] | None = None,
) -> FilterReport:
    """Filter a ``.zarr`` or TIFF image into a ``.zarr`` or tiled BigTIFF, chunk by chunk.

    Parameters
    ----------
    input_path, output_path : str
        ``.zarr`` folders or ``.tif``/``.tiff`` files (``(H, W)`` or ``(H, W, C)``).
    kernels : sequence of Kernel
        The chain as loaded (``options`` normalize/scale/flip are applied here).
    options : FilterOptions
        As for :func:`convcli.filter_image`; ``threads`` is the local thread count.
    chunking : ChunkOptions
        Chunk size, TIFF tile and compression.
    client : distributed.Client, optional
        Run on this cluster (workers read and write the files themselves);
        default: this process's threads.
    progress : callable, optional
        ``progress("filtering", fraction)`` after each band of a TIFF output.

    Returns
    -------
    FilterReport
        Integer input gives integer output (uint8/uint16, rounded and clipped,
        as for an image); float input into ``.zarr`` keeps float values (as ``.npy`` does).
    """
    opts = options or FilterOptions()
    chunk_opts = chunking or ChunkOptions()
    start = time.perf_counter()
    out_kind = chunked_kind(output_path)
    if out_kind is None:
        msg = f"{output_path}: a chunked output must be a .zarr folder or a .tif/.tiff file"
        raise OptionError(msg)
    x = open_chunked(input_path, chunk_opts.chunks)
    runner = Runner(client, opts.threads)
    to_integer = out_kind == "tiff" or x.dtype.kind in "ui"
    tile = chunk_opts.tile if out_kind == "tiff" else None
    y = lazy_result(x, kernels, opts, runner=runner, to_integer=to_integer, tile=tile)
    try:
        if out_kind == "zarr":
            write_zarr(
                y,
                output_path,
                chunk_opts.compression,
                runner.compute,
                on_cluster=runner.client is not None,
            )
        else:
            write_tiff(
                y,
                output_path,
                tile=chunk_opts.tile,
                compression=chunk_opts.compression,
                bands=lambda arr: _bands(arr, runner, progress),
            )
    except ConvCliError:
        raise
    except Exception as exc:  # a task failed: a chunk unreadable, a worker lost for good ...
        msg = f"filtering {input_path} into {output_path} failed: {error_detail(exc)}"
        raise ImageError(msg) from exc
    return FilterReport(
        input=input_path,
        output=output_path,
        input_shape=tuple(int(v) for v in x.shape),
        output_shape=tuple(int(v) for v in y.shape),
        seconds=time.perf_counter() - start,
    )


def _bands(
    y: da.Array, runner: Runner, progress: Callable[[str, float], object] | None
) -> Iterator[npt.NDArray[np.generic]]:
    """The row blocks of ``y``, computed one ahead of the one being written."""
    n = len(y.chunks[0])
    pending = runner.submit(y.blocks[0]) if n else None
    done = 0
    for b in range(n):
        current, pending = pending, (runner.submit(y.blocks[b + 1]) if b + 1 < n else None)
        band = current.result()  # type: ignore[union-attr]
        done += band.shape[0]
        if progress is not None:
            progress("filtering", done / y.shape[0])
        yield band


def explain_chunked(
    input_path: str,
    kernels: Sequence[Kernel],
    options: FilterOptions,
    chunking: ChunkOptions,
    output_path: str | None = None,
) -> list[str]:
    """The chunk plan: image, chunk grid, halo per step, tasks and memory per task."""
    x = open_chunked(input_path, chunking.chunks)
    chain = prepare_kernels(kernels, options)
    tile = chunking.tile if output_path and chunked_kind(output_path) == "tiff" else None
    y = None
    if x.dtype.kind in "ui":  # (a float input's range check would read the image)
        plain = replace(options, rescale=False)
        y = lazy_result(x, kernels, plain, runner=Runner(None, 1), to_integer=True, tile=tile)
    ch, cw = chunking.chunks
    grid = (math.ceil(x.shape[0] / ch), math.ceil(x.shape[1] / cw))
    channels = x.shape[2] if x.ndim == 3 else 1
    lines = [
        f"chunks: {x.shape} {x.dtype} in {ch}x{cw} chunks, a {grid[0]}x{grid[1]} grid "
        f"({grid[0] * grid[1]} input chunks)"
    ]
    halo_r = halo_c = 0
    for k in chain:
        geom = options.conv.replace(anchor=k.effective_anchor).geometry(
            (int(x.shape[0]), int(x.shape[1])), k.weights.shape[-2:]
        )
        span = [d * (n - 1) for d, n in zip(geom.dilation, geom.kernel_hw, strict=True)]
        halo_r, halo_c = max(halo_r, span[0]), max(halo_c, span[1])
        lines.append(
            f"halo: {k.name} reads {span[0]} extra rows and {span[1]} extra columns per block"
        )
    bytes_per = 4 if options.precision == "float32" else 8
    window = (min(ch, x.shape[0]) + halo_r) * (min(cw, x.shape[1]) + halo_c) * channels
    per_task = window * (x.dtype.itemsize * 4 + 2 * bytes_per)
    tasks = str(len(y.__dask_graph__())) if y is not None else "?"
    lines.append(
        f"tasks: {tasks} in the graph; about {per_task / 2**20:.1f} MiB per task"
        " (a block, its halo, its inputs and its float result)"
    )
    return lines
