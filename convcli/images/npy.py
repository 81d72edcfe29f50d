"""``.npy`` arrays as images: recognising, reading (header first) and writing them."""

from __future__ import annotations

import io
from typing import Any, BinaryIO

import numpy as np

from convcli.atomic import atomic_write
from convcli.errors import ConvCliError, ImageError
from convcli.images.inputs import check_pixel_limit, open_failure, read_failure
from convcli.images.loaded import LoadedImage

NPY_MAGIC = b"\x93NUMPY"


def is_npy(name: str, data: bytes | None) -> bool:
    """True when ``data`` (or else the file ``name``) starts with the ``.npy`` magic bytes."""
    if data is not None:
        return data.startswith(NPY_MAGIC)
    try:
        with open(name, "rb") as f:
            return f.read(len(NPY_MAGIC)) == NPY_MAGIC
    except OSError as exc:
        raise open_failure(name, exc) from exc


def _reader(name: str, data: bytes | None) -> BinaryIO:
    """Binary reader over ``data`` if given, else over the file ``name``."""
    return io.BytesIO(data) if data is not None else open(name, "rb")


def npy_header(name: str, data: bytes | None) -> tuple[tuple[int, int, int], np.dtype[Any]]:
    """Read and validate a ``.npy`` header: ``(H, W, C)`` and dtype."""
    try:
        with _reader(name, data) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except OSError as exc:
        raise open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
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


def load_npy(name: str, data: bytes | None, limit: int | None) -> LoadedImage:
    """Load a ``.npy`` array (from ``data`` if given) as an image, header checked first."""
    (h, w, c), dtype = npy_header(name, data)
    check_pixel_limit(name, (w, h), limit)
    try:
        with _reader(name, data) as f:
            array = np.lib.format.read_array(f, allow_pickle=False)
    except OSError as exc:
        raise open_failure(name, exc) from exc
    except Exception as exc:
        raise ImageError(read_failure(name, exc)) from exc
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


def save_npy(name: str, array: np.ndarray) -> None:
    """Write ``array`` as given to the ``.npy`` file ``name``, atomically."""
    try:
        with atomic_write(name) as tmp, open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    except ConvCliError:
        raise
    except ValueError as exc:
        msg = f"cannot write {name}: {exc}"
        raise ImageError(msg) from exc
