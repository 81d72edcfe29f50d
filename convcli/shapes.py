"""Integer shape arithmetic for strided, dilated, padded convolutions.

Everything here is pure integer maths (``//``, never float division), shared
by the engine (to size its output and place its taps: :class:`Geometry`), the
layer reports of :mod:`convcli.layers` and the gradient code.

The size of one output axis is::

    O = (N + P_before + P_after - D * (K - 1) - 1) // S + 1

which is ``floor((N + 2P - D(K-1) - 1) / S) + 1`` for symmetric padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convcli.errors import OptionError, ShapeError
from convcli.parsing import split_ints

Pair = tuple[int, int]
PaddingSpec = str | int | Sequence[int]

PADDING_NAMES = ("same", "valid", "full")


def as_pair(value: int | Sequence[int], name: str) -> Pair:
    """Return ``value`` as a ``(height, width)`` pair of positive integers.

    Parameters
    ----------
    value : int or sequence of 2 ints
        One value for both axes, or ``(vertical, horizontal)``.
    name : str
        Parameter name used in error messages (``"stride"``, ``"dilation"``).

    Raises
    ------
    OptionError
        If a value is not a positive integer.
    """
    items: list[object]
    if isinstance(value, bool):
        items = [value]
    elif isinstance(value, int):
        items = [value, value]
    else:
        try:
            items = list(value)
        except TypeError:
            items = [value]
    if len(items) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items
    ):
        msg = f"`{name}` must be a positive integer or a pair of them; got {value!r}"
        raise OptionError(msg)
    return (int(items[0]), int(items[1]))  # type: ignore[call-overload]


def default_anchor(kernel_hw: Pair) -> Pair:
    """Anchor of a kernel for ``same`` padding: index ``k // 2`` on each axis."""
    return (kernel_hw[0] // 2, kernel_hw[1] // 2)


def padding_amounts(
    padding: PaddingSpec,
    kernel_hw: Pair,
    *,
    dilation: int | Sequence[int] = 1,
    anchor: Pair | None = None,
) -> tuple[Pair, Pair]:
    """Resolve a padding spec to explicit amounts ``((top, bottom), (left, right))``.

    Parameters
    ----------
    padding : {"same", "valid", "full"} or int or (int, int)
        ``same`` pads ``D * anchor`` before and ``D * (K - 1 - anchor)`` after,
        so a stride-1 output has the input's size; ``valid`` pads nothing;
        ``full`` pads ``D * (K - 1)`` on both sides; an integer ``P`` pads ``P``
        pixels on every side; a pair ``(PH, PW)`` pads rows and columns.
    kernel_hw : (int, int)
        Kernel height and width in taps.
    dilation : int or (int, int)
        Spacing between taps, in pixels.
    anchor : (int, int), optional
        Kernel index that sits on the output pixel for ``same``; defaults to
        ``(kh // 2, kw // 2)``.

    Returns
    -------
    ((int, int), (int, int))
        Pixels added before and after each axis.

    Examples
    --------
    >>> padding_amounts("same", (3, 4))
    ((1, 1), (2, 1))
    >>> padding_amounts("full", (3, 3), dilation=2)
    ((4, 4), (4, 4))
    """
    dh, dw = as_pair(dilation, "dilation")
    kh, kw = kernel_hw
    if isinstance(padding, str):
        name = padding.strip().lower()
        if name == "same":
            ah, aw = anchor if anchor is not None else default_anchor(kernel_hw)
            return ((dh * ah, dh * (kh - 1 - ah)), (dw * aw, dw * (kw - 1 - aw)))
        if name == "valid":
            return ((0, 0), (0, 0))
        if name == "full":
            return ((dh * (kh - 1),) * 2, (dw * (kw - 1),) * 2)
        return padding_amounts(parse_padding(padding), kernel_hw, dilation=dilation)
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding < 0:
            msg = f"`padding` must be same, valid, full or a non-negative integer; got {padding}"
            raise OptionError(msg)
        return ((padding, padding), (padding, padding))
    try:
        ph, pw = padding  # type: ignore[misc]
    except (TypeError, ValueError):
        msg = f"`padding` must be same, valid, full, P or PH,PW; got {padding!r}"
        raise OptionError(msg) from None
    for v in (ph, pw):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            msg = f"`padding` values must be non-negative integers; got {padding!r}"
            raise OptionError(msg)
    return ((ph, ph), (pw, pw))


def parse_padding(text: str) -> PaddingSpec:
    """Parse the CLI form of ``--padding``: ``same``, ``valid``, ``full``, ``P`` or ``PH,PW``."""
    name = text.strip().lower()
    if name in PADDING_NAMES:
        return name
    values = split_ints(name) or []
    if not values or any(v < 0 for v in values):
        msg = (
            f"`padding` must be same, valid, full, P or PH,PW (non-negative integers); got {text!r}"
        )
        raise OptionError(msg)
    return values[0] if len(values) == 1 else (values[0], values[1])


def output_size(n: int, k: int, pad: Pair, stride: int, dilation: int, *, axis: str = "") -> int:
    """Length of one output axis; raises ShapeError when it would be empty.

    Examples
    --------
    >>> output_size(224, 7, (3, 3), 2, 1)
    112
    """
    span = dilation * (k - 1) + 1
    padded = n + pad[0] + pad[1]
    if padded < span:
        where = f" {axis}" if axis else ""
        msg = (
            f"empty output{where}: kernel spans {span} pixels (D(K-1)+1 = {dilation}*({k}-1)+1)"
            f" but the padded input is only {padded} (N + P = {n} + {pad[0]} + {pad[1]})"
        )
        raise ShapeError(msg)
    return (padded - span) // stride + 1


def kernel_dims(kernel_shape: Sequence[int], channels: int) -> tuple[int, int, Pair, bool]:
    """Return ``(out_channels, in_channels, (kh, kw), depthwise)`` for a kernel shape.

    A 2-D kernel is depthwise: it maps each of ``channels`` channels to itself.

    Raises
    ------
    ShapeError
        If the kernel rank is not 2, 3 or 4 or its channels do not match.
    """
    ks = tuple(int(v) for v in kernel_shape)
    if len(ks) == 2:
        return channels, channels, (ks[0], ks[1]), True
    if len(ks) == 3:
        c, kh, kw = ks
        o = 1
    elif len(ks) == 4:
        o, c, kh, kw = ks
    else:
        msg = f"kernel must be 2-D, 3-D or 4-D; got shape {ks}"
        raise ShapeError(msg)
    if c != channels:
        msg = f"kernel expects {c} input channels but the image has {channels} (kernel shape {ks})"
        raise ShapeError(msg)
    if min(ks) < 1:
        msg = f"kernel has an empty axis (shape {ks})"
        raise ShapeError(msg)
    return o, c, (kh, kw), False


@dataclass(frozen=True)
class Geometry:
    """Where a kernel's taps land: padding, stride, dilation and output size.

    ``pad_rows``/``pad_cols`` are pixels added before and after each axis;
    ``out_hw`` is the output size in pixels.
    """

    in_hw: Pair
    kernel_hw: Pair
    pad_rows: Pair
    pad_cols: Pair
    stride: Pair
    dilation: Pair
    out_hw: Pair

    def tap_slices(
        self, p: int, q: int, row0: int = 0, row1: int | None = None
    ) -> tuple[slice, slice]:
        """Slices of the padded image read by tap ``(p, q)`` for output rows ``row0:row1``."""
        sh, sw = self.stride
        dh, dw = self.dilation
        oh, ow = self.out_hw
        r1 = oh if row1 is None else row1
        start = row0 * sh + p * dh
        return (
            slice(start, start + (r1 - row0 - 1) * sh + 1, sh),
            slice(q * dw, q * dw + (ow - 1) * sw + 1, sw),
        )


def make_geometry(
    in_hw: Pair,
    kernel_hw: Pair,
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    anchor: Pair | None = None,
) -> Geometry:
    """Resolve padding, stride and dilation for an image and kernel size (in pixels)."""
    s = as_pair(stride, "stride")
    d = as_pair(dilation, "dilation")
    if anchor is not None and not (0 <= anchor[0] < kernel_hw[0] and 0 <= anchor[1] < kernel_hw[1]):
        msg = f"kernel anchor {anchor} lies outside the kernel of size {kernel_hw}"
        raise ShapeError(msg)
    pr, pc = padding_amounts(padding, kernel_hw, dilation=d, anchor=anchor)
    oh = output_size(in_hw[0], kernel_hw[0], pr, s[0], d[0], axis="rows")
    ow = output_size(in_hw[1], kernel_hw[1], pc, s[1], d[1], axis="columns")
    return Geometry(in_hw, kernel_hw, pr, pc, s, d, (oh, ow))
