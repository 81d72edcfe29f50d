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

from convcli.errors import ConvCliError, ImageError, error_detail, os_detail

__all__ = ["atomic_write", "write_failures"]


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a file through a temporary sibling, renamed onto ``path`` on success.

    The temporary file is hidden (``.<name>.<random>.tmp``) in the target's own
    folder, so the final :func:`os.replace` is atomic.  Writers must pass the
    format explicitly: the temporary name ends in ``.tmp``.  On any exception,
    including ``KeyboardInterrupt``, the temporary file is removed and the
    target (possibly the input file) is left exactly as it was.  An existing
    target's permission bits are kept; symbolic links are written through.

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
        The output folder does not exist, the target is a folder or is
        read-only, or the file cannot be created, written or renamed.

    Examples
    --------
    >>> with atomic_write(tmp_dir / "out.txt") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("done")
    """
    name = os.fspath(path)
    target = Path(os.path.realpath(name)) if os.path.islink(name) else Path(name)
    folder = target.parent
    if not folder.is_dir():
        msg = f"output folder does not exist: {folder} (for {name})"
        raise ImageError(msg)
    if target.is_dir():
        msg = f"cannot write {name}: it is a folder"
        raise ImageError(msg)
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


def _write_failure(name: str, exc: OSError) -> str:
    """The message for an OSError while writing ``name``."""
    if isinstance(exc, PermissionError):
        return f"cannot write {name}: permission denied"
    detail = os_detail(exc)
    return f"cannot write {name}: {detail}"


@contextmanager
def write_failures(name: str) -> Iterator[None]:
    """Turn any failure inside the block that is not a ConvCliError into one ImageError.

    The message is ``cannot write NAME: <what went wrong>``, as for the
    failures of :func:`atomic_write` itself; errors convcli raised on purpose
    pass through unchanged.
    """
    try:
        yield
    except ConvCliError:
        raise
    except Exception as exc:
        msg = f"cannot write {name}: {error_detail(exc)}"
        raise ImageError(msg) from exc
