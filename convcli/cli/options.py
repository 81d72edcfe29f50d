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
        autocompletion=lambda incomplete: complete_border(incomplete),  # defined below
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

# -- help sections shared by the commands' --help ------------------------------------
# Static text so --help imports nothing (convcli.presets costs ~50 ms); tests/test_help.py
# checks each against the tables it copies (generators, border aliases, config's variables).

KERNEL_SYNTAX_HELP = """\b
Kernel specs (-k), one example each:
  preset       sharpen     (convcli kernels lists them)
  generator    gaussian:sigma=2,size=9   (positional too: motion:15,30)
  inline       "0,-1,0; -1,5,-1; 0,-1,0"   (rows by ';', values by ',')
  ImageMagick  "3x3: 0,-1,0,-1,5,-1,0,-1,0" ("WxH+X+Y: ..." anchor at X, Y)
  file         kernel.txt  (.txt .csv .mat numbers, .toml preset, .npy array)

\b
Generators and their parameters (in order, defaults):
  box       size=3            (box:5, box:7x3 is 7 wide, 3 high)
  gaussian  sigma=1, size=2*ceil(3*sigma)+1
  log       sigma=1.4, size=2*ceil(3*sigma)+1
  motion    length=9, angle=0 (degrees, counter-clockwise from +x)
  unsharp   sigma=1, amount=1, size=2*ceil(3*sigma)+1
"""

BORDER_HELP = """\b
Borders (--border; aliases in brackets, any case, OpenCV's BORDER_* too):
  reflect (symmetric, grid_mirror)  mirror (reflect101, reflect_101, default)
  nearest (edge, replicate)  wrap (circular, grid_wrap, tile)
  constant (zeros, grid_constant; fill: --cval)
"""


def environment_help(*names: str) -> str:
    """The ``Environment:`` section of a command's help, for the variables it reads."""
    texts = {
        "CONVCLI_THREADS": "worker threads without --threads (default: all cores)",
        "CONVCLI_KERNEL_PATH": "folders of your preset .toml files, separated by ':'",
    }
    width = max(len(n) for n in names)
    rows = "\n".join(f"  {n.ljust(width)}  {texts[n]}" for n in names)
    return f"\b\nEnvironment:\n{rows}\n"


def command_epilog(examples: str, *sections: str) -> str:
    """A command's epilog: its own text (examples), then the shared sections."""
    return "\n".join([examples.rstrip() + "\n", *sections])


# -- shell completion (called only while completing, so nothing here runs on --help) --------


def complete_kernel(incomplete: str) -> list[str]:
    """Preset and generator names starting with what was typed (``sob`` -> sobel-x, sobel-y)."""
    from convcli.presets import list_presets

    names = [p.name for p in list_presets(problems=[])]
    return [n for n in names if n.startswith(incomplete.lower())]


BORDER_NAMES = (
    "reflect symmetric grid_mirror mirror reflect101 reflect_101 default nearest edge replicate "
    "wrap circular grid_wrap tile constant zeros grid_constant"
).split()


def complete_border(incomplete: str) -> list[str]:
    """Border modes and aliases starting with what was typed."""
    return [n for n in BORDER_NAMES if n.startswith(incomplete.lower())]
