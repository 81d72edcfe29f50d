"""``convcli filter``: apply a kernel chain to one or many images."""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from convcli.cli.app import app
from convcli.cli.common import check_choice, emit_json, err_console, parse_pair, shape_text
from convcli.errors import ConvCliError, OptionError

if TYPE_CHECKING:
    from convcli.filters import FilterOptions
    from convcli.kernelspec import Kernel

EPILOG = """Examples:

  convcli filter photo.png -k sharpen -o sharp.png

  convcli filter photo.png -k "gaussian:sigma=2" -k sobel-x --abs -o edges.png

  convcli filter 'photos/*.jpg' -k box:5 -d out/ --suffix -blur --format png

  convcli filter scan.tif -k "0,-1,0; -1,5,-1; 0,-1,0" --border mirror -o out.tif

  convcli filter photo.png -k laplacian -o raw.npy --json

  convcli filter - -k box -o - --format png < a.png > b.png

  convcli filter 'frames/*.png' -k sharpen -d out/ --jobs 2

  convcli filter big.png -k sharpen -o quick.png --compress-level 1
"""

STDIO = "-"


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


def _options(**kw: Any) -> FilterOptions:
    from convcli.filters import ALPHA_MODES, FilterOptions
    from convcli.shapes import parse_padding

    return FilterOptions(
        padding=parse_padding(kw["padding"]),
        border=kw["border"],
        cval=kw["cval"],
        stride=parse_pair(kw["stride"], "stride"),
        dilation=parse_pair(kw["dilation"], "dilation"),
        convolve=kw["convolve"],
        precision=check_choice(kw["precision"], ("float32", "float64"), "precision"),  # type: ignore[arg-type]
        normalize=kw["normalize"],
        scale=kw["scale"],
        offset=kw["offset"],
        repeat=kw["repeat"],
        alpha=check_choice(kw["alpha"], ALPHA_MODES, "alpha"),  # type: ignore[arg-type]
        abs=kw["abs_values"],
        rescale=kw["rescale"],
        threads=kw["threads"],
    )


def _kernel_label(kernels: list[Kernel]) -> str:
    return " -> ".join(k.name for k in kernels)


@app.command("filter", epilog=EPILOG)
def filter_command(
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT", help="Image files or globs (one or more)."
    ),
    kernel: list[str] = typer.Option(
        ...,
        "-k",
        "--kernel",
        metavar="KERNEL",
        help="Kernel: preset name (sharpen, gaussian:sigma=2), inline matrix, or file. "
        "Repeat to chain kernels.",
    ),
    output: str | None = typer.Option(
        None, "-o", "--output", metavar="FILE", help="Output file (one input)."
    ),
    outdir: str | None = typer.Option(
        None,
        "-d",
        "--outdir",
        metavar="DIR",
        help="Output folder for many inputs (created if missing).",
    ),
    suffix: str = typer.Option(
        "", "--suffix", metavar="TEXT", help="Added to each output name with -d."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        metavar="EXT",
        help="Output extension with -d or -o - (png, jpg, tif, webp, bmp, npy; "
        "gif or webp with --all-frames).",
    ),
    padding: str = typer.Option(
        "same", "--padding", metavar="PAD", help="same, valid, full, P or PH,PW."
    ),
    border: str = typer.Option(
        "reflect",
        "--border",
        metavar="MODE",
        help="reflect, mirror, nearest, wrap, constant (or an alias).",
    ),
    cval: float = typer.Option(
        0.0, "--cval", metavar="V", help="Fill value for constant border (image units)."
    ),
    stride: str = typer.Option("1", "--stride", metavar="S", help="S or SH,SW."),
    dilation: str = typer.Option("1", "--dilation", metavar="D", help="D or DH,DW."),
    convolve: bool = typer.Option(False, "--convolve", help="Flip the kernel (true convolution)."),
    precision: str = typer.Option(
        "float32", "--precision", metavar="TYPE", help="float32 or float64."
    ),
    normalize: bool = typer.Option(False, "--normalize", help="Divide each kernel by its sum."),
    scale: float = typer.Option(1.0, "--scale", metavar="S", help="Multiply each kernel by this."),
    offset: float = typer.Option(
        0.0, "--offset", metavar="B", help="Add this to the result (image units)."
    ),
    abs_values: bool = typer.Option(False, "--abs", help="Absolute values (edge maps)."),
    rescale: bool = typer.Option(False, "--rescale", help="Stretch min..max to the full range."),
    alpha: str = typer.Option(
        "keep", "--alpha", metavar="MODE", help="keep, filter or premultiply."
    ),
    repeat: int = typer.Option(
        1, "--repeat", metavar="N", min=1, help="Apply the whole chain N times."
    ),
    quality: int | None = typer.Option(
        None, "--quality", metavar="Q", min=1, max=100, help="JPEG/WebP quality."
    ),
    compress_level: int | None = typer.Option(
        None,
        "--compress-level",
        metavar="L",
        min=0,
        max=9,
        help="PNG zlib level: 0 fastest/largest .. 9 smallest [default: 6].",
    ),
    max_pixels: int | None = typer.Option(
        None,
        "--max-pixels",
        metavar="N",
        min=1,
        help="Refuse larger images (default: Pillow's limit).",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        metavar="N",
        min=1,
        help="Worker threads (default: CONVCLI_THREADS or all cores).",
    ),
    frame: int | None = typer.Option(
        None,
        "--frame",
        metavar="N",
        min=0,
        help="Frame of a multi-frame input (GIF, TIFF, WebP), from 0 (default: 0).",
    ),
    all_frames: bool = typer.Option(
        False,
        "--all-frames",
        help="Filter every frame; write an animated .gif or .webp (keeps durations, loop).",
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", metavar="N", min=1, help="Filter N inputs at a time in N processes."
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Print the engine's plan for each kernel (method, taps, cost)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No per-image lines on stderr."),
) -> None:
    """Apply kernels to images (a pipeline when -k is repeated).

    INPUT '-' reads one image (or .npy) from stdin; '-o -' writes the result to
    stdout in the --format given, and nothing else goes to stdout.
    """
    from convcli.filters import output_path_for
    from convcli.kernelspec import load_kernel

    if (output is None) == (outdir is None):
        msg = "give exactly one of -o OUTPUT (one input) or -d OUTDIR"
        raise OptionError(msg)
    files = expand_inputs(inputs)
    if output is not None and len(files) != 1:
        msg = f"-o takes exactly one input but {len(files)} were given; use -d OUTDIR"
        raise OptionError(msg)
    if STDIO in files and output is None:
        msg = "input '-' (stdin) takes -o OUTPUT (a file, or '-' for stdout), not -d"
        raise OptionError(msg)
    if output == STDIO:
        _check_stdout_options(fmt, json_output, all_frames)
    if all_frames and frame is not None:
        msg = "give either --frame N or --all-frames, not both"
        raise OptionError(msg)
    options = _options(**locals())
    kernels = [load_kernel(spec) for spec in kernel]
    if explain and files[0] != STDIO:
        from convcli.filters import explain_chain, prepare_kernels
        from convcli.images import read_shape

        h, w, c = read_shape(files[0])
        colour = c - 1 if c in (2, 4) and options.alpha != "filter" else c
        for line in explain_chain((h, w, colour), prepare_kernels(kernels, options), options):
            err_console().print(f"plan: {line}", markup=False, soft_wrap=True)
    if outdir is not None:
        from convcli.images import animation_format, output_format

        if fmt and all_frames:
            animation_format(fmt)
        elif fmt:
            output_format("x." + fmt.lstrip("."))
        _make_outdir(outdir)
    targets = (
        [Path(output)]
        if output is not None
        else [output_path_for(f, outdir or ".", suffix=suffix, fmt=fmt) for f in files]
    )

    job = _Job(
        kernels=kernels, options=options, quality=quality, max_pixels=max_pixels, frame=frame
    )
    job.fmt = fmt
    job.compress_level = compress_level
    job.all_frames = all_frames
    if STDIO in files:
        job.input_data = _read_stdin()
    tasks = [(src, str(dst)) for src, dst in zip(files, targets, strict=True)]

    results: list[dict[str, Any] | None] = [None] * len(tasks)
    codes: list[int] = []
    console = err_console()
    progress = None
    single_bar = None
    if len(files) == 1 and jobs == 1 and not quiet:
        single_bar = _SlowWorkBar(console)
        job.progress = single_bar
    if len(files) > 1 and not quiet:
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        progress.start()
        task = progress.add_task("filtering", total=len(files))
    try:
        for index, entry, code in _run_all(job, tasks, jobs):
            if code:
                codes.append(code)
                line = " ".join(str(entry["error"]).split())
                src = entry["input"]
                where = "" if len(files) == 1 or src in line else f"{src}: "
                console.print(f"Error: {where}{line}", markup=False, soft_wrap=True)
            elif not quiet:
                _print_done(console, entry, kernels)
            results[index] = entry
            if progress is not None:
                progress.advance(task)
    except KeyboardInterrupt:
        # Typer turns a KeyboardInterrupt into a silent exit 130; say why instead.
        # Outputs already written are complete and the current one left nothing.
        msg = "interrupted"
        raise Interrupted(msg) from None
    finally:
        if progress is not None:
            progress.stop()
        if single_bar is not None:
            single_bar.close()
    if json_output:
        emit_json({"results": results})
    if codes:
        if len(files) > 1 and not quiet:
            console.print(f"{len(codes)} of {len(files)} inputs failed", markup=False)
        raise typer.Exit(max(codes))


class Interrupted(ConvCliError):
    """Ctrl-C (SIGINT) stopped the command (exit code 130)."""

    exit_code = 130


def _make_outdir(outdir: str) -> None:
    """Create the ``-d`` folder (and its parents), or fail with one clear ImageError."""
    from convcli.errors import ImageError

    try:
        Path(outdir).mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        msg = f"cannot create output folder {outdir}: a file of that name exists"
        raise ImageError(msg) from exc
    except OSError as exc:
        detail = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        msg = f"cannot create output folder {outdir}: {detail or exc}"
        raise ImageError(msg) from exc


def _check_stdout_options(fmt: str | None, json_output: bool, all_frames: bool) -> None:
    """``-o -`` needs ``--format`` and leaves stdout to the image (no ``--json``)."""
    from convcli.images import format_from_extension

    if not fmt:
        msg = "-o - (stdout) needs --format (png, jpg, tif, webp, bmp or npy)"
        raise OptionError(msg)
    if all_frames:
        from convcli.images import animation_format

        animation_format(fmt)
    else:
        format_from_extension(fmt)
    if json_output:
        msg = "--json cannot be used with -o - (stdout carries the image)"
        raise OptionError(msg)


def _read_stdin() -> bytes:
    """All of stdin as bytes; refuse a terminal rather than wait for typing."""
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        msg = "input '-' reads an image from stdin, but stdin is a terminal; pipe a file into it"
        raise OptionError(msg)
    buffer = getattr(stdin, "buffer", None)
    data = buffer.read() if buffer is not None else stdin.read().encode("latin-1")
    return bytes(data)


def _print_done(console: Any, entry: dict[str, Any], kernels: list[Kernel]) -> None:
    frames = f" ({entry['frames']} frames)" if entry.get("frames", 1) > 1 else ""
    console.print(
        f"{entry['input']} {shape_text(entry['input_shape'])} -> "
        f"{shape_text(entry['output_shape'])}{frames}  {_kernel_label(kernels)}  "
        f"{entry['seconds']:.2f} s  -> {entry['output']}",
        markup=False,
        soft_wrap=True,
    )
    for note in entry["notes"]:
        console.print(f"  note: {note}", markup=False, soft_wrap=True)


class _SlowWorkBar:
    """A progress bar for one image that appears only once the work passes a second."""

    DELAY_S = 1.0

    def __init__(self, console: Any) -> None:
        self.console = console
        self.started = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, stage: str, fraction: float) -> None:
        if self.bar is None:
            if time.perf_counter() - self.started < self.DELAY_S:
                return
            from rich.progress import Progress

            self.bar = Progress(console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(stage, total=1.0)
        self.bar.update(self.task, description=stage, completed=fraction)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _Job:
    """What every input of one ``filter`` call shares (picklable, for worker processes)."""

    def __init__(
        self,
        *,
        kernels: list[Kernel],
        options: FilterOptions,
        quality: int | None,
        max_pixels: int | None,
        frame: int | None,
    ) -> None:
        self.kernels = kernels
        self.options = options
        self.quality = quality
        self.max_pixels = max_pixels
        self.frame = frame
        self.input_data: bytes | None = None
        self.fmt: str | None = None
        self.compress_level: int | None = None
        self.all_frames = False
        self.progress: Callable[[str, float], object] | None = None  # in-process runs only


def _filter_one(job: _Job, src: str, dst: str) -> tuple[dict[str, Any], int]:
    """Filter one input; return its JSON entry and exit code (0 when it worked)."""
    from convcli.runner import filter_image

    entry: dict[str, Any] = {"input": src, "output": dst, "ok": False, "error": None}
    stdin = src == STDIO
    try:
        report = filter_image(
            "<stdin>" if stdin else src,
            sys.stdout.buffer if dst == STDIO else dst,
            job.kernels,
            options=job.options,
            quality=job.quality,
            compress_level=job.compress_level,
            max_pixels=job.max_pixels,
            input_data=job.input_data if stdin else None,
            fmt=job.fmt,
            all_frames=job.all_frames,
            frame=job.frame,
            progress=job.progress,
        )
    except ConvCliError as exc:
        entry.update(input_shape=None, output_shape=None, seconds=None, error=str(exc))
        return entry, exc.exit_code
    entry.update(
        ok=True,
        input_shape=list(report.input_shape),
        output_shape=list(report.output_shape),
        seconds=round(report.seconds, 4),
        notes=report.notes,
        frames=report.frames,
    )
    return entry, 0


def _run_all(
    job: _Job, tasks: list[tuple[str, str]], jobs: int
) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Yield ``(index, entry, code)`` per input, in input order or as workers finish."""
    if jobs == 1 or len(tasks) == 1:
        for index, (src, dst) in enumerate(tasks):
            yield (index, *_filter_one(job, src, dst))
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed
    from dataclasses import replace

    if job.options.threads is None:
        # Share the cores between the worker processes instead of oversubscribing.
        job.options = replace(job.options, threads=max(1, (os.cpu_count() or 1) // jobs))
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    submit: Callable[..., Future[tuple[dict[str, Any], int]]]
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
        submit = pool.submit
        futures = {submit(_filter_one, job, src, dst): i for i, (src, dst) in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                index = futures[future]
                try:
                    entry, code = future.result()
                except Exception as exc:  # the worker died (killed, out of memory ...)
                    src, dst = tasks[index]
                    detail = " ".join(str(exc).split()) or type(exc).__name__
                    error = f"worker process failed on {src}: {detail}"
                    entry = {"input": src, "output": dst, "ok": False, "error": error}
                    entry.update(input_shape=None, output_shape=None, seconds=None)
                    code = 1
                yield index, entry, code
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
