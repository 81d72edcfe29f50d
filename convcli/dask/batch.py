"""Batches on a cluster: :func:`filter_files`, one task per file, a bounded number in flight.

Each task is :func:`convcli.runner.batch.filter_one`, the per-file path of a
local batch, run on a worker: it reads the input, filters it and writes the
output atomically itself, and returns the same :class:`~convcli.runner.FileResult`
(failures are results, not exceptions, so the rest of the batch goes on).
The shared :class:`~convcli.runner.FilterJob` is sent to the workers once.
A worker lost mid-run has its tasks retried on the others by the scheduler;
a file whose task fails anyway is reported as failed, like a dead ``--jobs`` process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from convcli.errors import error_detail
from convcli.runner.batch import FileResult, FilterJob, failed_result, filter_one

__all__ = ["filter_files"]


def filter_files(
    client: Any,
    job: FilterJob,
    tasks: Sequence[tuple[str, str]],
    *,
    in_flight: int | None = None,
) -> Iterator[tuple[int, FileResult, int]]:
    """Filter ``(input, output)`` pairs on ``client``'s workers; yield ``(index, result, code)``.

    Results come as files finish.  At most ``in_flight`` tasks (default: eight
    per worker thread, at least 64) are submitted at a time, so a batch of 100,000 files
    never holds 100,000 futures.  Outputs are byte-identical to
    :func:`convcli.runner.run_all`'s: the same code writes them.

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> with Client("tcp://127.0.0.1:8786") as client:  # doctest: +SKIP
    ...     for i, result, code in filter_files(client, job, [("a.png", "out/a.png")]):
    ...         print(result["output"], code)
    """
    from distributed import as_completed

    if job.options.threads is None:
        # one engine thread per task: the workers' threads already run tasks side by side
        job = replace(job, options=replace(job.options, threads=1))
    limit = in_flight or max(64, 8 * sum(client.nthreads().values()))
    shared = client.scatter(job, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:12]  # task keys unique to this run (outputs are side effects)
    pending = iter(enumerate(tasks))
    index_of: dict[Any, int] = {}
    queue = as_completed()

    def refill() -> None:
        # in groups (one message to the scheduler per group, not per file), once
        # half the bound has finished; never more than `limit` in flight
        items = list(itertools.islice(pending, limit - len(index_of)))
        if not items:
            return
        keys = [f"convcli-file-{run}-{i}" for i, _ in items]
        futures = client.map(
            filter_one,
            [shared] * len(items),
            [src for _, (src, _) in items],
            [dst for _, (_, dst) in items],
            key=keys,
            pure=False,
        )
        for (i, _), future in zip(items, futures, strict=True):
            index_of[future.key] = i
        queue.update(futures)

    refill()
    try:
        for future in queue:
            i = index_of.pop(future.key)
            src, dst = tasks[i]
            try:
                result, code = future.result()
            except Exception as exc:  # the task failed on every worker it was tried on
                result, code = (
                    failed_result(src, dst, f"worker failed on {src}: {error_detail(exc)}"),
                    1,
                )
            future.release()
            yield i, result, code
            if len(index_of) <= limit // 2:
                refill()
    finally:
        _sweep_temporaries([dst for _, dst in tasks])


def _sweep_temporaries(outputs: Sequence[str]) -> None:
    """Remove the atomic writer's temporary files that killed workers left beside outputs.

    A worker killed mid-write cannot remove its ``.<name>.<hex>.tmp`` (the task
    is then retried elsewhere and the output written whole); one listing per
    output folder finds them once the batch is over.
    """
    by_folder: dict[str, set[str]] = {}
    for out in outputs:
        folder, name = os.path.split(os.path.abspath(out))
        by_folder.setdefault(folder, set()).add(name)
    for folder, names in by_folder.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            base, _, token = entry[1:].rpartition(".")[0].rpartition(".")
            ours = len(token) == 8 and all(ch in "0123456789abcdef" for ch in token)
            if entry.startswith(".") and entry.endswith(".tmp") and ours and base in names:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))
