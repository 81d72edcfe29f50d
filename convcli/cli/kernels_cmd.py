"""``convcli kernels``: list presets, show one kernel as it will be applied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcli.cli.options import SIZE_RULE, Convolve, Json, Normalize, Scale
from convcli.cli.output import emit_json, out_console, print_weights, shape_text
from convcli.parsing import one_of

if TYPE_CHECKING:
    from convcli.presets import PresetInfo

LIST_EPILOG = """Examples:

  convcli kernels list

  convcli kernels list --category edge --json
"""

SHOW_EPILOG = """Examples:

  convcli kernels show sobel-x

  convcli kernels show "gaussian:sigma=1.5" --json

  convcli kernels show box:3 --scale 2 --convolve
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
    str, typer.Argument(help="Preset name, ImageMagick kernel, inline matrix or file. " + SIZE_RULE)
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
    from convcli.presets import list_presets

    presets = list_presets()
    if category is not None:
        wanted = one_of(category, sorted({p.category for p in presets}), "--category")
        presets = [p for p in presets if p.category == wanted]
    entries = [preset_summary(p) for p in presets]
    if json_output:
        emit_json({"kernels": entries})
        return
    from rich.table import Table

    table = Table(title=f"{len(entries)} kernels", title_justify="left")
    for col in ("name", "category", "shape", "sum", "source"):
        table.add_column(col, no_wrap=True)
    table.add_column("description", overflow="fold", ratio=1)
    for e in entries:
        table.add_row(
            e["name"],
            e["category"],
            shape_text(e["shape"]),
            f"{e['sum']:.4g}",
            e["source"],
            e["description"],
        )
    out_console().print(table)


def show_command(
    kernel: KernelSpec,
    scale: Scale = 1.0,
    normalize: Normalize = False,
    convolve: Convolve = False,
    json_output: Json = False,
) -> None:
    """Show a kernel exactly as it will be applied (after --scale/--normalize/--convolve)."""
    from convcli.kernelspec import load_kernel

    raw = load_kernel(kernel)
    k = raw.transformed(normalize=normalize, scale=scale, flip=convolve)
    w = k.effective_weights
    applied_scale = raw.applied_scale(normalize=normalize, scale=scale)
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
    kh, kw = k.shape[-2:]
    console.print(
        f"[bold]{k.name}[/]  {k.category}  shape {shape_text(k.shape)} "
        f"({kh} high x {kw} wide)  sum {w.sum():.6g}  anchor {k.effective_anchor}"
    )
    _say_which_was_taken(console, kernel, k.source)
    if k.description:
        console.print(k.description, markup=False)
    if getattr(k, "reference", ""):
        console.print(f"source of weights: {k.reference}", markup=False)
    if k.offset:
        console.print(f"offset {k.offset:g} (added to every output value)")
    print_weights(console, w)


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
