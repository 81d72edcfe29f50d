"""Whether the extra ``convcli[dask]`` is installed (this module imports nothing heavy)."""

from __future__ import annotations

import importlib.util

from convcli.errors import OptionError

INSTALL_HINT = "pip install 'convcli[dask]'"

_NEEDED = ("dask", "distributed", "zarr", "tifffile")


def require_dask(what: str = "this") -> None:
    """Raise :class:`OptionError` (exit 2) naming the extra when a package of it is missing."""
    missing = [name for name in _NEEDED if _missing(name)]
    if missing:
        msg = (
            f"{what} needs the optional extra convcli[dask] ({', '.join(missing)} not installed):"
            f" {INSTALL_HINT}"
        )
        raise OptionError(msg)


def _missing(name: str) -> bool:
    import sys

    if name in sys.modules:
        return sys.modules[name] is None
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True
