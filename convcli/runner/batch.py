"""Filtering files in batches: inputs in, outputs out (what ``convcli filter`` runs).

Public: :func:`expand_inputs` (globs), :func:`output_targets` (``-o`` or an
output folder with suffix and format), :func:`read_stdin`, :func:`explain_file`,
:class:`FilterJob` (what every input of one batch shares), :func:`filter_one`
and :func:`run_all` (in this process or in a pool of worker processes), and
:data:`STDIO` (``"-"``: stdin as input, stdout as output).

Per-input results are :class:`FileResult` dicts, the entries of the
``filter --json`` report.  This module imports no typer or rich, and NumPy and
Pillow only when work starts: worker processes unpickle :func:`filter_one`
from here without loading the command line.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NotRequired, TypedDict

from convcli.errors import (
    ConvCliError,
    ImageError,
    OptionError,
    error_detail,
    one_line,
    os_detail,
)

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from convcli.filters import FilterOptions, FilterReport
    from convcli.kernelspec import Kernel

__all__ = [
    "done_result",
    "failed_result",
    "STDIO",
    "FileResult",
    "FilterJob",
    "ProgressFn",
    "expand_inputs",
    "explain_file",
    "filter_one",
    "output_targets",
    "read_stdin",
    "run_all",
]

STDIO = "-"

#: ``progress(stage, fraction)``: hears about the work on one image.
ProgressFn = Callable[[str, float], object]


class FileResult(TypedDict):
    """What happened to one input (an entry of the ``filter --json`` report)."""

    input: str
    output: str
    ok: bool
    error: str | None
    input_shape: list[int] | None
    output_shape: list[int] | None
    seconds: float | None
    notes: NotRequired[list[str]]
    frames: NotRequired[int]


def expand_inputs(patterns: list[str]) -> list[str]:
    """Expand glob patterns that do not name an existing file; keep order, drop repeats."""
    seen: dict[str, None] = {}
    for pattern in patterns:
        if not os.path.exists(pattern) and glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                msg = f"no input files match {pattern!r}"
                raise OptionError(msg)
            seen.update(dict.fromkeys(matches))
        else:
            seen[pattern] = None
    return list(seen)


def output_targets(
    files: Sequence[str],
    *,
    output: str | None = None,
    outdir: str = ".",
    suffix: str = "",
    fmt: str | None = None,
    all_frames: bool = False,
) -> list[str]:
    """Where each input's result goes: ``output`` (one input), else a file in ``outdir``.

    Files in ``outdir`` are named ``<input stem><suffix>.<fmt or the input's
    extension>``.  Without ``output`` this checks that ``fmt`` can be written
    (an animated format with ``all_frames``), that ``suffix`` stays in the
    folder and that no two inputs write one file and no output overwrites
    another input (:func:`convcli.filters.check_collisions`), all before any
    work; then it creates ``outdir`` and its parents.  With ``output``,
    ``suffix`` and ``fmt`` (unless ``output`` is stdout) would do nothing and
    are refused.
    """
    if output is not None:
        _check_single_output(output, suffix, fmt)
        return [str(Path(output))]
    from convcli.filters import check_collisions, output_path_for

    if fmt and all_frames:
        from convcli.images import animation_format

        animation_format(fmt)
    elif fmt:
        from convcli.images import output_format

        output_format("x." + fmt.lstrip("."))
    targets = [str(output_path_for(f, outdir, suffix=suffix, fmt=fmt)) for f in files]
    check_collisions(files, targets)
    _make_outdir(outdir)
    return targets


def _check_single_output(output: str, suffix: str, fmt: str | None) -> None:
    """Refuse ``--suffix`` and ``--format`` where ``-o`` names the file (they would do nothing)."""
    if suffix:
        msg = f"--suffix applies to -d OUTDIR only; -o {output} names the output file itself"
        raise OptionError(msg)
    if fmt and output != STDIO:
        msg = (
            f"--format applies to -d OUTDIR and -o - only; -o {output} takes its format "
            "from its extension"
        )
        raise OptionError(msg)


def _make_outdir(outdir: str) -> None:
    """Create the ``-d`` folder (and its parents), or fail with one clear ImageError."""
    try:
        Path(outdir).mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        msg = f"cannot create output folder {outdir}: a file of that name exists"
        raise ImageError(msg) from exc
    except OSError as exc:
        detail = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        msg = f"cannot create output folder {outdir}: {detail or exc}"
        raise ImageError(msg) from exc


def read_stdin() -> bytes:
    """All of stdin as bytes (at most ``CONVCLI_MAX_INPUT_BYTES``); refuse a terminal."""
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        msg = "input '-' reads an image from stdin, but stdin is a terminal; pipe a file into it"
        raise OptionError(msg)
    from convcli.images import read_limited

    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        return stdin.read().encode("latin-1")
    return read_limited(buffer, "<stdin>")


def explain_file(path: str, kernels: Sequence[Kernel], options: FilterOptions) -> list[str]:
    """The engine's plan for each kernel of the chain on the image at ``path`` (header only)."""
    from convcli.filters import explain_chain, prepare_kernels
    from convcli.images import read_shape

    h, w, c = read_shape(path)
    # alpha is carried through unfiltered unless --alpha filter
    colour = c - 1 if c in (2, 4) and options.alpha != "filter" else c
    return explain_chain((h, w, colour), prepare_kernels(kernels, options), options)


@dataclass(frozen=True)
class FilterJob:
    """What every input of one batch shares (picklable, for worker processes).

    ``input_data`` is the image read from stdin, used for the input ``"-"``.
    """

    kernels: Sequence[Kernel]
    options: FilterOptions
    quality: int | None = None
    max_pixels: int | None = None
    max_memory: int | str | None = None
    frame: int | None = None
    fmt: str | None = None
    compress_level: int | None = None
    all_frames: bool = False
    input_data: bytes | None = None


def filter_one(
    job: FilterJob, src: str, dst: str, progress: ProgressFn | None = None
) -> tuple[FileResult, int]:
    """Filter one input; return its result and exit code (0 when it worked).

    This is the error boundary of one file: whatever fails (out of memory, an
    operating-system error, a bug) fails this file only, with one line.  Python
    warnings raised meanwhile (Pillow on an odd TIFF, NumPy) become notes of
    the result, or join its error, one line each.
    """
    import warnings

    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        result, code = _filter_one(job, src, dst, progress)
    texts = list(dict.fromkeys(f"{one_line(w.message)} ({w.category.__name__})" for w in heard))
    if texts and code:
        result["error"] = f"{result['error']} (warnings: {'; '.join(texts)[:300]})"
    elif texts:
        result["notes"] = [*result.get("notes", []), *texts]
    return result, code


def _filter_one(
    job: FilterJob, src: str, dst: str, progress: ProgressFn | None
) -> tuple[FileResult, int]:
    from convcli.runner.single import filter_image

    stdin = src == STDIO
    try:
        report = filter_image(
            "<stdin>" if stdin else src,
            _stdout() if dst == STDIO else dst,
            job.kernels,
            options=job.options,
            quality=job.quality,
            compress_level=job.compress_level,
            max_pixels=job.max_pixels,
            max_memory=job.max_memory,
            input_data=job.input_data if stdin else None,
            fmt=job.fmt,
            all_frames=job.all_frames,
            frame=job.frame,
            progress=progress,
        )
    except ConvCliError as exc:
        return failed_result(src, dst, str(exc)), exc.exit_code
    except MemoryError:
        return failed_result(src, dst, f"out of memory while filtering {src}"), 1
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except OSError as exc:
        return failed_result(src, dst, f"system error on {src}: {os_detail(exc)}"), 1
    except Exception as exc:  # a bug: reported for this file, and the batch goes on
        detail = f"unexpected {type(exc).__name__} on {src}: {error_detail(exc)}"
        return failed_result(src, dst, detail + " (rerun with --debug for the traceback)"), 1
    return done_result(src, dst, report), 0


def _stdout() -> BinaryIO:
    """The binary stdout, or ImageError when convcli was started with stdout closed (``>&-``)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        msg = "cannot write <stdout>: standard output is closed (>&-)"
        raise ImageError(msg)
    return buffer  # type: ignore[no-any-return]


def done_result(src: str, dst: str, report: FilterReport) -> FileResult:
    """The ``--json`` entry of an input that was filtered (``report`` says how)."""
    return {
        "input": src,
        "output": dst,
        "ok": True,
        "error": None,
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        "seconds": round(report.seconds, 4),
        "notes": report.notes,
        "frames": report.frames,
    }


def failed_result(src: str, dst: str, error: str) -> FileResult:
    """The ``--json`` entry of an input that failed with ``error``."""
    return {
        "input": src,
        "output": dst,
        "ok": False,
        "error": error,
        "input_shape": None,
        "output_shape": None,
        "seconds": None,
    }


def run_all(
    job: FilterJob,
    tasks: Sequence[tuple[str, str]],
    jobs: int = 1,
    *,
    progress: ProgressFn | None = None,
) -> Iterator[tuple[int, FileResult, int]]:
    """Yield ``(index, result, code)`` per ``(input, output)`` task.

    With ``jobs`` above 1 and several tasks, ``jobs`` worker processes filter
    them and results come as workers finish; otherwise they come in input
    order from this process, and ``progress`` hears about each image.
    """
    if jobs == 1 or len(tasks) == 1:
        for index, (src, dst) in enumerate(tasks):
            yield (index, *filter_one(job, src, dst, progress))
        return
    if job.options.threads is None:
        # Share the cores between the worker processes instead of oversubscribing.
        threads = max(1, (os.cpu_count() or 1) // jobs)
        job = replace(job, options=replace(job.options, threads=threads))
    yield from _run_in_pool(job, tasks, jobs)


def _run_in_pool(
    job: FilterJob, tasks: Sequence[tuple[str, str]], jobs: int
) -> Iterator[tuple[int, FileResult, int]]:
    """:func:`run_all` in worker processes; a worker that dies fails only its input."""
    from concurrent.futures import Future, as_completed

    submit: Callable[..., Future[tuple[FileResult, int]]]
    with _worker_pool(min(jobs, len(tasks))) as pool:
        submit = pool.submit
        futures = {submit(_in_worker, job, src, dst): i for i, (src, dst) in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                index = futures[future]
                try:
                    result, code = future.result()
                except Exception as exc:  # the worker died (killed, out of memory ...)
                    src, dst = tasks[index]
                    detail = error_detail(exc)
                    result, code = (
                        failed_result(src, dst, f"worker process failed on {src}: {detail}"),
                        1,
                    )
                yield index, result, code
        except BaseException:
            _stop_workers(pool)
            raise


def _in_worker(job: FilterJob, src: str, dst: str) -> tuple[FileResult, int]:
    """:func:`filter_one` in a worker; a signal ends the worker once its temp file is gone."""
    from convcli.signals import exit_code, worker_task

    try:
        with worker_task():
            return filter_one(job, src, dst)
    except KeyboardInterrupt as exc:  # SIGINT, SIGTERM, SIGHUP: atomic_write cleaned up
        os._exit(exit_code(exc))


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers (each removes its temp file, exits)."""
    import signal

    processes = list(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in processes:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            continue
    for process in (getattr(pool, "_processes", None) or {}).values():
        process.join(timeout=10)
    pool.shutdown(wait=True)


def _worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of fresh processes (forkserver where there is one, else spawn).

    Each worker handles SIGTERM/SIGHUP like SIGINT and stops when this process
    is gone (:func:`convcli.signals.worker_init`).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from convcli.signals import worker_init

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=worker_init, initargs=(os.getpid(),)
    )
