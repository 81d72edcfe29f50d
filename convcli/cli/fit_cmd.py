"""``convcli fit``: find the kernel that best maps an input image to a target."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer

from convcli.cli.options import (
    SIZE_RULE,
    Border,
    Json,
    MaxMemory,
    MaxPixels,
    Padding,
    PlotFile,
    QuietWork,
    check_choice,
)
from convcli.cli.output import emit_json, err_console, out_console, print_weights, shape_text
from convcli.cli.progress import fit_bar
from convcli.errors import OptionError, RangeError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from convcli.conv_options import ConvOptions
    from convcli.grad import FitResult

EPILOG = """Examples:

  convcli filter card.png -k gaussian:sigma=1.5 -o blurred.npy

  convcli fit card.png blurred.npy --size 11 -o learned.toml

  convcli fit card.png blurred.npy --size 5 --method gd --plot fit.png

  convcli filter card.png -k learned.toml -o again.png
"""

SPARK = "▁▂▃▄▅▆▇█"

FitInput = Annotated[str, typer.Argument(metavar="INPUT", help="Input image (or .npy).")]
FitTarget = Annotated[str, typer.Argument(metavar="TARGET", help="Target image (or .npy).")]
Size = Annotated[
    str, typer.Option("--size", metavar="K", help="Kernel size K or KHxKW. " + SIZE_RULE)
]
Method = Annotated[str, typer.Option("--method", metavar="METHOD", help="lstsq or gd.")]
Steps = Annotated[
    int,
    typer.Option(
        "--steps", metavar="N", min=1, help="Most steps for gd (it stops when converged)."
    ),
]
LearningRate = Annotated[
    float | None,
    typer.Option(
        "--lr",
        metavar="LR",
        help="Run gd as Adam at this learning rate (default: line-searched conjugate descent).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", metavar="N", help="Random start for gd.")]
Full = Annotated[
    bool,
    typer.Option(
        "--full/--depthwise", help="(O,C,K,K) kernel, or one 2-D kernel for all channels."
    ),
]
PresetOutput = Annotated[
    str | None,
    typer.Option("-o", "--output", metavar="FILE", help="Write the kernel as a preset .toml."),
]


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


def fit_command(
    input_path: FitInput,
    target_path: FitTarget,
    size: Size,
    method: Method = "lstsq",
    steps: Steps = 500,
    lr: LearningRate = None,
    seed: Seed = 0,
    full: Full = False,
    output: PresetOutput = None,
    padding: Padding = "same",
    border: Border = "reflect",
    max_pixels: MaxPixels = None,
    max_memory: MaxMemory = None,
    plot: PlotFile = None,
    quiet: QuietWork = False,
    json_output: Json = False,
) -> None:
    """Find the kernel that best maps INPUT to TARGET (least squares or gradient descent).

    --plot FILE.png draws the loss curve (gd) and the fitted kernel.
    """
    from convcli.conv_options import ConvOptions
    from convcli.grad import FIT_METHODS, load_unit_image
    from convcli.layers import parse_size
    from convcli.shapes import parse_padding

    method = check_choice(method, FIT_METHODS, "method")
    if lr is not None:
        check_learning_rate(lr)
    ksize = parse_size(size)
    if ksize is None:
        msg = f"`--size` must be K or KHxKW; got {size!r}"
        raise OptionError(msg)
    if output is not None and Path(output).suffix.lower() != ".toml":
        msg = f"`-o` writes a preset .toml file; got {output!r}"
        raise OptionError(msg)
    if plot is not None:
        from convcli.plots import check_plot_path

        check_plot_path(plot)
    x = load_unit_image(input_path, max_pixels)[0]
    t = load_unit_image(target_path, max_pixels)[0]
    opts = ConvOptions(padding=parse_padding(padding), border=border)
    _check_fit_memory(x.shape, t.shape, ksize, opts, method, not full, max_memory)
    result = _fit(x, t, ksize, opts, FitSettings(method, not full, steps, lr, seed, quiet))
    if output is not None:
        _write_preset(output, result, method, input_path, target_path)
    if plot is not None:
        from convcli.plots import plot_fit

        plot_fit(plot, result.kernel, result.history, result.loss)
        if not quiet:
            err_console().print(f"wrote {plot}", markup=False)
    if result.history and not quiet:
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
    _print_fit(result, method, output)


class FitSettings(NamedTuple):
    """The fit's own settings (the geometry travels as a ConvOptions)."""

    method: str
    depthwise: bool
    steps: int
    lr: float | None
    seed: int
    quiet: bool = False


def _check_fit_memory(
    x_shape: tuple[int, ...],
    t_shape: tuple[int, ...],
    ksize: tuple[int, int],
    opts: ConvOptions,
    method: str,
    depthwise: bool,
    max_memory: str | None,
) -> None:
    """Refuse a fit estimated to need more memory than --max-memory, before work."""
    from convcli.budget import check_memory, fit_bytes

    geom = opts.geometry((x_shape[0], x_shape[1]), ksize)
    c = x_shape[2] if len(x_shape) == 3 else 1
    out_c = t_shape[2] if len(t_shape) == 3 else 1
    need = fit_bytes(geom, c, out_c, depthwise=depthwise, method=method)
    check_memory(need, f"fit --method {method} --size {ksize[0]}x{ksize[1]}", max_memory)


def _fit(
    x: npt.NDArray[np.float64],
    t: npt.NDArray[np.float64],
    ksize: tuple[int, int],
    opts: ConvOptions,
    how: FitSettings,
) -> FitResult:
    """Run the fit; gradient descent shows a bar of its steps."""
    from convcli.grad import fit_kernel_with

    def run(callback: Callable[[int, float], object] | None) -> FitResult:
        return fit_kernel_with(
            x,
            t,
            ksize,
            opts,
            method=how.method,
            depthwise=how.depthwise,
            steps=how.steps,
            lr=how.lr,
            seed=how.seed,
            callback=callback,
        )

    if how.method != "gd" or how.quiet:
        return _finite_fit(run(None), how)
    with fit_bar(err_console(), how.steps) as bar:

        def callback(step: int, loss: float) -> object:
            if not math.isfinite(loss):
                msg = (
                    f"gradient descent diverged at step {step} (the loss is {loss}); "
                    f"use a smaller --lr{_than(how.lr)}"
                )
                raise RangeError(msg)
            return bar(step, loss)

        return _finite_fit(run(callback), how)


def _finite_fit(result: FitResult, how: FitSettings) -> FitResult:
    """The result, unless its loss or kernel is not finite (RangeError, exit 2)."""
    import numpy as np

    if not (math.isfinite(result.loss) and np.isfinite(result.kernel).all()):
        hint = f"; use a smaller --lr{_than(how.lr)}" if how.method == "gd" else ""
        msg = f"the fit gave non-finite values (loss {result.loss}){hint}"
        raise RangeError(msg)
    return result


def _than(lr: float | None) -> str:
    return "" if lr is None else f" than {lr:g}"


def check_learning_rate(lr: float) -> float:
    """``--lr`` if it is a finite number in (0, 1e6], else OptionError."""
    if not (math.isfinite(lr) and 0 < lr <= 1e6):
        msg = f"`--lr` must be a positive number of at most 1e6; got {lr!r}"
        raise OptionError(msg)
    return lr


def _write_preset(
    output: str, result: FitResult, method: str, input_path: str, target_path: str
) -> None:
    """Save the learned kernel as a preset ``.toml`` that ``filter -k`` can load."""
    from convcli.atomic import atomic_write
    from convcli.kernelspec import Kernel

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


def _print_fit(result: FitResult, method: str, output: str | None) -> None:
    """The ``fit`` report: the loss, the kernel as a table, how to use the preset."""
    console = out_console()
    console.print(
        f"[bold]{method}[/] fit: mse {result.loss:.6g} (images in [0, 1]), "
        f"kernel {shape_text(result.kernel.shape)}, {result.steps} steps"
    )
    print_weights(console, result.kernel)
    if output is not None:
        console.print(f"wrote {output}  (use it: convcli filter IMAGE -k {output} -o OUT)")
