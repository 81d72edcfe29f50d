"""The ``convcli`` command line: a thin Typer layer over the library.

Public: :data:`app` (the Typer application), :func:`run` (run on a list of
arguments, return the exit code) and :func:`main` (the console script).

Commands live in one module each (``filter_cmd``, ``grad_cmd``, ``fit_cmd``,
``shape_cmd``, ``kernels_cmd``), registered in ``app``; shared options are in
``options``, printing in ``output`` and progress bars in ``progress``.  Heavy
libraries (NumPy, Pillow, Rich) are imported inside the commands so
``convcli --help`` starts fast.  Errors from the library
(:class:`convcli.errors.ConvCliError`) become one ``Error:`` line on stderr
and the error's exit code (2 for invalid input, 1 for failures while working,
130 when interrupted); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from typer import Abort
from typer.main import get_command

from convcli.cli.app import app
from convcli.cli.output import emit_json_error, error_line, start_json
from convcli.errors import ConvCliError

__all__ = ["app", "main", "run"]


def _error(message: str, code: int) -> int:
    emit_json_error(message, code)
    sys.stderr.write(error_line(message) + "\n")
    sys.stderr.flush()
    return code


def _is_usage_error(exc: BaseException) -> bool:
    """Click-style parsing errors (typer re-exports click's classes under several names)."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _wants_json(args: list[str]) -> bool:
    """``--json`` among the options (before a ``--`` that ends them), and stdout not the image.

    With ``-o -`` stdout carries an image, so even a refused ``--json`` writes no document there.
    """
    options = args[: args.index("--")] if "--" in args else args
    to_stdout = any(
        a in ("-o", "--output") and b == "-" for a, b in zip(options, options[1:], strict=False)
    )
    return "--json" in options and not to_stdout and "--output=-" not in options


def _usage_error(exc: Exception) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":
        sys.stderr.write(exc.format_message() + "\n")  # type: ignore[attr-defined]
        return 2
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    message = _unknown_option(exc) or exc.format_message()  # type: ignore[attr-defined]
    return _error(message + hint, exc.exit_code)  # type: ignore[attr-defined]


def _unknown_option(exc: Exception) -> str | None:
    """``No such option`` with suggestions by the option's name, not by its ``--``.

    Click compares ``--bogus`` with ``--abs`` including the dashes and suggests it;
    compared as ``bogus`` and ``abs`` nothing is close, so nothing is suggested.
    """
    name = getattr(exc, "option_name", None)
    possibilities = getattr(exc, "possibilities", None)
    if type(exc).__name__ != "NoSuchOption" or not isinstance(name, str):
        return None
    import difflib

    by_word = {p.lstrip("-"): p for p in possibilities or ()}
    close = difflib.get_close_matches(name.lstrip("-"), list(by_word), n=3, cutoff=0.6)
    if not close:
        return f"No such option: {name}"
    return f"No such option: {name}; did you mean {', '.join(by_word[c] for c in close)}?"


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (never raises, except with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    start_json(_wants_json(args))
    command = get_command(app)
    try:
        rv = command.main(args=args, prog_name="convcli", standalone_mode=False)
    except (Abort, KeyboardInterrupt):
        return _error("interrupted", 130)
    except ConvCliError as exc:
        if debug:
            raise
        return _error(str(exc), exc.exit_code)
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if _is_usage_error(exc):
            return _usage_error(exc)
        if debug:
            raise
        return _error(
            f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1
        )
    code = rv if isinstance(rv, int) else 0
    if code == 130:
        # typer turns Ctrl-C inside a command into exit 130 without a message
        return _error("interrupted", 130)
    if code:
        emit_json_error(f"failed with exit code {code}", code)  # only if no document was written
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run and exit with the code."""
    sys.exit(run(argv))
