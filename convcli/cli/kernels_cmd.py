"""``convcli kernels``: list presets, show one kernel as it will be applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.cli.options import (
    SIZE_RULE,
    Convolve,
    Json,
    Normalize,
    PlotFile,
    Scale,
    complete_kernel,
)
from convcli.cli.output import (
    emit_json,
    err_console,
    fitted_table,
    out_console,
    print_weights,
    shape_text,
)
from convcli.parsing import one_of

if TYPE_CHECKING:
    from convcli.kernelspec import Kernel
    from convcli.presets import PresetInfo

LIST_EPILOG = """Examples:

  convcli kernels list

  convcli kernels list --category edge --json
"""

SHOW_EPILOG = """Examples:

  convcli kernels show sobel-x

  convcli kernels show "gaussian:sigma=1.5" --json

  convcli kernels show box:3 --scale 2 --convolve

  convcli kernels show gaussian:sigma=20 --full

  convcli kernels show log --plot log.png
"""

Category = Annotated[
    str | None,
    typer.Option(
        "--category",
        "-c",
        metavar="CAT",
        help="Only this category: blur, edge, sharpen, emboss, color, other.",
    ),
]
KernelSpec = Annotated[
    str,
    typer.Argument(
        metavar="KERNEL",
        help="Preset name, generator (gaussian:sigma=2), ImageMagick kernel, inline matrix or "
        "file. " + SIZE_RULE,
        autocompletion=complete_kernel,
    ),
]
Full = Annotated[
    bool,
    typer.Option("--full", help="Print every weight (big kernels are otherwise summarised)."),
]


def preset_summary(p: PresetInfo) -> dict[str, Any]:
    """The ``kernels list`` JSON entry of one preset."""
    return {
        "name": p.name,
        "category": p.category,
        "shape": list(p.shape),
        "sum": p.weight_sum,
        "source": p.source,
        "description": p.description,
    }


def kernels_root(ctx: typer.Context) -> None:
    """List the preset kernels (the default) or show one."""
    if ctx.invoked_subcommand is None:
        list_command(category=None, json_output=False)


def list_command(category: Category = None, json_output: Json = False) -> None:
    """List preset kernels: name, category, shape, sum, source, description."""
    # preset metadata without NumPy (convcli.kernelspec would import it): keeps the listing fast
    from convcli.presets import GENERATOR_SOURCE, list_presets

    problems: list[str] = []
    presets = list_presets(problems=problems)
    for problem in problems:
        err_console().print(f"warning: skipped a preset: {problem}", markup=False, soft_wrap=True)
    if category is not None:
        wanted = one_of(category, sorted({p.category for p in presets}), "--category")
        presets = [p for p in presets if p.category == wanted]
    entries = [preset_summary(p) for p in presets]
    if json_output:
        emit_json({"kernels": entries, **({"warnings": problems} if problems else {})})
        return
    rows = [
        (
            e["name"],
            e["category"],
            shape_text(e["shape"]),
            f"{round(e['sum'], 12) + 0.0:.4g}",  # a zero-sum kernel's 3e-17 shows as 0
            "generator" if e["source"] == GENERATOR_SOURCE else e["source"],  # table: short
            e["description"],
        )
        for e in entries
    ]
    headers = ("name", "category", "shape", "sum", "source", "description")
    # the description gives way first (to 30 columns), then the source, name last
    give_way = ((5, 30), (4, 0), (5, 0), (0, 0))
    table = fitted_table(headers, rows, title=f"{len(entries)} kernels", give_way=give_way)
    out_console().print(table)


def show_command(
    kernel: KernelSpec,
    scale: Scale = 1.0,
    normalize: Normalize = False,
    convolve: Convolve = False,
    full: Full = False,
    plot: PlotFile = None,
    json_output: Json = False,
) -> None:
    """Show a kernel exactly as it will be applied (after --scale/--normalize/--convolve).

    Kernels that do not fit the terminal are summarised (shape, sum, range, the weights
    around the centre, block means); --full prints every weight.  --plot FILE.png draws
    the weights as a heat map and the 2-D frequency response.  For a generator
    (gaussian, box, motion, log, unsharp) the parameters and their defaults are listed.
    """
    from convcli.kernelspec import load_kernel

    if plot is not None:
        from convcli.plots import check_plot_path

        check_plot_path(plot)
    raw = load_kernel(kernel)
    k = raw.transformed(normalize=normalize, scale=scale, flip=convolve)
    w = k.effective_weights
    applied_scale = raw.applied_scale(normalize=normalize, scale=scale)
    if plot is not None:
        from convcli.plots import plot_kernel

        plot_kernel(plot, w, title=k.label)
    if json_output:
        emit_json(
            {
                "name": k.name,
                "shape": list(k.shape),
                "weights": w.tolist(),
                "scale": float(applied_scale),
                "offset": float(k.offset),
                "anchor": list(k.effective_anchor),
                "category": k.category,
                "description": k.description,
                "source": k.source,
                "sum": float(w.sum()),
            }
        )
        return
    console = out_console()
    _print_header(console, k, kernel)
    print_weights(console, w, full=full, hint="; --full prints every weight")
    if plot is not None:
        err_console().print(f"wrote {plot}", markup=False)


def _print_header(console: Any, k: Kernel, spec: str) -> None:
    """Name, category, shape, sum, anchor; description, reference, offset, generator parameters."""
    from rich.markup import escape

    from convcli.presets import GENERATOR_SOURCE, GENERATOR_SPECS

    w = k.effective_weights
    kh, kw = k.shape[-2:]
    console.print(
        f"[bold]{escape(k.label)}[/]  {k.category}  shape {shape_text(k.shape)} "
        f"({kh} high x {kw} wide)  sum {w.sum():.6g}  anchor {k.effective_anchor}"
    )
    _say_which_was_taken(console, spec, k.source)
    if k.description:
        console.print(k.description, markup=False)
    if getattr(k, "reference", ""):
        console.print(f"source of weights: {k.reference}", markup=False)
    if k.offset:
        console.print(f"offset {k.offset:g} (added to every output value)")
    generator = GENERATOR_SPECS.get(spec.split(":")[0].strip().lower())
    if generator is not None and k.source == GENERATOR_SOURCE:
        console.print(
            f"parameters (in order, defaults): {generator.parameters_text()}", markup=False
        )


def _say_which_was_taken(console: Any, spec: str, source: str) -> None:
    """A bare name that is both a convcli preset and an ImageMagick kernel: say which one."""
    from convcli.kernelspec.imagemagick import IM_KERNELS, is_imagemagick_name

    name = spec.strip()
    if ":" in name or source == "ImageMagick kernel" or not is_imagemagick_name(name):
        return
    im_syntax = IM_KERNELS[name.lower()]
    console.print(
        f"taken: convcli's preset {name!r} ({source}); ImageMagick's kernel of that name "
        f"is written with arguments: {im_syntax}",
        markup=False,
    )
