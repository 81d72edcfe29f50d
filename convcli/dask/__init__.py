"""Clusters and huge images: the chunked and distributed path (extra ``convcli[dask]``).

Public (loaded lazily: importing this package imports no dask, so the CLI can
check for the extra and say how to install it):

- :func:`correlate`, :func:`convolve`: :func:`convcli.correlate` on a dask array,
  lazily, block by block (:mod:`convcli.dask.blocks`);
- :func:`filter_chunked`: a huge image file (``.zarr``, tiled TIFF) in, one out,
  chunk by chunk, on local threads or a cluster (:mod:`convcli.dask.chunked`);
- :func:`filter_files`: a batch of image files on a ``distributed.Client``, one
  task per file (:mod:`convcli.dask.batch`);
- :func:`connect` and :class:`ChunkOptions` (:mod:`convcli.dask.cluster`,
  :mod:`convcli.dask.chunked`); :func:`require_dask`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from convcli.dask.extra import INSTALL_HINT, require_dask

_EXPORTS = {
    "correlate": "convcli.dask.api",
    "convolve": "convcli.dask.api",
    "filter_chunked": "convcli.dask.chunked",
    "explain_chunked": "convcli.dask.chunked",
    "ChunkOptions": "convcli.dask.stores",
    "filter_files": "convcli.dask.batch",
    "connect": "convcli.dask.cluster",
}

__all__ = [
    "INSTALL_HINT",
    "ChunkOptions",
    "connect",
    "convolve",
    "correlate",
    "explain_chunked",
    "filter_chunked",
    "filter_files",
    "require_dask",
]

if TYPE_CHECKING:
    from convcli.dask.api import convolve, correlate
    from convcli.dask.batch import filter_files
    from convcli.dask.chunked import explain_chunked, filter_chunked
    from convcli.dask.cluster import connect
    from convcli.dask.stores import ChunkOptions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'convcli.dask' has no attribute {name!r}"
        raise AttributeError(msg)
    require_dask()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
