"""Files in, files out: filter image files with a kernel chain and save the results.

Public (loaded lazily, so importing this package costs nothing until a name is
used: the CLI and worker processes import it before any work):

- :func:`filter_image` (one image file in, one out; also ``convcli.filter_image``),
  from :mod:`convcli.runner.single`; multi-frame inputs in :mod:`convcli.runner.frames`.
- the batch runner of ``convcli filter``, from :mod:`convcli.runner.batch`:
  :func:`expand_inputs`, :func:`output_targets`, :func:`read_stdin`,
  :func:`explain_file`, :class:`FilterJob`, :func:`filter_one`, :func:`run_all`,
  :class:`FileResult` and :data:`STDIO`.

The pixels themselves are filtered by :mod:`convcli.filters`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "filter_image": "convcli.runner.single",
    **dict.fromkeys(
        (
            "STDIO",
            "FileResult",
            "FilterJob",
            "ProgressFn",
            "expand_inputs",
            "explain_file",
            "filter_one",
            "output_targets",
            "read_stdin",
            "run_all",
        ),
        "convcli.runner.batch",
    ),
}

__all__ = [
    "STDIO",
    "FileResult",
    "FilterJob",
    "ProgressFn",
    "expand_inputs",
    "explain_file",
    "filter_image",
    "filter_one",
    "output_targets",
    "read_stdin",
    "run_all",
]

if TYPE_CHECKING:
    from convcli.runner.batch import (
        STDIO,
        FileResult,
        FilterJob,
        ProgressFn,
        expand_inputs,
        explain_file,
        filter_one,
        output_targets,
        read_stdin,
        run_all,
    )
    from convcli.runner.single import filter_image


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'convcli.runner' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
