"""Array-level filtering: kernel chains, alpha handling and value mapping.

This is what ``convcli filter`` does to the pixels, as a library:

1. :func:`prepare_kernels` applies ``--normalize``, ``--scale`` and
   ``--convolve`` to each kernel of the chain.
2. :func:`filter_array` runs the chain (``--repeat`` times) through
   :func:`convcli.engine.correlate` in float, never rounding or clipping
   between steps; alpha is kept, filtered or premultiplied.
3. :func:`map_values` turns the float result into the output's integer type
   (``--abs``, ``--rescale``, else round and clip).
4. :func:`filter_and_map` does 2 then 3, in bands of rows for a large image.

Files in, files out (load, filter, map, save atomically) is
:func:`convcli.runner.filter_image`.

Public: :class:`FilterOptions`, :data:`ALPHA_MODES`, :data:`AlphaMode`,
:class:`FilterReport`, :func:`prepare_kernels`, :func:`check_range`,
:func:`filter_array`, :func:`explain_chain`, :func:`map_values`,
:func:`filter_and_map` and :func:`output_path_for`.
"""

from __future__ import annotations

from convcli.filters.bands import filter_and_map
from convcli.filters.chain import check_range, filter_array, prepare_kernels
from convcli.filters.explain import explain_chain
from convcli.filters.options import ALPHA_MODES, AlphaMode, FilterOptions
from convcli.filters.paths import check_collisions, check_suffix, output_path_for
from convcli.filters.report import FilterReport
from convcli.filters.values import from_input_range, map_values, unit_range_note

__all__ = [
    "ALPHA_MODES",
    "AlphaMode",
    "FilterOptions",
    "FilterReport",
    "check_range",
    "explain_chain",
    "filter_and_map",
    "filter_array",
    "from_input_range",
    "map_values",
    "unit_range_note",
    "check_collisions",
    "check_suffix",
    "output_path_for",
    "prepare_kernels",
]
