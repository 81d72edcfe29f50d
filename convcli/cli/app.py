"""The Typer application objects shared by the command modules."""

from __future__ import annotations

import typer

from convcli import __version__

HELP = """Filter images with convolution kernels, explain output shapes, and compute
kernel gradients.

Examples:

  convcli filter photo.png -k sharpen -o sharp.png

  convcli kernels list --category edge

  convcli shape 224x224x3 --layer k=7,s=2,p=3,c=64 --layer k=3,s=2,p=1
"""

app = typer.Typer(
    name="convcli",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    pretty_exceptions_enable=False,
)

kernels_app = typer.Typer(
    help="List the preset kernels or show one as it will be applied.",
    epilog="Examples:\n\n  convcli kernels\n\n  convcli kernels list --category blur --json"
    "\n\n  convcli kernels show gaussian:sigma=2",
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
app.add_typer(kernels_app, name="kernels")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"convcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show Python tracebacks for errors (also accepted after a command)."
    ),
) -> None:
    """Filter images with convolution kernels; explain shapes; compute gradients."""
