"""Files in, files out: filter image files with a kernel chain and save the results.

Public: :func:`filter_image` (one image file in, one out; also
``convcli.filter_image``).  The pixels themselves are filtered by
:mod:`convcli.filters`.
"""

from __future__ import annotations

from convcli.runner.single import filter_image

__all__ = ["filter_image"]
