"""PNG encoder: adaptive row filters and deflate on a thread pool.

Pillow's PNG encoder runs on one core and spent about 1.8 s of the 2.4 s that
``convcli filter`` took on a 3840x2160 RGB PNG.  This writer follows the PNG
specification (ISO/IEC 15948) directly: the rows are cut into parts of about
:data:`convcli.config.PNG_PART_BYTES`, each part is filtered (per row, the
cheapest of None, Sub, Up and Average by the
minimum-sum-of-absolute-differences heuristic) and deflated on its own, and
the parts are joined into one zlib stream (every part but the last ends on a
byte boundary with a sync flush; the Adler-32 checksums of the parts are
combined).  Parts run on a thread pool, since zlib and NumPy release the GIL,
and are written in order as they finish, so memory stays at a few parts beyond
the pixels themselves.

Measured on the 2-core benchmark machine (3840x2160 RGB, the image of
``benchmarks/bench_filter_e2e.py``), see :data:`DEFAULT_COMPRESS_LEVEL`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from convcli import config
from convcli.engine.parallel import iter_jobs

__all__ = ["DEFAULT_COMPRESS_LEVEL", "RLE_ENOUGH", "adler32_combine", "write_png"]

#: zlib level used when none is given.  Measured with 2 threads (median of 3,
#: numbers against Pillow's own encoder at its default level 6):
#:
#: ============================  =====  =============  ===============
#: image                         level  convcli        Pillow
#: ============================  =====  =============  ===============
#: 3840x2160 noisy RGB (bench)   1      0.27 s 15.5 MB  2.08 s 16.1 MB
#: 3840x2160 noisy RGB (bench)   6      0.25 s 15.5 MB
#: 3840x2160 noisy RGB (bench)   9      0.81 s 15.5 MB
#: 1032x384 gallery/blur.png     1      17 ms 90 kB    24 ms 57 kB
#: 1032x384 gallery/blur.png     6      27 ms 60 kB
#: 1032x384 gallery/blur.png     9      88 ms 56 kB
#: ============================  =====  =============  ===============
#:
#: Photographic parts take the run-length path at every level (see
#: :data:`RLE_ENOUGH`), so level 6 costs no more than 1 there and gives flat
#: images files 1.5-2x smaller; 9 trades 3x the time for a few percent.
DEFAULT_COMPRESS_LEVEL = 6

#: A part whose run-length deflate is at least this fraction of its filtered
#: size (noise, photographs) keeps it: there, zlib's full match search took 2-3x
#: longer and gave a file up to 7% larger.  Smaller parts (flat areas, text,
#: line art) are also deflated with the full search at the chosen level, and
#: the smaller result is kept; level 9 always tries both.
RLE_ENOUGH = 0.5

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_ADLER_MOD = 65521
_NONE, _SUB, _UP, _AVERAGE = 0, 1, 2, 3


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of two byte strings joined, from their own checksums.

    Parameters
    ----------
    first, second : int
        ``zlib.adler32`` of the first and the second string.
    second_length : int
        Length of the second string in bytes.

    Returns
    -------
    int
        ``zlib.adler32(a + b)``.

    Examples
    --------
    >>> adler32_combine(zlib.adler32(b"con"), zlib.adler32(b"vcli"), 4) == zlib.adler32(b"convcli")
    True
    """
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_MOD
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_MOD
    return (b << 16) | a


def write_png(
    stream: BinaryIO,
    pixels: np.ndarray,
    *,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    exif: bytes | None = None,
    threads: int = 1,
) -> None:
    """Write pixels as a PNG file to a binary stream.

    Parameters
    ----------
    stream : binary file-like
        Receives the file in pieces (signature, header, IDAT parts, IEND).
    pixels : ndarray, shape (H, W) or (H, W, C), uint8 or uint16
        C from 1 to 4: grey, grey+alpha, RGB, RGBA; uint16 gives a 16-bit PNG.
    compress_level : int
        zlib level from 0 (stored, unfiltered) to 9.
    icc_profile : bytes, optional
        ICC profile for an ``iCCP`` chunk.
    dpi : (float, float), optional
        Horizontal and vertical dots per inch for a ``pHYs`` chunk.
    exif : bytes, optional
        EXIF data (TIFF header first; a leading ``Exif`` marker is dropped) for
        an ``eXIf`` chunk.
    threads : int
        Parts deflated at once.

    Raises
    ------
    ValueError
        Wrong dtype, shape or level (callers check these first).
    """
    array = pixels[:, :, np.newaxis] if pixels.ndim == 2 else pixels
    if (
        array.ndim != 3
        or array.shape[2] not in _COLOUR_TYPE
        or array.dtype
        not in (
            np.uint8,
            np.uint16,
        )
    ):
        msg = f"cannot write a {array.dtype} array of shape {pixels.shape} as PNG"
        raise ValueError(msg)
    if not 0 <= compress_level <= 9:
        msg = f"`compress_level` must be an integer from 0 to 9; got {compress_level!r}"
        raise ValueError(msg)
    h, w, c = array.shape
    depth = 8 * array.dtype.itemsize
    stream.write(_SIGNATURE)
    header = struct.pack(">IIBBBBB", w, h, depth, _COLOUR_TYPE[c], 0, 0, 0)
    stream.write(_chunk(b"IHDR", header))
    if icc_profile:
        stream.write(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile)))
    if dpi is not None:
        per_metre = [round(v / 0.0254) for v in dpi]
        stream.write(_chunk(b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1)))
    if exif:
        stream.write(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    for data in _idat_payloads(array, compress_level, threads):
        stream.write(_chunk(b"IDAT", data))
    stream.write(_chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _idat_payloads(array: np.ndarray, level: int, threads: int) -> Iterator[bytes]:
    """The zlib stream of the filtered rows, one piece per part, in order."""
    h, w, c = array.shape
    rows = array.reshape(h, w * c)
    if array.dtype == np.uint16:
        rows = rows.astype(">u2", copy=False)
    row_bytes = w * c * array.dtype.itemsize
    bpp = c * array.dtype.itemsize
    per_part = max(1, config.PNG_PART_BYTES // (row_bytes + 1))
    starts = list(range(0, h, per_part))

    def run(index: int) -> tuple[bytes, int, int]:
        r0 = starts[index]
        r1 = min(r0 + per_part, h)
        above = _as_bytes(rows[r0 - 1 : r0]) if r0 > 0 else None
        filtered = _filter_rows(_as_bytes(rows[r0:r1]), above, bpp, level)
        last = index == len(starts) - 1
        body = _deflate(filtered, level, zlib.Z_RLE, last)
        if level > 0 and (level == 9 or len(body) < RLE_ENOUGH * len(filtered)):
            searched = _deflate(filtered, level, zlib.Z_DEFAULT_STRATEGY, last)
            if len(searched) < len(body):
                body = searched
        return body, zlib.adler32(filtered), len(filtered)

    flevel = 0 if level < 2 else 1 if level < 6 else 2 if level == 6 else 3
    cmf, flg = 0x78, flevel << 6
    flg += (31 - (cmf * 256 + flg) % 31) % 31
    checksum = 1
    first = True
    for body, adler, length in iter_jobs(run, range(len(starts)), threads, ahead=2 * threads):
        checksum = adler32_combine(checksum, adler, length)
        if first:
            body = bytes((cmf, flg)) + body
            first = False
        yield body
    yield struct.pack(">I", checksum)


def _deflate(data: bytes, level: int, strategy: int, last: bool) -> bytes:
    """Raw deflate of one part; all but the last end on a byte boundary, unfinished."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return deflate.compress(data) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _as_bytes(rows: np.ndarray) -> np.ndarray:
    """Rows of samples as rows of bytes (big-endian for 16-bit)."""
    return np.ascontiguousarray(rows).view(np.uint8)


def _filter_rows(rows: np.ndarray, above: np.ndarray | None, bpp: int, level: int) -> bytes:
    """Filtered scanlines (type byte + filtered bytes) for ``rows`` of shape (n, L).

    ``above`` is the row before the first one (None at the top of the image);
    ``bpp`` is bytes per pixel.  Level 0 stores rows unfiltered.
    """
    n, length = rows.shape
    out = np.empty((n, length + 1), np.uint8)
    if level == 0:
        out[:, 0] = _NONE
        out[:, 1:] = rows
        return out.tobytes()
    up = np.empty_like(rows)
    up[0] = 0 if above is None else above[0]
    up[1:] = rows[:-1]
    left = np.zeros_like(rows)
    left[:, bpp:] = rows[:, :-bpp]
    # uint8 arithmetic wraps modulo 256, which is what the filters define.
    candidates = np.empty((4, n, length), np.uint8)
    candidates[_NONE] = rows
    np.subtract(rows, left, out=candidates[_SUB])
    np.subtract(rows, up, out=candidates[_UP])
    # floor((left + up) / 2) without leaving 8 bits
    mean = np.bitwise_and(left, up)
    mean += np.right_shift(np.bitwise_xor(left, up), 1)
    np.subtract(rows, mean, out=candidates[_AVERAGE])
    # Score each filtered row by the sum of |byte| with bytes read as signed.
    magnitude = np.minimum(candidates, np.negative(candidates))
    scores = np.add.reduce(magnitude, axis=2, dtype=np.uint32)
    choice = scores.argmin(axis=0)
    out[:, 0] = choice
    out[:, 1:] = candidates[choice, np.arange(n)]
    return out.tobytes()
