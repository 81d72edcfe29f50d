"""Metadata carried from input to output: colour profile, resolution and EXIF.

Loading keeps what is worth writing again (:func:`carried_info`); saving turns
it into the keyword arguments of the encoder where the format holds it
(:func:`metadata_params`), noting what it had to drop.  EXIF orientation is
applied on load, so it is removed before EXIF data is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from convcli.images.formats import DPI_FORMATS, EXIF_FORMATS, ICC_FORMATS, JPEG_MAX_EXIF_BYTES

ORIENTATION_TAG = 0x0112


def carried_info(im: Image.Image) -> dict[str, Any]:
    """Metadata worth writing to the output (after exif_transpose)."""
    info: dict[str, Any] = {}
    icc = im.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    dpi = dpi_pair(im.info.get("dpi"))
    if dpi is not None:
        info["dpi"] = dpi
    exif = im.info.get("exif")
    if isinstance(exif, bytes) and exif:
        info["exif"] = exif
    return info


def dpi_pair(dpi: Any) -> tuple[float, float] | None:
    """``(x, y)`` dots per inch if ``dpi`` is a pair of positive numbers, else None."""
    if not isinstance(dpi, tuple | list) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 and np.isfinite([x, y]).all() else None


def metadata_params(
    mode: str, name: str, fmt: str, info: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """Keyword arguments for ``Image.save`` that carry ``info``: icc_profile, dpi, exif."""
    params: dict[str, Any] = {}
    icc = _icc_param(mode, name, fmt, info.get("icc_profile"), notes)
    if icc is not None:
        params["icc_profile"] = icc
    dpi = dpi_pair(info.get("dpi"))
    if fmt in DPI_FORMATS and dpi is not None:
        params["dpi"] = dpi
    exif = _exif_param(name, fmt, info.get("exif"), notes)
    if exif is not None:
        params["exif"] = exif
    return params


def _icc_param(mode: str, name: str, fmt: str, icc: Any, notes: list[str]) -> bytes | None:
    """The colour profile to write, or None (noted when its colour space is not the mode's)."""
    if not (isinstance(icc, bytes) and icc and fmt in ICC_FORMATS):
        return None
    space = icc[16:20]
    wanted = b"GRAY" if mode in ("L", "LA", "I;16") else b"RGB "
    if space == wanted:
        return icc
    shown = space.decode("ascii", "replace").strip() or "unknown"
    notes.append(f"did not carry the {shown} colour profile to the {mode} image {name}")
    return None


def _exif_param(name: str, fmt: str, exif: Any, notes: list[str]) -> bytes | None:
    """EXIF bytes to write without the orientation tag, or None (noted when dropped)."""
    if not (fmt in EXIF_FORMATS and isinstance(exif, bytes | Image.Exif) and exif):
        return None
    exif_bytes = _exif_without_orientation(exif)
    if exif_bytes is None:
        notes.append(f"dropped unreadable EXIF data from {name}")
        return None
    if fmt == "JPEG" and len(exif_bytes) > JPEG_MAX_EXIF_BYTES:
        notes.append(f"dropped EXIF data too large for JPEG from {name}")
        return None
    return exif_bytes


def _exif_without_orientation(exif: bytes | Image.Exif) -> bytes | None:
    """EXIF bytes with any orientation tag removed (it has been applied)."""
    if isinstance(exif, Image.Exif):
        parsed = exif
    else:
        parsed = Image.Exif()
        try:
            parsed.load(exif)
        except Exception:
            return None
        if ORIENTATION_TAG not in parsed:
            return exif
    if ORIENTATION_TAG in parsed:
        del parsed[ORIENTATION_TAG]
    try:
        return parsed.tobytes()
    except Exception:
        return None
