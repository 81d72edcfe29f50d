"""What a layer does to an image's shape: output shape, parameters, MACs, receptive field.

Built on the integer arithmetic of :mod:`convcli.shapes`; this is what the
``shape`` command reports, and :func:`output_shape` is the public
``convcli.output_shape``.  :func:`chain_layers` and :func:`chain_kernels`
follow a stack of layers, carrying the receptive field from one to the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from convcli.errors import OptionError, ShapeError
from convcli.parsing import split_ints
from convcli.shapes import (
    PaddingSpec,
    Pair,
    as_pair,
    kernel_dims,
    output_size,
    padding_amounts,
    parse_padding,
)


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
    values = split_ints(text.strip(), separators="x", digits_only=True)
    if values is None:
        return None
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

    names = {"k": "kernel size", "s": "stride", "d": "dilation"}

    def pair(key: str) -> Pair:
        values = split_ints(fields[key], separators="x", digits_only=True)
        size = None if values is None or min(values) < 1 else (values[0], values[-1])
        if size is None:
            msg = (
                f"`--layer` {key}= ({names[key]}) must be a positive integer or AxB; "
                f"got {fields[key]!r}"
            )
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


def chain_layers(
    input_shape: tuple[int, int, int], layers: Iterable[LayerSpec]
) -> list[LayerShape]:
    """Follow ``--layer`` specs from an ``(H, W, C)`` input, each on the last one's output.

    The receptive field and jump of each layer are relative to the input image.
    ``layers`` is read one spec at a time (a generator may parse as it goes).

    Examples
    --------
    >>> specs = [parse_layer("k=7,s=2,p=3,c=64"), parse_layer("k=3,s=2,p=1")]
    >>> first, second = chain_layers((224, 224, 3), specs)
    >>> second.input_shape, second.output_shape, second.receptive_field
    ((112, 112, 64), (56, 56, 64), (11, 11))
    """
    chain: list[LayerShape] = []
    for spec in layers:
        shape, rf, jump = _next_input(chain, input_shape)
        lay = layer_shape(
            shape,
            spec.kernel_shape(shape[2]),
            padding=spec.padding,
            stride=spec.stride,
            dilation=spec.dilation,
            receptive_field=rf,
            jump=jump,
        )
        chain.append(lay)
    return chain


def chain_kernels(
    input_shape: tuple[int, int, int],
    kernels: Iterable[tuple[Sequence[int], Pair | None]],
    *,
    padding: PaddingSpec = "same",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> list[LayerShape]:
    """Follow a chain of kernels (each a ``(kernel_shape, anchor or None)``) with one geometry.

    This is ``filter -k A -k B ...`` seen as layers: every kernel takes the
    same padding, stride and dilation; an anchor None is the kernel's centre.

    Examples
    --------
    >>> [lay.output_shape for lay in chain_kernels((9, 9, 3), [((3, 3), None)] * 2, stride=2)]
    [(5, 5, 3), (3, 3, 3)]
    """
    chain: list[LayerShape] = []
    for kernel_shape, anchor in kernels:
        shape, rf, jump = _next_input(chain, input_shape)
        lay = layer_shape(
            shape,
            kernel_shape,
            padding=padding,
            stride=stride,
            dilation=dilation,
            anchor=anchor,
            receptive_field=rf,
            jump=jump,
        )
        chain.append(lay)
    return chain


def _next_input(
    chain: list[LayerShape], input_shape: tuple[int, int, int]
) -> tuple[tuple[int, int, int], Pair, Pair]:
    """Input shape, receptive field and jump of the layer that follows ``chain``."""
    if not chain:
        return input_shape, (1, 1), (1, 1)
    last = chain[-1]
    return last.output_shape, last.receptive_field, last.jump


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
