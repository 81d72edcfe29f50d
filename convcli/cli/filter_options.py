"""The options only ``convcli filter`` has, as ``Annotated`` types (shared ones: options.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from convcli.cli.options import SIZE_RULE, complete_kernel

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
        help="Kernel: preset name (sharpen, gaussian:sigma=2), ImageMagick kernel "
        "(Gaussian:0x2, Sobel:90), inline matrix, or file. Repeat to chain kernels. " + SIZE_RULE,
        autocompletion=complete_kernel,
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
Alpha = Annotated[
    str,
    typer.Option(
        "--alpha",
        metavar="MODE",
        help=(
            "keep (default: alpha unchanged; for blurs colour is alpha-weighted, so colour "
            "under transparent pixels never bleeds), plain (colour filtered as is), filter "
            "(alpha filtered too) or premultiply (as ImageMagick/GIMP)."
        ),
    ),
]
InputRange = Annotated[
    str | None,
    typer.Option(
        "--input-range",
        metavar="A,B",
        help="Map input values from A..B to the full range first (e.g. 0,1 for float data).",
    ),
]
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
