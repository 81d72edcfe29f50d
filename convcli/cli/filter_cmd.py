"""``convcli filter``: apply a kernel chain to one or many images."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from convcli.cli.filter_options import (
    AbsValues,
    AllFrames,
    Alpha,
    CompressLevel,
    Explain,
    Format,
    Frame,
    InputRange,
    Inputs,
    Jobs,
    KernelChain,
    Offset,
    Outdir,
    Output,
    Quality,
    Repeat,
    Rescale,
    Suffix,
)
from convcli.cli.options import (
    Border,
    Convolve,
    Cval,
    Dilation,
    Json,
    MaxMemory,
    MaxPixels,
    Normalize,
    Padding,
    Precision,
    Quiet,
    Scale,
    Stride,
    Threads,
    check_choice,
    parse_pair,
)
from convcli.cli.output import (
    emit_json,
    err_console,
    error_doc,
    error_line,
    keep_partial,
    shape_text,
)
from convcli.cli.progress import SlowWorkBar, batch_bar
from convcli.cli.scale import (
    Chunks,
    Compression,
    ConnectTimeout,
    FilesFrom,
    ScaleRequest,
    Scheduler,
    SchedulerFile,
    Tile,
)
from convcli.errors import Interrupted, OptionError
from convcli.runner.batch import (
    STDIO,
    FileResult,
    FilterJob,
    expand_inputs,
    explain_file,
    output_targets,
    read_stdin,
    run_all,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

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

  convcli filter slide.tif -k gaussian:sigma=2 -o slide.zarr --chunks 1024

  convcli filter --files-from list.txt -k sharpen -d out/ --scheduler tcp://10.0.0.5:8786
"""

# -- the options only `filter` has ---------------------------------------------------


def filter_command(
    kernel: KernelChain,
    inputs: Inputs = None,
    output: Output = None,
    outdir: Outdir = None,
    suffix: Suffix = "",
    fmt: Format = None,
    padding: Padding = "same",
    border: Border = "reflect",
    cval: Cval = 0.0,
    stride: Stride = "1",
    dilation: Dilation = "1",
    convolve: Convolve = False,
    precision: Precision = "float32",
    normalize: Normalize = False,
    scale: Scale = 1.0,
    offset: Offset = 0.0,
    abs_values: AbsValues = False,
    rescale: Rescale = False,
    alpha: Alpha = "keep",
    input_range: InputRange = None,
    repeat: Repeat = 1,
    quality: Quality = None,
    compress_level: CompressLevel = None,
    max_pixels: MaxPixels = None,
    max_memory: MaxMemory = None,
    threads: Threads = None,
    frame: Frame = None,
    all_frames: AllFrames = False,
    jobs: Jobs = 1,
    explain: Explain = False,
    json_output: Json = False,
    quiet: Quiet = False,
    scheduler: Scheduler = None,
    scheduler_file: SchedulerFile = None,
    files_from: FilesFrom = None,
    chunks: Chunks = None,
    tile: Tile = None,
    compression: Compression = None,
    connect_timeout: ConnectTimeout = 30.0,
) -> None:
    """Apply kernels to images (a pipeline when -k is repeated).

    INPUT '-' reads one image (or .npy) from stdin; '-o -' writes the result to
    stdout in the --format given, and nothing else goes to stdout.
    """
    from convcli.cli.scale import check_extra, read_files_from
    from convcli.kernelspec import load_kernel

    given = [*(inputs or []), *read_files_from(files_from)]
    files = _check_io(given, output, outdir, fmt, frame, all_frames, json_output)
    scaling = ScaleRequest(scheduler, scheduler_file, chunks, tile, compression, connect_timeout)
    check_extra(scaling, files, output)
    options = _options(**locals())
    if not quiet:
        _note_idle_cval(options)
    kernels = [load_kernel(spec) for spec in kernel]
    plan: list[str] | None = None
    targets = output_targets(
        files, output=output, outdir=outdir or ".", suffix=suffix, fmt=fmt, all_frames=all_frames
    )
    chunked = scaling.needs_extra(files, output) and scaling.chunked(files, targets)
    if explain and files[0] != STDIO:
        plan = _print_plan(files[0], targets[0], kernels, options, scaling if chunked else None)
    job = FilterJob(
        kernels=kernels,
        options=options,
        quality=quality,
        max_pixels=max_pixels,
        max_memory=max_memory,
        frame=frame,
        fmt=fmt,
        compress_level=compress_level,
        all_frames=all_frames,
        input_data=read_stdin() if STDIO in files else None,
    )
    with scaling.session() as client:
        work = _scaled_work(scaling, client, job, chunked)
        results, codes = _run(job, list(zip(files, targets, strict=True)), jobs, quiet, work)
    if json_output:
        doc: dict[str, Any] = {"results": results}
        if plan is not None:
            doc["plan"] = {"input": files[0], "steps": plan}
        if codes:
            doc["error"] = error_doc(_failure_message(results, codes), max(codes))
        emit_json(doc)
    if codes:
        _fail(codes, len(files), quiet)


def _check_io(
    inputs: list[str],
    output: str | None,
    outdir: str | None,
    fmt: str | None,
    frame: int | None,
    all_frames: bool,
    json_output: bool,
) -> list[str]:
    """The input files, once -o/-d, stdin/stdout and the frame options fit together."""
    if not inputs:
        msg = "give INPUT files (or globs), or --files-from FILE"
        raise OptionError(msg)
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
    return files


def _check_stdout_options(fmt: str | None, json_output: bool, all_frames: bool) -> None:
    """``-o -`` needs ``--format`` and leaves stdout to the image (no ``--json``)."""
    from convcli.images import format_from_extension

    if not fmt:
        msg = "-o - (stdout) needs --format (png, jpg, tif, webp, bmp, gif or npy)"
        raise OptionError(msg)
    if all_frames:
        from convcli.images import animation_format

        animation_format(fmt)
    else:
        format_from_extension(fmt)
    if json_output:
        msg = "--json cannot be used with -o - (stdout carries the image)"
        raise OptionError(msg)


def _note_idle_cval(options: FilterOptions) -> None:
    """``--cval`` is legal with any border but fills only ``constant``: say so in a note."""
    from convcli.borders import canonical_border

    try:
        border = canonical_border(options.border)
    except OptionError:
        return  # reported where filtering starts, as every bad border is
    if options.cval != 0 and border != "constant":
        err_console().print(
            f"note: --cval {options.cval:g} has no effect with --border {border} "
            "(it fills the constant border only)",
            markup=False,
            soft_wrap=True,
        )


def _print_plan(
    path: str,
    target: str,
    kernels: list[Kernel],
    options: FilterOptions,
    scale: ScaleRequest | None,
) -> list[str]:
    """Print the plan of every step on stderr; return its lines (for ``--json``)."""
    if scale is None:
        lines = explain_file(path, kernels, options)
    else:
        from convcli.cli.scale import explain_lines

        lines = explain_lines(scale, path, target, kernels, options)
    for line in lines:
        err_console().print(f"plan: {line}", markup=False, soft_wrap=True)
    return lines


def _failure_message(results: list[FileResult | None], codes: list[int]) -> str:
    """The error document's message: the one input's error, or how many of a batch failed."""
    if len(results) == 1 and results[0] is not None:
        return str(results[0]["error"])
    return f"{len(codes)} of {len(results)} inputs failed"


def _scaled_work(scale: ScaleRequest, client: Any, job: FilterJob, chunked: bool) -> Any:
    """What runs the tasks: a chunked image, a batch on the cluster, or None (``run_all``)."""
    if chunked:
        from convcli.cli.scale import run_chunked

        def one_image(tasks: list[tuple[str, str]], progress: Any) -> Any:
            ((src, dst),) = tasks
            yield (0, *run_chunked(scale, client, job, src, dst, progress))

        return one_image
    if client is None:
        return None
    from convcli.dask import filter_files

    return lambda tasks, progress: filter_files(client, job, tasks)


def _fail(codes: list[int], n_inputs: int, quiet: bool) -> NoReturn:
    """Exit with the worst code, after saying how many inputs of a batch failed."""
    if n_inputs > 1 and not quiet:
        err_console().print(f"{len(codes)} of {n_inputs} inputs failed", markup=False)
    raise typer.Exit(max(codes))


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
        input_range=_parse_input_range(kw["input_range"]),
    )


def _parse_input_range(text: str | None) -> tuple[float, float] | None:
    """``--input-range A,B``: two finite numbers with A < B."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        low, high = (float(p) for p in parts) if len(parts) == 2 else (0.0, float("nan"))
    except ValueError:
        low, high = 0.0, float("nan")
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        msg = f"--input-range must be A,B with finite numbers A < B (e.g. 0,1); got {text!r}"
        raise OptionError(msg)
    return low, high


def _run(
    job: FilterJob, tasks: list[tuple[str, str]], jobs: int, quiet: bool, work: Any = None
) -> tuple[list[FileResult | None], list[int]]:
    """Filter every input with a line each (and a bar) on stderr; return results and codes."""
    console = err_console()
    results: list[FileResult | None] = [None] * len(tasks)
    codes: list[int] = []
    slow_bar = SlowWorkBar(console) if len(tasks) == 1 and jobs == 1 and not quiet else None
    try:
        with batch_bar(console, len(tasks), shown=len(tasks) > 1 and not quiet) as advance:
            done = (
                run_all(job, tasks, jobs, progress=slow_bar)
                if work is None
                else work(tasks, slow_bar)
            )
            for index, result, code in done:
                _report(console, result, code, job, single=len(tasks) == 1, quiet=quiet)
                if code:
                    codes.append(code)
                results[index] = result
                advance()
    except KeyboardInterrupt:
        # Typer turns a KeyboardInterrupt into a silent exit 130; say why instead.
        # Outputs already written are complete and the current one left nothing.
        keep_partial(results=[r for r in results if r is not None])
        msg = "interrupted"
        raise Interrupted(msg) from None
    except BaseException:
        keep_partial(results=[r for r in results if r is not None])  # for the --json error
        raise
    finally:
        if slow_bar is not None:
            slow_bar.close()
    return results, codes


def _report(
    console: Any, result: FileResult, code: int, job: FilterJob, *, single: bool, quiet: bool
) -> None:
    """One input's line on stderr: its error (always), or what was done (unless quiet)."""
    if code:
        source = None if single else result["input"]
        console.print(error_line(result["error"], source), markup=False, soft_wrap=True)
    elif not quiet:
        _print_done(console, result, job.kernels)


def _print_done(console: Any, result: FileResult, kernels: Sequence[Kernel]) -> None:
    frames = f" ({result['frames']} frames)" if result.get("frames", 1) > 1 else ""
    console.print(
        f"{result['input']} {shape_text(result['input_shape'] or [])} -> "
        f"{shape_text(result['output_shape'] or [])}{frames}  "
        f"{' -> '.join(k.label for k in kernels)}  "
        f"{result['seconds']:.2f} s  -> {result['output']}",
        markup=False,
        soft_wrap=True,
    )
    for note in result.get("notes", []):
        console.print(f"  note: {note}", markup=False, soft_wrap=True)
