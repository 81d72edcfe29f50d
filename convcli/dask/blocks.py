"""The lazy, chunked correlation: one task per output block, exact at every border.

Each output block ``rows r0:r1, cols c0:c1`` reads the padded input rows
``r0*S .. (r1-1)*S + D(K-1)`` (and the same for columns).  Those padded
positions are mapped to source pixels by convcli's own border code
(:func:`convcli.borders.border_index`), so the true image edges are padded in
the edge blocks exactly as the whole image is, for every border (``wrap``
reads the far edge, ``constant`` fills ``cval``), and a halo may be larger
than a chunk or than the image.  The task gathers those pixels from the input
chunks that hold them, builds the padded block and runs the engine on it
(:func:`convcli.engine.correlate_padded`) with the plan made for the whole
image (method, fused passes, sum steps), so a block rounds as the whole image
does wherever the engine's arithmetic does not depend on the array's shape.

Output blocks are laid out in output coordinates, so a stride never restarts
its phase in a block (every output row is computed once, by its block), and
``dask.array.map_overlap`` (no ``mirror`` boundary, symmetric halos only,
silent rechunking) is not needed.  Task names hash every input of the
computation (:func:`dask.base.tokenize`), so a cluster never hands back the
blocks of another kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from convcli.array_types import F64Array, FloatArray
from convcli.borders import border_index
from convcli.config import default_threads
from convcli.conv_options import ConvOptions
from convcli.engine import correlate_padded
from convcli.engine.inputs import check_image, check_kernel, flip_kernel, result_dtype
from convcli.engine.plan import Plan, plan_correlation
from convcli.errors import ShapeError
from convcli.shapes import Geometry, kernel_dims

__all__ = ["correlate_chunked", "output_chunks"]

_Index = slice | npt.NDArray[np.intp]


def _compact(idx: npt.NDArray[np.intp]) -> _Index:
    """A slice for a run of consecutive indices (a view, no gather), else the indices."""
    if idx.size and int(idx[-1]) - int(idx[0]) == idx.size - 1 and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _index2(rows: _Index, cols: _Index) -> tuple[Any, ...]:
    if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray):
        return tuple(np.ix_(rows, cols))
    return (rows, cols)


def _pieces(src: npt.NDArray[np.intp], bounds: Sequence[int]) -> list[tuple[int, _Index, _Index]]:
    """For each input chunk that holds some of ``src``: (chunk, where in the block, where in it)."""
    out = []
    for i in range(len(bounds) - 1):
        sel = np.flatnonzero((src >= bounds[i]) & (src < bounds[i + 1]))
        if sel.size:
            out.append((i, _compact(sel), _compact(src[sel] - bounds[i])))
    return out


def _padded_block(
    shape: tuple[int, int, int],
    dtype: np.dtype[Any],
    fill: float | None,
    places: list[tuple[_Index, _Index, _Index, _Index]],
    *chunks: npt.NDArray[np.generic],
) -> FloatArray:
    """The padded input of one output block, gathered from the input chunks."""
    xp = np.empty(shape, dtype) if fill is None else np.full(shape, fill, dtype)
    for (dst_r, dst_c, src_r, src_c), chunk in zip(places, chunks, strict=True):
        part = chunk if chunk.ndim == 3 else chunk[:, :, None]
        xp[_index2(dst_r, dst_c)] = part[_index2(src_r, src_c)]
    return xp


def _block_task(
    shape: tuple[int, int, int],
    dtype: np.dtype[Any],
    fill: float | None,
    places: list[tuple[_Index, _Index, _Index, _Index]],
    w: F64Array,
    geom: Geometry,
    plan: Plan,
    *chunks: npt.NDArray[np.generic],
) -> FloatArray:
    """One output block: gather its padded input, then the engine on it."""
    xp = _padded_block(shape, dtype, fill, places, *chunks)
    return correlate_padded(xp, w, geom, plan=plan)


def output_chunks(
    in_chunks: tuple[int, ...], stride: int, n_out: int, size: int | None = None
) -> tuple[int, ...]:
    """Output block sizes along one axis: ``size``, or the input chunk over the stride."""
    step = size if size is not None else max(1, in_chunks[0] // stride)
    sizes = [step] * (n_out // step)
    if n_out % step:
        sizes.append(n_out % step)
    return tuple(sizes)


def _block_sizes(
    chunks: tuple[tuple[int, ...], ...],
    geom: Geometry,
    out_chunks: tuple[int | None, int | None],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Output block sizes: ``out_chunks``, or the input chunk over the stride."""
    oh, ow = geom.out_hw
    return (
        output_chunks(chunks[0], geom.stride[0], oh, out_chunks[0]),
        output_chunks(chunks[1], geom.stride[1], ow, out_chunks[1]),
    )


def _axis_sources(
    r0: int, r1: int, geom: Geometry, axis: int, n: int, border: str
) -> npt.NDArray[np.intp]:
    """Source pixels (``-1`` outside, for ``constant``) of the padded positions a block reads."""
    s, d = geom.stride[axis], geom.dilation[axis]
    before = (geom.pad_rows, geom.pad_cols)[axis][0]
    stop = (r1 - 1) * s + d * (geom.kernel_hw[axis] - 1) + 1
    return border_index(np.arange(r0 * s, stop) - before, n, border)


def correlate_chunked(
    x: da.Array,
    w: npt.ArrayLike,
    opts: ConvOptions,
    *,
    dtype: npt.DTypeLike | None = None,
    method: str | None = None,
    threads: int | None = 1,
    out_chunks: tuple[int | None, int | None] = (None, None),
) -> da.Array:
    """:func:`convcli.engine.correlate_with` on a dask array: a lazy ``(H', W', C')`` result.

    ``threads`` is the engine's threads per block (1: dask runs blocks side by
    side); ``out_chunks`` the output block height and width (default: the
    input chunk size over the stride).
    """
    if x.ndim not in (2, 3):
        msg = f"image must have shape (H, W) or (H, W, C); got shape {x.shape}"
        raise ShapeError(msg)
    x3 = x if x.ndim == 3 else x[:, :, None]
    if len(x3.chunks[2]) > 1:
        x3 = x3.rechunk({2: -1})
    h, wd, c = (int(v) for v in x3.shape)
    probe = check_image(np.zeros((1, 1, c), dtype=x.dtype))
    k = check_kernel(w)
    if opts.flip:
        k = flip_kernel(k)[0]
    dt = result_dtype(probe, dtype)
    geom = opts.geometry((h, wd), (k.shape[-2], k.shape[-1]))
    n_out = kernel_dims(k.shape, c)[0]
    padded = (h + sum(geom.pad_rows), wd + sum(geom.pad_cols), c)
    # the whole image's plan, in every block: the same method and the same choices
    # inside it (fused passes or not, sum steps), so blocks round as the whole image
    plan = replace(plan_correlation(padded, k, geom, dt, default_threads(), method=method),
                   threads=threads or 1)  # fmt: skip
    method = plan.method
    row_sizes, col_sizes = _block_sizes(x3.chunks, geom, out_chunks)
    name = "convcli-correlate-" + tokenize(
        x3.name, k, geom, opts, dt.str, method, row_sizes, col_sizes
    )
    dsk = _graph(name, x3, k, geom, opts, dt, plan, (row_sizes, col_sizes))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x3])  # type: ignore[list-item]
    return da.Array(graph, name, chunks=(row_sizes, col_sizes, (n_out,)), dtype=dt)


def _bounds(sizes: Sequence[int]) -> list[int]:
    return [0, *np.cumsum(sizes).tolist()]


def _graph(
    name: str,
    x3: da.Array,
    k: F64Array,
    geom: Geometry,
    opts: ConvOptions,
    dt: np.dtype[Any],
    plan: Plan,
    sizes: tuple[tuple[int, ...], tuple[int, ...]],
) -> dict[Any, Any]:
    """The tasks of :func:`correlate_chunked`, one per output block."""
    h, wd, c = (int(v) for v in x3.shape)
    rb, cb = _bounds(x3.chunks[0]), _bounds(x3.chunks[1])
    fill = opts.cval if opts.border == "constant" else None
    out_r, out_c = _bounds(sizes[0]), _bounds(sizes[1])
    col_info = []
    for j in range(len(sizes[1])):
        src_c = _axis_sources(out_c[j], out_c[j + 1], geom, 1, wd, opts.border)
        col_info.append((src_c.size, _pieces(src_c, cb)))
    dsk: dict[Any, Any] = {}
    for i in range(len(sizes[0])):
        src_r = _axis_sources(out_r[i], out_r[i + 1], geom, 0, h, opts.border)
        rows = _pieces(src_r, rb)
        for j, (n_cols, cols) in enumerate(col_info):
            places = [(dr, dc, sr, sc) for _, dr, sr in rows for _, dc, sc in cols]
            keys = [(x3.name, ci, cj, 0) for ci, _, _ in rows for cj, _, _ in cols]
            block_geom = Geometry(
                (src_r.size, n_cols),
                geom.kernel_hw,
                (0, 0),
                (0, 0),
                geom.stride,
                geom.dilation,
                (out_r[i + 1] - out_r[i], out_c[j + 1] - out_c[j]),
            )
            shape = (src_r.size, n_cols, c)
            args = (shape, dt, fill, places, k, block_geom, plan)
            dsk[(name, i, j, 0)] = (_block_task, *args, *keys)
    return dsk
