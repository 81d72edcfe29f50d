"""Draw the sample images in this folder.

Run ``python samples/make_samples.py``.  Everything is computed from fixed
numbers (no randomness, no system fonts), so every run writes byte-identical
files:

- ``card.png``: RGB 512x384 test card: colour and grey patches, gradients,
  sharp edges, 1-px lines at several angles, a checkerboard, concentric
  circles and stroke lettering.
- ``blobs.png``: RGB 256x256 smooth colour blobs with a few hard-edged shapes
  and fine stripes, where blurring and sharpening look clearly different.
- ``gray.png``: 8-bit greyscale (L) 256x256: gratings of rising frequency, a
  radial gradient, a bright square and lettering.
- ``logo-rgba.png``: RGBA 128x128: opaque shapes and a half-transparent halo
  on a fully transparent background.  The transparent pixels are pure green
  (alpha 0), so filtering colour without premultiplying alpha visibly bleeds
  green into the edges.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent

# Letters as polylines on a 4-wide, 6-high grid (y grows downwards).
STROKES: dict[str, list[list[tuple[int, int]]]] = {
    "C": [[(4, 0), (0, 0), (0, 6), (4, 6)]],
    "O": [[(0, 0), (4, 0), (4, 6), (0, 6), (0, 0)]],
    "N": [[(0, 6), (0, 0), (4, 6), (4, 0)]],
    "V": [[(0, 0), (2, 6), (4, 0)]],
    "L": [[(0, 0), (0, 6), (4, 6)]],
    "I": [[(2, 0), (2, 6)], [(1, 0), (3, 0)], [(1, 6), (3, 6)]],
    "E": [[(4, 0), (0, 0), (0, 6), (4, 6)], [(0, 3), (3, 3)]],
    "S": [[(4, 0), (0, 0), (0, 3), (4, 3), (4, 6), (0, 6)]],
    "T": [[(0, 0), (4, 0)], [(2, 0), (2, 6)]],
    "A": [[(0, 6), (2, 0), (4, 6)], [(1, 3), (3, 3)]],
    "R": [[(0, 6), (0, 0), (4, 0), (4, 3), (0, 3), (4, 6)]],
    "D": [[(0, 0), (3, 0), (4, 1), (4, 5), (3, 6), (0, 6), (0, 0)]],
    "K": [[(0, 0), (0, 6)], [(4, 0), (0, 3), (4, 6)]],
    "G": [[(4, 0), (0, 0), (0, 6), (4, 6), (4, 3), (2, 3)]],
    " ": [],
}


def draw_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    origin: tuple[int, int],
    *,
    unit: int,
    width: int,
    fill: int | tuple[int, ...],
) -> None:
    """Draw ``text`` with the stroke font; each letter is 4x6 units plus a gap of 2."""
    x0, y0 = origin
    for i, letter in enumerate(text):
        left = x0 + i * 6 * unit
        for line in STROKES[letter]:
            points = [(left + x * unit, y0 + y * unit) for x, y in line]
            draw.line(points, fill=fill, width=width, joint="curve" if width > 2 else None)


def make_card() -> Image.Image:
    """RGB 512x384 test card."""
    h, w = 384, 512
    card = np.full((h, w, 3), 128, dtype=np.uint8)

    colours = [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (0, 255, 255),
        (255, 0, 255),
        (255, 255, 0),
        (255, 255, 255),
        (0, 0, 0),
    ]
    for i, colour in enumerate(colours):
        card[0:56, i * 64 : (i + 1) * 64] = colour
    for i in range(8):
        card[56:88, i * 64 : (i + 1) * 64] = round(i * 255 / 7)

    # Horizontal grey ramp, then a red-to-blue ramp.
    ramp = np.rint(np.arange(w) * 255 / (w - 1)).astype(np.uint8)
    card[88:112] = ramp[np.newaxis, :, np.newaxis]
    card[112:128, :, 0] = ramp[::-1]
    card[112:128, :, 1] = 0
    card[112:128, :, 2] = ramp

    # Vertical grey ramp down the left side.
    vramp = np.rint(np.arange(256) * 255 / 255).astype(np.uint8)
    card[128:384, 0:24] = vramp[:, np.newaxis, np.newaxis]

    # Checkerboard of 8-px squares.
    yy, xx = np.mgrid[0:96, 0:104]
    checker = (((yy // 8) + (xx // 8)) % 2 * 255).astype(np.uint8)
    card[128:224, 24:128] = checker[:, :, np.newaxis]

    # Sharp black/white edges: a vertical step, a horizontal step and a diagonal.
    card[224:304, 24:76] = 0
    card[224:304, 76:128] = 255
    card[304:344, 24:128] = 255
    card[344:384, 24:128] = 0
    dy, dx = np.mgrid[0:40, 0:52]
    card[304:344, 24:76][dx > dy] = 0

    image = Image.fromarray(card)
    draw = ImageDraw.Draw(image)

    # Concentric circles, 1 and 2 px wide, alternating black and white.
    cx, cy = 224, 256
    draw.rectangle((128, 128, 320, 384), fill=(200, 200, 200))
    for k, r in enumerate(range(90, 2, -6)):
        colour = (0, 0, 0) if k % 2 == 0 else (255, 255, 255)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=1 + k % 2)

    # A fan of 1-px lines at 0..90 degrees in 15-degree steps.
    draw.rectangle((320, 128, 512, 256), fill=(0, 0, 0))
    ox, oy, length = 330, 250, 170
    for deg in range(0, 91, 15):
        a = math.radians(deg)
        end = (ox + round(length * math.cos(a)), oy - round(length * math.sin(a)))
        draw.line([(ox, oy), end], fill=(255, 255, 255), width=1)

    # Lettering at two sizes.
    draw.rectangle((320, 256, 512, 384), fill=(255, 255, 255))
    draw_text(draw, "CONVCLI", (330, 268), unit=4, width=2, fill=(0, 0, 0))
    draw_text(draw, "TEST CARD", (330, 310), unit=3, width=1, fill=(0, 0, 160))
    draw_text(draw, "EDGES", (330, 340), unit=4, width=3, fill=(160, 0, 0))
    return image


def make_blobs() -> Image.Image:
    """RGB 256x256 smooth blobs with a few sharp shapes."""
    n = 256
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    # (centre y, centre x, sigma, RGB weight)
    blobs = [
        (70.0, 80.0, 40.0, (230.0, 60.0, 40.0)),
        (150.0, 180.0, 50.0, (30.0, 120.0, 230.0)),
        (200.0, 60.0, 35.0, (60.0, 210.0, 80.0)),
        (60.0, 200.0, 25.0, (240.0, 200.0, 40.0)),
        (128.0, 128.0, 70.0, (60.0, 40.0, 90.0)),
    ]
    rgb = np.zeros((n, n, 3))
    rgb += 20.0 + 30.0 * (yy / (n - 1))[:, :, np.newaxis]
    for cy, cx, sigma, weight in blobs:
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        rgb += g[:, :, np.newaxis] * np.array(weight)
    # Fine stripes in one corner: blur removes them, sharpen makes them pop.
    stripes = 25.0 * np.sin(xx * (2 * math.pi / 4.0))
    corner = (yy > 200) & (xx > 180)
    rgb[corner] += stripes[corner][:, np.newaxis]
    # Quantise before rounding so tiny floating-point differences cannot flip a value.
    pixels = np.clip(np.rint(np.round(rgb, 6)), 0, 255).astype(np.uint8)

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 20, 140, 60), fill=(250, 250, 250))
    draw.rectangle((20, 110, 60, 150), fill=(10, 10, 10))
    draw.polygon([(200, 120), (240, 150), (190, 170)], fill=(255, 140, 0))
    draw.line([(10, 245), (170, 205)], fill=(255, 255, 255), width=1)
    return image


def make_gray() -> Image.Image:
    """8-bit greyscale 256x256."""
    n = 256
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    gray = np.zeros((n, n))
    # Left half: gratings whose period shrinks from 32 px to 2 px going down.
    for band, period in enumerate((32, 16, 8, 4, 2)):
        rows = slice(band * 51, (band + 1) * 51 if band < 4 else n)
        gray[rows, :128] = 127.5 + 127.5 * np.cos(xx[rows, :128] * (2 * math.pi / period))
    # Right half: radial gradient, bright in the middle.
    r = np.hypot(yy[:, 128:] - 128, xx[:, 128:] - 192)
    gray[:, 128:] = np.clip(255.0 - r * 2.0, 0, 255)
    pixels = np.clip(np.rint(np.round(gray, 6)), 0, 255).astype(np.uint8)

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    draw.rectangle((176, 40, 208, 72), fill=255, outline=0)
    draw.rectangle((140, 200, 250, 250), fill=20)
    draw_text(draw, "GRAD", (148, 212), unit=4, width=2, fill=235)
    return image


def make_logo() -> Image.Image:
    """RGBA 128x128: opaque shapes on a transparent (green, alpha 0) background."""
    n = 128
    image = Image.new("RGBA", (n, n), (0, 255, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((14, 14, 114, 114), fill=(20, 40, 200, 128))
    draw.ellipse((24, 24, 104, 104), fill=(230, 110, 20, 255))
    draw.polygon([(64, 36), (92, 86), (36, 86)], fill=(255, 255, 255, 255))
    draw.rectangle((58, 60, 70, 80), fill=(30, 30, 30, 255))
    return image


def main() -> None:
    """Write every sample next to this script."""
    outputs = {
        "card.png": make_card(),
        "blobs.png": make_blobs(),
        "gray.png": make_gray(),
        "logo-rgba.png": make_logo(),
    }
    for name, image in outputs.items():
        path = HERE / name
        image.save(path, format="PNG")
        print(
            f"{path.name}: {image.mode} {image.width}x{image.height}, {path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    main()
