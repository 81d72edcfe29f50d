"""What a filter run is asked to do: :class:`FilterOptions` and the alpha modes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from convcli.conv_options import ConvOptions
from convcli.shapes import PaddingSpec

__all__ = ["ALPHA_MODES", "AlphaMode", "FilterOptions"]

AlphaMode = Literal["keep", "plain", "filter", "premultiply"]
#: ``keep``: alpha unchanged, colour alpha-weighted when every kernel is a 2-D kernel with
#: non-negative weights (so colour under transparent pixels never bleeds into visible ones),
#: else filtered as is; ``plain``: colour filtered as is, alpha unchanged; ``filter``: alpha
#: filtered like colour; ``premultiply``: ``c' = conv(a*c)/conv(a)``, ``a' = conv(a)``.
ALPHA_MODES = ("keep", "plain", "filter", "premultiply")


@dataclass(frozen=True)
class FilterOptions:
    """Geometry, precision and value options shared by every kernel of a chain.

    ``cval`` and ``offset`` are in image units (0..255 for 8-bit images).
    ``input_range`` (``--input-range A,B``) maps input values from A..B to the
    image's full range first (e.g. float data in 0..1).
    ``offset`` is added once, to the result of the whole chain; a preset's own
    offset is added after its step.

    The geometry options (``padding``, ``border``, ``cval``, ``stride``,
    ``dilation``) also travel as one checked value, :attr:`conv`, to the
    layers below.
    """

    padding: PaddingSpec = "same"
    border: str = "reflect"
    cval: float = 0.0
    stride: int | tuple[int, int] = 1
    dilation: int | tuple[int, int] = 1
    convolve: bool = False
    precision: Literal["float32", "float64"] = "float32"
    normalize: bool = False
    scale: float = 1.0
    offset: float = 0.0
    repeat: int = 1
    alpha: AlphaMode = "keep"
    abs: bool = False
    rescale: bool = False
    threads: int | None = None
    input_range: tuple[float, float] | None = None

    @cached_property
    def conv(self) -> ConvOptions:
        """The geometry options as one :class:`~convcli.conv_options.ConvOptions`.

        Built on first use, not with the options: building it checks ``border``,
        ``stride`` and ``dilation``, and a bad value must still be reported where
        filtering starts (for each input of a batch, after ``--explain`` printed
        its plan), as it was before this value existed.  The kernels of a chain
        are already flipped and anchored (see
        :func:`convcli.filters.prepare_kernels`), so ``anchor`` and ``flip`` keep
        their defaults.

        Examples
        --------
        >>> FilterOptions(stride=2, border="replicate").conv.stride
        (2, 2)
        """
        return ConvOptions(
            padding=self.padding,
            border=self.border,
            cval=self.cval,
            stride=self.stride,
            dilation=self.dilation,
        )

    @property
    def working_dtype(self) -> type[np.floating]:
        """The float type pixels are computed in: ``np.float64`` or ``np.float32``."""
        return np.float64 if self.precision == "float64" else np.float32
