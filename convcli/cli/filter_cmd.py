"""``convcli filter``: apply a kernel chain to one or many images."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from convcli.cli.app import app
from convcli.cli.common import check_choice, emit_json, err_console, parse_pair, shape_text
from convcli.errors import ConvCliError, OptionError

if TYPE_CHECKING:
    from convcli.filters import FilterOptions
    from convcli.kernels import Kernel

EPILOG = """Examples:

  convcli filter photo.png -k sharpen -o sharp.png

  convcli filter photo.png -k "gaussian:sigma=2" -k sobel-x --abs -o edges.png

  convcli filter 'photos/*.jpg' -k box:5 -d out/ --suffix -blur --format png

  convcli filter scan.tif -k "0,-1,0; -1,5,-1; 0,-1,0" --border mirror -o out.tif

  convcli filter photo.png -k laplacian -o raw.npy --json
"""


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
        help="Output extension with -d (png, jpg, tif, webp, bmp, npy).",
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
    json_output: bool = typer.Option(False, "--json", help="Print a JSON report on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No per-image lines on stderr."),
) -> None:
    """Apply kernels to images (a pipeline when -k is repeated)."""
    from convcli.filters import filter_image, output_path_for
    from convcli.kernels import load_kernel

    if (output is None) == (outdir is None):
        msg = "give exactly one of -o OUTPUT (one input) or -d OUTDIR"
        raise OptionError(msg)
    files = expand_inputs(inputs)
    if output is not None and len(files) != 1:
        msg = f"-o takes exactly one input but {len(files)} were given; use -d OUTDIR"
        raise OptionError(msg)
    options = _options(**locals())
    kernels = [load_kernel(spec) for spec in kernel]
    if outdir is not None:
        from convcli.images import output_format

        if fmt:
            output_format("x." + fmt.lstrip("."))
        Path(outdir).mkdir(parents=True, exist_ok=True)
    targets = (
        [Path(output)]
        if output is not None
        else [output_path_for(f, outdir or ".", suffix=suffix, fmt=fmt) for f in files]
    )

    results: list[dict[str, Any]] = []
    codes: list[int] = []
    console = err_console()
    progress = None
    if len(files) > 1 and not quiet:
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        progress.start()
        task = progress.add_task("filtering", total=len(files))
    try:
        for src, dst in zip(files, targets, strict=True):
            entry: dict[str, Any] = {"input": src, "output": str(dst), "ok": False, "error": None}
            try:
                report = filter_image(
                    src, dst, kernels, options=options, quality=quality, max_pixels=max_pixels
                )
            except ConvCliError as exc:
                codes.append(exc.exit_code)
                entry.update(input_shape=None, output_shape=None, seconds=None, error=str(exc))
                line = " ".join(str(exc).split())
                where = "" if len(files) == 1 or src in line else f"{src}: "
                console.print(f"Error: {where}{line}", markup=False, soft_wrap=True)
            else:
                entry.update(
                    ok=True,
                    input_shape=list(report.input_shape),
                    output_shape=list(report.output_shape),
                    seconds=round(report.seconds, 4),
                    notes=report.notes,
                )
                if not quiet:
                    console.print(
                        f"{src} {shape_text(report.input_shape)} -> "
                        f"{shape_text(report.output_shape)}  {_kernel_label(kernels)}  "
                        f"{report.seconds:.2f} s  -> {dst}",
                        markup=False,
                        soft_wrap=True,
                    )
                    for note in report.notes:
                        console.print(f"  note: {note}", markup=False, soft_wrap=True)
            results.append(entry)
            if progress is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    if json_output:
        emit_json({"results": results})
    if codes:
        if len(files) > 1 and not quiet:
            console.print(f"{len(codes)} of {len(files)} inputs failed", markup=False)
        raise typer.Exit(max(codes))
