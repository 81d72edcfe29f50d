"""``convcli grad`` and ``convcli fit``: gradients of a loss with respect to a kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from convcli.cli.app import app
from convcli.cli.common import (
    check_choice,
    emit_json,
    err_console,
    out_console,
    parse_pair,
    print_weights,
    shape_text,
)
from convcli.errors import OptionError

GRAD_EPILOG = """Images are scaled to [0, 1] (8-bit /255, 16-bit /65535) and the loss is
computed in float64 on conv(x, w) (a preset's offset is not part of it).

Examples:

  convcli grad card.png -k sobel-x --loss sum

  convcli grad card.png -k box:5 --target blurred.png --loss mse --check

  convcli grad card.png -k sharpen --target t.png --save-kernel-grad dw.npy --json

  convcli grad card.png -k sharpen --target t.png --save-input-grad dx.png
"""

FIT_EPILOG = """Examples:

  convcli filter card.png -k gaussian:sigma=1.5 -o blurred.npy

  convcli fit card.png blurred.npy --size 11 -o learned.toml

  convcli fit card.png blurred.npy --size 5 --method gd --steps 300 --lr 0.02

  convcli filter card.png -k learned.toml -o again.png
"""

SPARK = "▁▂▃▄▅▆▇█"


@app.command("grad", epilog=GRAD_EPILOG)
def grad_command(
    input_path: str = typer.Argument(..., metavar="INPUT", help="Input image (or .npy)."),
    kernel: str = typer.Option(..., "-k", "--kernel", metavar="KERNEL", help="Kernel spec."),
    target: str | None = typer.Option(
        None, "--target", metavar="IMAGE", help="Target image (required except for --loss sum)."
    ),
    loss: str = typer.Option("mse", "--loss", metavar="LOSS", help="mse, sse, l1 or sum."),
    save_kernel: str | None = typer.Option(
        None, "--save-kernel-grad", metavar="PATH", help="Write dL/dw as .npy or .json."
    ),
    save_input: str | None = typer.Option(
        None, "--save-input-grad", metavar="PATH", help="Write dL/dx as .npy or an image."
    ),
    check: bool = typer.Option(False, "--check", help="Compare with finite differences."),
    padding: str = typer.Option("same", "--padding", metavar="PAD", help="same, valid, full, P."),
    border: str = typer.Option("reflect", "--border", metavar="MODE", help="Border mode."),
    cval: float = typer.Option(0.0, "--cval", metavar="V", help="Constant fill (image units)."),
    stride: str = typer.Option("1", "--stride", metavar="S", help="S or SH,SW."),
    dilation: str = typer.Option("1", "--dilation", metavar="D", help="D or DH,DW."),
    convolve: bool = typer.Option(False, "--convolve", help="Flip the kernel (true convolution)."),
    normalize: bool = typer.Option(False, "--normalize", help="Divide the kernel by its sum."),
    scale: float = typer.Option(1.0, "--scale", metavar="S", help="Multiply the kernel by this."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", metavar="N", min=1),
    threads: int | None = typer.Option(None, "--threads", metavar="N", min=1),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Loss and its gradient with respect to the kernel (and the input)."""
    from convcli.grad import (
        LOSSES,
        check_gradients,
        load_unit_image,
        loss_and_grad,
        save_input_grad,
        save_kernel_grad,
        unit_value,
    )
    from convcli.images import output_format
    from convcli.kernelspec import load_kernel
    from convcli.shapes import parse_padding

    loss = check_choice(loss, LOSSES, "loss")
    if target is None and loss != "sum":
        msg = f"`--target IMAGE` is required for --loss {loss} (only --loss sum needs none)"
        raise OptionError(msg)
    if save_input and Path(save_input).suffix.lower() != ".npy":
        output_format(save_input)
    k = load_kernel(kernel).transformed(normalize=normalize, scale=scale)
    w = k.effective_weights
    x, full_scale = load_unit_image(input_path, max_pixels)
    t = load_unit_image(target, max_pixels)[0] if target is not None and loss != "sum" else None
    options: dict[str, Any] = {
        "padding": parse_padding(padding),
        "border": border,
        "cval": unit_value(cval, full_scale),
        "stride": parse_pair(stride, "stride"),
        "dilation": parse_pair(dilation, "dilation"),
        "flip": convolve,
        "anchor": k.anchor,
        "threads": threads,
    }
    res = loss_and_grad(x, w, t, loss=loss, with_input_grad=bool(save_input), **options)
    checked = None
    if check:
        options.pop("threads")
        checked = check_gradients(x, w, t, loss=loss, threads=threads, **options)
    if save_kernel:
        save_kernel_grad(Path(save_kernel), res.kernel_grad)
    if save_input and res.input_grad is not None:
        save_input_grad(Path(save_input), res.input_grad)
    check_doc = None
    if checked is not None:
        check_doc = {
            "max_abs_err": checked.max_abs_err,
            "max_rel_err": checked.max_rel_err,
            "ok": checked.ok,
            "n_kernel": checked.n_kernel,
            "n_pixels": checked.n_pixels,
        }
    if json_output:
        emit_json(
            {
                "loss_name": loss,
                "loss": res.loss,
                "kernel_shape": list(w.shape),
                "kernel_grad": res.kernel_grad.tolist(),
                "input_grad_shape": (
                    list(res.input_grad.shape) if res.input_grad is not None else None
                ),
                "output_shape": list(res.output.shape),
                "check": check_doc,
            }
        )
    else:
        console = out_console()
        console.print(
            f"[bold]{loss}[/] loss = {res.loss:.10g}   input {shape_text(x.shape)} -> output "
            f"{shape_text(res.output.shape)}   kernel {k.name} {shape_text(w.shape)}"
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
    if checked is not None and not checked.ok:
        err_console().print(
            "Error: analytic and finite-difference gradients disagree beyond tolerance",
            markup=False,
        )
        raise typer.Exit(1)


def sparkline(values: list[float], width: int = 60) -> str:
    """A one-line loss curve (log scale), ``width`` characters at most."""
    import numpy as np

    if not values:
        return ""
    v = np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-300))
    if len(v) > width:
        v = v[np.linspace(0, len(v) - 1, width).round().astype(int)]
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return SPARK[0] * len(v)
    idx = np.rint((v - lo) / (hi - lo) * (len(SPARK) - 1)).astype(int)
    return "".join(SPARK[i] for i in idx)


@app.command("fit", epilog=FIT_EPILOG)
def fit_command(
    input_path: str = typer.Argument(..., metavar="INPUT", help="Input image (or .npy)."),
    target_path: str = typer.Argument(..., metavar="TARGET", help="Target image (or .npy)."),
    size: str = typer.Option(..., "--size", metavar="K", help="Kernel size K or KHxKW."),
    method: str = typer.Option("lstsq", "--method", metavar="METHOD", help="lstsq or gd."),
    steps: int = typer.Option(500, "--steps", metavar="N", min=1, help="Steps for gd."),
    lr: float = typer.Option(0.01, "--lr", metavar="LR", help="Adam learning rate for gd."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Random start for gd."),
    full: bool = typer.Option(
        False, "--full/--depthwise", help="(O,C,K,K) kernel, or one 2-D kernel for all channels."
    ),
    output: str | None = typer.Option(
        None, "-o", "--output", metavar="FILE", help="Write the kernel as a preset .toml."
    ),
    padding: str = typer.Option("same", "--padding", metavar="PAD", help="same, valid, full, P."),
    border: str = typer.Option("reflect", "--border", metavar="MODE", help="Border mode."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", metavar="N", min=1),
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Find the kernel that best maps INPUT to TARGET (least squares or Adam)."""
    from convcli.atomic import atomic_write
    from convcli.grad import FIT_METHODS, fit_kernel, load_unit_image
    from convcli.kernelspec import Kernel
    from convcli.layers import parse_size
    from convcli.shapes import parse_padding

    method = check_choice(method, FIT_METHODS, "method")
    ksize = parse_size(size)
    if ksize is None:
        msg = f"`--size` must be K or KHxKW; got {size!r}"
        raise OptionError(msg)
    if output is not None and Path(output).suffix.lower() != ".toml":
        msg = f"`-o` writes a preset .toml file; got {output!r}"
        raise OptionError(msg)
    x = load_unit_image(input_path, max_pixels)[0]
    t = load_unit_image(target_path, max_pixels)[0]
    kwargs: dict[str, Any] = {
        "method": method,
        "depthwise": not full,
        "padding": parse_padding(padding),
        "border": border,
        "steps": steps,
        "lr": lr,
        "seed": seed,
    }
    if method == "gd":
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("fitting"),
            BarColumn(),
            TextColumn("step {task.completed}/{task.total}  loss {task.fields[loss]:.4g}"),
            TimeRemainingColumn(),
            console=err_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("fit", total=steps, loss=float("nan"))
            result = fit_kernel(
                x, t, ksize, callback=lambda i, v: bar.update(task, completed=i, loss=v), **kwargs
            )
    else:
        result = fit_kernel(x, t, ksize, **kwargs)
    if output is not None:
        learned = Kernel(
            name=Path(output).stem,
            weights=result.kernel,
            category="other",
            description=f"Fitted by convcli fit ({method}) mapping {Path(input_path).name} "
            f"to {Path(target_path).name}; mse {result.loss:.3g} on [0, 1] images.",
            reference="convcli fit",
        )
        with atomic_write(output) as tmp:
            tmp.write_text(learned.to_toml())
    if result.history:
        err_console().print(
            f"loss {result.history[0]:.3g} -> {result.loss:.3g}  {sparkline(result.history)}",
            markup=False,
        )
    if json_output:
        emit_json(
            {
                "method": result.method,
                "loss": result.loss,
                "kernel": result.kernel.tolist(),
                "steps": result.steps,
                "kernel_shape": list(result.kernel.shape),
                "history": result.history,
            }
        )
        return
    console = out_console()
    console.print(
        f"[bold]{method}[/] fit: mse {result.loss:.6g} (images in [0, 1]), "
        f"kernel {shape_text(result.kernel.shape)}, {result.steps} steps"
    )
    print_weights(console, result.kernel)
    if output is not None:
        console.print(f"wrote {output}  (use it: convcli filter IMAGE -k {output} -o OUT)")
