"""The presets, without NumPy: where they live, their file format, limits and generators.

Standard library only (no NumPy anywhere in this package), so ``convcli
kernels list`` reads and summarizes every preset quickly, while
:mod:`convcli.kernelspec` builds its kernels with the same reader, checks and
generator table, so both accept the same files and raise the same errors.

Public names:

- listing: :func:`list_presets` and :class:`PresetInfo`;
- finding the files: :func:`kernel_search_path`, :func:`builtin_dir`,
  :func:`preset_index` and :func:`normalize_name`;
- the file format: :func:`read_preset_file`, :class:`PresetFile`,
  :data:`TOML_KEYS` and :data:`CATEGORIES`;
- the limits and checks every kernel reader shares: :data:`MAX_KERNEL_SIDE`,
  :data:`MAX_KERNEL_TAPS`, :func:`check_size`, :func:`check_anchor`,
  :func:`finite_float`, :func:`position` and :func:`count_values`;
- the generator table: :data:`GENERATOR_SPECS` (:class:`GeneratorSpec`),
  :data:`GENERATORS` and :data:`GENERATOR_SOURCE`;
- :func:`weight_sum`, a sum of weights equal to NumPy's to the bit.
"""

from __future__ import annotations

from convcli.presets.generators import (
    GENERATOR_SOURCE,
    GENERATOR_SPECS,
    GENERATORS,
    GeneratorSpec,
)
from convcli.presets.index import (
    PresetInfo,
    builtin_dir,
    kernel_search_path,
    list_presets,
    normalize_name,
    preset_index,
)
from convcli.presets.limits import (
    MAX_KERNEL_SIDE,
    MAX_KERNEL_TAPS,
    check_anchor,
    check_kernel_file,
    check_size,
    count_values,
    finite_float,
    position,
)
from convcli.presets.pairwise import weight_sum
from convcli.presets.toml_format import CATEGORIES, TOML_KEYS, PresetFile, read_preset_file

__all__ = [
    "CATEGORIES",
    "GENERATORS",
    "GENERATOR_SOURCE",
    "GENERATOR_SPECS",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_TAPS",
    "TOML_KEYS",
    "GeneratorSpec",
    "PresetFile",
    "PresetInfo",
    "builtin_dir",
    "check_anchor",
    "check_kernel_file",
    "check_size",
    "count_values",
    "finite_float",
    "kernel_search_path",
    "list_presets",
    "normalize_name",
    "position",
    "preset_index",
    "read_preset_file",
    "weight_sum",
]
