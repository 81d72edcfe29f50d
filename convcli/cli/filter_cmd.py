"""``convcli filter``: apply a kernel chain to one or many images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from convcli.cli.options import (
    Border,
    Convolve,
    Cval,
    Dilation,
    Json,
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
from convcli.cli.output import emit_json, err_console, error_line, shape_text
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

Inputs = Annotated[
    list[str] | None,
    typer.Argument(metavar="INPUT", help="Image files or globs (one or more), or --files-from."),
]
KernelChain = Annotated[
    list[str],
    typer.Option(
        "-k",
        "--kernel",
        metavar="KERNEL",
        help="Kernel: preset name (sharpen, gaussian:sigma=2), inline matrix, or file. "
        "Repeat to chain kernels.",
    ),
]
Output = Annotated[
    str | None, typer.Option("-o", "--output", metavar="FILE", help="Output file (one input).")
]
Outdir = Annotated[
    str | None,
    typer.Option(
        "-d", "--outdir", metavar="DIR", help="Output folder for many inputs (created if missing)."
    ),
]
Suffix = Annotated[
    str, typer.Option("--suffix", metavar="TEXT", help="Added to each output name with -d.")
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="EXT",
        help="Output extension with -d or -o - (png, jpg, tif, webp, bmp, npy; "
        "gif or webp with --all-frames).",
    ),
]
Offset = Annotated[
    float, typer.Option("--offset", metavar="B", help="Add this to the result (image units).")
]
AbsValues = Annotated[bool, typer.Option("--abs", help="Absolute values (edge maps).")]
Rescale = Annotated[bool, typer.Option("--rescale", help="Stretch min..max to the full range.")]
Alpha = Annotated[str, typer.Option("--alpha", metavar="MODE", help="keep, filter or premultiply.")]
Repeat = Annotated[
    int, typer.Option("--repeat", metavar="N", min=1, help="Apply the whole chain N times.")
]
Quality = Annotated[
    int | None, typer.Option("--quality", metavar="Q", min=1, max=100, help="JPEG/WebP quality.")
]
CompressLevel = Annotated[
    int | None,
    typer.Option(
        "--compress-level",
        metavar="L",
        min=0,
        max=9,
        help="PNG zlib level: 0 fastest/largest .. 9 smallest [default: 6].",
    ),
]
Frame = Annotated[
    int | None,
    typer.Option(
        "--frame",
        metavar="N",
        min=0,
        help="Frame of a multi-frame input (GIF, TIFF, WebP), from 0 (default: 0).",
    ),
]
AllFrames = Annotated[
    bool,
    typer.Option(
        "--all-frames",
        help="Filter every frame; write an animated .gif or .webp (keeps durations, loop).",
    ),
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", metavar="N", min=1, help="Filter N inputs at a time in N processes."
    ),
]
Explain = Annotated[
    bool,
    typer.Option("--explain", help="Print the engine's plan for each kernel (method, taps, cost)."),
]


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
    repeat: Repeat = 1,
    quality: Quality = None,
    compress_level: CompressLevel = None,
    max_pixels: MaxPixels = None,
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
    kernels = [load_kernel(spec) for spec in kernel]
    targets = output_targets(
        files, output=output, outdir=outdir or ".", suffix=suffix, fmt=fmt, all_frames=all_frames
    )
    chunked = scaling.needs_extra(files, output) and scaling.chunked(files, targets)
    if explain and files[0] != STDIO:
        _print_plan(files[0], targets[0], kernels, options, scaling if chunked else None)
    job = FilterJob(
        kernels=kernels,
        options=options,
        quality=quality,
        max_pixels=max_pixels,
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
        emit_json({"results": results})
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


def _print_plan(
    path: str,
    target: str,
    kernels: list[Kernel],
    options: FilterOptions,
    scale: ScaleRequest | None,
) -> None:
    if scale is None:
        lines = explain_file(path, kernels, options)
    else:
        from convcli.cli.scale import explain_lines

        lines = explain_lines(scale, path, target, kernels, options)
    for line in lines:
        err_console().print(f"plan: {line}", markup=False, soft_wrap=True)


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
    )


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
                if code:
                    codes.append(code)
                    source = None if len(tasks) == 1 else result["input"]
                    console.print(error_line(result["error"], source), markup=False, soft_wrap=True)
                elif not quiet:
                    _print_done(console, result, job.kernels)
                results[index] = result
                advance()
    except KeyboardInterrupt:
        # Typer turns a KeyboardInterrupt into a silent exit 130; say why instead.
        # Outputs already written are complete and the current one left nothing.
        msg = "interrupted"
        raise Interrupted(msg) from None
    finally:
        if slow_bar is not None:
            slow_bar.close()
    return results, codes


def _print_done(console: Any, result: FileResult, kernels: Sequence[Kernel]) -> None:
    frames = f" ({result['frames']} frames)" if result.get("frames", 1) > 1 else ""
    console.print(
        f"{result['input']} {shape_text(result['input_shape'] or [])} -> "
        f"{shape_text(result['output_shape'] or [])}{frames}  "
        f"{' -> '.join(k.name for k in kernels)}  "
        f"{result['seconds']:.2f} s  -> {result['output']}",
        markup=False,
        soft_wrap=True,
    )
    for note in result.get("notes", []):
        console.print(f"  note: {note}", markup=False, soft_wrap=True)
