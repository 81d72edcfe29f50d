"""Splitting work into row strips, and the one thread pool that runs jobs.

:func:`run_jobs` is the library's thread pool helper: NumPy, zlib and BLAS
release the GIL in their loops, so independent jobs (strips of a
correlation, strips of a gradient) run side by side on threads.
:func:`iter_jobs` is its streaming form for jobs whose results are consumed
in order while later ones still run (bands of a large image, parts of a PNG),
keeping only a bounded number in flight.  Standard library only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

from convcli import config

_J = TypeVar("_J")
_R = TypeVar("_R")


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
        yield from map(fn, jobs)
        return
    window = max(1, ahead or threads)
    with ThreadPoolExecutor(max_workers=threads) as pool:
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
