"""Options shared by several commands, each with its one help text, and their parsing.

Each option type is an ``Annotated`` alias: a command writes
``border: Border = "reflect"`` and gets the same flag, metavar and help as
every other command with ``--border``.  Options only one command has are
defined in that command's module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from convcli.errors import OptionError
from convcli.parsing import int_pair, one_of

# -- geometry ------------------------------------------------------------------------

Padding = Annotated[
    str, typer.Option("--padding", metavar="PAD", help="same, valid, full, P or PH,PW.")
]
Border = Annotated[
    str,
    typer.Option(
        "--border",
        metavar="MODE",
        help=(
            "reflect (default; symmetric, grid-mirror), mirror (reflect101, reflect_101, "
            "default), nearest (edge, replicate), wrap (circular, grid-wrap, tile), constant "
            "(zeros, grid-constant; fills --cval). Any case; OpenCV's BORDER_* names too. "
            "ImageMagick -virtual-pixel: Edge = nearest, Mirror = reflect, Tile = wrap."
        ),
    ),
]
Cval = Annotated[
    float,
    typer.Option("--cval", metavar="V", help="Fill value for constant border (image units)."),
]
Stride = Annotated[str, typer.Option("--stride", metavar="S", help="S or SH,SW.")]
Dilation = Annotated[str, typer.Option("--dilation", metavar="D", help="D or DH,DW.")]
# `shape` takes its stride and dilation for -k kernels only (a --layer has its own s= and d=)
KernelStride = Annotated[str, typer.Option("--stride", metavar="S", help="S or SH,SW (for -k).")]
KernelDilation = Annotated[
    str, typer.Option("--dilation", metavar="D", help="D or DH,DW (for -k).")
]

# -- the kernel as applied -----------------------------------------------------------

Convolve = Annotated[bool, typer.Option("--convolve", help="Flip the kernel (true convolution).")]
Normalize = Annotated[bool, typer.Option("--normalize", help="Divide each kernel by its sum.")]
Scale = Annotated[float, typer.Option("--scale", metavar="S", help="Multiply each kernel by this.")]
Precision = Annotated[str, typer.Option("--precision", metavar="TYPE", help="float32 or float64.")]

# -- resources -----------------------------------------------------------------------

MaxPixels = Annotated[
    int | None,
    typer.Option(
        "--max-pixels", metavar="N", min=1, help="Refuse larger images (default: Pillow's limit)."
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        metavar="N",
        min=1,
        help="Worker threads (default: CONVCLI_THREADS or all cores).",
    ),
]

# -- output --------------------------------------------------------------------------

Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No per-image lines on stderr.")]


def parse_pair(text: str, name: str) -> tuple[int, int]:
    """Parse ``--NAME`` given as ``N`` or ``NH,NW`` (``x`` also accepted), positive integers."""
    pair = int_pair(text)
    if pair is None:
        msg = f"`--{name}` must be a positive integer N or a pair NH,NW; got {text!r}"
        raise OptionError(msg)
    return pair


def check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    """Return ``--NAME``'s ``value`` lower-cased if it is one of ``choices``, else raise."""
    return one_of(value, choices, f"--{name}")


# -- resource limits (robustness) -------------------------------------------------------

MaxMemory = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help=(
            "Refuse work estimated to need more memory, e.g. 4G or 512M "
            "(default: CONVCLI_MAX_MEMORY or 8G)."
        ),
    ),
]

#: The one AxB rule, stated in the help of every command that reads a kernel size.
SIZE_RULE = (
    "Sizes AxB are A high x B wide (rows x columns), e.g. box:7x3; "
    "ImageMagick strings 'WxH: ...' keep IM's width first."
)
