"""Kernel files: ``.txt`` / ``.csv`` / ``.mat`` text rows, ``.toml`` presets and ``.npy`` arrays.

Text kernel files hold one row per line, values separated by spaces and/or
commas (one trailing comma per row is allowed); ``#`` starts a comment and
blank lines are ignored.  An optional libvips header ``width height [scale
[offset]]`` may be the first line (see :func:`_with_header`).  Any extension
other than ``.toml`` and ``.npy`` is read as text.  Parsed files are cached
by path, modification time and size.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from convcli.errors import KernelError, error_detail, os_detail
from convcli.kernelspec.kernel import Kernel
from convcli.kernelspec.numbers import parse_row, rows_to_array
from convcli.presets import check_kernel_file, check_size, read_preset_file

_TEXT_SUFFIXES = (".txt", ".csv", ".mat")
#: The extensions of kernel files: a spec ending in one is a file name, never a preset.
FILE_SUFFIXES = (*_TEXT_SUFFIXES, ".toml", ".npy")


# --------------------------------------------------------------------------- text files


def _read_text(path: Path, display: str) -> str:
    """Read a text kernel file as UTF-8 (with or without a BOM), after the size check."""
    check_kernel_file(path, display)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        msg = (
            f"{display}: not a text kernel file (it holds binary data); MATLAB .mat files "
            "are not supported, save the array as .npy instead"
        )
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {os_detail(exc)}"
        raise KernelError(msg) from None


def _content_lines(path: Path, display: str) -> list[tuple[int, str]]:
    """The non-blank lines of a text kernel file without comments, with their line numbers."""
    lines: list[tuple[int, str]] = []
    for lineno, line in enumerate(_read_text(path, display).splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if content:
            lines.append((lineno, content))
    if not lines:
        msg = f"{display}: no numbers found (the file is empty or only comments)"
        raise KernelError(msg)
    return lines


def _with_header(
    path: Path, display: str, rows: list[list[float]], labels: list[str]
) -> Kernel | None:
    """The kernel if ``rows[0]`` is a libvips header ``width height [scale [offset]]``, else None.

    It is a header only when exactly ``height`` rows of ``width`` numbers
    follow it.  As in libvips, the result is *divided* by the header's
    ``scale`` (so ``Kernel.scale = 1 / scale``) and ``offset`` is added.
    """
    first = rows[0]
    width, height = int(first[0]), int(first[1])
    rest = rows[1:]
    if len(rest) != height or not all(len(r) == width for r in rest):
        return None
    scale = 1.0
    offset = 0.0
    if len(first) >= 3:
        if first[2] == 0:
            msg = (
                f"{display}: {labels[0]}: the libvips header scale must not be 0 "
                "(the result is divided by it)"
            )
            raise KernelError(msg)
        scale = 1.0 / first[2]
    if len(first) == 4:
        offset = first[3]
    weights = rows_to_array(rest, labels[1:], display)
    return Kernel(
        name=path.name,
        weights=weights,
        scale=scale,
        offset=offset,
        description="kernel file (libvips header)",
        source=f"file:{display}",
    )


def _parse_text_file(path: Path, display: str) -> Kernel:
    """Parse a .txt/.csv/.mat kernel file, with an optional libvips header."""
    lines = _content_lines(path, display)
    rows = [
        parse_row(content, f"{display}: line {lineno}", echo=False) for lineno, content in lines
    ]
    labels = [f"line {lineno}" for lineno, _ in lines]
    first = rows[0]
    could_be_header = 2 <= len(first) <= 4 and all(v.is_integer() and v > 0 for v in first[:2])
    if could_be_header:
        kernel = _with_header(path, display, rows, labels)
        if kernel is not None:
            return kernel
    try:
        weights = rows_to_array(rows, labels, display)
    except KernelError as exc:
        if not could_be_header:
            raise
        width, height = int(first[0]), int(first[1])
        msg = (
            f"{exc} (if {labels[0]} is a libvips header 'width height [scale [offset]]', "
            f"exactly {height} rows of {width} values must follow it)"
        )
        raise KernelError(msg) from None
    return Kernel(
        name=path.name, weights=weights, description="kernel file", source=f"file:{display}"
    )


# --------------------------------------------------------------------------- TOML and NumPy files


def _parse_toml_file(path: Path, display: str, *, source: str, preset: str | None) -> Kernel:
    """Parse a preset-format TOML file; ``preset`` overrides the name."""
    data = read_preset_file(path, display)
    return Kernel(
        name=preset if preset is not None else (data.name or path.name),
        weights=np.array(data.values, dtype=np.float64).reshape(data.shape),
        scale=data.scale,
        offset=data.offset,
        category=data.category,
        description=data.description,
        source=source,
        anchor=data.anchor,
        reference=data.reference,
    )


def _parse_npy_file(path: Path, display: str) -> Kernel:
    """Load a 2-D/3-D/4-D numeric .npy array (no pickles); the size is checked from the header."""
    check_kernel_file(path, display, text=False)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a malformed header raises ValueError, SyntaxError, TypeError ...
        msg = f"{display}: not a readable .npy array ({error_detail(exc)[:200]})"
        raise KernelError(msg) from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        msg = f"{display}: holds several arrays (an .npz archive); save one array with numpy.save"
        raise KernelError(msg)
    label = display
    if arr.dtype.kind not in "iuf":
        msg = f"{label}: the array must hold real numbers; got dtype {arr.dtype}"
        raise KernelError(msg)
    if arr.ndim not in (2, 3, 4):
        msg = (
            f"{label}: the array must be 2-D (kh, kw), 3-D (C, kh, kw) or 4-D (O, C, kh, kw); "
            f"got {arr.ndim}-D with shape {arr.shape}"
        )
        raise KernelError(msg)
    check_size(tuple(int(n) for n in arr.shape), label)
    weights = np.array(arr, dtype=np.float64)
    del arr
    return Kernel(
        name=path.name, weights=weights, description="kernel array", source=f"file:{display}"
    )


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=256)
def _load_file_cached(
    path: str, display: str, stamp: tuple[int, int], source: str, preset: str | None
) -> Kernel:
    """Parse one kernel file; ``stamp`` (mtime, size) invalidates the cache."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".toml":
        return _parse_toml_file(p, display, source=source, preset=preset)
    if suffix == ".npy":
        return _parse_npy_file(p, display)
    return _parse_text_file(p, display)


def load_file(path: Path, display: str, *, source: str, preset: str | None = None) -> Kernel:
    """Load a kernel file through the cache, after the file checks (regular file, size)."""
    check_kernel_file(path, display, text=path.suffix.lower() != ".npy")
    try:
        st = path.stat()
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {os_detail(exc)}"
        raise KernelError(msg) from None
    return _load_file_cached(str(path), display, (st.st_mtime_ns, st.st_size), source, preset)


def path_kind(text: str) -> str | None:
    """'file', 'dir', 'special' (a FIFO, device or socket) or None for a spec (never raises)."""
    try:
        path = Path(text).expanduser()
        if path.is_file():
            return "file"
        if path.is_dir():
            return "dir"
        if path.exists():
            return "special"
    except (OSError, ValueError, RuntimeError):
        return None
    return None
