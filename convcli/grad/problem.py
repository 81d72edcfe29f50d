"""A forward convolution resolved once (padded image, kernel, geometry) for the backward pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array, FloatArray
from convcli.borders import pad
from convcli.conv_options import ConvOptions
from convcli.engine import check_image, check_kernel, correlate_padded, flip_kernel, result_dtype
from convcli.errors import ShapeError
from convcli.shapes import Geometry, kernel_dims


@dataclass(frozen=True)
class _Problem:
    """A forward convolution resolved once: padded image, kernel, geometry."""

    x_shape: tuple[int, ...]
    xp: FloatArray  # (Hp, Wp, C) padded image
    kernel: F64Array  # kernel in forward (correlation) orientation, as given rank
    kernel_shape: tuple[int, ...]
    geom: Geometry
    opts: ConvOptions  # border canonical; flip says the kernel above was flipped
    out_channels: int
    depthwise: bool
    threads: int | None

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the forward output as :func:`convcli.correlate` returns it."""
        oh, ow = self.geom.out_hw
        if len(self.x_shape) == 2 and self.out_channels == 1:
            return (oh, ow)
        return (oh, ow, self.out_channels)

    def forward(self) -> FloatArray:
        """Forward output ``(H', W', C')`` (always 3-D)."""
        return correlate_padded(self.xp, self.kernel, self.geom, threads=self.threads)

    def shaped(self, y: FloatArray) -> FloatArray:
        """Drop the channel axis the way :func:`convcli.correlate` does."""
        return y[:, :, 0] if len(self.out_shape) == 2 else y

    def upstream(self, grad_out: npt.ArrayLike) -> FloatArray:
        """``grad_out`` as a contiguous ``(H', W', C')`` array in the working dtype."""
        g = np.asarray(grad_out)
        oh, ow = self.geom.out_hw
        want = (oh, ow, self.out_channels)
        if g.ndim == 2 and self.out_channels == 1:
            g = g[:, :, None]
        if g.shape != want:
            msg = (
                f"`grad_out` has shape {g.shape} but the forward output has shape"
                f" {self.out_shape}; they must be equal"
            )
            raise ShapeError(msg)
        return np.ascontiguousarray(g, dtype=self.xp.dtype)


def _problem(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    opts: ConvOptions,
    *,
    dtype: npt.DTypeLike | None,
    threads: int | None,
) -> _Problem:
    """Check ``x`` and ``w``, pad ``x`` once and resolve the geometry of the forward."""
    img = check_image(x)
    k = check_kernel(w)
    dt = result_dtype(img, np.float64 if dtype is None else dtype)
    # the geometry uses the anchor after the flip (ConvOptions.kernel_anchor)
    kf = flip_kernel(k)[0] if opts.flip else k
    geom = opts.geometry((img.shape[0], img.shape[1]), (k.shape[-2], k.shape[-1]))
    o, _c, _hw, depthwise = kernel_dims(k.shape, img.shape[2])
    xp = pad(img, geom.pad_rows, geom.pad_cols, border=opts.border, cval=opts.cval, dtype=dt)
    return _Problem(
        x_shape=tuple(np.shape(x)),
        xp=xp,
        kernel=kf,
        kernel_shape=k.shape,
        geom=geom,
        opts=opts,
        out_channels=o,
        depthwise=depthwise,
        threads=threads,
    )
