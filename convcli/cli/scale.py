"""The scale-out options of ``convcli filter``: clusters and chunked images.

``--scheduler``/``--scheduler-file`` run a batch on a Dask cluster (one task per
file) or a huge image chunk by chunk on it; ``.zarr`` inputs or outputs (or
``--chunks``/``--tile``/``--compression``) filter one huge image chunk by chunk,
also without a cluster, on local threads.  Everything here needs the extra
``convcli[dask]`` and imports dask only when one of these options is used.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.errors import ImageError, OptionError, os_detail
from convcli.parsing import int_pair

if TYPE_CHECKING:
    from convcli.dask import ChunkOptions
    from convcli.filters import FilterOptions
    from convcli.kernelspec import Kernel
    from convcli.runner.batch import FileResult, FilterJob

Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on a Dask cluster: tcp://HOST:PORT, or local[:N] (N worker processes on "
        "127.0.0.1). Needs convcli[dask].",
    ),
]
SchedulerFile = Annotated[
    str | None,
    typer.Option("--scheduler-file", metavar="PATH", help="Dask scheduler file to connect to."),
]
FilesFrom = Annotated[
    str | None,
    typer.Option(
        "--files-from", metavar="FILE", help="Read input paths from FILE, one a line ('-': stdin)."
    ),
]
Chunks = Annotated[
    str | None,
    typer.Option(
        "--chunks",
        metavar="N",
        help="Filter one huge image (.zarr, TIFF) in chunks of N or HxW pixels [default: 2048].",
    ),
]
Tile = Annotated[
    int | None,
    typer.Option("--tile", metavar="N", min=16, help="Tile side of a TIFF output [default: 512]."),
]
Compression = Annotated[
    str | None,
    typer.Option(
        "--compression", metavar="C", help="Chunked output: none, deflate, zstd or lzw (TIFF)."
    ),
]
ConnectTimeout = Annotated[
    float,
    typer.Option("--connect-timeout", metavar="S", help="Seconds to wait for the Dask scheduler."),
]


def read_files_from(source: str | None) -> list[str]:
    """The input paths listed in ``source`` (a file, or ``-`` for stdin), one a line."""
    if source is None:
        return []
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read --files-from {source}: {os_detail(exc)}"
        raise ImageError(msg) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class ScaleRequest:
    """The scale-out options as given on the command line."""

    scheduler: str | None = None
    scheduler_file: str | None = None
    chunks: str | None = None
    tile: int | None = None
    compression: str | None = None
    connect_timeout: float = 30.0

    @property
    def cluster(self) -> bool:
        """Whether a Dask cluster was asked for."""
        return self.scheduler is not None or self.scheduler_file is not None

    def chunked(self, files: Sequence[str], targets: Sequence[str]) -> bool:
        """Whether one huge image is filtered chunk by chunk (else files are filtered whole)."""
        from convcli.dask.stores import chunked_kind  # (its module imports dask: checked first)

        if len(files) != 1:
            if self.chunks or Path(targets[0]).suffix.lower() == ".zarr":
                msg = "chunked filtering (--chunks, .zarr) takes one input and -o OUTPUT"
                raise OptionError(msg)
            return False
        named = {Path(p).suffix.lower() for p in (*files, *targets)}
        asked = self.chunks or self.tile or self.compression or ".zarr" in named
        # on a cluster, a TIFF to TIFF/.zarr goes chunk by chunk (a TIFF to PNG: one task)
        on_cluster = self.cluster and None not in (chunked_kind(files[0]), chunked_kind(targets[0]))
        return bool(asked or on_cluster)

    def chunk_options(self) -> ChunkOptions:
        """The :class:`~convcli.dask.ChunkOptions` these options ask for."""
        from convcli.dask import ChunkOptions

        chunks = (2048, 2048)
        if self.chunks is not None:
            pair = int_pair(self.chunks)
            if pair is None:
                msg = f"`--chunks` must be N or HxW (positive integers); got {self.chunks!r}"
                raise OptionError(msg)
            chunks = pair
        return ChunkOptions(
            chunks=chunks, tile=self.tile or 512, compression=self.compression or "none"
        )

    def needs_extra(self, files: Sequence[str], output: str | None) -> bool:
        """Whether any option or name given needs ``convcli[dask]``."""
        zarr = any(Path(p).suffix.lower() == ".zarr" for p in (*files, output or ""))
        return bool(self.cluster or self.chunks or self.tile or self.compression or zarr)

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """The ``distributed.Client`` asked for (None without ``--scheduler``)."""
        if not self.cluster:
            yield None
            return
        from convcli.dask import connect

        with connect(
            self.scheduler, scheduler_file=self.scheduler_file, timeout=self.connect_timeout
        ) as client:
            yield client


def check_extra(request: ScaleRequest, files: Sequence[str], output: str | None) -> None:
    """Exit 2 with the install hint when the options need ``convcli[dask]`` and it is missing."""
    if request.needs_extra(files, output):
        from convcli.dask.extra import require_dask

        require_dask("--scheduler, --chunks and .zarr images")


def explain_lines(
    request: ScaleRequest, src: str, dst: str, kernels: list[Kernel], options: FilterOptions
) -> list[str]:
    """The chunk plan of ``--explain`` for one chunked image."""
    from convcli.dask import explain_chunked

    return explain_chunked(src, kernels, options, request.chunk_options(), dst)


def run_chunked(
    request: ScaleRequest, client: Any, job: FilterJob, src: str, dst: str, progress: Any
) -> tuple[FileResult, int]:
    """Filter one huge image chunk by chunk; its result and exit code (like a batch's)."""
    from convcli.dask import filter_chunked
    from convcli.errors import ConvCliError
    from convcli.runner.batch import done_result, failed_result

    try:
        report = filter_chunked(
            src,
            dst,
            job.kernels,
            options=job.options,
            chunking=request.chunk_options(),
            client=client,
            progress=progress,
        )
    except ConvCliError as exc:
        return failed_result(src, dst, str(exc)), exc.exit_code
    return done_result(src, dst, report), 0
