"""``convcli shape``: explain what a convolution (or a chain of layers) does to a shape."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import typer

from convcli.cli.app import app
from convcli.cli.common import emit_json, out_console, parse_pair, shape_text
from convcli.errors import InputNotFoundError, OptionError

if TYPE_CHECKING:
    from convcli.layers import LayerShape

EPILOG = """Examples:

  convcli shape photo.jpg -k sharpen

  convcli shape 1080x1920x3 -k 5 --stride 2 --padding valid

  convcli shape 224x224x3 --layer k=7,s=2,p=3,c=64 --layer k=3,s=2,p=1 --json
"""

SIZE_RE = re.compile(r"^\s*(\d+)x(\d+)(?:x(\d+))?\s*$", re.IGNORECASE)


def input_shape_of(target: str) -> tuple[int, int, int]:
    """``HxW`` (one channel) / ``HxWxC``, or an image file's shape read from its header."""
    m = SIZE_RE.match(target)
    if m and not os.path.exists(target):
        h, w, c = int(m[1]), int(m[2]), int(m[3] or 1)
        if min(h, w, c) < 1:
            msg = f"image size must be positive; got {target!r}"
            raise OptionError(msg)
        return (h, w, c)
    if not os.path.exists(target):
        msg = f"input file not found: {target} (or give a size as HxW or HxWxC)"
        raise InputNotFoundError(msg)
    from convcli.images import read_shape

    return read_shape(target)


def layer_json(lay: LayerShape) -> dict[str, Any]:
    """The SPEC section 8 entry for one layer (plus a few extra keys)."""
    return {
        "input_shape": list(lay.input_shape),
        "kernel_shape": list(lay.kernel_shape),
        "depthwise": lay.depthwise,
        "padding": [lay.padding[0][0], lay.padding[1][0]],
        "padding_before_after": [list(lay.padding[0]), list(lay.padding[1])],
        "stride": list(lay.stride),
        "dilation": list(lay.dilation),
        "output_shape": list(lay.output_shape),
        "params": lay.params,
        "macs": lay.macs,
        "receptive_field": list(lay.receptive_field),
    }


@app.command("shape", epilog=EPILOG)
def shape_command(
    target: str = typer.Argument(
        ..., metavar="TARGET", help="Image file (size read from its header), HxW or HxWxC."
    ),
    kernel: list[str] = typer.Option(
        [],
        "-k",
        "--kernel",
        metavar="KERNEL",
        help="Kernel size K, KxK, KHxKW, or any kernel spec. Repeat to chain.",
    ),
    layer: list[str] = typer.Option(
        [],
        "--layer",
        metavar="SPEC",
        help="Layer k=3,s=2,p=1,d=1,c=64 (repeat to chain; dw=1 for depthwise).",
    ),
    padding: str = typer.Option(
        "same", "--padding", metavar="PAD", help="same, valid, full, P or PH,PW."
    ),
    stride: str = typer.Option("1", "--stride", metavar="S", help="S or SH,SW (for -k)."),
    dilation: str = typer.Option("1", "--dilation", metavar="D", help="D or DH,DW (for -k)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Explain output shapes: formula with numbers, params, MACs, receptive field."""
    from convcli.layers import layer_shape, parse_layer, parse_size
    from convcli.shapes import parse_padding

    if bool(kernel) == bool(layer):
        msg = "give either -k KERNEL (repeatable) or --layer SPEC (repeatable), not both or neither"
        raise OptionError(msg)
    pad = parse_padding(padding)
    shape = input_shape_of(target)
    layers: list[LayerShape] = []
    rf, jump = (1, 1), (1, 1)
    if kernel:
        st, dl = parse_pair(stride, "stride"), parse_pair(dilation, "dilation")
        for spec in kernel:
            size = parse_size(spec)
            anchor = None
            if size is not None:
                kshape: tuple[int, ...] = size
            else:
                from convcli.kernelspec import load_kernel

                k = load_kernel(spec)
                kshape, anchor = k.shape, k.effective_anchor
            lay = layer_shape(
                shape,
                kshape,
                padding=pad,
                stride=st,
                dilation=dl,
                anchor=anchor,
                receptive_field=rf,
                jump=jump,
            )
            layers.append(lay)
            shape, rf, jump = lay.output_shape, lay.receptive_field, lay.jump
    else:
        for text in layer:
            spec_l = parse_layer(text, default_padding=pad)
            lay = layer_shape(
                shape,
                spec_l.kernel_shape(shape[2]),
                padding=spec_l.padding,
                stride=spec_l.stride,
                dilation=spec_l.dilation,
                receptive_field=rf,
                jump=jump,
            )
            layers.append(lay)
            shape, rf, jump = lay.output_shape, lay.receptive_field, lay.jump
    if json_output:
        emit_json({"layers": [layer_json(lay) for lay in layers]})
        return
    render(layers)


def render(layers: list[LayerShape]) -> None:
    """Print each layer with its formulas, then totals."""
    from convcli.layers import formula_text

    console = out_console()
    for i, lay in enumerate(layers, 1):
        (pt, pb), (pl, pr) = lay.padding
        kind = "depthwise, one 2-D kernel per channel" if lay.depthwise else "O, C, kh, kw"
        console.print(
            f"[bold]layer {i}[/]: {shape_text(lay.input_shape)} -> "
            f"[bold]{shape_text(lay.output_shape)}[/]  (H x W x C)"
        )
        console.print(f"  kernel     {shape_text(lay.kernel_shape)} ({kind})", markup=False)
        console.print(
            f"  padding    rows {pt}+{pb}, cols {pl}+{pr}   stride {lay.stride[0]}x{lay.stride[1]}"
            f"   dilation {lay.dilation[0]}x{lay.dilation[1]}",
            markup=False,
        )
        console.print(f"  {formula_text(lay, 0)}", markup=False, soft_wrap=True)
        console.print(f"  {formula_text(lay, 1)}", markup=False, soft_wrap=True)
        console.print(
            f"  params {lay.params:,}   MACs {lay.macs:,}   "
            f"receptive field {lay.receptive_field[0]}x{lay.receptive_field[1]}",
            markup=False,
        )
    if len(layers) > 1:
        console.print(
            f"[bold]total[/]: params {sum(x.params for x in layers):,}   "
            f"MACs {sum(x.macs for x in layers):,}   output {shape_text(layers[-1].output_shape)}"
        )
