"""Each preset does what its description says: applied to an impulse and to a random image,
compared with the description's words written as NumPy (and, for Pillow's presets, with
Pillow's own filter away from the frame Pillow copies unfiltered)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import convcli
from convcli.kernelspec import load_kernel


def at(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The neighbour ``dy`` rows down and ``dx`` columns right of every pixel (zeros outside)."""
    p = np.pad(x, 3)
    h, w = x.shape
    return p[3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w]


def ring(x: np.ndarray, r: int) -> np.ndarray:
    return sum(
        at(x, dy, dx)
        for dy in range(-r, r + 1)
        for dx in range(-r, r + 1)
        if max(abs(dy), abs(dx)) == r
    )


def box(x: np.ndarray, r: int) -> np.ndarray:
    return sum(at(x, dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1))


def lap4(x):
    return at(x, -1, 0) + at(x, 1, 0) + at(x, 0, -1) + at(x, 0, 1) - 4 * x


def lap8(x):
    return ring(x, 1) - 8 * x


def binomial(x, n):
    row = np.array([1.0])
    for _ in range(n - 1):
        row = np.convolve(row, [1.0, 1.0])
    r = n // 2
    return (
        sum(
            row[dy + r] * row[dx + r] * at(x, dy, dx)
            for dy in range(-r, r + 1)
            for dx in range(-r, r + 1)
        )
        / row.sum() ** 2
    )


def gx(x, side):
    return sum(side[dy + 1] * (at(x, dy, 1) - at(x, dy, -1)) for dy in (-1, 0, 1))


def gy(x, side):
    return sum(side[dx + 1] * (at(x, 1, dx) - at(x, -1, dx)) for dx in (-1, 0, 1))


#: preset -> its description in NumPy (offsets included).
CLAIMS = {
    "identity": lambda x: x,
    "box": lambda x: box(x, 1) / 9,
    "blur": lambda x: ring(x, 2) / 16,  # 5x5 ring, inner 3x3 ignored
    "smooth": lambda x: (box(x, 1) + 4 * x) / 13,
    "roberts": lambda x: at(x, -1, -1) - x,  # upper-left neighbour minus the pixel
    "roberts-y": lambda x: at(x, -1, 0) - at(x, 0, -1),  # upper minus left neighbour
    "emboss": lambda x: x - at(x, 1, -1) + 128,  # pixel minus its lower-left neighbour
    "laplacian": lap4,  # centre negative
    "laplacian-8": lap8,
    "find-edges": lambda x: -lap8(x),  # sign-flipped laplacian-8
    "contour": lambda x: -lap8(x) + 255,  # find-edges added to white
    "edge-enhance-more": lambda x: x - lap8(x),  # identity plus find-edges
    "sharpen": lambda x: x - lap4(x),  # identity minus the 4-neighbour laplacian
    "sobel-x": lambda x: gx(x, (1, 2, 1)),
    "sobel-y": lambda x: gy(x, (1, 2, 1)),
    "prewitt-x": lambda x: gx(x, (1, 1, 1)),
    "prewitt-y": lambda x: gy(x, (1, 1, 1)),
    "scharr-x": lambda x: gx(x, (3, 10, 3)),
    "scharr-y": lambda x: gy(x, (3, 10, 3)),
    # relief along the top-left to bottom-right diagonal, keeping the brightness (sum 1)
    "emboss-3x3": lambda x: (
        x
        + 2 * at(x, 1, 1)
        + at(x, 0, 1)
        + at(x, 1, 0)
        - 2 * at(x, -1, -1)
        - at(x, -1, 0)
        - at(x, 0, -1)
    ),  # fmt: skip
    "gaussian-3x3": lambda x: binomial(x, 3),
    "gaussian-5x5": lambda x: binomial(x, 5),
    "unsharp-5x5": lambda x: 2 * x - binomial(x, 5),  # twice the image minus gaussian-5x5
}
PILLOW = {
    "blur": (ImageFilter.BLUR, 2),
    "contour": (ImageFilter.CONTOUR, 1),
    "detail": (ImageFilter.DETAIL, 1),
    "edge-enhance": (ImageFilter.EDGE_ENHANCE, 1),
    "edge-enhance-more": (ImageFilter.EDGE_ENHANCE_MORE, 1),
    "emboss": (ImageFilter.EMBOSS, 1),
    "find-edges": (ImageFilter.FIND_EDGES, 1),
    "smooth": (ImageFilter.SMOOTH, 1),
    "smooth-more": (ImageFilter.SMOOTH_MORE, 2),
}


def test_every_2d_preset_has_a_claim_or_a_pillow_reference():
    names = {p.stem for p in (Path(__file__).parents[1] / "kernels").glob("*.toml")}
    assert names - set(CLAIMS) - set(PILLOW) == {"grayscale", "sepia"}


@pytest.mark.parametrize("name", sorted(CLAIMS))
@pytest.mark.parametrize("image", ["impulse", "random"])
def test_preset_does_what_its_description_says(name, image):
    rng = np.random.default_rng(5)
    x = np.zeros((15, 17))
    if image == "impulse":
        x[7, 8] = 1.0
    else:
        x[4:-4, 4:-4] = rng.random((7, 9))  # zero margin: borders play no part
    got = convcli.correlate(
        x, load_kernel(name).effective_weights, border="constant", dtype=np.float64
    )
    got += load_kernel(name).offset
    np.testing.assert_allclose(got, CLAIMS[name](x), atol=1e-12)


@pytest.mark.parametrize("name", sorted(PILLOW))
def test_pillow_presets_equal_pillow_inside_the_frame_pillow_copies(tmp_path, name, run_cli):
    flt, frame = PILLOW[name]
    rng = np.random.default_rng(6)
    x = rng.integers(40, 200, (20, 24), dtype=np.uint8)
    Image.fromarray(x).save(tmp_path / "x.png")
    code, _, err = run_cli("filter", tmp_path / "x.png", "-k", name, "-o", tmp_path / "o.png")
    assert code == 0, err
    ours = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
    pillow = np.asarray(Image.fromarray(x).filter(flt)).astype(int)
    inner = (slice(frame, -frame), slice(frame, -frame))
    assert np.abs(ours[inner] - pillow[inner]).max() <= 1  # Pillow rounds its own way
    # Pillow copies the frame unfiltered, as the description says; convcli filters it.
    np.testing.assert_array_equal(pillow[:frame], x[:frame])
    assert f"{frame}-pixel frame" in load_kernel(name).description


def test_grayscale_is_bt601_luma():
    rgb = np.random.default_rng(7).random((4, 5, 3))
    got = convcli.correlate(rgb, load_kernel("grayscale").effective_weights, dtype=np.float64)
    np.testing.assert_allclose(got[..., 0], rgb @ [0.299, 0.587, 0.114], atol=1e-12)
