"""The kernel generators: ``gaussian``, ``box``, ``motion``, ``log`` and ``unsharp``.

Their names, parameter orders, defaults, categories and texts come from the
table in :mod:`convcli.presets.generators` (which ``kernels list`` reads
without NumPy); this module parses the parameters and computes the weights.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable

import numpy as np

from convcli.array_types import F64Array
from convcli.errors import KernelError
from convcli.kernelspec.kernel import Kernel
from convcli.kernelspec.numbers import NUMBER_RE
from convcli.presets import (
    GENERATOR_SOURCE,
    GENERATOR_SPECS,
    GENERATORS,
    MAX_KERNEL_SIDE,
    check_size,
)

_INT_RE = re.compile(r"\+?\d+\Z")
_WXH_RE = re.compile(r"(\+?\d+)(?:[xX](\+?\d+))?\Z")


# --------------------------------------------------------------------------- parameters


def _float_param(gen: str, args: dict[str, str], name: str) -> float:
    """Read a finite float generator parameter (its default from the generator table)."""
    raw = args.get(name)
    if raw is None:
        return float(GENERATOR_SPECS[gen].defaults[name])
    if not NUMBER_RE.match(raw) or not math.isfinite(float(raw)):
        msg = f"{gen}: `{name}` must be a finite number; got {raw!r}"
        raise KernelError(msg)
    return float(raw)


def _positive_param(gen: str, args: dict[str, str], name: str) -> float:
    """Read a positive float generator parameter."""
    value = _float_param(gen, args, name)
    if value <= 0:
        msg = f"{gen}: `{name}` must be a positive number; got {args[name]!r}"
        raise KernelError(msg)
    return value


def _int_param(gen: str, args: dict[str, str], name: str, *, odd: bool, minimum: int = 1) -> int:
    """Read an integer generator parameter (must be present in ``args``)."""
    raw = args[name]
    kind = "a positive odd integer" if odd else "a positive integer"
    if minimum > 1:
        kind += f" >= {minimum}"
    if not _INT_RE.match(raw):
        msg = f"{gen}: `{name}` must be {kind}; got {raw!r}"
        raise KernelError(msg)
    value = int(raw)
    if value < minimum or (odd and value % 2 == 0):
        msg = f"{gen}: `{name}` must be {kind}; got {raw!r}"
        raise KernelError(msg)
    if value > MAX_KERNEL_SIDE:
        msg = f"{gen}: `{name}` is {value}; at most {MAX_KERNEL_SIDE} is allowed"
        raise KernelError(msg)
    return value


def _sigma_size(gen: str, args: dict[str, str], minimum: int) -> tuple[float, int]:
    """Read ``sigma`` and ``size`` (default ``2*ceil(3*sigma)+1``)."""
    sigma = _positive_param(gen, args, "sigma")
    if "size" in args:
        size = _int_param(gen, args, "size", odd=True, minimum=minimum)
    else:
        if 3 * sigma > MAX_KERNEL_SIDE:
            msg = (
                f"{gen}: sigma={sigma:g} needs a kernel over {MAX_KERNEL_SIDE} pixels wide; "
                "use a smaller sigma or give `size`"
            )
            raise KernelError(msg)
        size = max(2 * math.ceil(3 * sigma) + 1, minimum)
    check_size((size, size), gen)
    return sigma, size


def _add_keyword(gen: str, item: str, args: dict[str, str]) -> None:
    """Add one ``key=value`` parameter to ``args``; refuse unknown and repeated keys."""
    allowed = GENERATORS[gen]
    key, _, value = item.partition("=")
    key = key.strip().lower()
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        msg = f"{gen}: unknown parameter {key!r}{hint}; allowed: {', '.join(allowed)}"
        raise KernelError(msg)
    if key in args:
        msg = f"{gen}: parameter `{key}` is given twice"
        raise KernelError(msg)
    args[key] = value.strip()


def parse_params(gen: str, text: str) -> dict[str, str]:
    """Parse ``k=v,...`` / positional generator parameters into a dict of raw strings."""
    allowed = GENERATORS[gen]
    args: dict[str, str] = {}
    if not text.strip():
        return args
    positional = 0
    seen_keyword = False
    for item in (part.strip() for part in text.split(",")):
        if not item:
            msg = f"{gen}: empty parameter in {text!r} (parameters are separated by ',')"
            raise KernelError(msg)
        if "=" in item:
            _add_keyword(gen, item, args)
            seen_keyword = True
            continue
        if seen_keyword:
            msg = f"{gen}: positional value {item!r} after a key=value parameter"
            raise KernelError(msg)
        if positional >= len(allowed):
            msg = (
                f"{gen}: takes at most {len(allowed)} positional value(s) "
                f"({', '.join(allowed)}); got {text!r}"
            )
            raise KernelError(msg)
        args[allowed[positional]] = item
        positional += 1
    return args


# --------------------------------------------------------------------------- weights


def _generated(
    gen: str, name: str, weights: F64Array, scale: float = 1.0, **values: float
) -> Kernel:
    """The kernel a generator made, with the category and texts of its table entry."""
    spec = GENERATOR_SPECS[gen]
    height, width = weights.shape
    return Kernel(
        name=name,
        weights=weights,
        scale=scale,
        category=spec.category,
        description=spec.describe(width=int(width), height=int(height), **values),
        source=GENERATOR_SOURCE,
        reference=spec.reference,
    )


def _gaussian_1d(sigma: float, size: int) -> F64Array:
    """Return the sampled 1-D Gaussian of odd ``size``, normalized to sum 1."""
    x = np.arange(size, dtype=np.float64) - size // 2
    with np.errstate(over="ignore", under="ignore"):
        g = np.exp(-0.5 * (x / sigma) ** 2)
    out: F64Array = g / g.sum()
    return out


def _gen_gaussian(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("gaussian", args, 1)
    g = _gaussian_1d(sigma, size)
    return _generated("gaussian", spec, np.outer(g, g), sigma=sigma)


def _gen_box(spec: str, args: dict[str, str]) -> Kernel:
    raw = args.get("size", str(GENERATOR_SPECS["box"].defaults["size"]))
    m = _WXH_RE.match(raw)
    # One AxB rule in every command: A high, B wide (as shape -k, --layer k= and fit --size).
    height = int(m.group(1)) if m else 0
    width = int(m.group(2)) if m and m.group(2) is not None else height
    if width < 1 or height < 1:
        msg = f"box: `size` must be N or HxW (H high x W wide) with positive integers; got {raw!r}"
        raise KernelError(msg)
    check_size((height, width), "box")
    return _generated("box", spec, np.ones((height, width)), scale=1.0 / (width * height))


def _motion_grid(length: int, angle: float) -> F64Array:
    """Spread ``length`` samples of a line at ``angle`` degrees over a cropped grid; sum 1."""
    theta = math.radians(angle % 360.0)
    # Rows grow downwards, so a counter-clockwise angle moves up: row step is -sin.
    dc = round(math.cos(theta), 12)
    dr = round(-math.sin(theta), 12)
    half = (length - 1) / 2
    hr = math.ceil(half * abs(dr)) + 1
    hc = math.ceil(half * abs(dc)) + 1
    check_size((2 * hr + 1, 2 * hc + 1), "motion")
    grid = np.zeros((2 * hr + 1, 2 * hc + 1))
    for k in range(length):
        t = k - half
        row = round(t * dr, 9) + hr
        col = round(t * dc, 9) + hc
        r0, c0 = math.floor(row), math.floor(col)
        fr, fc = row - r0, col - c0
        grid[r0, c0] += (1 - fr) * (1 - fc)
        grid[r0, c0 + 1] += (1 - fr) * fc
        grid[r0 + 1, c0] += fr * (1 - fc)
        grid[r0 + 1, c0 + 1] += fr * fc
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    # Crop the same amount on both sides so the centre stays the anchor.
    mr = min(int(rows[0]), grid.shape[0] - 1 - int(rows[-1]))
    mc = min(int(cols[0]), grid.shape[1] - 1 - int(cols[-1]))
    grid = grid[mr : grid.shape[0] - mr, mc : grid.shape[1] - mc]
    out: F64Array = grid / grid.sum()
    return out


def _gen_motion(spec: str, args: dict[str, str]) -> Kernel:
    if "length" in args:
        length = _int_param("motion", args, "length", odd=False)
    else:
        length = int(GENERATOR_SPECS["motion"].defaults["length"])
    angle = _float_param("motion", args, "angle")
    return _generated("motion", spec, _motion_grid(length, angle), length=length, angle=angle)


def _gen_log(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("log", args, 3)
    x = np.arange(size, dtype=np.float64) - size // 2
    with np.errstate(all="ignore"):
        q = (x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma)
        w = -(1.0 - q) * np.exp(-q) / (math.pi * sigma**4)
        w = w - w.mean()
    if not np.isfinite(w).all():
        msg = f"log: sigma={sigma:g} is too small (the weights overflow)"
        raise KernelError(msg)
    return _generated("log", spec, w, sigma=sigma)


def _gen_unsharp(spec: str, args: dict[str, str]) -> Kernel:
    sigma, size = _sigma_size("unsharp", args, 1)
    amount = _float_param("unsharp", args, "amount")
    g = _gaussian_1d(sigma, size)
    w = -amount * np.outer(g, g)
    w[size // 2, size // 2] += 1.0 + amount
    return _generated("unsharp", spec, w, sigma=sigma, amount=amount)


#: Generator name -> the function building its kernel from (name, raw parameters).
GENERATOR_FUNCS: dict[str, Callable[[str, dict[str, str]], Kernel]] = {
    "box": _gen_box,
    "gaussian": _gen_gaussian,
    "log": _gen_log,
    "motion": _gen_motion,
    "unsharp": _gen_unsharp,
}


def generate(gen: str, name: str, params: str) -> Kernel:
    """Build generator ``gen``'s kernel called ``name`` from its parameter text (may be empty)."""
    return GENERATOR_FUNCS[gen](name, parse_params(gen, params))
