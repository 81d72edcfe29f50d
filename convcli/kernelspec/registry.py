"""Resolving a kernel spec (the value of ``-k``) to a :class:`Kernel`, and listing the presets.

The order is: an existing file, an inline matrix or ImageMagick string, then
a preset name (a file of the preset folders, else a generator).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from convcli.errors import KernelError
from convcli.kernelspec.files import FILE_SUFFIXES, load_file, path_kind
from convcli.kernelspec.generators import generate
from convcli.kernelspec.imagemagick import IM_KERNELS, imagemagick_kernel, is_imagemagick_name
from convcli.kernelspec.inline import PRESET_NAME_RE, looks_inline, parse_inline
from convcli.kernelspec.kernel import Kernel
from convcli.presets import GENERATORS, normalize_name, preset_index


def _load_preset_file(key: str, index: dict[str, tuple[Path, str]]) -> Kernel:
    path, label = index[key]
    return load_file(path, str(path), source=label, preset=path.stem)


def _unknown(spec: str, key: str) -> KernelError:
    """Build the 'unknown kernel' error, with the closest preset names."""
    names = sorted({*preset_index(), *GENERATORS, *IM_KERNELS})
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "see `convcli kernels list` for the presets"
    )
    msg = f"unknown kernel {spec!r}: not a file, an inline matrix or a preset name; {hint}"
    return KernelError(msg)


def _wants_imagemagick(key: str, params: str, convcli_has: bool) -> bool:
    """ImageMagick's kernel for its names, unless convcli has the name and its syntax is used.

    convcli's preset or generator wins for a bare name and for ``name=value`` or
    positional parameters; ImageMagick's ``RxS`` geometry (and any parameters to
    a preset that takes none, e.g. ``Laplacian:0``) selects ImageMagick's kernel.
    """
    if not is_imagemagick_name(key):
        return False
    if not convcli_has:
        return True
    if not params.strip() or "=" in params:
        return False
    return key not in GENERATORS or "x" in params.lower()


def _load_preset(text: str) -> Kernel:
    name, colon, params = text.partition(":")
    key = normalize_name(name)
    index = preset_index()
    if key not in index and key not in GENERATORS:
        index = preset_index(refresh=True)
    if _wants_imagemagick(key, params, key in index or key in GENERATORS):
        return imagemagick_kernel(text)
    if not colon:
        if key in index:
            return _load_preset_file(key, index)
        if key in GENERATORS:
            return generate(key, key, "")
        raise _unknown(text, key)
    if key in GENERATORS:
        return generate(key, text, params)
    if key in index:
        msg = (
            f"preset {name.strip()!r} takes no parameters (got {text!r}); only the generators "
            f"{', '.join(GENERATORS)} do"
        )
        raise KernelError(msg)
    raise _unknown(text, key)


def _load_path(spec: os.PathLike[str]) -> Kernel:
    """Load a path-like spec, which is always a file."""
    raw = os.fspath(spec)
    display = raw if isinstance(raw, str) else os.fsdecode(raw)
    kind = path_kind(display)
    if kind == "special":
        return load_file(Path(display).expanduser(), display, source=f"file:{display}")
    if kind != "file":
        what = "is a directory" if kind == "dir" else "not found"
        msg = f"kernel file {what}: {display!r}"
        raise KernelError(msg)
    return load_file(Path(display).expanduser(), display, source=f"file:{display}")


def _load_text(text: str, kind: str | None) -> Kernel:
    """Resolve a stripped text spec that is not an existing file (``kind`` from path_kind)."""
    has_separator = "/" in text or os.sep in text or bool(os.altsep and os.altsep in text)
    if kind == "special":  # refused by the file checks, never opened (a FIFO would block)
        return load_file(Path(text).expanduser(), text, source=f"file:{text}")
    if kind == "dir" and has_separator:
        msg = f"kernel spec {text!r} is a directory, not a kernel file"
        raise KernelError(msg)
    if text.lower().endswith(FILE_SUFFIXES):
        msg = f"kernel file not found: {text!r}"
        raise KernelError(msg)
    if looks_inline(text):
        return parse_inline(text)
    name = text.partition(":")[0].strip()
    if PRESET_NAME_RE.match(name):
        return _load_preset(text)
    if has_separator:
        msg = f"kernel file not found: {text!r}"
        raise KernelError(msg)
    raise _unknown(text, normalize_name(name))


def load_kernel(spec: str | os.PathLike[str]) -> Kernel:
    """Resolve a kernel spec (the value of ``-k``) to a :class:`Kernel`.

    Parameters
    ----------
    spec : str or path-like
        A file path, an inline matrix, an ImageMagick kernel string, or a
        preset name with optional generator parameters (see
        :mod:`convcli.kernelspec` for the grammar).  A path-like object is
        always a file.

    Returns
    -------
    Kernel

    Raises
    ------
    KernelError
        For a missing file, a malformed matrix or file (naming the row and
        column at fault), an unknown name (listing the closest preset names),
        bad generator parameters, or a kernel over
        :data:`~convcli.presets.MAX_KERNEL_SIDE` per side or
        :data:`~convcli.presets.MAX_KERNEL_TAPS` weights.

    Examples
    --------
    >>> load_kernel("0,-1,0; -1,5,-1; 0,-1,0").weights.sum()
    np.float64(1.0)
    >>> load_kernel("gaussian:sigma=2").shape
    (13, 13)
    >>> load_kernel("sobelx")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.KernelError: unknown kernel 'sobelx': ...; did you mean sobel-x, sobel, sobel-y?
    """
    if not isinstance(spec, str):
        if not isinstance(spec, os.PathLike):
            msg = f"kernel spec must be a string or a path; got {type(spec).__name__}"
            raise KernelError(msg)
        return _load_path(spec)
    text = spec.strip()
    if not text:
        msg = (
            "kernel spec is empty; give a preset name (e.g. 'sobel-x'), an inline matrix "
            "(e.g. '0,-1,0; -1,5,-1; 0,-1,0') or a kernel file"
        )
        raise KernelError(msg)
    kind = path_kind(text)
    if kind == "file":
        return load_file(Path(text).expanduser(), text, source=f"file:{text}")
    return _load_text(text, kind)


def list_kernels() -> list[Kernel]:
    """Return every preset: the files and the generators with default parameters.

    A user preset (``CONVCLI_KERNEL_PATH``) hides a built-in one of the same
    name; a preset file hides the generator of the same name (``box``).

    Returns
    -------
    list of Kernel
        Sorted by name; ``source`` says where each comes from.

    Raises
    ------
    KernelError
        If a preset file is malformed (the message names the file).

    Examples
    --------
    >>> names = [k.name for k in list_kernels()]
    >>> "sobel-x" in names and "gaussian" in names
    True
    """
    index = preset_index()
    kernels = [_load_preset_file(key, index) for key in index]
    kernels.extend(generate(g, g, "") for g in GENERATORS if g not in index)
    return sorted(kernels, key=lambda k: (normalize_name(k.name), k.name))
