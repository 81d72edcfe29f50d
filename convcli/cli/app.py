"""The Typer application: the root options and every command, in the order help lists them.

The command modules define plain functions; they are registered here so
that no command module imports another one or this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from convcli import __version__
from convcli.cli import filter_cmd, fit_cmd, grad_cmd, kernels_cmd, shape_cmd

HELP = """Filter images with convolution kernels, explain output shapes, and compute
kernel gradients.

Examples:

  convcli filter photo.png -k sharpen -o sharp.png

  convcli kernels list --category edge

  convcli shape 224x224x3 --layer k=7,s=2,p=3,c=64 --layer k=3,s=2,p=1
"""


def _limits_epilog() -> str:
    """The resource limits, one paragraph each (click keeps paragraphs apart)."""
    from convcli import config

    lines = [
        "Limits (environment variables; sizes take K/M/G suffixes; --max-pixels and "
        "--max-memory override two of them per command):"
    ]
    lines += [
        f"  {s.env} (default {config.describe_size(s.default, s.unit)}): {s.what}"
        for s in config.LIMITS.values()
    ]
    return "\n\n".join(lines)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

app = typer.Typer(
    name="convcli",
    help=HELP,
    epilog=_limits_epilog(),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
)

kernels_app = typer.Typer(
    help="List the preset kernels or show one as it will be applied.",
    epilog="Examples:\n\n  convcli kernels\n\n  convcli kernels list --category blur --json"
    "\n\n  convcli kernels show gaussian:sigma=2",
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
app.add_typer(kernels_app, name="kernels")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"convcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show Python tracebacks for errors (also accepted after a command)."
        ),
    ] = False,
) -> None:
    """Filter images with convolution kernels; explain shapes; compute gradients."""


app.command("filter", epilog=filter_cmd.EPILOG)(filter_cmd.filter_command)
app.command("grad", epilog=grad_cmd.EPILOG)(grad_cmd.grad_command)
app.command("fit", epilog=fit_cmd.EPILOG)(fit_cmd.fit_command)
app.command("shape", epilog=shape_cmd.EPILOG)(shape_cmd.shape_command)
kernels_app.callback(invoke_without_command=True)(kernels_cmd.kernels_root)
kernels_app.command("list", epilog=kernels_cmd.LIST_EPILOG)(kernels_cmd.list_command)
kernels_app.command("show", epilog=kernels_cmd.SHOW_EPILOG)(kernels_cmd.show_command)
