"""``convcli grad``: a loss and its gradient with respect to a kernel (and the input)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.cli.options import (
    SIZE_RULE,
    Border,
    Convolve,
    Cval,
    Dilation,
    Json,
    MaxMemory,
    MaxPixels,
    Normalize,
    Padding,
    PlotFile,
    QuietWork,
    Scale,
    Stride,
    Threads,
    check_choice,
    complete_kernel,
    parse_pair,
)
from convcli.cli.output import (
    emit_json,
    err_console,
    error_doc,
    error_line,
    out_console,
    print_weights,
    shape_text,
)
from convcli.cli.progress import SlowWorkBar
from convcli.errors import OptionError, RangeError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from convcli.conv_options import ConvOptions
    from convcli.grad import GradCheck, GradResult
    from convcli.kernelspec import Kernel

EPILOG = """Images are scaled to [0, 1] (8-bit /255, 16-bit /65535) and the loss is
computed in float64 on conv(x, w) (a preset's offset is not part of it).

Examples:

  convcli grad card.png -k sobel-x --loss sum

  convcli grad card.png -k box:5 --target blurred.png --loss mse --check

  convcli grad card.png -k sharpen --target t.png --save-kernel-grad dw.npy --json

  convcli grad card.png -k sharpen --target t.png --save-input-grad dx.png

  convcli grad card.png -k box:3 --target blurred.png --plot grad.png
"""


GradInput = Annotated[str, typer.Argument(metavar="INPUT", help="Input image (or .npy).")]
OneKernel = Annotated[
    str,
    typer.Option(
        "-k",
        "--kernel",
        metavar="KERNEL",
        help="Kernel spec. " + SIZE_RULE,
        autocompletion=complete_kernel,
    ),
]
Target = Annotated[
    str | None,
    typer.Option(
        "--target", metavar="IMAGE", help="Target image (required except for --loss sum)."
    ),
]
Loss = Annotated[str, typer.Option("--loss", metavar="LOSS", help="mse, sse, l1 or sum.")]
SaveKernelGrad = Annotated[
    str | None,
    typer.Option("--save-kernel-grad", metavar="PATH", help="Write dL/dw as .npy or .json."),
]
SaveInputGrad = Annotated[
    str | None,
    typer.Option("--save-input-grad", metavar="PATH", help="Write dL/dx as .npy or an image."),
]
Check = Annotated[bool, typer.Option("--check", help="Compare with finite differences.")]


def grad_command(
    input_path: GradInput,
    kernel: OneKernel,
    target: Target = None,
    loss: Loss = "mse",
    save_kernel: SaveKernelGrad = None,
    save_input: SaveInputGrad = None,
    check: Check = False,
    padding: Padding = "same",
    border: Border = "reflect",
    cval: Cval = 0.0,
    stride: Stride = "1",
    dilation: Dilation = "1",
    convolve: Convolve = False,
    normalize: Normalize = False,
    scale: Scale = 1.0,
    max_pixels: MaxPixels = None,
    max_memory: MaxMemory = None,
    threads: Threads = None,
    plot: PlotFile = None,
    quiet: QuietWork = False,
    json_output: Json = False,
) -> None:
    """Loss and its gradient with respect to the kernel (and the input).

    --plot FILE.png draws dL/dw and dL/dx (dL/dx colours limited at the 99th percentile
    of |dL/dx|, so a few large values at edges don't flatten the rest).
    """
    from convcli.conv_options import ConvOptions
    from convcli.grad import (
        check_gradients_with,
        loss_and_grad_with,
        save_input_grad,
        save_kernel_grad,
        unit_value,
    )
    from convcli.kernelspec import load_kernel
    from convcli.shapes import parse_padding

    loss = _check_grad_options(loss, target, save_input)
    if plot is not None:
        from convcli.plots import check_plot_path

        check_plot_path(plot)
    k = load_kernel(kernel).transformed(normalize=normalize, scale=scale)
    w = k.effective_weights
    x, full_scale = _load_colours(input_path, max_pixels)
    t = None
    if target is not None and loss != "sum":
        t = _load_colours(target, max_pixels)[0]
    opts = ConvOptions(
        padding=parse_padding(padding),
        border=border,
        cval=unit_value(cval, full_scale),
        stride=parse_pair(stride, "stride"),
        dilation=parse_pair(dilation, "dilation"),
        anchor=k.anchor,
        flip=convolve,
    )
    _check_grad_memory(x.shape, w.shape, opts, bool(save_input), check, max_memory)
    import numpy as np

    bar = SlowWorkBar(err_console())
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # _check_finite reports overflow
            res = loss_and_grad_with(
                x,
                w,
                t,
                opts,
                loss=loss,
                with_input_grad=bool(save_input or plot),
                threads=threads,
                progress=bar,
            )
        _check_finite(res)
        checked = None
        if check:
            checked = check_gradients_with(x, w, t, opts, loss=loss, threads=threads, progress=bar)
    finally:
        bar.close()
    if save_kernel:
        save_kernel_grad(Path(save_kernel), res.kernel_grad)
    if save_input and res.input_grad is not None:
        save_input_grad(Path(save_input), res.input_grad)
    if plot is not None:
        from convcli.plots import plot_grad

        plot_grad(plot, res.kernel_grad, res.input_grad)
        if not quiet:
            err_console().print(f"wrote {plot}", markup=False)
    failed = checked is not None and not checked.ok
    message = "analytic and finite-difference gradients disagree beyond tolerance"
    if json_output:
        doc = _grad_doc(loss, res, w, checked)
        emit_json({**doc, "error": error_doc(message, 1)} if failed else doc)
    else:
        _print_grad(loss, res, x.shape, k, w, checked)
    if failed:
        err_console().print(error_line(message), markup=False)
        raise typer.Exit(1)


def _load_colours(path: str, max_pixels: int | None) -> tuple[npt.NDArray[np.float64], float]:
    """An image in [0, 1] without its alpha channel (with a note on stderr when it had one)."""
    from convcli.grad import load_unit_colours

    pixels, full_scale, dropped = load_unit_colours(path, max_pixels)
    if dropped:
        err_console().print(
            f"note: {path} has an alpha channel; grad uses its colour channels only",
            markup=False,
        )
    return pixels, full_scale


def _check_finite(res: GradResult) -> None:
    """Refuse a loss or gradient that overflowed float64 (RangeError, exit 2), before printing."""
    import numpy as np

    parts = [np.asarray(res.loss), res.kernel_grad]
    if res.input_grad is not None:
        parts.append(res.input_grad)
    if not all(np.isfinite(p).all() for p in parts):
        msg = (
            f"the loss or its gradient overflows float64 (loss {float(res.loss):.3g}); "
            "use smaller kernel weights (--scale) or a smaller image"
        )
        raise RangeError(msg)


def _check_grad_memory(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    opts: ConvOptions,
    input_grad: bool,
    check: bool,
    max_memory: str | None,
) -> None:
    """Refuse a gradient estimated to need more memory than --max-memory, before work."""
    from convcli.budget import check_memory, grad_bytes

    geom = opts.geometry((x_shape[0], x_shape[1]), (w_shape[-2], w_shape[-1]))
    c = x_shape[2] if len(x_shape) == 3 else 1
    out_c = w_shape[0] if len(w_shape) == 4 else c
    need = grad_bytes(geom, c, out_c, input_grad=input_grad, check=check)
    check_memory(need, "grad" + (" --check" if check else ""), max_memory)


def _check_grad_options(loss: str, target: str | None, save_input: str | None) -> str:
    """The loss name, once --loss, --target and --save-input-grad fit together."""
    from convcli.grad import LOSSES
    from convcli.images import output_format

    loss = check_choice(loss, LOSSES, "loss")
    if target is None and loss != "sum":
        msg = f"`--target IMAGE` is required for --loss {loss} (only --loss sum needs none)"
        raise OptionError(msg)
    if save_input and Path(save_input).suffix.lower() != ".npy":
        output_format(save_input)
    return loss


def _grad_doc(
    loss: str, res: GradResult, w: npt.NDArray[np.float64], checked: GradCheck | None
) -> dict[str, Any]:
    """The ``grad --json`` document."""
    check_doc = None
    if checked is not None:
        check_doc = {
            "max_abs_err": checked.max_abs_err,
            "max_rel_err": checked.max_rel_err,
            "ok": checked.ok,
            "n_kernel": checked.n_kernel,
            "n_pixels": checked.n_pixels,
            "kernel_size": checked.kernel_size,
            "image_size": checked.image_size,
        }
    return {
        "loss_name": loss,
        "loss": res.loss,
        "kernel_shape": list(w.shape),
        "kernel_grad": res.kernel_grad.tolist(),
        "input_grad_shape": (list(res.input_grad.shape) if res.input_grad is not None else None),
        "output_shape": list(res.output.shape),
        "check": check_doc,
    }


def _print_grad(
    loss: str,
    res: GradResult,
    x_shape: tuple[int, ...],
    k: Kernel,
    w: npt.NDArray[np.float64],
    checked: GradCheck | None,
) -> None:
    """The ``grad`` report: loss and shapes, dL/dw as a table, the check's verdict."""
    console = out_console()
    console.print(
        f"[bold]{loss}[/] loss = {res.loss:.10g}   input {shape_text(x_shape)} -> output "
        f"{shape_text(res.output.shape)}   kernel {k.label} {shape_text(w.shape)}"
    )
    console.print("dL/dw (kernel gradient, same shape as the kernel):")
    print_weights(console, res.kernel_grad)
    if checked is not None:
        verdict = "[green]ok[/]" if checked.ok else "[red]MISMATCH[/]"
        console.print(
            f"finite-difference check ({checked.n_kernel} of {checked.kernel_size} kernel"
            f" entries, {checked.n_pixels} of {checked.image_size} pixel values): max abs err"
            f" {checked.max_abs_err:.3g}, "
            f"max rel err {checked.max_rel_err:.3g}  {verdict}"
        )
