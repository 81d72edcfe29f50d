"""``convcli grad``: a loss and its gradient with respect to a kernel (and the input)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from convcli.errors import OptionError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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
        help="Kernel: preset name (sharpen, gaussian:sigma=2), inline matrix, or file.",
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
        load_unit_image,
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
    x, full_scale = load_unit_image(input_path, max_pixels)
    t = load_unit_image(target, max_pixels)[0] if target is not None and loss != "sum" else None
    opts = ConvOptions(
        padding=parse_padding(padding),
        border=border,
        cval=unit_value(cval, full_scale),
        stride=parse_pair(stride, "stride"),
        dilation=parse_pair(dilation, "dilation"),
        anchor=k.anchor,
        flip=convolve,
    )
    res = loss_and_grad_with(
        x, w, t, opts, loss=loss, with_input_grad=bool(save_input or plot), threads=threads
    )
    checked = check_gradients_with(x, w, t, opts, loss=loss, threads=threads) if check else None
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
            f"finite-difference check ({checked.n_kernel} kernel entries, "
            f"{checked.n_pixels} pixels): max abs err {checked.max_abs_err:.3g}, "
            f"max rel err {checked.max_rel_err:.3g}  {verdict}"
        )
