"""Output file names for a batch (``convcli filter -d OUTDIR``), checked before any work.

:func:`output_path_for` names one output; :func:`check_suffix` keeps ``--suffix``
inside the folder; :func:`check_collisions` refuses a batch in which two inputs
would write one file, or an output would overwrite another input of the batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from convcli.errors import OptionError

__all__ = ["check_collisions", "check_suffix", "output_path_for"]


def check_suffix(suffix: str) -> None:
    """Refuse a ``--suffix`` that could leave the output folder or make a bad name.

    Examples
    --------
    >>> check_suffix("-blur")
    >>> check_suffix("/../../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.OptionError: `--suffix` must be part of a file name ...; got '/../../x'
    """
    seps = {"/", "\\", "\0", os.sep} | ({os.altsep} if os.altsep else set())
    if any(ch in suffix for ch in seps):
        msg = f"`--suffix` must be part of a file name (no path separator or NUL); got {suffix!r}"
        raise OptionError(msg)


def output_path_for(
    input_path: str | Path, outdir: str | Path, *, suffix: str = "", fmt: str | None = None
) -> Path:
    """``OUTDIR/<input stem><suffix>.<fmt or the input's extension>``.

    Examples
    --------
    >>> output_path_for("photos/a.jpg", "out", suffix="-blur", fmt="png").as_posix()
    'out/a-blur.png'
    """
    check_suffix(suffix)
    src = Path(input_path)
    ext = ("." + fmt.lower().lstrip(".")) if fmt else src.suffix
    return Path(outdir) / f"{src.stem}{suffix}{ext}"


def _key(path: str) -> str:
    """One spelling per file: links and ``..`` resolved, case folded where the OS folds it."""
    return os.path.normcase(os.path.realpath(path))


def check_collisions(inputs: Sequence[str], targets: Sequence[str]) -> None:
    """Refuse a batch whose outputs collide, before any work (no output may overwrite another).

    Two inputs may not write the same file, and no output may be another input of
    the batch (an output may be its own input: that write is atomic).

    Raises
    ------
    OptionError
        Naming the colliding inputs and the file.

    Examples
    --------
    >>> check_collisions(["a/x.png", "b/y.png"], ["o/x.png", "o/y.png"])
    >>> check_collisions(["a/x.png", "b/x.png"], ["o/x.png", "o/x.png"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.OptionError: inputs a/x.png and b/x.png would both write o/x.png; ...
    """
    writer: dict[str, str] = {}
    reader = {_key(src): src for src in inputs}
    for src, dst in zip(inputs, targets, strict=True):
        key = _key(dst)
        if key in writer:
            msg = (
                f"inputs {writer[key]} and {src} would both write {dst}; "
                "use separate -d folders, a --suffix or a different --format"
            )
            raise OptionError(msg)
        writer[key] = src
        other = reader.get(key)
        if other is not None and _key(other) != _key(src):
            msg = (
                f"input {src} would write {dst}, which is another input of the batch "
                f"({other}); choose another -d folder or --suffix"
            )
            raise OptionError(msg)
