"""The one value that says where a kernel's taps land and what fills the border.

:class:`ConvOptions` holds the geometry options of a convolution (padding,
border, cval, stride, dilation, anchor, flip).  It is built once (by the CLI
from its flags, or by a public function such as :func:`convcli.correlate`
from its keyword arguments) and passed whole to every layer below: filters,
engine, gradients and shapes.  Adding a knob means adding a field here, not
editing a dozen signatures.

Building one checks and normalises its fields, so a value that exists is
valid: ``stride`` and ``dilation`` become ``(vertical, horizontal)`` pairs of
positive integers and ``border`` its canonical name.  ``padding`` is kept as
given and resolved against a kernel size by :func:`convcli.shapes.padding_amounts`.

Examples
--------
>>> o = ConvOptions(stride=2, border="replicate")
>>> o.stride, o.border
((2, 2), 'nearest')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from convcli import config
from convcli.borders import canonical_border
from convcli.errors import OptionError
from convcli.shapes import Geometry, PaddingSpec, Pair, as_pair, make_geometry

__all__ = ["ConvOptions"]


@dataclass(frozen=True)
class ConvOptions:
    """Geometry options of one convolution, checked and normalised.

    Parameters
    ----------
    padding : {"same", "valid", "full"} or int or (int, int)
        Padding spec (see :func:`convcli.shapes.padding_amounts`).
    border : str
        Border mode or alias (see :mod:`convcli.borders`); stored canonical.
    cval : float
        Fill value of the ``constant`` border, in image units.
    stride, dilation : int or (int, int)
        Positive steps between outputs and between taps; stored as pairs.
    anchor : (int, int), optional
        Kernel index placed on the output pixel for ``same`` padding, in the
        kernel's orientation as given (before ``flip``).
    flip : bool
        True convolution: the kernel is flipped (with its anchor) before use.
    """

    padding: PaddingSpec = "same"
    border: str = "reflect"
    cval: float = 0.0
    stride: Pair = (1, 1)
    dilation: Pair = (1, 1)
    anchor: Pair | None = None
    flip: bool = False

    def __init__(
        self,
        padding: PaddingSpec = "same",
        border: str = "reflect",
        cval: float = 0.0,
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        anchor: Pair | None = None,
        flip: bool = False,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "padding", padding)
        setattr_(self, "border", canonical_border(border))
        setattr_(self, "cval", _finite_cval(cval))
        setattr_(self, "stride", as_pair(stride, "stride"))
        setattr_(self, "dilation", as_pair(dilation, "dilation"))
        setattr_(self, "anchor", None if anchor is None else (int(anchor[0]), int(anchor[1])))
        setattr_(self, "flip", bool(flip))

    def replace(self, **changes: Any) -> ConvOptions:
        """A copy with some fields changed (checked like a new value)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.update(changes)
        return ConvOptions(**fields)

    def kernel_anchor(self, kernel_hw: Pair) -> Pair | None:
        """The anchor in the orientation the kernel is applied in (after ``flip``).

        A flipped kernel anchored at ``a`` is anchored at ``k - 1 - a``, so the
        same input pixel stays under the same weight (which makes even-sized
        kernels agree with ``scipy.ndimage.convolve``).
        """
        if not self.flip:
            return self.anchor
        kh, kw = kernel_hw
        ah, aw = self.anchor if self.anchor is not None else (kh // 2, kw // 2)
        return (kh - 1 - ah, kw - 1 - aw)

    def geometry(self, in_hw: Pair, kernel_hw: Pair) -> Geometry:
        """Where the taps of a ``kernel_hw`` kernel land on an ``in_hw`` image.

        Examples
        --------
        >>> ConvOptions(padding="valid", stride=2).geometry((7, 7), (3, 3)).out_hw
        (3, 3)
        """
        geom = make_geometry(
            in_hw,
            kernel_hw,
            padding=self.padding,
            stride=self.stride,
            dilation=self.dilation,
            anchor=self.kernel_anchor(kernel_hw),
        )
        _check_output_pixels(geom)
        return geom


def _finite_cval(cval: Any) -> float:
    """``cval`` as a finite float, else OptionError (NaN or infinity would fill the output)."""
    try:
        value = float(cval)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        msg = f"`cval` must be a finite number; got {cval!r}"
        raise OptionError(msg)
    return value


def _check_output_pixels(geom: Geometry) -> None:
    """Refuse a padded input or an output over ``CONVCLI_MAX_OUTPUT_PIXELS`` (before work)."""
    (h, w), (oh, ow) = geom.in_hw, geom.out_hw
    padded = (h + sum(geom.pad_rows)) * (w + sum(geom.pad_cols))
    most = config.limit("output_pixels")
    if max(padded, oh * ow) > most:
        what = "padded input" if padded >= oh * ow else "output"
        size = max(padded, oh * ow)
        msg = (
            f"the {what} would have {size:,} pixels (image {h}x{w}, padding "
            f"{geom.pad_rows}/{geom.pad_cols}, output {oh}x{ow}), over the limit of {most:,} "
            f"({config.LIMITS['output_pixels'].env}); use less padding or dilation"
        )
        raise OptionError(msg)
