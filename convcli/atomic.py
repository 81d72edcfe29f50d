"""Atomic file writes: every output file of convcli goes through :func:`atomic_write`.

Standard library only (no NumPy, no Pillow), so writing a ``.json`` report or
a ``.toml`` kernel costs no image-library import.  A failure never leaves a
partial file and never damages the target, even when the target is the input
file being filtered.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from convcli.errors import ConvCliError, ImageError, error_detail

__all__ = ["atomic_write", "write_failures", "write_stream"]


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a file through a temporary sibling, renamed onto ``path`` on success.

    The temporary file is hidden (``.<name>.<random>.tmp``) in the target's own
    folder, so the final :func:`os.replace` is atomic.  Writers must pass the
    format explicitly: the temporary name ends in ``.tmp``.  On any exception,
    including ``KeyboardInterrupt`` (and SIGTERM/SIGHUP, which the CLI turns into
    :class:`~convcli.errors.Interrupted`), the temporary file is removed and the
    target (possibly the input file) is left exactly as it was.  An existing
    target's permission bits are kept.

    Only regular files are ever replaced.  A symbolic link to an existing
    regular file is written through: the temporary file is made in the
    *target's* folder and renamed onto the target, so the link stays a link.
    A link to anything else (a FIFO, a device, a folder) or to nothing (a
    dangling link, which would create its target) is refused, and so is a
    FIFO, device or socket at ``path`` itself: convcli never replaces them.

    Parameters
    ----------
    path : str or path-like
        Final file name.

    Yields
    ------
    Path
        Temporary file to write (it exists, empty).

    Raises
    ------
    ImageError
        The output folder does not exist, the target is a folder, a FIFO, a
        device, a dangling symbolic link or read-only, or the file cannot be
        created, written or renamed.

    Examples
    --------
    >>> with atomic_write(tmp_dir / "out.txt") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    name = os.fspath(path)
    target = _writable_target(name)
    if target.exists() and not os.access(target, os.W_OK):
        msg = f"cannot write {name}: the file is read-only"
        raise ImageError(msg)
    tmp = _create_temp(target, name)
    try:
        yield tmp
        _finish(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ImageError(_write_failure(name, exc)) from exc
        raise


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    """What a file of ``mode`` is, for a message ('a FIFO (named pipe)' ...)."""
    return next((text for test, text in _KINDS if test(mode)), "not a regular file")


def _writable_target(name: str) -> Path:
    """The file to replace for ``name``: itself, or the regular file its symbolic link names."""
    target = Path(name)
    if os.path.islink(name):
        target = Path(os.path.realpath(name))
        if not os.path.lexists(target):
            msg = (
                f"cannot write {name}: it is a symbolic link to {target}, which does not exist; "
                "convcli writes through a link only to an existing regular file"
            )
            raise ImageError(msg)
    folder = target.parent
    if not folder.is_dir():
        msg = f"output folder does not exist: {folder} (for {name})"
        raise ImageError(msg)
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return target
    if stat.S_ISDIR(mode) and target == Path(name):
        msg = f"cannot write {name}: it is a folder"
        raise ImageError(msg)
    if not stat.S_ISREG(mode):
        via = f" (through the symbolic link to {target})" if target != Path(name) else ""
        msg = (
            f"cannot write {name}: it is {_kind(mode)}{via}; convcli only replaces regular "
            "files (write to stdout with -o - and redirect instead)"
        )
        raise ImageError(msg)
    return target


def _create_temp(target: Path, name: str) -> Path:
    """Create an empty, hidden temporary file next to ``target`` and return its path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            # 0o666 filtered by the umask: the permissions a plain open() gives.
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ImageError(_write_failure(name, exc)) from exc
        os.close(fd)
        return tmp
    msg = f"cannot write {name}: could not create a temporary file in {target.parent}"
    raise ImageError(msg)


def _finish(tmp: Path, target: Path) -> None:
    """Copy the target's permission bits to ``tmp``, flush it and rename it onto the target."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _write_failure(name: str, exc: BaseException) -> str:
    """The message for a failure while writing ``name``.

    An encoder that hides the operating system's error (libtiff's "encoder
    error -2" on a full disk) is reported as "No space left on device" when
    the output's file system has no space left.
    """
    if isinstance(exc, PermissionError):
        return f"cannot write {name}: permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot write {name}: {exc.strerror}"
    if _disk_full(name):
        return f"cannot write {name}: No space left on device ({error_detail(exc)})"
    return f"cannot write {name}: {error_detail(exc)}"


def _disk_full(name: str) -> bool:
    """Whether the file system of ``name``'s folder has no blocks left for this user."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(name)) or ".")
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return st.f_bavail == 0


@contextmanager
def write_failures(name: str) -> Iterator[None]:
    """Turn any failure inside the block that is not a ConvCliError into one ImageError.

    The message is ``cannot write NAME: <what went wrong>``, as for the
    failures of :func:`atomic_write` itself; errors convcli raised on purpose
    pass through unchanged.
    """
    try:
        yield
    except (ConvCliError, BrokenPipeError):
        raise
    except Exception as exc:
        raise ImageError(_write_failure(name, exc)) from exc


def write_stream(stream: BinaryIO, data: bytes, name: str = "<stdout>") -> None:
    """Write all of ``data`` to ``stream`` (e.g. stdout) and flush; a short write is an error.

    Each ``write`` may take only part of the data (a pipe, a full disk); the
    rest is written until none is left, and a write that takes nothing raises.

    Raises
    ------
    BrokenPipeError
        The reader went away (``| head``): the CLI exits quietly with code 1.
    ImageError
        Any other failure (``> /dev/full``: "No space left on device"; stdout closed).
    """
    view = memoryview(data)
    try:
        while view:
            written = stream.write(view)
            if not written:
                msg = f"cannot write {name}: the stream took none of {len(view)} bytes left"
                raise ImageError(msg)
            view = view[written:]
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise ImageError(_write_failure(name, exc)) from exc
    except ValueError as exc:  # write to a closed file
        msg = f"cannot write {name}: {error_detail(exc)}"
        raise ImageError(msg) from exc
