"""``convcli shape``: explain what a convolution (or a chain of layers) does to a shape."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.cli.options import SIZE_RULE, Json, KernelDilation, KernelStride, Padding, parse_pair
from convcli.cli.output import emit_json, out_console, shape_text
from convcli.errors import InputNotFoundError, OptionError

if TYPE_CHECKING:
    from convcli.layers import LayerShape
    from convcli.shapes import Pair

EPILOG = """Examples:

  convcli shape photo.jpg -k sharpen

  convcli shape 1080x1920x3 -k 5 --stride 2 --padding valid

  convcli shape 224x224x3 --layer k=7,s=2,p=3,c=64 --layer k=3,s=2,p=1 --json
"""

SIZE_RE = re.compile(r"^\s*(\d+)x(\d+)(?:x(\d+))?\s*$", re.IGNORECASE)

ShapeTarget = Annotated[
    str,
    typer.Argument(metavar="TARGET", help="Image file (size read from its header), HxW or HxWxC."),
]
KernelSizes = Annotated[
    list[str],
    typer.Option(
        "-k",
        "--kernel",
        metavar="KERNEL",
        help="Kernel size K, KxK, KHxKW, or any kernel spec. Repeat to chain. " + SIZE_RULE,
    ),
]
Layers = Annotated[
    list[str],
    typer.Option(
        "--layer",
        metavar="SPEC",
        help="Layer k=3,s=2,p=1,d=1,c=64 (repeat to chain; dw=1 for depthwise).",
    ),
]


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


def kernel_shape_of(spec: str) -> tuple[tuple[int, ...], Pair | None]:
    """A ``-k`` value: a bare size (centred anchor), else the shape and anchor of that kernel."""
    from convcli.layers import parse_size

    size = parse_size(spec)
    if size is not None:
        return size, None
    from convcli.kernelspec import load_kernel

    k = load_kernel(spec)
    return k.shape, k.effective_anchor


def layer_json(lay: LayerShape) -> dict[str, Any]:
    """The ``shape --json`` entry for one layer."""
    from convcli.layers import formula_text

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
        "formulas": {"height": formula_text(lay, 0), "width": formula_text(lay, 1)},
    }


def shape_doc(layers: list[LayerShape]) -> dict[str, Any]:
    """The ``shape --json`` document: every layer, and the totals over the chain."""
    total = {
        "params": sum(lay.params for lay in layers),
        "macs": sum(lay.macs for lay in layers),
        "input_shape": list(layers[0].input_shape),
        "output_shape": list(layers[-1].output_shape),
        "receptive_field": list(layers[-1].receptive_field),
        "layers": len(layers),
    }
    return {"layers": [layer_json(lay) for lay in layers], "total": total}


def shape_command(
    target: ShapeTarget,
    kernel: KernelSizes = [],  # noqa: B006  (typer copies the default)
    layer: Layers = [],  # noqa: B006
    padding: Padding = "same",
    stride: KernelStride = "1",
    dilation: KernelDilation = "1",
    json_output: Json = False,
) -> None:
    """Explain output shapes: formula with numbers, params, MACs, receptive field."""
    from convcli.layers import chain_kernels, chain_layers, parse_layer
    from convcli.shapes import parse_padding

    if bool(kernel) == bool(layer):
        msg = "give either -k KERNEL (repeatable) or --layer SPEC (repeatable), not both or neither"
        raise OptionError(msg)
    pad = parse_padding(padding)
    shape = input_shape_of(target)
    # generators: each spec is parsed just before its layer is computed, as errors are reported
    if kernel:
        st, dl = parse_pair(stride, "stride"), parse_pair(dilation, "dilation")
        kernels = (kernel_shape_of(spec) for spec in kernel)
        layers = chain_kernels(shape, kernels, padding=pad, stride=st, dilation=dl)
    else:
        specs = (parse_layer(text, default_padding=pad) for text in layer)
        layers = chain_layers(shape, specs)
    if json_output:
        emit_json(shape_doc(layers))
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
