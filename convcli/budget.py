"""Memory estimates of a command, checked against ``--max-memory`` before any work.

Standard library only: integer arithmetic on shapes and a :class:`Geometry`.
Each estimate counts the arrays a command holds at its peak (bytes).  Checked
against the peak RSS (``/usr/bin/time -f %M``, so including ~60 MB of Python
and NumPy) on a 2000x2000x3 PNG with ``-k sharpen``: ``grad --loss sum``
estimate 458 MiB / peak 411 MiB; with ``--check`` 1.6 GiB / 1.4 GiB; with
``--save-input-grad`` 733 MiB / 687 MiB; ``fit --size 5`` 646 MiB / 535 MiB;
``filter -k box`` 149 MiB / 107 MiB (float64: 286 MiB / 163 MiB).  The
robustness issue's ``grad`` of a 10000x10000x3 image peaked at 9.2 GB (the
estimate: 11.2 GiB) and at 23.7 GB with ``--check`` (39 GiB).
:func:`check_memory` refuses an estimate over the limit (``--max-memory``,
else ``CONVCLI_MAX_MEMORY``, default 8 GiB) with exit 2 and the numbers.
"""

from __future__ import annotations

import math

from convcli import config
from convcli.errors import OptionError
from convcli.shapes import Geometry

__all__ = ["check_memory", "filter_bytes", "fit_bytes", "grad_bytes", "resolve_max_memory"]


def _sizes(geom: Geometry, channels: int) -> tuple[int, int, int]:
    """Values of the image, of its padded copy and of one output channel set."""
    h, w = geom.in_hw
    hp, wp = h + sum(geom.pad_rows), w + sum(geom.pad_cols)
    oh, ow = geom.out_hw
    return h * w * channels, hp * wp * channels, oh * ow


def filter_bytes(geom: Geometry, channels: int, out_channels: int, *, float_bytes: int) -> int:
    """One kernel step of ``filter``: the decoded image, its float copy, two float outputs.

    Examples
    --------
    >>> from convcli.shapes import make_geometry
    >>> filter_bytes(make_geometry((100, 100), (3, 3)), 3, 3, float_bytes=4)
    390000
    """
    image, _, out = _sizes(geom, channels)
    return image * (1 + float_bytes) + 2 * out * out_channels * float_bytes


def grad_bytes(
    geom: Geometry, channels: int, out_channels: int, *, input_grad: bool, check: bool
) -> int:
    """``grad`` in float64: image, padded image, output and its gradient (and target).

    ``input_grad`` adds the padded and folded input gradients; ``check`` (the
    finite-difference forward passes) multiplies the whole by 3.5.
    """
    image, padded, out = _sizes(geom, channels)
    total = 8 * (image + padded + 3 * out * out_channels)
    if input_grad:
        total += 8 * (padded + 2 * image)
    return total * 7 // 2 if check else total


def fit_bytes(
    geom: Geometry, channels: int, out_channels: int, *, depthwise: bool, method: str
) -> int:
    """``fit``: the ``grad`` arrays, plus the normal equations of ``lstsq`` (two copies).

    ``lstsq`` solves a system of ``kh * kw`` unknowns (times the channels for
    a full kernel): ``fit --size 4000`` would need 16 million squared.
    """
    total = grad_bytes(geom, channels, out_channels, input_grad=True, check=False)
    if method == "lstsq":
        unknowns = math.prod(geom.kernel_hw) * (1 if depthwise else channels)
        total += 8 * 2 * unknowns * (unknowns + out_channels) + config.FIT_TILE_BYTES
    return total


def resolve_max_memory(max_memory: int | str | None) -> int:
    """The memory limit in bytes: ``max_memory`` (bytes or a size like ``8G``), else the default."""
    if max_memory is None:
        return config.limit("memory")
    if isinstance(max_memory, str):
        return config.parse_size(max_memory, "--max-memory")
    if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory < 1:
        msg = f"`max_memory` must be a positive number of bytes; got {max_memory!r}"
        raise OptionError(msg)
    return max_memory


def check_memory(need: int, what: str, max_memory: int | str | None = None) -> None:
    """Refuse ``what`` when its estimate ``need`` (bytes) is over the memory limit (exit 2).

    Examples
    --------
    >>> check_memory(1 << 20, "a small job", "1G")
    >>> check_memory(3 << 30, "grad of photo.png", "2G")
    Traceback (most recent call last):
    ...
    convcli.errors.OptionError: grad of photo.png would need about 3.0 GiB of memory, over the \
limit of 2.0 GiB (--max-memory or CONVCLI_MAX_MEMORY); raise the limit or use a smaller input
    """
    most = resolve_max_memory(max_memory)
    if need > most:
        msg = (
            f"{what} would need about {config.describe_size(need)} of memory, over the limit of "
            f"{config.describe_size(most)} (--max-memory or {config.LIMITS['memory'].env}); "
            "raise the limit or use a smaller input"
        )
        raise OptionError(msg)
