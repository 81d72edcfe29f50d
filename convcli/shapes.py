"""Integer shape arithmetic for strided, dilated, padded convolutions.

Everything here is pure integer maths (``//``, never float division), shared
by the engine (to size its output), the ``shape`` command (to explain it) and
the gradient code.

The size of one output axis is::

    O = (N + P_before + P_after - D * (K - 1) - 1) // S + 1

which is ``floor((N + 2P - D(K-1) - 1) / S) + 1`` for symmetric padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from convcli.errors import OptionError, ShapeError

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
    parts = [p.strip() for p in name.replace("x", ",").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(v < 0 for v in values):
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
class LayerShape:
    """Everything the ``shape`` command reports about one layer.

    Shapes are ``(H, W, C)``; ``kernel_shape`` is the 4-D form ``(O, C, kh, kw)``
    (a depthwise 2-D kernel on C channels is ``(C, 1, kh, kw)``).
    """

    input_shape: tuple[int, int, int]
    kernel_shape: tuple[int, int, int, int]
    depthwise: bool
    padding: tuple[Pair, Pair]
    stride: Pair
    dilation: Pair
    output_shape: tuple[int, int, int]
    params: int
    macs: int
    receptive_field: Pair
    jump: Pair


def output_shape(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    anchor: Pair | None = None,
) -> tuple[int, ...]:
    """Shape of ``correlate(x, w, ...)`` for an image of ``input_shape``.

    Parameters
    ----------
    input_shape : (H, W) or (H, W, C)
        Image shape in pixels.
    kernel_shape : (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel shape.
    padding, stride, dilation, anchor
        As for :func:`convcli.correlate`.

    Returns
    -------
    tuple of int
        ``(H', W')`` for a 2-D input when the output has one channel, else
        ``(H', W', C')`` (the same rule as :func:`convcli.correlate`).

    Examples
    --------
    >>> output_shape((224, 224, 3), (64, 3, 7, 7), padding=3, stride=2)
    (112, 112, 64)
    >>> output_shape((5, 5), (3, 3), padding="valid")
    (3, 3)
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        msg = f"input shape must be (H, W) or (H, W, C) with positive sizes; got {shape}"
        raise ShapeError(msg)
    layer = layer_shape(
        (shape[0], shape[1], shape[2] if len(shape) == 3 else 1),
        kernel_shape,
        padding=padding,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
    )
    h, w, c = layer.output_shape
    if len(shape) == 2 and c == 1:
        return (h, w)
    return (h, w, c)


def layer_shape(
    input_shape: tuple[int, int, int],
    kernel_shape: Sequence[int],
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    anchor: Pair | None = None,
    receptive_field: Pair = (1, 1),
    jump: Pair = (1, 1),
) -> LayerShape:
    """Describe one layer: output shape, parameters, MACs and receptive field.

    ``receptive_field`` and ``jump`` describe the input of this layer relative
    to the original image (both ``(1, 1)`` for the first layer): the receptive
    field grows by ``D * (K - 1) * jump`` and the jump multiplies by the stride.
    """
    h, w, c = input_shape
    o, _c, (kh, kw), depthwise = kernel_dims(kernel_shape, c)
    sh, sw = as_pair(stride, "stride")
    dh, dw = as_pair(dilation, "dilation")
    pads = padding_amounts(padding, (kh, kw), dilation=(dh, dw), anchor=anchor)
    oh = output_size(h, kh, pads[0], sh, dh, axis="rows")
    ow = output_size(w, kw, pads[1], sw, dw, axis="columns")
    if depthwise:
        kernel4 = (c, 1, kh, kw)
        params = kh * kw
        macs = oh * ow * c * kh * kw
    else:
        kernel4 = (o, c, kh, kw)
        params = o * c * kh * kw
        macs = oh * ow * o * c * kh * kw
    rf = (
        receptive_field[0] + dh * (kh - 1) * jump[0],
        receptive_field[1] + dw * (kw - 1) * jump[1],
    )
    return LayerShape(
        input_shape=(h, w, c),
        kernel_shape=kernel4,
        depthwise=depthwise,
        padding=pads,
        stride=(sh, sw),
        dilation=(dh, dw),
        output_shape=(oh, ow, o),
        params=params,
        macs=macs,
        receptive_field=rf,
        jump=(jump[0] * sh, jump[1] * sw),
    )


def parse_size(text: str) -> Pair | None:
    """Parse a bare kernel size ``K``, ``KxK`` or ``KHxKW``; None if ``text`` is not one.

    Examples
    --------
    >>> parse_size("3"), parse_size("5x3"), parse_size("sobel-x")
    ((3, 3), (5, 3), None)
    """
    parts = text.strip().lower().split("x")
    if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
        return None
    values = [int(p) for p in parts]
    if min(values) < 1:
        msg = f"kernel size must be positive; got {text!r}"
        raise OptionError(msg)
    return (values[0], values[-1])


@dataclass(frozen=True)
class LayerSpec:
    """One ``--layer k=3,s=2,p=1,d=1,c=64`` entry.

    ``out_channels`` None keeps the input's channel count with a full
    channel-mixing kernel; ``depthwise`` uses one 2-D kernel per channel.
    """

    kernel_hw: Pair
    stride: Pair = (1, 1)
    padding: PaddingSpec = "same"
    dilation: Pair = (1, 1)
    out_channels: int | None = None
    depthwise: bool = False

    def kernel_shape(self, in_channels: int) -> tuple[int, ...]:
        """The layer's kernel for ``in_channels`` inputs: ``(kh, kw)`` or ``(O, C, kh, kw)``."""
        if self.depthwise:
            return self.kernel_hw
        o = self.out_channels if self.out_channels is not None else in_channels
        return (o, in_channels, *self.kernel_hw)


def parse_layer(text: str, *, default_padding: PaddingSpec = "same") -> LayerSpec:
    """Parse ``k=3,s=2,p=1,d=1,c=64`` (``KHxKW`` pairs allowed; ``dw=1`` for depthwise).

    Examples
    --------
    >>> spec = parse_layer("k=7,s=2,p=3,c=64")
    >>> spec.kernel_hw, spec.stride, spec.padding, spec.out_channels
    ((7, 7), (2, 2), 3, 64)
    """
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            msg = f"`--layer` entries must look like k=3,s=2,p=1,d=1,c=64; got {text!r}"
            raise OptionError(msg)
        fields[key] = value.strip().lower()
    unknown = sorted(set(fields) - {"k", "s", "p", "d", "c", "dw"})
    if unknown:
        msg = f"`--layer` has unknown key {unknown[0]!r} in {text!r}; use k, s, p, d, c, dw"
        raise OptionError(msg)
    if "k" not in fields:
        msg = f"`--layer` needs a kernel size k=K or k=KHxKW; got {text!r}"
        raise OptionError(msg)

    def pair(key: str) -> Pair:
        size = parse_size(fields[key])
        if size is None:
            msg = f"`--layer` {key}= must be a positive integer or AxB; got {fields[key]!r}"
            raise OptionError(msg)
        return size

    padding: PaddingSpec = default_padding
    if "p" in fields:
        padding = parse_padding(fields["p"].replace("x", ","))
    out_channels = None
    if "c" in fields:
        if not fields["c"].isdigit() or int(fields["c"]) < 1:
            msg = f"`--layer` c= must be a positive integer; got {fields['c']!r}"
            raise OptionError(msg)
        out_channels = int(fields["c"])
    return LayerSpec(
        kernel_hw=pair("k"),
        stride=pair("s") if "s" in fields else (1, 1),
        padding=padding,
        dilation=pair("d") if "d" in fields else (1, 1),
        out_channels=out_channels,
        depthwise=fields.get("dw", "0") in ("1", "true", "yes"),
    )


def formula_text(layer: LayerShape, axis: int) -> str:
    """The output-size formula for one axis with the numbers put in.

    Examples
    --------
    >>> lay = layer_shape((224, 224, 3), (64, 3, 7, 7), padding=3, stride=2)
    >>> formula_text(lay, 0)
    'O_H = floor((H + 2P - D(K-1) - 1)/S) + 1 = floor((224 + 2*3 - 1*(7-1) - 1)/2) + 1 = 112'
    """
    name, size = ("H", "O_H") if axis == 0 else ("W", "O_W")
    n = layer.input_shape[axis]
    k = layer.kernel_shape[2 + axis]
    before, after = layer.padding[axis]
    d = layer.dilation[axis]
    s = layer.stride[axis]
    o = layer.output_shape[axis]
    if before == after:
        general = f"floor(({name} + 2P - D(K-1) - 1)/S) + 1"
        numbers = f"floor(({n} + 2*{before} - {d}*({k}-1) - 1)/{s}) + 1"
    else:
        general = f"floor(({name} + P_before + P_after - D(K-1) - 1)/S) + 1"
        numbers = f"floor(({n} + {before} + {after} - {d}*({k}-1) - 1)/{s}) + 1"
    return f"{size} = {general} = {numbers} = {o}"
