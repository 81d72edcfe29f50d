"""ImageMagick's named kernels, with ImageMagick's arguments and ImageMagick's weights.

``NAME:ARGS`` as ``convert -morphology Convolve NAME:ARGS`` takes it (names
case-insensitive): the weights are those ImageMagick 6.9 builds, as
``convert xc: -define morphology:showKernel=1 -morphology Convolve:0 'NAME:ARGS' null:``
prints them (``tests/data/imagemagick_kernels.txt`` holds that output and
``tests/test_imagemagick_kernels.py`` compares).  The construction follows
ImageMagick's ``AcquireKernelBuiltIn`` (morphology.c) and its kernel-width
rule (``GetOptimalKernelWidth1D/2D``, gem.c, for Q16).

Orientation: ImageMagick's ``-morphology Convolve`` applies these weights as a
true convolution (flipped), ``-morphology Correlate`` as written; convcli
applies them as written by default, so ``-k Sobel --convolve`` is IM's
``-morphology Convolve Sobel`` and ``-k Sobel`` its ``Correlate``.  Shape
kernels (``Disk``, ``Diamond``) have 0 where ImageMagick has "no value".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from convcli.array_types import F64Array
from convcli.errors import KernelError
from convcli.kernelspec.kernel import Kernel
from convcli.presets import check_size

__all__ = ["IM_KERNELS", "imagemagick_kernel", "is_imagemagick_name"]

_QUANTUM_SCALE = 1.0 / 65535.0  # Q16
_EPSILON = 1.0e-12
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

Args = tuple[float, float, float, float]
Built = tuple[F64Array, tuple[int, int] | None, str]


def _array(text: str) -> F64Array:
    """An N x N kernel from ImageMagick's ``"N: v v v ..."`` table text (rows by width)."""
    values = [float(v) for v in text.split()]
    n = math.isqrt(len(values))
    return np.array(values, dtype=np.float64).reshape(n, n)


_LAPLACIANS = {
    0: _array("-1 -1 -1  -1 8 -1  -1 -1 -1"),
    1: _array("0 -1 0  -1 4 -1  0 -1 0"),
    2: _array("-2 1 -2  1 4 1  -2 1 -2"),
    3: _array("1 -2 1  -2 4 -2  1 -2 1"),
    5: _array("-4 -1 0 -1 -4  -1 2 3 2 -1  0 3 4 3 0  -1 2 3 2 -1  -4 -1 0 -1 -4"),
    7: _array(
        "-10 -5 -2 -1 -2 -5 -10  -5 0 3 4 3 0 -5  -2 3 6 7 6 3 -2  -1 4 7 8 7 4 -1 "
        " -2 3 6 7 6 3 -2  -5 0 3 4 3 0 -5  -10 -5 -2 -1 -2 -5 -10"
    ),
    15: _array("0 0 -1 0 0  0 -1 -2 -1 0  -1 -2 16 -2 -1  0 -1 -2 -1 0  0 0 -1 0 0"),
    19: _array(
        "0 -1 -1 -2 -2 -2 -1 -1 0  -1 -2 -4 -5 -5 -5 -4 -2 -1  -1 -4 -5 -3 0 -3 -5 -4 -1 "
        " -2 -5 -3 12 24 12 -3 -5 -2  -2 -5 0 24 40 24 0 -5 -2  -2 -5 -3 12 24 12 -3 -5 -2 "
        " -1 -4 -5 -3 0 -3 -5 -4 -1  -1 -2 -4 -5 -5 -5 -4 -2 -1  0 -1 -1 -2 -2 -2 -1 -1 0"
    ),
}
_EDGES = {
    "sobel": _array("1 0 -1  2 0 -2  1 0 -1"),
    "roberts": _array("0 0 0  1 -1 0  0 0 0"),
    "prewitt": _array("1 0 -1  1 0 -1  1 0 -1"),
    "compass": _array("1 1 -1  1 -2 -1  1 1 -1"),
    "kirsch": _array("5 -3 -3  5 0 -3  5 -3 -3"),
}
_SQ2 = math.sqrt(2.0)


def _width_2d(radius: float, sigma: float) -> int:
    """ImageMagick's GetOptimalKernelWidth2D: the smallest odd width whose edge is imperceptible."""
    if radius > _EPSILON:
        return int(2.0 * math.ceil(radius) + 1.0)
    gamma = abs(sigma)
    if gamma <= _EPSILON:
        return 3
    alpha = 1.0 / (2.0 * gamma * gamma)
    beta = 1.0 / (2.0 * math.pi * gamma * gamma)
    width = 5
    while True:
        j = (width - 1) // 2
        r = np.arange(-j, j + 1, dtype=np.float64)
        normalize = float(np.sum(np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) * alpha) * beta))
        value = math.exp(-(j * j) * alpha) * beta / normalize
        if value < _QUANTUM_SCALE or value < _EPSILON or width > 4097:
            return width - 2
        width += 2


def _width_1d(radius: float, sigma: float) -> int:
    """ImageMagick's GetOptimalKernelWidth1D."""
    if radius > _EPSILON:
        return int(2.0 * math.ceil(radius) + 1.0)
    gamma = abs(sigma)
    if gamma <= _EPSILON:
        return 3
    alpha = 1.0 / (2.0 * gamma * gamma)
    beta = 1.0 / (math.sqrt(2.0 * math.pi) * gamma)
    width = 5
    while True:
        j = (width - 1) // 2
        r = np.arange(-j, j + 1, dtype=np.float64)
        normalize = float(np.sum(np.exp(-(r**2) * alpha) * beta))
        value = math.exp(-(j * j) * alpha) * beta / normalize
        if value < _QUANTUM_SCALE or value < _EPSILON or width > 4097:
            return width - 2
        width += 2


def _side(radius: float, computed: Callable[[], int], label: str) -> int:
    width = int(radius) * 2 + 1 if radius >= 1.0 else computed()
    check_size((width, width), label)
    return width


def _correlate_normalize(w: F64Array) -> F64Array:
    """ImageMagick's CorrelateNormalize: positive weights sum to 1, negative ones to -1."""
    pos = float(w[w > 0].sum())
    neg = float(w[w < 0].sum())
    pos_scale = pos if abs(pos) >= _EPSILON else 1.0
    neg_scale = -neg if abs(neg) >= _EPSILON else 1.0
    return np.where(w >= 0, w / pos_scale, w / neg_scale)


def _gaussian_family(kind: str, args: Args, label: str) -> Built:
    rho, sigma, sigma2 = args[0], abs(args[1]), abs(args[2])
    wide = sigma if kind != "dog" or sigma >= sigma2 else sigma2
    n = _side(rho, lambda: _width_2d(rho, wide), label)
    r = np.arange(n, dtype=np.float64) - (n - 1) // 2
    rr = r[:, None] ** 2 + r[None, :] ** 2
    centre = np.zeros((n, n))
    centre[(n - 1) // 2, (n - 1) // 2] = 1.0

    def gauss(s: float) -> F64Array:
        if s <= _EPSILON:
            return centre
        return np.exp(-rr / (2.0 * s * s)) / (2.0 * math.pi * s * s)

    if kind == "log":
        if sigma > _EPSILON:
            big_r = rr / (2.0 * sigma * sigma)
            w = (1 - big_r) * np.exp(-big_r) / (math.pi * sigma**4)
        else:
            w = np.where(centre > 0, 2.0, -1.0)
    elif kind == "dog":
        w = gauss(sigma) - gauss(sigma2)
    else:
        w = gauss(sigma)
    text = {
        "gaussian": f"ImageMagick Gaussian, sigma {sigma:g}",
        "log": f"ImageMagick Laplacian of Gaussian, sigma {sigma:g}",
        "dog": f"ImageMagick difference of Gaussians, sigma {sigma:g} minus sigma {sigma2:g}",
    }[kind]
    return _correlate_normalize(w), None, text


def _blur(args: Args, label: str) -> Built:
    rho, sigma, angle = args[0], abs(args[1]), args[2]
    n = _side(rho, lambda: _width_1d(rho, sigma), label)
    w = np.zeros(n)
    if sigma > _EPSILON:
        rank = 3  # ImageMagick samples the Gaussian 3x finer and sums each 3 samples
        v = (n * rank - 1) // 2
        s = sigma * rank
        u = np.arange(-v, v + 1, dtype=np.float64)
        np.add.at(
            w,
            (u.astype(int) + v) // rank,
            np.exp(-(u * u) / (2 * s * s)) / (math.sqrt(2 * math.pi) * s),
        )
    else:
        w[(n - 1) // 2] = 1.0
    row = _correlate_normalize(w)[np.newaxis, :]
    anchor = (0, (n - 1) // 2)
    row, anchor = _rotate(row, anchor, angle, kind="blur")
    return row, anchor, f"ImageMagick 1-D Gaussian blur, sigma {sigma:g}, angle {angle:g}"


def _rotate(
    w: F64Array, anchor: tuple[int, int], angle: float, *, kind: str = ""
) -> tuple[F64Array, tuple[int, int]]:
    """ImageMagick's RotateKernelInfo: 45-degree steps for 3x3, 90 for square and 1-D kernels."""
    angle = math.fmod(angle, 360.0)
    if angle < 0:
        angle += 360.0
    if angle > 337.5 or angle <= 22.5:
        return w, anchor
    if kind == "blur":
        if 135.0 < angle <= 225.0:
            return w, anchor
        if 225.0 < angle <= 315.0:
            angle -= 180.0
    if 22.5 < math.fmod(angle, 90.0) <= 67.5 and w.shape == (3, 3):
        w = _ring_step(w)
        angle = math.fmod(angle + 315.0, 360.0)
    if 45.0 < math.fmod(angle, 180.0) <= 135.0:
        w, anchor, angle = _quarter_turn(w, anchor, angle)
    if 135.0 < angle <= 225.0:
        w = w[::-1, ::-1].copy()
        anchor = (w.shape[0] - 1 - anchor[0], w.shape[1] - 1 - anchor[1])
    return w, anchor


def _ring_step(w: F64Array) -> F64Array:
    """A 3x3 kernel's outer ring moved one step clockwise (a 45-degree turn)."""
    ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
    old = [w[p] for p in ring]
    w = w.copy()
    for i, p in enumerate(ring):
        w[p] = old[i - 1]  # every value one step clockwise
    return w


def _quarter_turn(
    w: F64Array, anchor: tuple[int, int], angle: float
) -> tuple[F64Array, tuple[int, int], float]:
    """A 90-degree turn of a 1-D or square kernel, as ImageMagick makes it; the angle left."""
    if 1 in w.shape:
        w, anchor = w.T.copy(), (anchor[1], anchor[0])
        angle = math.fmod(angle + (270.0 if w.shape[1] == 1 else 90.0), 360.0)
    elif w.shape[0] == w.shape[1]:
        w = np.rot90(w, -1).copy()  # clockwise, as ImageMagick turns it
        anchor = (anchor[1], w.shape[0] - 1 - anchor[0])
        angle = math.fmod(angle + 270.0, 360.0)
    return w, anchor, angle


def _edge(name: str) -> Callable[[Args, str], Built]:
    def build(args: Args, label: str) -> Built:
        w, anchor = _rotate(_EDGES[name], (1, 1), args[0])
        return w, anchor, f"ImageMagick {name.capitalize()} edge kernel, angle {args[0]:g}"

    return build


def _freichen(args: Args, label: str) -> Built:
    kind = int(args[0])
    if kind in (0, 1):
        w = np.array([[1, 0, -1], [_SQ2, 0, -_SQ2], [1, 0, -1]])
    elif kind == 2:
        w = np.array([[1, _SQ2, 0], [_SQ2, 0, -_SQ2], [0, -_SQ2, -1]])
    else:
        msg = (
            f"{label}: convcli gives FreiChen:0, FreiChen:1 and FreiChen:2 "
            f"(ImageMagick 6.9 builds type 0 for 3-9 and a kernel list for 10); got type {kind}"
        )
        raise KernelError(msg)
    if kind:
        w = w / _SQ2
    w, anchor = _rotate(w, (1, 1), args[1])
    return w, anchor, f"ImageMagick Frei-Chen kernel {kind}, angle {args[1]:g}"


def _laplacian(args: Args, label: str) -> Built:
    kind = int(args[0])
    w = _LAPLACIANS.get(kind, _LAPLACIANS[0])
    return w.copy(), None, f"ImageMagick Laplacian:{kind if kind in _LAPLACIANS else 0}"


def _shape(kind: str, args: Args, label: str) -> Built:
    rho, scale = args[0], args[1]
    if kind == "disk":
        n, limit = (9, 18) if rho < 0.4 else (int(abs(rho)) * 2 + 1, int(rho * rho))
    else:
        n = 3 if rho < 1.0 else (int(2 * rho + 1) if kind == "square" else int(rho) * 2 + 1)
    check_size((n, n), label)
    r = np.abs(np.arange(n) - (n - 1) // 2)
    if kind == "disk":
        inside = r[:, None] ** 2 + r[None, :] ** 2 <= limit
    elif kind == "diamond":
        inside = r[:, None] + r[None, :] <= (n - 1) // 2
    else:
        inside = np.ones((n, n), bool)
    return np.where(inside, scale, 0.0), None, f"ImageMagick {kind.capitalize()} of {n}x{n}"


def _rectangle(args: Args, label: str, given: int) -> Built:
    width, height, x, y = args
    if given < 1:
        width = height
    if width < 1:
        width = 3
    if height < 1:
        height = width
    x = x if given >= 3 else (int(width) - 1) // 2
    y = y if given >= 4 else (int(height) - 1) // 2
    w, h = int(width), int(height)
    check_size((h, w), label)
    if not (0 <= x < w and 0 <= y < h):
        msg = f"{label}: anchor +{x:g}+{y:g} lies outside the {w}x{h} (width x height) rectangle"
        raise KernelError(msg)
    return np.ones((h, w)), (int(y), int(x)), f"ImageMagick Rectangle {w} wide x {h} high"


def _defaults(name: str, args: list[float]) -> Args:
    """ImageMagick's defaults for missing arguments (ParseKernelName)."""
    full = [*args, 0.0, 0.0, 0.0, 0.0][:4]
    if name == "unity" and not args:
        full[0] = 1.0
    if name in ("square", "diamond", "disk") and len(args) < 2:
        full[1] = 1.0
    return full[0], full[1], full[2], full[3]


_BUILDERS: dict[str, Callable[[Args, str], Built]] = {
    "gaussian": lambda a, label: _gaussian_family("gaussian", a, label),
    "log": lambda a, label: _gaussian_family("log", a, label),
    "dog": lambda a, label: _gaussian_family("dog", a, label),
    "blur": _blur,
    "laplacian": _laplacian,
    **{name: _edge(name) for name in _EDGES},
    "freichen": _freichen,
    "unity": lambda a, label: (np.array([[a[0]]]), None, "ImageMagick Unity"),
    "disk": lambda a, label: _shape("disk", a, label),
    "square": lambda a, label: _shape("square", a, label),
    "diamond": lambda a, label: _shape("diamond", a, label),
}

#: ImageMagick kernel names convcli accepts (lower case), with their argument syntax.
IM_KERNELS = {
    "gaussian": "Gaussian:RxS",
    "blur": "Blur:RxS[+angle]",
    "log": "LoG:RxS",
    "dog": "DoG:R,S1,S2",
    "laplacian": "Laplacian:N",
    "sobel": "Sobel[:angle]",
    "roberts": "Roberts[:angle]",
    "prewitt": "Prewitt[:angle]",
    "compass": "Compass[:angle]",
    "kirsch": "Kirsch[:angle]",
    "freichen": "FreiChen[:N[,angle]]",
    "unity": "Unity",
    "disk": "Disk:R",
    "square": "Square:R",
    "diamond": "Diamond:R",
    "rectangle": "Rectangle:WxH[+X+Y]",
}


def is_imagemagick_name(name: str) -> bool:
    """Whether ``name`` (any case) is one of ImageMagick's kernels that convcli builds."""
    return name.strip().lower() in IM_KERNELS


def _parse_args(text: str, label: str) -> list[float]:
    numbers = _NUMBER_RE.findall(text)
    rest = _NUMBER_RE.sub(" ", text)
    if re.fullmatch(r"[\sxX,]*", rest) is None or len(numbers) > 4:
        msg = (
            f"{label}: arguments {text!r} are not ImageMagick's geometry "
            "(up to 4 numbers as RxS, RxS+A, R,S1,S2 or WxH+X+Y)"
        )
        raise KernelError(msg)
    return [float(n) for n in numbers]


def imagemagick_kernel(spec: str) -> Kernel:
    """Build ImageMagick's kernel ``NAME[:ARGS]`` with ImageMagick's weights.

    Examples
    --------
    >>> imagemagick_kernel("Gaussian:0x2").shape
    (15, 15)
    >>> imagemagick_kernel("Sobel:90").weights.tolist()
    [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]
    >>> imagemagick_kernel("Rectangle:3x2").effective_anchor
    (0, 1)
    """
    name, _, arg_text = spec.partition(":")
    key = name.strip().lower()
    label = f"ImageMagick kernel {spec!r}"
    if key not in IM_KERNELS:
        known = ", ".join(IM_KERNELS.values())
        msg = f"{label}: not one of ImageMagick's kernels convcli builds ({known})"
        raise KernelError(msg)
    given = _parse_args(arg_text, label)
    args = _defaults(key, given)
    if key == "rectangle":
        weights, anchor, text = _rectangle(args, label, len(given))
    else:
        weights, anchor, text = _BUILDERS[key](args, label)
    category = (
        "blur"
        if key in ("gaussian", "blur", "unity", "disk", "square", "diamond", "rectangle")
        else "edge"
    )
    return Kernel(
        name=spec.strip(),
        weights=weights,
        category=category,
        description=f"{text} (ImageMagick's weights, as -morphology Convolve {spec.strip()})",
        source="ImageMagick kernel",
        anchor=anchor,
        reference="ImageMagick 6.9 morphology.c AcquireKernelBuiltIn",
    )
