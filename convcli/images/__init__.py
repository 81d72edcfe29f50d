"""Reading and writing image files: the only package that talks to Pillow.

Public (re-exported here): :func:`load_image`, :func:`load_image_bytes`,
:func:`read_shape` and :func:`default_max_pixels` (one image, from
:mod:`~convcli.images.read` and :mod:`~convcli.images.inputs`);
:func:`load_frames`, :func:`frame_count` and :func:`save_animation` (every
frame, from :mod:`~convcli.images.frames`); :func:`save_image` and
:func:`encode_image` (from :mod:`~convcli.images.write`); :func:`output_format`,
:func:`animation_format`, :func:`format_from_extension`,
:data:`SUPPORTED_OUTPUT_EXTENSIONS` and :data:`ANIMATION_EXTENSIONS` (from
:mod:`~convcli.images.formats`); the values :class:`LoadedImage` and
:class:`Animation`; and :func:`atomic_write`, which lives in
:mod:`convcli.atomic` (no Pillow) and is re-exported here for compatibility.
The modules of the package are internal; :mod:`convcli.images.png` is the
project's own parallel PNG encoder.

Loading (:func:`load_image`) turns any file Pillow can decode, or a ``.npy``
array, into a :class:`LoadedImage` whose ``pixels`` are always ``(H, W, C)``:

========================  =====================  ==========  ===========
file mode                 loaded as              dtype       max_value
========================  =====================  ==========  ===========
``L``, ``1``              1 channel (``1`` is    uint8       255
                          0/255)
``LA``, ``La``            grey + alpha           uint8       255
``RGB``, ``YCbCr``,       3 channels             uint8       255
``CMYK``, ``LAB``,
``HSV``, ``RGBX``
``RGBA``, ``RGBa``,       colour + alpha         uint8       255
``PA``
``P``                     RGB, or RGBA if it     uint8       255
                          has transparency
``I;16`` (and B/L/N)      1 channel              uint16      65535
``I`` (32-bit integer)    1 channel              int32       65535
``F`` (32-bit float)      1 channel              float32     255.0
16-bit RGB/RGBA/LA PNG    3/4/2 channels         uint16      65535
(imagecodecs)
16-bit colour, float,     as stored (planar      uint16 /    65535 /
planar TIFF (tifffile)    made interleaved)      float       255.0
``.npy`` uint8 / int8     as stored              as stored   255
``.npy`` other integers   as stored              as stored   65535
``.npy`` floats           as stored              float32 or  255.0
                                                 float64
========================  =====================  ==========  ===========

``L``/``RGB`` images with a transparent colour key (PNG ``tRNS``) gain an
alpha channel.  ``I`` images are assumed to hold 16-bit values (values above
65535 are kept but are above the nominal full scale).  Float data (``F``
images and float ``.npy`` arrays) is taken to be in 8-bit units, so 255.0 is
full scale; float16 is widened to float32, float64 stays float64.  EXIF
orientation is applied, one frame of a multi-frame file is read (the first by
default; :attr:`LoadedImage.n_frames` says how many there are),
and images over the pixel limit are refused from their header, before any
pixel is decoded.

Saving (:func:`save_image`) picks the format from the extension and writes
through :func:`atomic_write`, so a failure never leaves a partial file and
never damages the input, even when the output path is the input path.
"""

from __future__ import annotations

from convcli.atomic import atomic_write
from convcli.images.formats import (
    ANIMATION_EXTENSIONS,
    SUPPORTED_OUTPUT_EXTENSIONS,
    animation_format,
    format_from_extension,
    output_format,
)
from convcli.images.frames import frame_count, load_frames, save_animation
from convcli.images.inputs import default_max_pixels, read_limited
from convcli.images.loaded import Animation, LoadedImage
from convcli.images.read import load_image, load_image_bytes, read_shape
from convcli.images.write import encode_image, save_image

__all__ = [
    "ANIMATION_EXTENSIONS",
    "SUPPORTED_OUTPUT_EXTENSIONS",
    "Animation",
    "LoadedImage",
    "animation_format",
    "atomic_write",
    "default_max_pixels",
    "encode_image",
    "format_from_extension",
    "frame_count",
    "load_frames",
    "load_image",
    "load_image_bytes",
    "output_format",
    "read_limited",
    "read_shape",
    "save_animation",
    "save_image",
]
