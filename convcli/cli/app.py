"""The Typer application: the root options and every command, in the order help lists them.

The command modules define plain functions; they are registered here so
that no command module imports another one or this module.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from convcli import __version__
from convcli.cli import filter_cmd, fit_cmd, grad_cmd, kernels_cmd, shape_cmd
from convcli.cli.options import (
    BORDER_HELP,
    KERNEL_SYNTAX_HELP,
    command_epilog,
    environment_help,
)

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
    add_completion=True,
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


class Command(TyperCommand):
    """A command whose usage line reads ``convcli grad [OPTIONS] INPUT`` (not ``{INPUT}``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # noqa: D102
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            for piece in param.get_usage_pieces(ctx):
                if piece.startswith("{") and piece.endswith("}"):
                    piece = piece[1:-1] + ("..." if param.nargs == -1 else "")
                pieces.append(piece)
        return pieces


THREADS, KERNEL_PATH = "CONVCLI_THREADS", "CONVCLI_KERNEL_PATH"
EPILOGS = {
    "filter": command_epilog(
        filter_cmd.EPILOG, KERNEL_SYNTAX_HELP, BORDER_HELP, environment_help(THREADS, KERNEL_PATH)
    ),
    "grad": command_epilog(
        grad_cmd.EPILOG, KERNEL_SYNTAX_HELP, BORDER_HELP, environment_help(THREADS, KERNEL_PATH)
    ),
    "fit": command_epilog(fit_cmd.EPILOG, BORDER_HELP, environment_help(THREADS)),
    "shape": command_epilog(shape_cmd.EPILOG, KERNEL_SYNTAX_HELP, environment_help(KERNEL_PATH)),
    "kernels list": command_epilog(kernels_cmd.LIST_EPILOG, environment_help(KERNEL_PATH)),
    "kernels show": command_epilog(
        kernels_cmd.SHOW_EPILOG, KERNEL_SYNTAX_HELP, environment_help(KERNEL_PATH)
    ),
}

app.command("filter", cls=Command, epilog=EPILOGS["filter"])(filter_cmd.filter_command)
app.command("grad", cls=Command, epilog=EPILOGS["grad"])(grad_cmd.grad_command)
app.command("fit", cls=Command, epilog=EPILOGS["fit"])(fit_cmd.fit_command)
app.command("shape", cls=Command, epilog=EPILOGS["shape"])(shape_cmd.shape_command)
kernels_app.callback(invoke_without_command=True)(kernels_cmd.kernels_root)
kernels_app.command("list", cls=Command, epilog=EPILOGS["kernels list"])(kernels_cmd.list_command)
kernels_app.command("show", cls=Command, epilog=EPILOGS["kernels show"])(kernels_cmd.show_command)
