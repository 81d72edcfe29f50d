"""Kernel specs: the :class:`Kernel` value object, the ``-k`` spec grammar and the presets.

A kernel spec (the value of ``-k``) is resolved in this order:

1. **An existing file**: ``.txt`` / ``.csv`` / ``.mat`` (text rows of numbers,
   see below), ``.toml`` (the preset format) or ``.npy`` (a 2-D, 3-D or 4-D
   array).  Any other extension is read as text.
2. **An inline matrix**: rows separated by ``;``, values by ``,`` and/or
   spaces (``"0,-1,0; -1,5,-1; 0,-1,0"``; ``"1,2,1"`` is 1x3, ``"2"`` is 1x1),
   or an ImageMagick kernel string ``"WxH: v,v,..."``, ``"N: ..."`` (N x N) or
   ``"WxH+X+Y: ..."``, where ``+X+Y`` puts the anchor at column X, row Y
   (0-based), i.e. ``anchor=(Y, X)``.
3. **A preset name**, case-insensitive, ``_`` and ``-`` alike (``sobel-x``,
   ``Sobel_X``), optionally followed by ``:`` and generator parameters
   (``gaussian:sigma=2,size=9``).

Text kernel files hold one row per line, values separated by spaces and/or
commas (one trailing comma per row is allowed); ``#`` starts a comment and
blank lines are ignored.  An optional libvips header ``width height [scale
[offset]]`` may be the first line: it is taken as a header only when it has 2
to 4 numbers, the first two are positive integers and exactly ``height`` rows
of ``width`` numbers follow.  As in libvips, the result is *divided* by the
header's ``scale`` (so ``Kernel.scale = 1 / scale``) and ``offset`` is added.

One rule for sizes in convcli's own syntax, in every command (``box:AxB``,
``shape -k AxB``, ``--layer k=AxB``, ``fit --size AxB``): ``AxB`` is A high and
B wide, as array shapes ``(rows, columns)``: ``box:7x3`` has shape ``(7, 3)``.
ImageMagick's kernel strings keep ImageMagick's width first: ``"7x3: ..."`` is
7 wide and 3 high.

Presets are the ``*.toml`` files of the built-in ``kernels/`` folder and of the
folders listed in ``CONVCLI_KERNEL_PATH`` (separated by ``os.pathsep``, ``:``
on POSIX), plus the generators ``gaussian``, ``box``, ``motion``, ``log`` and
``unsharp``.  A preset is called by its file name (the stem, which wins over
any ``name`` key inside); a user folder listed earlier wins over a later one,
and any user folder wins over the built-in presets.  A bare name is a preset
file if there is one (``box`` is the 3x3 file), otherwise the generator with
its default parameters; a name with ``:params`` always goes to the generator.

Generator parameters are ``key=value`` pairs or positional values in the
order given below, separated by commas (``motion:15,30`` is
``motion:length=15,angle=30``):

``gaussian:sigma,size``
    Sampled Gaussian ``exp(-(x^2 + y^2) / (2 sigma^2))`` normalized to sum 1.
    ``sigma`` > 0 (default 1.0); ``size`` odd (default ``2*ceil(3*sigma)+1``).
``box:size``
    Mean filter of ``size`` ``N`` or ``WxH`` (default 3; even sizes allowed).
``motion:length,angle``
    A line of ``length`` pixels (default 9) through the centre at ``angle``
    degrees (default 0) counter-clockwise from the +x axis (to the right, with
    rows growing downwards), sampled at ``length`` points one pixel apart and
    spread bilinearly over the grid, normalized to sum 1.  Angle 0 is a
    horizontal ``1 x length`` line, 90 a vertical one.
``log:sigma,size``
    Laplacian of Gaussian ``-(1 - r^2/(2 sigma^2)) exp(-r^2/(2 sigma^2)) /
    (pi sigma^4)`` minus its mean, so it sums to 0.  The centre is negative,
    as in the ``laplacian`` preset (a bright spot gives a negative response).
    ``sigma`` default 1.4, ``size`` odd >= 3 (default ``2*ceil(3*sigma)+1``).
``unsharp:sigma,amount,size``
    ``identity + amount * (identity - gaussian(sigma, size))``; sums to 1.
    ``sigma`` default 1.0, ``amount`` default 1.0.

Weights are stored in correlation orientation: they are applied as written,
so ``sobel-x`` (``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``) is positive where the
image gets brighter to the right.

Public names: :class:`Kernel`, :func:`load_kernel` and :func:`list_kernels`,
and from :mod:`convcli.presets` the limits :data:`MAX_KERNEL_SIDE` and
:data:`MAX_KERNEL_TAPS`, the :data:`CATEGORIES`, the :data:`GENERATORS`
(name -> parameter names) and :func:`kernel_search_path`.

Examples
--------
>>> from convcli.kernelspec import load_kernel
>>> load_kernel("sobel-x").weights.tolist()
[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
>>> load_kernel("box:7x3").shape
(7, 3)
>>> load_kernel("3x3+0+0: 1,0,0, 0,0,0, 0,0,0").anchor
(0, 0)
"""

from __future__ import annotations

from convcli.kernelspec.kernel import Kernel
from convcli.kernelspec.registry import list_kernels, load_kernel
from convcli.presets import (
    CATEGORIES,
    GENERATORS,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_TAPS,
    kernel_search_path,
)

__all__ = [
    "CATEGORIES",
    "GENERATORS",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_TAPS",
    "Kernel",
    "kernel_search_path",
    "list_kernels",
    "load_kernel",
]
