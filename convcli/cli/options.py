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
        "--border", metavar="MODE", help="reflect, mirror, nearest, wrap, constant (or an alias)."
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
Quiet = Annotated[
    bool,
    typer.Option(
        "-q", "--quiet", help="No per-image lines, progress bars or notes on stderr (errors stay)."
    ),
]
QuietWork = Quiet
PlotFile = Annotated[
    str | None,
    typer.Option(
        "--plot",
        metavar="FILE.png",
        help="Also draw the result as a PNG (needs matplotlib: pip install 'convcli[plot]').",
    ),
]


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
