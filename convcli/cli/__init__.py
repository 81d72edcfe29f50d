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
130 when interrupted, 128 + N for SIGTERM/SIGHUP); ``--debug`` shows the
traceback instead.  :func:`run` is the per-command error boundary: out of
memory, an operating-system failure and a closed stdout get their own
clear line; "unexpected ..." is left for real bugs.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence

from typer import Abort
from typer.main import get_command

from convcli.cli.app import app
from convcli.cli.output import emit_json_error, error_line, start_json
from convcli.errors import ConvCliError, Interrupted, error_detail, one_line, os_detail
from convcli.signals import exit_code, handled_signals

__all__ = ["app", "main", "run"]


def _error(message: str, code: int) -> int:
    if _HEARD:
        heard = "; ".join(_HEARD)
        message = f"{message} (warnings: {heard[:300]})"
        _HEARD.clear()
    emit_json_error(message, code)
    if sys.stderr is not None:  # not started with 2>&-
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


#: Python warnings heard while the current command ran, one line each (see _warnings_heard).
_HEARD: list[str] = []


@contextlib.contextmanager
def _warnings_heard() -> Iterator[None]:
    """Collect Python warnings (NumPy overflow, Pillow's TIFF/EXIF notes), one line each.

    They are never printed as Python prints them (several lines): a failing
    command appends them to its one ``Error:`` line, a successful one prints
    one ``note:`` line per distinct warning at the end.
    """

    def show(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
        text = f"{one_line(message)} ({category.__name__})"
        if text not in _HEARD:
            _HEARD.append(text)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def _print_notes() -> None:
    if sys.stderr is not None:
        for text in _HEARD:
            sys.stderr.write(f"note: {text}\n")
    _HEARD.clear()


def _debug_flag(args: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` was given (before a ``--``), and the arguments without it.

    After ``--`` every argument is a file name, so a file named ``--debug`` stays one.
    """
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    return debug, [a for i, a in enumerate(args) if i >= end or a != "--debug"]


def _interrupted(exc: BaseException | None) -> int:
    code = exit_code(exc)
    return _error("interrupted" if code == 130 else f"terminated by signal {code - 128}", code)


def _failure(exc: Exception) -> int:
    """The line for an exception the library did not raise on purpose."""
    if isinstance(exc, MemoryError):
        return _error(
            "out of memory (lower the input size, or set --max-memory / CONVCLI_MAX_MEMORY "
            "so the command is refused before work)",
            1,
        )
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return _error(f"system error{where}: {one_line(os_detail(exc))}", 1)
    return _error(
        f"unexpected {type(exc).__name__}: {error_detail(exc)} "
        "(rerun with --debug for the traceback)",
        1,
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (never raises, except with --debug)."""
    debug, args = _debug_flag(list(sys.argv[1:] if argv is None else argv))
    start_json(_wants_json(args))
    command = get_command(app)
    _HEARD.clear()
    try:
        with handled_signals(), _warnings_heard():
            rv = command.main(args=args, prog_name="convcli", standalone_mode=False)
    except (Abort, KeyboardInterrupt) as exc:
        return _interrupted(exc)
    except Interrupted as exc:
        return _interrupted(exc)
    except ConvCliError as exc:
        if debug:
            raise
        return _error(str(exc), exc.exit_code)
    except BrokenPipeError:
        _quiet_stdout()
        return 1
    except Exception as exc:
        if _is_usage_error(exc):
            return _usage_error(exc)
        if debug:
            raise
        return _failure(exc)
    code = rv if isinstance(rv, int) else 0
    if code == 130:
        # typer turns Ctrl-C (and our SIGTERM/SIGHUP) inside a command into exit 130
        return _interrupted(None)
    _print_notes()
    if code:
        emit_json_error(f"failed with exit code {code}", code)  # only if no document was written
    return code


def _quiet_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the exit flush does not complain."""
    import os

    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run and exit with the code."""
    sys.exit(run(argv))
