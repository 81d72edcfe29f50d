"""Where a method's strips read the padded image from, one strip's rows at a time.

:class:`PaddedArray` serves rows of an image that is already padded (views);
:class:`PaddedOnDemand` pads only the rows (and edge columns) a strip asks
for, so the whole padded copy of a large image never exists.  Both report
the padded shape, the working dtype and the image's own dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from convcli.array_types import FloatArray
from convcli.borders import border_index, pad
from convcli.conv_options import ConvOptions
from convcli.engine.scratch import scratch
from convcli.shapes import Geometry


class PaddedArray:
    """Rows of an image that is already padded (views, no copies)."""

    def __init__(self, xp: FloatArray) -> None:
        self.shape: tuple[int, int, int] = (xp.shape[0], xp.shape[1], xp.shape[2])
        self.dtype = xp.dtype
        self.image_dtype = xp.dtype
        self._xp = xp

    def rows(self, start: int, stop: int) -> FloatArray:
        """Padded rows ``start:stop``, shape (stop - start, Wp, C)."""
        return self._xp[start:stop]

    def whole(self) -> FloatArray:
        """The whole padded image."""
        return self._xp

    def interior(self, start: int, stop: int) -> None:
        """Already padded: strips read :meth:`rows` views, nothing to save."""
        return None


class PaddedOnDemand:
    """Rows of the padded image made when a strip asks for them.

    Each strip converts and pads only the input rows it reads, in a buffer
    that stays in cache, on its own thread; the whole padded float copy that
    :func:`convcli.borders.pad` would make first (about 30 ms and 100 MB for
    a 3840x2160 RGB float32 image on the benchmark machine) never exists.
    """

    def __init__(
        self,
        img: npt.NDArray[np.generic],
        geom: Geometry,
        opts: ConvOptions,
        dtype: np.dtype[np.floating[Any]],
    ) -> None:
        h, w, c = img.shape
        (top, bottom), (left, right) = geom.pad_rows, geom.pad_cols
        self.shape = (h + top + bottom, w + left + right, c)
        self.dtype = dtype
        self.image_dtype = img.dtype
        self._img, self._geom = img, geom
        self._border, self._cval = opts.border, opts.cval
        self._row_source = border_index(np.arange(-top, h + bottom), h, self._border)
        self._left = border_index(np.arange(-left, 0), w, self._border)
        self._right = border_index(np.arange(w, w + right), w, self._border)

    def rows(self, start: int, stop: int) -> FloatArray:
        """Padded rows ``start:stop``, shape (stop - start, Wp, C), a new array."""
        img = self._img
        w = img.shape[1]
        left = self._geom.pad_cols[0]
        buf = scratch("rows", (stop - start, *self.shape[1:]), self.dtype)
        middle = buf[:, left : left + w]
        for i, src in enumerate(self._row_source[start:stop].tolist()):
            if src < 0:
                middle[i] = self._cval
            else:
                middle[i] = img[src]
        for cols, source in ((slice(0, left), self._left), (slice(left + w, None), self._right)):
            if source.size:
                buf[:, cols] = buf[:, left + np.maximum(source, 0)]
                if (source < 0).any():
                    buf[:, cols][:, source < 0] = self._cval
        return buf

    def interior(self, start: int, stop: int) -> npt.NDArray[np.generic] | None:
        """The image's rows for padded rows ``start:stop``, or None at the border.

        A view in the image's own dtype; None when any of the rows is padding.
        """
        top = self._geom.pad_rows[0]
        if start - top < 0 or stop - top > self._img.shape[0]:
            return None
        return self._img[start - top : stop - top]

    def columns(self, start: int, stop: int, first: int, last: int) -> FloatArray:
        """Padded rows ``start:stop`` (inside the image), padded columns ``first:last``.

        A new array in the working type, shape (stop - start, last - first, C).
        """
        top, left = self._geom.pad_rows[0], self._geom.pad_cols[0]
        source = border_index(
            np.arange(first - left, last - left), self._img.shape[1], self._border
        )
        rows = self._img[start - top : stop - top]
        block = np.asarray(rows[:, np.maximum(source, 0)], dtype=self.dtype)
        if (source < 0).any():
            block[:, source < 0] = self._cval
        return block

    def fill_edge_columns(self, block: FloatArray, row_sums: FloatArray) -> None:
        """Fill the padded columns of ``block`` (M, Wp, C) from its middle ones.

        The middle columns hold ``a @ rows`` of interior image rows, for a
        matrix ``a`` with row sums ``row_sums`` (M,); a padded column is then
        the middle column it copies, or ``cval * row_sums`` (constant border).
        """
        left = self._geom.pad_cols[0]
        w = self._img.shape[1]
        for cols, source in ((slice(0, left), self._left), (slice(left + w, None), self._right)):
            if not source.size:
                continue
            if source[0] < 0:  # constant border: every padded column
                block[:, cols] = (self._cval * row_sums)[:, None, None]
            else:
                block[:, cols] = block[:, left + source]

    def whole(self) -> FloatArray:
        """The whole padded image (one array)."""
        return pad(
            self._img,
            self._geom.pad_rows,
            self._geom.pad_cols,
            border=self._border,
            cval=self._cval,
            dtype=self.dtype,
        )


#: Where a method's strips read their padded input rows.
Source = PaddedArray | PaddedOnDemand


def strip_input(src: Source, geom: Geometry, r0: int, r1: int) -> FloatArray:
    """The padded input rows that output rows ``r0:r1`` read (first row: ``r0 * S``)."""
    return src.rows(*strip_rows_span(geom, r0, r1))


def strip_rows_span(geom: Geometry, r0: int, r1: int) -> tuple[int, int]:
    """Padded input rows ``start:stop`` that output rows ``r0:r1`` read."""
    sh, dh = geom.stride[0], geom.dilation[0]
    first = r0 * sh
    return first, first + (r1 - 1 - r0) * sh + (geom.kernel_hw[0] - 1) * dh + 1
