"""Independent reference implementations for the tests.

These are deliberately slow and obvious: explicit loops over every output
pixel, every tap and every channel, with border handling written out as a
walk that bounces off the edges.  They share no code with ``convcli``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def source_index(i: int, n: int, border: str) -> int | None:
    """Index into 0..n-1 for position i, or None for a constant-filled cell."""
    if 0 <= i < n:
        return i
    if border == "constant":
        return None
    if border == "nearest":
        return 0 if i < 0 else n - 1
    if border == "wrap":
        while i < 0:
            i += n
        while i >= n:
            i -= n
        return i
    if border == "reflect":  # b a | a b c d | d c
        while not 0 <= i < n:
            i = -i - 1 if i < 0 else 2 * n - 1 - i
        return i
    if border == "mirror":  # c b | a b c d | c b
        if n == 1:
            return 0
        while not 0 <= i < n:
            i = -i if i < 0 else 2 * n - 2 - i
        return i
    raise ValueError(border)


def naive_correlate(
    x: np.ndarray,
    w: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    border: str = "reflect",
    cval: float = 0.0,
) -> np.ndarray:
    """out[i,j,o] = sum w[o,c,p,q] * x[i*S+p*D-top, j*S+q*D-left, c], in float64 loops.

    x is (H, W, C); w is (kh, kw) depthwise, (C, kh, kw) or (O, C, kh, kw).
    Returns (H', W', C').
    """
    x = np.asarray(x, dtype=np.float64)
    h, wd, c = x.shape
    w = np.asarray(w, dtype=np.float64)
    depthwise = w.ndim == 2
    if depthwise:
        kh, kw = w.shape
        o = c
    else:
        w4 = w.reshape((1, *w.shape)) if w.ndim == 3 else w
        o, _, kh, kw = w4.shape
    (top, bottom), (left, right) = pads
    sh, sw = stride
    dh, dw = dilation
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        return np.zeros((max(oh, 0), max(ow, 0), o))
    out = np.zeros((oh, ow, o))

    def pixel(r: int, s: int, ch: int) -> float:
        ri = source_index(r, h, border)
        si = source_index(s, wd, border)
        if ri is None or si is None:
            return cval
        return float(x[ri, si, ch])

    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    r = i * sh + p * dh - top
                    s = j * sw + q * dw - left
                    if depthwise:
                        for ch in range(c):
                            out[i, j, ch] += w[p, q] * pixel(r, s, ch)
                    else:
                        for oo in range(o):
                            for ch in range(c):
                                out[i, j, oo] += w4[oo, ch, p, q] * pixel(r, s, ch)
    return out


def same_pads(
    kh: int, kw: int, dilation: tuple[int, int] = (1, 1)
) -> tuple[tuple[int, int], tuple[int, int]]:
    """'same' padding with the anchor at k // 2, written from the definition."""
    dh, dw = dilation
    return (
        (dh * (kh // 2), dh * (kh - 1 - kh // 2)),
        (dw * (kw // 2), dw * (kw - 1 - kw // 2)),
    )


def numerical_gradient(
    f: Callable[[np.ndarray], float], a: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central finite differences of scalar f with respect to every entry of a (float64)."""
    a = np.array(a, dtype=np.float64)
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = a[idx]
        a[idx] = old + eps
        fp = f(a)
        a[idx] = old - eps
        fm = f(a)
        a[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def _kernel_as_4d(w: np.ndarray, channels: int) -> tuple[np.ndarray, bool]:
    """(O, C, kh, kw) view of a kernel, and whether it was a 2-D depthwise one."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 2:
        return w, True
    if w.ndim == 3:
        return w.reshape((1, *w.shape)), False
    return w, False


def naive_kernel_grad(
    x: np.ndarray,
    w: np.ndarray,
    g: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    border: str = "reflect",
    cval: float = 0.0,
) -> np.ndarray:
    """dL/dw[o,c,p,q] = sum_ij g[i,j,o] * x[i*S+p*D-top, j*S+q*D-left, c], by loops.

    x is (H, W, C), g is (H', W', O) (O = C for a 2-D depthwise kernel).
    Returns an array of w's shape; a 2-D kernel gets the sum over channels.
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    h, wd, c = x.shape
    w4, depthwise = _kernel_as_4d(w, c)
    kh, kw = w4.shape[-2:]
    (top, _bottom), (left, _right) = pads
    sh, sw = stride
    dh, dw = dilation
    oh, ow, o = g.shape
    out = np.zeros(w4.shape)

    def pixel(r: int, s: int, ch: int) -> float:
        ri = source_index(r, h, border)
        si = source_index(s, wd, border)
        if ri is None or si is None:
            return cval
        return float(x[ri, si, ch])

    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    r = i * sh + p * dh - top
                    s = j * sw + q * dw - left
                    if depthwise:
                        for ch in range(c):
                            out[p, q] += g[i, j, ch] * pixel(r, s, ch)
                    else:
                        for oo in range(o):
                            for ch in range(c):
                                out[oo, ch, p, q] += g[i, j, oo] * pixel(r, s, ch)
    return out.reshape(np.shape(w))


def naive_input_grad(
    x: np.ndarray,
    w: np.ndarray,
    g: np.ndarray,
    pads: tuple[tuple[int, int], tuple[int, int]],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    border: str = "reflect",
) -> np.ndarray:
    """dL/dx by loops: each output's gradient times each weight goes to the pixel it read.

    A tap that read a padded cell sends its share to source_index(...) of that
    cell, or nowhere for a constant-filled cell.  Returns (H, W, C).
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    h, wd, c = x.shape
    w4, depthwise = _kernel_as_4d(w, c)
    kh, kw = w4.shape[-2:]
    (top, _bottom), (left, _right) = pads
    sh, sw = stride
    dh, dw = dilation
    oh, ow, o = g.shape
    out = np.zeros((h, wd, c))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    ri = source_index(i * sh + p * dh - top, h, border)
                    si = source_index(j * sw + q * dw - left, wd, border)
                    if ri is None or si is None:
                        continue
                    if depthwise:
                        for ch in range(c):
                            out[ri, si, ch] += g[i, j, ch] * w4[p, q]
                    else:
                        for oo in range(o):
                            for ch in range(c):
                                out[ri, si, ch] += g[i, j, oo] * w4[oo, ch, p, q]
    return out


def naive_read_png(data: bytes) -> tuple[np.ndarray, dict[bytes, list[bytes]]]:
    """Decode a non-interlaced PNG byte by byte, checking every CRC.

    Returns the pixels, shape (H, W, C) as uint8 or uint16, and the data of
    every chunk by type.  Reconstruction follows the PNG specification's
    filter definitions one byte at a time (all five filter types).
    """
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
    chunks: dict[bytes, list[bytes]] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.setdefault(kind, []).append(body)
        pos += 12 + length
    assert list(chunks)[0] == b"IHDR" and list(chunks)[-1] == b"IEND"
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    assert interlace == 0
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    size = depth // 8
    bpp = channels * size
    stride = w * bpp
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))  # checks the Adler-32 too
    assert len(raw) == h * (stride + 1)
    prior = [0] * stride
    rows = []
    for r in range(h):
        kind = raw[r * (stride + 1)]
        line = list(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        out = [0] * stride
        for i in range(stride):
            a = out[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            else:
                raise AssertionError(f"bad filter type {kind}")
            out[i] = (line[i] + pred) % 256
        rows.append(out)
        prior = out
    flat = np.array(rows, dtype=np.uint8).reshape(h, w, channels, size)
    if size == 1:
        return flat[..., 0], chunks
    return (flat[..., 0].astype(np.uint16) << 8) | flat[..., 1], chunks
