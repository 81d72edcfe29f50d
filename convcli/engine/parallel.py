"""Splitting work into row strips, and the one thread pool that runs jobs.

:func:`run_jobs` is the library's thread pool helper: NumPy, zlib and BLAS
release the GIL in their loops, so independent jobs (strips of a
correlation, strips of a gradient) run side by side on threads.
:func:`iter_jobs` is its streaming form for jobs whose results are consumed
in order while later ones still run (bands of a large image, parts of a PNG),
keeping only a bounded number in flight.

BLAS starts threads of its own (OpenBLAS: one per core) for every matrix
product; called from our workers it would put ``threads x cores`` threads on
the cores, and they fight as soon as anything else runs (a 9x9 kernel
gradient of a 512x512x3 float64 image, 2 cores: 736 ms with BLAS's own
threads, 68 ms without; 989 against 106 ms with a CPU-bound process beside
it).  So while jobs run, :func:`blas_limited` caps BLAS at
``threads // workers`` threads (1 inside a pool), through threadpoolctl,
and ``threads`` bounds the total.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from convcli import config

_J = TypeVar("_J")
_R = TypeVar("_R")

_LOCK = threading.Lock()
#: ``[active entries, current cap, the controller's saved state]`` of :func:`blas_limited`.
_STATE: list[Any] = [0, 0, None]
_CONTROLLER: list[Any] = []


def _controller() -> Any:  # noqa: ANN401 (threadpoolctl is untyped)
    """The one threadpoolctl controller (made once: finding the libraries costs ~1 ms)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _set_blas(libs: list[tuple[Any, int]], n: int | None) -> None:
    """Set every BLAS library to ``min(n, its saved count)`` threads (``None``: restore)."""
    for lib, saved in libs:
        # threadpoolctl lets only one "controlling" thread set OpenBLAS's shared
        # pool; our lock serialises the settings, so any thread may take that role
        clear = getattr(lib, "clear_controlling_thread", None)
        if clear is not None:
            clear(force=True)
        lib.set_num_threads(saved if n is None else min(n, saved))


@contextmanager
def blas_limited(n: int) -> Iterator[None]:
    """Run the body with BLAS capped at ``n`` threads (process-wide, nestable, thread-safe).

    Nested or concurrent entries only ever lower the cap (and never raise a
    library above what it had); the settings are restored when the last one
    leaves.

    Examples
    --------
    >>> with blas_limited(1):
    ...     pass
    """
    n = max(1, int(n))
    with _LOCK:
        if _STATE[0] == 0:
            libs = _controller().select(user_api="blas").lib_controllers
            _STATE[2] = [(lib, int(lib.num_threads or 1)) for lib in libs]
            _STATE[1] = n + 1
        if n < _STATE[1]:
            _set_blas(_STATE[2], n)
            _STATE[1] = n
        _STATE[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE[0] -= 1
            if _STATE[0] == 0:
                _set_blas(_STATE[2], None)
                _STATE[2] = None


def run_jobs(fn: Callable[[_J], _R], jobs: Sequence[_J], threads: int) -> list[_R]:
    """Run ``fn`` on every job, on a thread pool when ``threads > 1``.

    Parameters
    ----------
    fn : callable
        Called once per job, possibly on another thread (so it must not
        depend on thread-local state set by the caller).
    jobs : sequence
        The jobs' arguments.
    threads : int
        At most this many threads; one (or a single job) runs them in the
        calling thread, with no pool.

    Returns
    -------
    list
        ``[fn(j) for j in jobs]``, in job order.  The first exception a job
        raises propagates (after the pool has shut down).

    Examples
    --------
    >>> run_jobs(lambda j: j * j, [1, 2, 3], threads=2)
    [1, 4, 9]
    """
    n = min(threads, len(jobs))
    with blas_limited(threads // max(1, n)):
        if n <= 1:
            return [fn(j) for j in jobs]
        with ThreadPoolExecutor(max_workers=n) as pool:
            return list(pool.map(fn, jobs))


def iter_jobs(
    fn: Callable[[_J], _R], jobs: Sequence[_J], threads: int, *, ahead: int | None = None
) -> Iterator[_R]:
    """Yield ``fn(j)`` for every job in order, computing up to ``ahead`` of them ahead.

    Parameters
    ----------
    fn : callable
        Called once per job, possibly on another thread.
    jobs : sequence
        The jobs' arguments.
    threads : int
        Worker threads; one (or a single job) runs the jobs lazily in the
        consuming thread.
    ahead : int, optional
        Jobs submitted but not yet consumed, at most (default ``threads``):
        the bound on results held in memory besides the one being consumed.

    Examples
    --------
    >>> list(iter_jobs(str, [1, 2, 3], threads=2, ahead=1))
    ['1', '2', '3']
    """
    if min(threads, len(jobs)) <= 1:
        with blas_limited(threads):
            yield from map(fn, jobs)
        return
    window = max(1, ahead or threads)
    with blas_limited(1), ThreadPoolExecutor(max_workers=threads) as pool:
        todo = iter(jobs)
        pending: deque[Future[_R]] = deque(pool.submit(fn, j) for j in islice(todo, window))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(fn, j) for j in islice(todo, 1))
            yield result


def row_strips(oh: int, rows: int) -> list[tuple[int, int]]:
    """Output rows ``0:oh`` as ``(start, stop)`` strips of ``rows`` rows (the last shorter)."""
    return [(r, min(r + rows, oh)) for r in range(0, oh, rows)]


def strip_rows(
    out_w: int, channels: int, itemsize: int, out_h: int, target: int | None = None
) -> int:
    """Output rows per strip so the accumulator is about ``target`` (:data:`config.STRIP_BYTES`)."""
    per_row = max(1, out_w * channels * itemsize)
    return int(min(out_h, max(1, (target or config.STRIP_BYTES) // per_row)))
