"""Where the presets live and what each one is, without NumPy.

The presets are the ``*.toml`` files of the built-in ``kernels/`` folder and
of the folders of ``CONVCLI_KERNEL_PATH`` (read through
:func:`convcli.config.kernel_path_entries`), plus the generators.  This module
finds the files, keeps an index of them by name, and summarizes every preset
(name, category, shape, sum of the weights, source, description) for
``convcli kernels list``, so listing the presets does not pay for NumPy.

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
from dataclasses import dataclass
from pathlib import Path

from convcli import config
from convcli.errors import KernelError
from convcli.presets.generators import GENERATOR_SOURCE, GENERATOR_SPECS
from convcli.presets.pairwise import weight_sum
from convcli.presets.toml_format import read_preset_file

#: The folder of the convcli package (``importlib.resources.files("convcli")``).
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- search path


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
    for part in config.kernel_path_entries():
        folder = Path(part).expanduser()
        entries.append((f"user:{folder}", folder))
    return entries


# --------------------------------------------------------------------------- index


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
        One of :data:`~convcli.presets.CATEGORIES`.
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


# What the generators give with their default parameters, from the generator table,
# so that listing them needs no NumPy.
_GENERATOR_DEFAULTS: dict[str, PresetInfo] = {
    name: PresetInfo(
        name=name,
        category=spec.category,
        shape=spec.shape,
        weight_sum=spec.weight_sum,
        source=GENERATOR_SOURCE,
        description=spec.default_description(),
    )
    for name, spec in GENERATOR_SPECS.items()
}


def list_presets(*, problems: list[str] | None = None) -> list[PresetInfo]:
    """Summarize every preset, as :func:`convcli.kernelspec.list_kernels` lists them.

    The preset files are read and validated but no weight arrays are built,
    and NumPy is not imported.

    Parameters
    ----------
    problems : list of str, optional
        If given, a malformed preset file is left out of the listing and its
        error message (naming the file and the fault) is appended here, so one
        bad file in ``CONVCLI_KERNEL_PATH`` does not hide every other preset.

    Returns
    -------
    list of PresetInfo
        Sorted by name; a user preset hides a built-in one of the same name,
        and a preset file hides the generator of the same name.

    Raises
    ------
    KernelError
        If a preset file is malformed and ``problems`` is not given (the
        message names the file), with the same message as
        :func:`convcli.kernelspec.list_kernels`.

    Examples
    --------
    >>> [p.name for p in list_presets() if p.source == "builtin generator"]
    ['gaussian', 'log', 'motion', 'unsharp']
    """
    index = preset_index()
    infos: list[PresetInfo] = []
    for path, label in index.values():
        try:
            preset = read_preset_file(path, str(path))
        except KernelError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            continue
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
