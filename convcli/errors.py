"""Exceptions raised by the convcli library.

The library never prints; it raises one of these with a message a user can
act on.  The CLI maps :class:`UsageError` subclasses to exit code 2 (bad
input), :class:`Interrupted` to 130 (the shell's code for Ctrl-C) and every
other :class:`ConvCliError` to exit code 1 (failure while working).
"""

from __future__ import annotations


class ConvCliError(Exception):
    """Base class for every error convcli raises on purpose."""

    exit_code: int = 1


class UsageError(ConvCliError, ValueError):
    """The caller asked for something invalid (exit code 2)."""

    exit_code = 2


class KernelError(UsageError):
    """A kernel spec, file or preset is malformed or unknown."""


class ShapeError(UsageError):
    """Shapes do not fit together (channel mismatch, empty output...)."""


class OptionError(UsageError):
    """An option value is out of range (stride, padding, border...)."""


class RangeError(UsageError):
    """Values would overflow the working float type (absurd kernel weights)."""


class InputNotFoundError(UsageError):
    """An input file does not exist."""


class ImageError(ConvCliError):
    """An image cannot be read, decoded or written (exit code 1)."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than the configured limit."""


class Interrupted(ConvCliError):
    """Ctrl-C (SIGINT) stopped the command (exit code 130; 128 + N for SIGTERM/SIGHUP)."""

    exit_code = 130


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def error_detail(exc: BaseException) -> str:
    """What went wrong, for an error line: the exception's message on one line, or its type."""
    return one_line(exc) or type(exc).__name__


def os_detail(exc: OSError) -> str:
    """The operating system's words for an ``OSError`` (``strerror``), else :func:`error_detail`."""
    return exc.strerror or error_detail(exc)
