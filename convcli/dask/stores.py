"""Chunked image files: ``.zarr`` arrays and (tiled) TIFF/BigTIFF/OME-TIFF, in and out.

Inputs become lazy dask arrays whose tasks open the file by path (tifffile's
zarr stores hold a lock and cannot be pickled to worker processes), so every
worker reads only the windows its blocks need.  Outputs are written without a
partial result ever being visible: a ``.zarr`` is written (in parallel, one
task per block) into a hidden sibling folder renamed onto the target at the
end; a TIFF is written as a tiled BigTIFF, band by band of whole tile rows,
through :func:`convcli.atomic.atomic_write`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
from dask.base import tokenize

from convcli.atomic import atomic_write
from convcli.errors import ImageError, InputNotFoundError, OptionError, error_detail
from convcli.parsing import one_of

__all__ = [
    "COMPRESSIONS",
    "ChunkOptions",
    "chunked_kind",
    "open_chunked",
    "write_tiff",
    "write_zarr",
]

COMPRESSIONS = ("none", "deflate", "zstd", "lzw")
_TIFF = (".tif", ".tiff")


@dataclass(frozen=True)
class ChunkOptions:
    """How a huge image is cut and written: chunk size, TIFF tile, compression.

    ``chunks`` are the ``(rows, cols)`` of the input blocks read per task
    (``--chunks``), ``tile`` the TIFF tile side (``--tile``, a multiple of 16)
    and ``compression`` one of :data:`COMPRESSIONS`.
    """

    chunks: tuple[int, int] = (2048, 2048)
    tile: int = 512
    compression: str = "none"

    def __post_init__(self) -> None:
        if min(self.chunks) < 1:
            msg = f"`chunks` must be positive; got {self.chunks}"
            raise OptionError(msg)
        if self.tile < 16 or self.tile % 16:
            msg = f"`tile` must be a positive multiple of 16 (TIFF tiles); got {self.tile}"
            raise OptionError(msg)
        one_of(self.compression, COMPRESSIONS, "compression", fold=False)


def chunked_kind(path: str | os.PathLike[str]) -> str | None:
    """``"zarr"``, ``"tiff"`` or None (not a chunked-image name)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".zarr":
        return "zarr"
    return "tiff" if suffix in _TIFF else None


class _Windows:
    """A file seen as an array: each ``[rows, cols]`` read opens the file by path.

    Picklable (only the path and the layout travel to the workers).
    """

    def __init__(self, path: str, kind: str, shape: tuple[int, ...], dtype: Any, planar: bool):
        self.path, self.kind, self.planar = path, kind, planar
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)

    def __getitem__(self, key: tuple[slice, ...]) -> npt.NDArray[np.generic]:
        import zarr

        if self.kind == "zarr":
            return np.asarray(zarr.open_array(self.path, mode="r")[key])
        import tifffile

        with tifffile.TiffFile(self.path) as tif:
            z = zarr.open_array(tif.series[0].aszarr(level=0), mode="r")
            if self.planar:
                return np.moveaxis(np.asarray(z[(slice(None), *key[:2])]), 0, -1)[
                    (slice(None), slice(None), *key[2:])
                ]
            return np.asarray(z[key])


def _layout(path: str, kind: str) -> tuple[tuple[int, ...], Any, bool]:
    """Shape ``(H, W)``/``(H, W, C)``, dtype, and whether the file stores channels first."""
    if kind == "zarr":
        import zarr

        z = zarr.open_array(path, mode="r")
        return tuple(int(v) for v in z.shape), z.dtype, False
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        shape, axes = tuple(int(v) for v in series.shape), series.axes
        dtype = series.dtype
    layouts = {"YX": False, "YXS": False, "CYX": True, "SYX": True}
    if axes not in layouts:
        msg = f"{path}: TIFF layout {axes} {shape} is not (H, W), (H, W, C) or (C, H, W)"
        raise ImageError(msg)
    if layouts[axes]:
        shape = (*shape[1:], shape[0])
    return shape, dtype, layouts[axes]


def open_chunked(path: str, chunks: tuple[int, int]) -> da.Array:
    """A ``.zarr`` or TIFF image as a lazy ``(H, W)``/``(H, W, C)`` dask array in ``chunks``."""
    kind = chunked_kind(path)
    if kind is None:
        msg = f"{path}: chunked input must be a .zarr array or a .tif/.tiff file"
        raise OptionError(msg)
    if not os.path.exists(path):
        msg = f"input not found: {path}"
        raise InputNotFoundError(msg)
    try:
        shape, dtype, planar = _layout(path, kind)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"cannot read {path}: {error_detail(exc)}"
        raise ImageError(msg) from exc
    if len(shape) not in (2, 3) or np.dtype(dtype).kind not in "uif":
        msg = f"{path}: expected an (H, W) or (H, W, C) array of numbers; got {shape} {dtype}"
        raise ImageError(msg)
    stat = os.stat(path)
    name = "convcli-read-" + tokenize(os.path.abspath(path), stat.st_mtime_ns, stat.st_size, chunks)
    windows = _Windows(os.path.abspath(path), kind, shape, dtype, planar)
    blocks = (*chunks, -1)[: len(shape)]
    return da.from_array(windows, chunks=blocks, name=name, lock=False, asarray=True)


def _sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")


def write_zarr(
    y: da.Array,
    target: str,
    compression: str,
    compute: Callable[[Any], object],
    *,
    on_cluster: bool = False,
) -> None:
    """Write ``y`` to a ``.zarr`` array, one task per block, then rename it onto ``target``."""
    import zarr
    from zarr.codecs import GzipCodec, ZstdCodec

    codecs = {"none": None, "zstd": [ZstdCodec()], "deflate": [GzipCodec()]}
    if compression not in codecs:
        msg = f"`compression` {compression} is for TIFF; a .zarr output takes none, zstd or deflate"
        raise OptionError(msg)
    final = Path(target)
    if not final.parent.is_dir():
        msg = f"output folder does not exist: {final.parent} (for {target})"
        raise ImageError(msg)
    tmp = _sibling(final)
    try:
        arr = zarr.create_array(
            store=str(tmp),
            shape=y.shape,
            chunks=tuple(c[0] for c in y.chunks),
            dtype=y.dtype,
            compressors=codecs[compression],
        )
        compute(da.store(y, arr, lock=False, compute=False))  # type: ignore[arg-type]
        _swap_in(tmp, final)
    except BaseException:
        _remove(tmp, (0.0, 0.2, 1.0) if on_cluster else (0.0,))
        raise


def _remove(folder: Path, waits: tuple[float, ...]) -> None:
    """Remove a folder (again after ``waits``: cancelled cluster tasks may still write)."""
    for wait in waits:
        time.sleep(wait)
        shutil.rmtree(folder, ignore_errors=True)


def _swap_in(tmp: Path, final: Path) -> None:
    """Put the finished folder ``tmp`` at ``final`` (an older result there is removed)."""
    if final.is_dir() and not final.is_symlink():
        old = _sibling(final)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def write_tiff(
    y: da.Array,
    target: str,
    *,
    tile: int,
    compression: str,
    bands: Callable[[da.Array], Iterator[npt.NDArray[np.generic]]],
) -> None:
    """Write ``y`` as a tiled BigTIFF, band by band of its row blocks (whole tile rows).

    ``bands(y)`` yields the computed row blocks of ``y`` in order.
    """
    import tifffile

    shape = tuple(int(v) for v in y.shape)
    channels = shape[2] if len(shape) == 3 else 1
    photometric = "rgb" if channels in (3, 4) else "minisblack"
    extra: dict[str, Any] = {"extrasamples": ["unassalpha"]} if channels in (2, 4) else {}
    codec = None if compression == "none" else compression
    with atomic_write(target) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=True) as tw:
            tw.write(
                _tiles(bands(y), shape, tile),
                shape=shape,
                dtype=y.dtype,
                tile=(tile, tile),
                photometric=photometric,
                planarconfig="contig" if channels > 1 else None,
                compression=codec,
                **extra,
            )


def _tiles(
    bands: Iterator[npt.NDArray[np.generic]], shape: tuple[int, ...], tile: int
) -> Iterator[npt.NDArray[np.generic]]:
    """Full-size tiles in row-major order (edge tiles padded with zeros) from row bands."""
    carry: npt.NDArray[np.generic] | None = None
    for band in bands:
        rows = band if carry is None else np.concatenate([carry, band])
        full = rows.shape[0] - rows.shape[0] % tile
        yield from _tile_row_band(rows[:full], shape, tile)
        carry = rows[full:]
    if carry is not None and carry.shape[0]:
        yield from _tile_row_band(carry, shape, tile)


def _tile_row_band(
    rows: npt.NDArray[np.generic], shape: tuple[int, ...], tile: int
) -> Iterator[npt.NDArray[np.generic]]:
    for r0 in range(0, rows.shape[0], tile):
        for c0 in range(0, shape[1], tile):
            part = rows[r0 : r0 + tile, c0 : c0 + tile]
            if part.shape[:2] == (tile, tile):
                yield np.ascontiguousarray(part)
            else:
                full = np.zeros((tile, tile, *shape[2:]), dtype=rows.dtype)
                full[: part.shape[0], : part.shape[1]] = part
                yield full
