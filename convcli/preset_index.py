"""The preset registry without NumPy: where the presets live and what each one is.

This module finds the preset ``*.toml`` files (the built-in ``kernels/``
folder and the folders of ``CONVCLI_KERNEL_PATH``), reads and validates them
into plain Python values, and summarizes every preset (name, category, shape,
sum of the weights, source, description) for ``convcli kernels list``.  It
imports only the standard library, so listing the presets does not pay for
NumPy; :mod:`convcli.kernels` builds its :class:`~convcli.kernels.Kernel`
objects from the same reader, so both paths accept the same files and raise
the same errors.

Examples
--------
>>> info = {p.name: p for p in list_presets()}
>>> info["sobel-x"].shape, info["sobel-x"].weight_sum, info["sobel-x"].category
((3, 3), 0.0, 'edge')
>>> info["gaussian"].source
'builtin generator'
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convcli.errors import KernelError

__all__ = [
    "CATEGORIES",
    "GENERATORS",
    "KERNEL_PATH_ENV",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_TAPS",
    "PresetFile",
    "PresetInfo",
    "kernel_search_path",
    "list_presets",
    "read_preset_file",
    "weight_sum",
]

#: Largest kernel height or width accepted.
MAX_KERNEL_SIDE = 4096
#: Largest number of weights (all axes multiplied) accepted.
MAX_KERNEL_TAPS = 16_000_000
#: The allowed values of :attr:`convcli.kernels.Kernel.category`.
CATEGORIES = ("blur", "edge", "sharpen", "emboss", "color", "other")
#: Environment variable listing extra preset folders (``os.pathsep``-separated).
KERNEL_PATH_ENV = "CONVCLI_KERNEL_PATH"

#: Generator name -> parameter names (in positional order).
GENERATORS: dict[str, tuple[str, ...]] = {
    "box": ("size",),
    "gaussian": ("sigma", "size"),
    "log": ("sigma", "size"),
    "motion": ("length", "angle"),
    "unsharp": ("sigma", "amount", "size"),
}

TOML_KEYS = (
    "name",
    "category",
    "description",
    "reference",
    "weights",
    "scale",
    "offset",
    "anchor",
)

#: The folder of the convcli package (``importlib.resources.files("convcli")``).
_PACKAGE_DIR = Path(__file__).resolve().parent

# numpy's float64 sum adds blocks of up to 128 values with 8 running sums
_PAIRWISE_BLOCK = 128
_UNROLL = 8


# --------------------------------------------------------------------------- validation


def check_size(shape: tuple[int, ...], label: str) -> None:
    """Refuse empty shapes and those over MAX_KERNEL_SIDE / MAX_KERNEL_TAPS."""
    if any(n <= 0 for n in shape):
        msg = f"{label}: the kernel is empty (shape {shape})"
        raise KernelError(msg)
    if len(shape) >= 2 and max(shape[-2:]) > MAX_KERNEL_SIDE:
        msg = (
            f"{label}: a kernel of {shape[-1]}x{shape[-2]} (width x height) is too large; "
            f"at most {MAX_KERNEL_SIDE} per side is allowed"
        )
        raise KernelError(msg)
    taps = math.prod(shape)
    if taps > MAX_KERNEL_TAPS:
        msg = (
            f"{label}: a kernel of shape {shape} has {taps} weights; "
            f"at most {MAX_KERNEL_TAPS} are allowed"
        )
        raise KernelError(msg)


def position(index: tuple[int, ...]) -> str:
    """Describe an array index: 'row r, column c' (1-based) for 2-D, else weights[i][j]..."""
    if len(index) == 2:
        return f"row {index[0] + 1}, column {index[1] + 1}"
    return "weights" + "".join(f"[{i}]" for i in index) + " (0-based)"


def count_values(n: int) -> str:
    """Return '1 value' or 'n values'."""
    return f"{n} value" if n == 1 else f"{n} values"


def finite_float(value: Any, label: str) -> float:
    """Return a real number (Python or NumPy scalar) as a finite float, else raise KernelError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{label} must be a number; got {value!r}"
        raise KernelError(msg)
    out = float(value)
    if not math.isfinite(out):
        msg = f"{label} must be a finite number; got {value!r}"
        raise KernelError(msg)
    return out


def check_anchor(anchor: Any, shape: tuple[int, ...], label: str) -> tuple[int, int]:
    """Validate an anchor (row, col) against the kernel's last two axes."""
    kh, kw = shape[-2:]
    ok = (
        isinstance(anchor, tuple | list)
        and len(anchor) == 2
        and all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in anchor)
    )
    if not ok:
        msg = f"{label}: `anchor` must be two integers [row, col]; got {anchor!r}"
        raise KernelError(msg)
    row, col = int(anchor[0]), int(anchor[1])
    if not (0 <= row < kh and 0 <= col < kw):
        msg = (
            f"{label}: `anchor` (row {row}, col {col}) lies outside the {kw}x{kh} kernel; "
            f"rows go 0..{kh - 1} and columns 0..{kw - 1}"
        )
        raise KernelError(msg)
    return (row, col)


# --------------------------------------------------------------------------- preset files


@dataclass(frozen=True)
class PresetFile:
    """The validated contents of a preset-format TOML file, as plain Python values.

    Parameters
    ----------
    name : str
        The file's ``name`` key (``""`` if absent); presets are called by the
        file stem instead.
    category : str
        One of :data:`CATEGORIES` (``"other"`` if absent).
    description, reference : str
        The ``description`` and ``reference`` keys (``""`` if absent).
    shape : tuple of int
        ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``.
    values : tuple of float
        The weights as written, flattened in row-major (C) order.
    scale, offset : float
        The ``scale`` (default 1.0) and ``offset`` (default 0.0) keys.
    anchor : tuple of int or None
        The ``anchor`` key as ``(row, col)``, or ``None``.
    """

    name: str
    category: str
    description: str
    reference: str
    shape: tuple[int, ...]
    values: tuple[float, ...]
    scale: float
    offset: float
    anchor: tuple[int, int] | None


def _flatten_weights(value: Any, label: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Check a TOML nested list of weights; return its shape and row-major values."""
    if not isinstance(value, list):
        msg = f"{label}: `weights` must be a nested list of numbers; got {value!r}"
        raise KernelError(msg)
    shape: list[int] = []
    probe: Any = value
    while isinstance(probe, list):
        if not probe:
            msg = f"{label}: `weights` is empty (an empty list at depth {len(shape)})"
            raise KernelError(msg)
        shape.append(len(probe))
        if len(shape) > 4:
            break
        probe = probe[0]
    if len(shape) not in (2, 3, 4):
        msg = (
            f"{label}: `weights` must be a 2-D, 3-D or 4-D nested list; "
            f"got {'more than 4' if len(shape) > 4 else len(shape)} level(s) of nesting"
        )
        raise KernelError(msg)
    check_size(tuple(shape), label)
    flat: list[float] = []

    def walk(node: Any, index: tuple[int, ...]) -> None:
        depth = len(index)
        if depth == len(shape):
            if isinstance(node, bool) or not isinstance(node, int | float):
                msg = f"{label}: {position(index)} is {node!r}, not a number"
                raise KernelError(msg)
            if not math.isfinite(node):
                msg = f"{label}: {position(index)} is {node!r}; weights must be finite numbers"
                raise KernelError(msg)
            flat.append(float(node))
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            if len(shape) == 2 and depth == 1:
                what = f"row {index[0] + 1}"
                first = "row 1"
            else:
                what = "weights" + "".join(f"[{i}]" for i in index)
                first = "weights" + "[0]" * depth
            got = count_values(len(node)) if isinstance(node, list) else f"the value {node!r}"
            msg = f"{label}: {what} has {got} but {first} has {count_values(shape[depth])}"
            raise KernelError(msg)
        for i, child in enumerate(node):
            walk(child, (*index, i))

    walk(value, ())
    return tuple(shape), tuple(flat)


def read_preset_file(path: Path, display: str) -> PresetFile:
    """Read and validate a preset-format TOML kernel file (SPEC section 2).

    Parameters
    ----------
    path : Path
        The file to read.
    display : str
        How error messages name the file.

    Returns
    -------
    PresetFile

    Raises
    ------
    KernelError
        If the file cannot be read, is not UTF-8 TOML, has an unknown key, no
        ``weights``, a non-string text key, an unknown ``category``, ragged or
        non-finite weights (naming the place), weights that are not 2-D to 4-D
        or too large, a ``scale`` or ``offset`` that is not a finite number,
        or an ``anchor`` outside the kernel.
    """
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{display}: invalid TOML: {exc}"
        raise KernelError(msg) from None
    except UnicodeDecodeError:
        msg = f"{display}: invalid TOML: the file is not UTF-8 text"
        raise KernelError(msg) from None
    except OSError as exc:
        msg = f"cannot read kernel file {display}: {exc.strerror or exc}"
        raise KernelError(msg) from None
    unknown = sorted(set(data) - set(TOML_KEYS))
    if unknown:
        msg = f"{display}: unknown key {unknown[0]!r}; allowed keys are {', '.join(TOML_KEYS)}"
        raise KernelError(msg)
    if "weights" not in data:
        msg = f"{display}: the `weights` key is missing"
        raise KernelError(msg)
    texts: dict[str, str] = {}
    for key in ("name", "category", "description", "reference"):
        if key in data and not isinstance(data[key], str):
            msg = f"{display}: `{key}` must be a string; got {data[key]!r}"
            raise KernelError(msg)
        texts[key] = data.get(key, "")
    category = texts["category"] or "other"
    if category not in CATEGORIES:
        msg = f"{display}: `category` must be one of {', '.join(CATEGORIES)}; got {category!r}"
        raise KernelError(msg)
    shape, values = _flatten_weights(data["weights"], display)
    scale = finite_float(data.get("scale", 1.0), f"{display}: `scale`")
    offset = finite_float(data.get("offset", 0.0), f"{display}: `offset`")
    anchor = None
    if "anchor" in data:
        anchor = check_anchor(data["anchor"], shape, display)
    return PresetFile(
        name=texts["name"],
        category=category,
        description=texts["description"],
        reference=texts["reference"],
        shape=shape,
        values=values,
        scale=scale,
        offset=offset,
        anchor=anchor,
    )


# --------------------------------------------------------------------------- registry


def normalize_name(name: str) -> str:
    """Case-fold a preset name and treat '_' like '-'."""
    return name.strip().lower().replace("_", "-")


def builtin_dir() -> Path:
    """Return the built-in preset folder: in the wheel, else the checkout's kernels/."""
    # The package folder is what importlib.resources.files("convcli") gives for an
    # installed package; not importing importlib.resources (and zipfile) saves ~10 ms.
    installed = _PACKAGE_DIR / "kernels"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "kernels"


def kernel_search_path() -> list[tuple[str, Path]]:
    """Return the preset folders as ``(source label, folder)`` pairs.

    The built-in folder comes first, then each folder of
    ``CONVCLI_KERNEL_PATH`` labelled ``user:<dir>``.  When names clash, the
    first user folder that has the name wins, and user folders win over the
    built-in one.  Folders that do not exist are listed but ignored.

    Returns
    -------
    list of (str, Path)

    Examples
    --------
    >>> kernel_search_path()[0][0]
    'builtin'
    """
    entries = [("builtin", builtin_dir())]
    for part in os.environ.get(KERNEL_PATH_ENV, "").split(os.pathsep):
        if part.strip():
            folder = Path(part.strip()).expanduser()
            entries.append((f"user:{folder}", folder))
    return entries


def _dir_stamp(folder: Path) -> int:
    try:
        return folder.stat().st_mtime_ns if folder.is_dir() else -1
    except OSError:
        return -1


@functools.lru_cache(maxsize=16)
def _preset_index_cached(
    entries: tuple[tuple[str, str, int], ...],
) -> dict[str, tuple[Path, str]]:
    index: dict[str, tuple[Path, str]] = {}
    # Builtin first, then user folders from last to first, so earlier folders overwrite.
    ordered = [entries[0], *reversed(entries[1:])]
    for label, folder, stamp in ordered:
        if stamp == -1:
            continue
        found: dict[str, tuple[Path, str]] = {}
        try:
            files = sorted(Path(folder).glob("*.toml"))
        except OSError:
            continue
        for file in files:
            found.setdefault(normalize_name(file.stem), (file, label))
        index.update(found)
    return index


def preset_index(*, refresh: bool = False) -> dict[str, tuple[Path, str]]:
    """Map normalized preset name -> (file, source label), highest precedence kept.

    The listing is cached per folder modification time; ``refresh`` rebuilds
    it (used before reporting an unknown name, as a file may have been added
    within the file system's timestamp resolution).
    """
    entries = tuple(
        (label, str(folder), _dir_stamp(folder)) for label, folder in kernel_search_path()
    )
    if refresh:
        _preset_index_cached.cache_clear()
    return _preset_index_cached(entries)


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class PresetInfo:
    """What ``convcli kernels list`` shows of a preset, read without building its weights.

    Parameters
    ----------
    name : str
        The name the preset is called by (file stem, or generator name).
    category : str
        One of :data:`CATEGORIES`.
    shape : tuple of int
        Shape of the weights: ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``.
    weight_sum : float
        Sum of the effective weights (``weights * scale``), equal to
        ``float(load_kernel(name).effective_weights.sum())``.
    source : str
        ``"builtin"``, ``"builtin generator"`` or ``"user:<dir>"``.
    description : str
        One-line, human-readable summary.
    """

    name: str
    category: str
    shape: tuple[int, ...]
    weight_sum: float
    source: str
    description: str


def _pairwise_sum(values: Sequence[float], start: int, n: int) -> float:
    """Sum ``values[start:start + n]`` in the order numpy's float64 ``add.reduce`` uses."""
    if n < _UNROLL:
        total = 0.0
        for v in values[start : start + n]:
            total += v
        return total
    if n <= _PAIRWISE_BLOCK:
        acc = list(values[start : start + _UNROLL])
        stop = start + n - n % _UNROLL
        for i in range(start + _UNROLL, stop, _UNROLL):
            for j in range(_UNROLL):
                acc[j] += values[i + j]
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for v in values[stop : start + n]:
            total += v
        return total
    half = n // 2
    half -= half % _UNROLL
    return _pairwise_sum(values, start, half) + _pairwise_sum(values, start + half, n - half)


def weight_sum(values: Sequence[float], scale: float = 1.0) -> float:
    """Sum ``values * scale`` exactly as NumPy sums a contiguous float64 array.

    NumPy adds with pairwise summation (blocks of 8 running sums), which can
    differ in the last bits from a left-to-right sum; following the same order
    gives the same float as ``float((np.asarray(values) * scale).sum())``.

    Parameters
    ----------
    values : sequence of float
        The weights, flattened in row-major order.
    scale : float
        Multiplier applied to every value before summing.

    Returns
    -------
    float

    Examples
    --------
    >>> weight_sum([0.1] * 10)
    1.0
    >>> sum([0.1] * 10)
    0.9999999999999999
    >>> weight_sum([1, 2, 1], scale=0.25)
    1.0
    """
    scaled = [float(v) * scale for v in values]
    return 0.0 + _pairwise_sum(scaled, 0, len(scaled))


# What the generators give with their default parameters, so that listing them
# needs no NumPy.  The sums are the float64 results of the generators in
# convcli.kernels; tests/test_kernels.py checks every field against them.
_GENERATOR_DEFAULTS: dict[str, PresetInfo] = {
    "box": PresetInfo(
        name="box",
        category="blur",
        shape=(3, 3),
        weight_sum=1.0,
        source="builtin generator",
        description="box (mean) blur, 3x3 (width x height)",
    ),
    "gaussian": PresetInfo(
        name="gaussian",
        category="blur",
        shape=(7, 7),
        weight_sum=0.9999999999999999,
        source="builtin generator",
        description="Gaussian blur, sigma=1, 7x7, normalized to sum 1",
    ),
    "log": PresetInfo(
        name="log",
        category="edge",
        shape=(11, 11),
        weight_sum=3.441494864694222e-17,
        source="builtin generator",
        description=(
            "Laplacian of Gaussian, sigma=1.4, 11x11, zero-sum; "
            "negative centre (a bright spot gives a negative response)"
        ),
    ),
    "motion": PresetInfo(
        name="motion",
        category="blur",
        shape=(1, 9),
        weight_sum=1.0,
        source="builtin generator",
        description=(
            "motion blur along a 9-pixel line at 0 degrees "
            "(counter-clockwise from +x), normalized to sum 1"
        ),
    ),
    "unsharp": PresetInfo(
        name="unsharp",
        category="sharpen",
        shape=(7, 7),
        weight_sum=1.0000000000000002,
        source="builtin generator",
        description="unsharp mask, sigma=1, amount=1, 7x7; sums to 1",
    ),
}


def list_presets() -> list[PresetInfo]:
    """Summarize every preset, as :func:`convcli.kernels.list_kernels` lists them.

    The preset files are read and validated but no weight arrays are built,
    and NumPy is not imported.

    Returns
    -------
    list of PresetInfo
        Sorted by name; a user preset hides a built-in one of the same name,
        and a preset file hides the generator of the same name.

    Raises
    ------
    KernelError
        If a preset file is malformed (the message names the file), with the
        same message as :func:`convcli.kernels.list_kernels`.

    Examples
    --------
    >>> [p.name for p in list_presets() if p.source == "builtin generator"]
    ['gaussian', 'log', 'motion', 'unsharp']
    """
    index = preset_index()
    infos: list[PresetInfo] = []
    for path, label in index.values():
        preset = read_preset_file(path, str(path))
        infos.append(
            PresetInfo(
                name=path.stem,
                category=preset.category,
                shape=preset.shape,
                weight_sum=weight_sum(preset.values, preset.scale),
                source=label,
                description=preset.description,
            )
        )
    infos.extend(info for key, info in _GENERATOR_DEFAULTS.items() if key not in index)
    return sorted(infos, key=lambda p: (normalize_name(p.name), p.name))
