"""Per-thread work buffers that strips reuse instead of allocating their own."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from convcli.array_types import FloatArray

_SCRATCH = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> FloatArray:
    """A per-thread work buffer, reused from strip to strip (contents undefined).

    Allocating a fresh strip-sized array per strip made glibc map and unmap
    it each time, and the page faults of refilling it cost more than the
    work on this machine: 3x3 random direct on one thread 303 -> 90 ms when
    such memory was kept.  ``name`` keeps buffers that are alive together
    apart; a buffer lives as long as its thread.
    """
    dt = np.dtype(dtype)
    need = int(np.prod(shape)) * dt.itemsize
    buffers: dict[str, npt.NDArray[np.uint8]] = _SCRATCH.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < need:
        buf = np.empty(need, dtype=np.uint8)
        buffers[name] = buf
    return buf[:need].view(dt).reshape(shape)
