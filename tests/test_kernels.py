"""Tests for convcli.kernelspec and convcli.presets: Kernel, the spec grammar, the presets.

Expected weights are written out by hand from their sources (papers, Pillow's
ImageFilter, formulas evaluated with ``math`` in plain loops), never taken
from the code under test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import string
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convcli import config, presets
from convcli import kernelspec as kmod
from convcli.errors import KernelError, UsageError
from convcli.kernelspec import (
    CATEGORIES,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_TAPS,
    Kernel,
    kernel_search_path,
    list_kernels,
    load_kernel,
)
from convcli.presets import index as preset_index

REPO = Path(__file__).resolve().parent.parent
PRESET_DIR = REPO / "kernels"
PRESET_FILES = sorted(PRESET_DIR.glob("*.toml"))
PRESET_NAMES = [p.stem for p in PRESET_FILES]

REQUIRED_PRESETS = {
    "box": "blur",
    "gaussian-3x3": "blur",
    "gaussian-5x5": "blur",
    "blur": "blur",
    "smooth": "blur",
    "smooth-more": "blur",
    "laplacian": "edge",
    "laplacian-8": "edge",
    "sobel-x": "edge",
    "sobel-y": "edge",
    "scharr-x": "edge",
    "scharr-y": "edge",
    "prewitt-x": "edge",
    "prewitt-y": "edge",
    "roberts": "edge",
    "find-edges": "edge",
    "contour": "edge",
    "sharpen": "sharpen",
    "edge-enhance": "sharpen",
    "detail": "sharpen",
    "unsharp-5x5": "sharpen",
    "emboss": "emboss",
    "grayscale": "color",
    "sepia": "color",
}

# Sum of the effective weights (after scale) that each category implies.
CATEGORY_SUMS = {"blur": 1.0, "edge": 0.0, "sharpen": 1.0}


def eff(spec: str) -> np.ndarray:
    return load_kernel(spec).effective_weights


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_user_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.KERNEL_PATH_ENV, raising=False)


# --------------------------------------------------------------------------- preset files


def test_at_least_24_preset_files_including_the_required_ones() -> None:
    assert len(PRESET_FILES) >= 24
    for name, category in REQUIRED_PRESETS.items():
        assert name in PRESET_NAMES, name
        assert load_kernel(name).category == category, name


def test_builtin_presets_are_not_inside_the_package_source() -> None:
    assert not (REPO / "convcli" / "kernels").exists()
    assert kernel_search_path()[0] == ("builtin", PRESET_DIR)


@pytest.mark.parametrize("path", PRESET_FILES, ids=PRESET_NAMES)
def test_preset_file_is_complete_and_loads(path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["name"] == path.stem
    assert data["category"] in CATEGORIES
    assert data["description"].strip()
    assert data["reference"].strip()
    k = load_kernel(path.stem)
    assert k.name == path.stem
    assert k.source == "builtin"
    assert k.category == data["category"]
    assert k.description == data["description"]
    assert k.reference == data["reference"]
    assert k.weights.dtype == np.float64
    assert k.weights.ndim in (2, 3, 4)
    assert np.isfinite(k.weights).all()
    assert k.scale == data.get("scale", 1.0)
    assert k.offset == data.get("offset", 0.0)
    expected = CATEGORY_SUMS.get(k.category)
    if expected is not None:
        assert k.effective_weights.sum() == pytest.approx(expected, abs=1e-12)


def test_preset_files_load_by_path_too(tmp_path: Path) -> None:
    k = load_kernel(str(PRESET_DIR / "sobel-x.toml"))
    assert k.name == "sobel-x"
    assert k.source == f"file:{PRESET_DIR / 'sobel-x.toml'}"
    assert k.weights.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


HAND_WEIGHTS = {
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "scharr-x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr-y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "prewitt-x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt-y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "roberts": [[1, 0], [0, -1]],
    "roberts-y": [[0, 1], [-1, 0]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian-8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "box": [[1 / 9] * 3] * 3,
    "gaussian-3x3": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    # Pillow ImageFilter.BLUR: a ring of ones, divided by 16.
    "blur": [
        [1 / 16, 1 / 16, 1 / 16, 1 / 16, 1 / 16],
        [1 / 16, 0, 0, 0, 1 / 16],
        [1 / 16, 0, 0, 0, 1 / 16],
        [1 / 16, 0, 0, 0, 1 / 16],
        [1 / 16, 1 / 16, 1 / 16, 1 / 16, 1 / 16],
    ],
    "smooth": [[1 / 13, 1 / 13, 1 / 13], [1 / 13, 5 / 13, 1 / 13], [1 / 13, 1 / 13, 1 / 13]],
    "detail": [[0, -1 / 6, 0], [-1 / 6, 10 / 6, -1 / 6], [0, -1 / 6, 0]],
    "edge-enhance": [[-0.5, -0.5, -0.5], [-0.5, 5, -0.5], [-0.5, -0.5, -0.5]],
    "find-edges": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "emboss-3x3": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "identity": [[1]],
}


@pytest.mark.parametrize("name", sorted(HAND_WEIGHTS))
def test_preset_effective_weights_match_hand_values(name: str) -> None:
    np.testing.assert_allclose(eff(name), np.array(HAND_WEIGHTS[name]), rtol=1e-15, atol=1e-15)


def test_gaussian_5x5_is_the_binomial_outer_product() -> None:
    row = [1, 4, 6, 4, 1]
    expected = [[a * b / 256 for b in row] for a in row]
    np.testing.assert_allclose(eff("gaussian-5x5"), expected, rtol=1e-15)


def test_unsharp_5x5_is_twice_identity_minus_binomial_blur() -> None:
    row = [1, 4, 6, 4, 1]
    expected = [[-a * b / 256 for b in row] for a in row]
    expected[2][2] += 2.0
    np.testing.assert_allclose(eff("unsharp-5x5"), expected, rtol=1e-14, atol=1e-15)
    assert eff("unsharp-5x5")[2, 2] == pytest.approx(476 / 256)


def test_offsets_of_contour_and_emboss_follow_pillow() -> None:
    assert load_kernel("contour").offset == 255.0
    assert load_kernel("emboss").offset == 128.0
    assert eff("emboss").sum() == 0.0
    assert eff("emboss-3x3").sum() == 1.0


def test_color_presets_have_channel_mixing_shapes() -> None:
    gray = load_kernel("grayscale")
    assert gray.shape == (1, 3, 1, 1)
    np.testing.assert_array_equal(gray.effective_weights.ravel(), [0.299, 0.587, 0.114])
    sepia = load_kernel("sepia")
    assert sepia.shape == (3, 3, 1, 1)
    np.testing.assert_array_equal(
        sepia.effective_weights[:, :, 0, 0],
        [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]],
    )


PILLOW_PRESETS = {
    "blur": "BLUR",
    "smooth": "SMOOTH",
    "smooth-more": "SMOOTH_MORE",
    "find-edges": "FIND_EDGES",
    "contour": "CONTOUR",
    "edge-enhance": "EDGE_ENHANCE",
    "edge-enhance-more": "EDGE_ENHANCE_MORE",
    "detail": "DETAIL",
    "emboss": "EMBOSS",
}


@pytest.mark.parametrize("name", sorted(PILLOW_PRESETS))
def test_pillow_presets_match_pillow_filterargs(name: str) -> None:
    from PIL import ImageFilter

    (width, height), divisor, offset, data = getattr(ImageFilter, PILLOW_PRESETS[name]).filterargs
    # Pillow flips its kernels vertically before applying them (ImageFilter.Kernel docs).
    pillow = np.array(data, dtype=float).reshape(height, width)[::-1] / divisor
    k = load_kernel(name)
    np.testing.assert_allclose(k.effective_weights, pillow, rtol=1e-15)
    assert k.offset == offset


@pytest.mark.parametrize("name", sorted(PILLOW_PRESETS))
def test_pillow_presets_give_pillows_result(name: str) -> None:
    from PIL import Image, ImageFilter
    from scipy import ndimage

    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (17, 19), dtype=np.uint8)
    theirs = np.asarray(Image.fromarray(img).filter(getattr(ImageFilter, PILLOW_PRESETS[name])))
    k = load_kernel(name)
    ours = ndimage.correlate(img.astype(float), k.effective_weights) + k.offset
    ours = np.clip(np.round(ours), 0, 255)
    m = k.shape[0] // 2  # Pillow's border handling differs; compare the interior
    diff = np.abs(ours[m:-m, m:-m] - theirs[m:-m, m:-m].astype(float))
    assert diff.max() <= 1.0  # Pillow's own rounding of float sums


def test_sobel_x_is_positive_for_brightness_increasing_to_the_right() -> None:
    ramp = np.tile(np.arange(5.0), (5, 1))  # x[i, j] = j
    patch = ramp[1:4, 1:4]
    assert float((eff("sobel-x") * patch).sum()) == 8.0
    assert float((eff("sobel-y") * patch).sum()) == 0.0
    assert float((eff("sobel-y") * patch.T).sum()) == 8.0


def test_asymmetric_inline_kernel_is_kept_as_written() -> None:
    assert load_kernel("1,2,3; 4,5,6").weights.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_names_are_case_insensitive_and_underscore_equals_dash() -> None:
    for spec in ("SOBEL-X", "sobel_x", " Sobel_X "):
        k = load_kernel(spec)
        assert k.name == "sobel-x"
        np.testing.assert_array_equal(k.weights, eff("sobel-x"))


# --------------------------------------------------------------------------- generators


def gaussian_reference(sigma: float, size: int) -> np.ndarray:
    r = size // 2
    rows = [
        [math.exp(-(x * x + y * y) / (2 * sigma * sigma)) for x in range(-r, r + 1)]
        for y in range(-r, r + 1)
    ]
    total = sum(map(sum, rows))
    return np.array(rows) / total


@pytest.mark.parametrize(
    ("spec", "sigma", "size"),
    [
        ("gaussian", 1.0, 7),
        ("gaussian:sigma=2", 2.0, 13),
        ("gaussian:sigma=0.5", 0.5, 5),
        ("gaussian:sigma=2,size=9", 2.0, 9),
        ("gaussian:1.5", 1.5, 11),
        ("gaussian:0.8,3", 0.8, 3),
        ("Gaussian:Size=5, sigma=3", 3.0, 5),
    ],
)
def test_gaussian_generator_matches_formula(spec: str, sigma: float, size: int) -> None:
    k = load_kernel(spec)
    assert k.shape == (size, size)
    assert k.category == "blur"
    assert k.source == "builtin generator"
    w = k.effective_weights
    np.testing.assert_allclose(w, gaussian_reference(sigma, size), rtol=1e-12)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w, w.T, rtol=1e-15)
    np.testing.assert_allclose(w, w[::-1, ::-1], rtol=1e-15)


def test_gaussian_ratios_at_a_few_points() -> None:
    w = eff("gaussian:sigma=2,size=9")
    c = 4
    assert w[c, c + 1] / w[c, c] == pytest.approx(math.exp(-1 / 8))
    assert w[c + 2, c + 2] / w[c, c] == pytest.approx(math.exp(-8 / 8))
    assert w[0, 0] / w[c, c] == pytest.approx(math.exp(-32 / 8))


def test_tiny_sigma_gaussian_is_a_delta() -> None:
    np.testing.assert_array_equal(eff("gaussian:sigma=1e-300"), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize(
    ("spec", "shape"),
    [("box:5", (5, 5)), ("box:7x3", (7, 3)), ("box:size=4", (4, 4)), ("box:size=2x6", (2, 6))],
)
def test_box_generator(spec: str, shape: tuple[int, int]) -> None:
    k = load_kernel(spec)
    assert k.shape == shape
    assert k.source == "builtin generator"
    np.testing.assert_allclose(k.effective_weights, np.full(shape, 1 / (shape[0] * shape[1])))


def test_bare_box_is_the_preset_file_and_box_with_params_the_generator() -> None:
    assert load_kernel("box").source == "builtin"
    assert load_kernel("box:3").source == "builtin generator"
    np.testing.assert_allclose(eff("box"), eff("box:3"))
    assert load_kernel("box:").shape == (3, 3)


@pytest.mark.parametrize("angle", ["0", "180", "-180", "360"])
def test_motion_horizontal(angle: str) -> None:
    w = eff(f"motion:length=9,angle={angle}")
    assert w.shape == (1, 9)
    np.testing.assert_allclose(w, np.full((1, 9), 1 / 9), rtol=1e-12)


@pytest.mark.parametrize("angle", ["90", "270", "-90"])
def test_motion_vertical(angle: str) -> None:
    w = eff(f"motion:length=7,angle={angle}")
    assert w.shape == (7, 1)
    np.testing.assert_allclose(w, np.full((7, 1), 1 / 7), rtol=1e-12)


def test_motion_defaults_and_positional_params() -> None:
    np.testing.assert_allclose(eff("motion"), np.full((1, 9), 1 / 9), rtol=1e-12)
    np.testing.assert_array_equal(eff("motion:15,30"), eff("motion:length=15,angle=30"))


def test_motion_even_length_is_anti_aliased_and_centred() -> None:
    # Samples at x = -1.5, -0.5, 0.5, 1.5 split half-and-half between pixels.
    np.testing.assert_allclose(eff("motion:4"), [[0.125, 0.25, 0.25, 0.25, 0.125]], rtol=1e-12)


def test_motion_45_degrees_goes_up_to_the_right() -> None:
    # Samples at t = -1, 0, 1 along (cos 45, sin 45) with y up; worked out by hand.
    a = math.sqrt(0.5)
    side = a * (1 - a)
    expected = np.array(
        [
            [0, side, a * a],
            [side, 1 + 2 * (1 - a) ** 2, side],
            [a * a, side, 0],
        ]
    )
    np.testing.assert_allclose(eff("motion:length=3,angle=45"), expected / 3, atol=1e-12)


@pytest.mark.parametrize("angle", [0, 10, 30, 45, 60, 90, 123.4, 200, 333])
@pytest.mark.parametrize("length", [1, 2, 5, 15])
def test_motion_sums_to_one_and_is_point_symmetric(length: int, angle: float) -> None:
    w = eff(f"motion:length={length},angle={angle}")
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w >= 0).all()
    np.testing.assert_allclose(w, w[::-1, ::-1], atol=1e-12)
    assert w.shape[0] % 2 == 1
    assert w.shape[1] % 2 == 1


def log_reference(sigma: float, size: int) -> np.ndarray:
    r = size // 2
    vals = []
    for y in range(-r, r + 1):
        row = []
        for x in range(-r, r + 1):
            q = (x * x + y * y) / (2 * sigma * sigma)
            row.append(-(1 - q) * math.exp(-q) / (math.pi * sigma**4))
        vals.append(row)
    arr = np.array(vals)
    return arr - arr.sum() / arr.size


@pytest.mark.parametrize(
    ("spec", "sigma", "size"),
    [
        ("log", 1.4, 11),
        ("log:sigma=1.4", 1.4, 11),
        ("log:sigma=0.5,size=5", 0.5, 5),
        ("log:2", 2.0, 13),
    ],
)
def test_log_generator(spec: str, sigma: float, size: int) -> None:
    k = load_kernel(spec)
    w = k.effective_weights
    assert k.category == "edge"
    assert w.shape == (size, size)
    assert w.sum() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(w, log_reference(sigma, size), rtol=1e-10, atol=1e-15)
    c = size // 2
    assert w[c, c] < 0  # negative centre, like the laplacian preset
    assert w[c, c] == w.min()
    np.testing.assert_allclose(w, w.T, atol=1e-15)


@pytest.mark.parametrize(
    ("spec", "sigma", "amount", "size"),
    [
        ("unsharp", 1.0, 1.0, 7),
        ("unsharp:sigma=1,amount=1.5", 1.0, 1.5, 7),
        ("unsharp:sigma=2,amount=0.5,size=5", 2.0, 0.5, 5),
        ("unsharp:0.7,3", 0.7, 3.0, 7),
    ],
)
def test_unsharp_generator(spec: str, sigma: float, amount: float, size: int) -> None:
    w = eff(spec)
    expected = -amount * gaussian_reference(sigma, size)
    expected[size // 2, size // 2] += 1 + amount
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-15)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert load_kernel(spec).category == "sharpen"


# --------------------------------------------------------------------------- inline specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0,-1,0; -1,5,-1; 0,-1,0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        ("1 2 3;4 5 6", [[1, 2, 3], [4, 5, 6]]),
        ("1, 2  3 ;4 ,5,6", [[1, 2, 3], [4, 5, 6]]),
        ("1,2,1", [[1, 2, 1]]),
        ("1,2,1,", [[1, 2, 1]]),
        ("1;2;", [[1], [2]]),
        ("7", [[7]]),
        ("-2.5", [[-2.5]]),
        ("+1e-3, -.5, 2.", [[0.001, -0.5, 2.0]]),
        ("1E2", [[100.0]]),
        ("  0.25 ; 0.75  ", [[0.25], [0.75]]),
    ],
)
def test_inline_matrix(spec: str, expected: list[list[float]]) -> None:
    k = load_kernel(spec)
    assert k.weights.tolist() == expected
    assert k.source == "inline"
    assert k.name == spec.strip()
    assert k.anchor is None
    assert k.scale == 1.0


@pytest.mark.parametrize(
    ("spec", "expected", "anchor"),
    [
        ("3x3: 0,-1,0,-1,5,-1,0,-1,0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], None),
        ("3: 1 2 3 4 5 6 7 8 9", [[1, 2, 3], [4, 5, 6], [7, 8, 9]], None),
        ("3x2: 1,2,3, 4,5,6", [[1, 2, 3], [4, 5, 6]], None),
        ("2x3+1+2: 1 2 3 4 5 6", [[1, 2], [3, 4], [5, 6]], (2, 1)),
        ("3x3+0+0: 1,0,0,0,0,0,0,0,0", [[1, 0, 0], [0, 0, 0], [0, 0, 0]], (0, 0)),
        ("4x1+3+0:1,1,1,1", [[1, 1, 1, 1]], (0, 3)),
        ("2X2 : 1 2 3 4", [[1, 2], [3, 4]], None),
    ],
)
def test_imagemagick_strings(
    spec: str, expected: list[list[float]], anchor: tuple[int, int] | None
) -> None:
    k = load_kernel(spec)
    assert k.weights.tolist() == expected
    assert k.anchor == anchor
    assert k.source == "inline"


def test_imagemagick_anchor_is_used_as_effective_anchor() -> None:
    assert load_kernel("3x3+2+1: 0 0 0 0 0 1 0 0 0").effective_anchor == (1, 2)
    assert load_kernel("4x4: " + " ".join(["1"] * 16)).effective_anchor == (2, 2)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("sobelx", ["unknown kernel 'sobelx'", "did you mean", "sobel-x"]),
        ("laplacain", ["did you mean", "laplacian"]),
        ("Sobel X", ["did you mean", "sobel-x"]),
        ("zzqqxx", ["unknown kernel", "kernels list"]),
        ("1,2,3; 4,5", ["inline kernel", "row 2 has 2 values but row 1 has 3"]),
        ("1;2,3", ["row 2 has 2 values but row 1 has 1 value"]),
        ("1,2,3; 4,5,abc", ["inline kernel: row 2, column 3: 'abc' is not a number"]),
        ("abc; 1", ["row 1, column 1: 'abc' is not a number"]),
        ("1/9, 1/9", ["row 1, column 1: '1/9' is not a number"]),
        ("1,2; 3,nan", ["row 2, column 2", "'nan'", "finite"]),
        ("1, inf", ["row 1, column 2", "'inf'", "finite"]),
        ("-Infinity", ["row 1, column 1", "finite"]),
        ("NaN", ["row 1, column 1", "finite"]),
        ("1e999, 1", ["row 1, column 1", "'1e999'", "finite"]),
        ("1,,2", ["row 1, column 2: empty value"]),
        ("1;;2", ["row 2 is empty"]),
        ("", ["kernel spec is empty"]),
        ("   ", ["kernel spec is empty"]),
        ("3x3: 1,2,3", ["needs 9 values", "got 3"]),
        ("3x3:", ["needs 9 values", "got 0"]),
        ("2x2: 1,2,3,x", ["row 2, column 2: 'x' is not a number"]),
        ("2x2: 1,2,3,nan", ["row 2, column 2", "finite"]),
        ("3x3+3+0: 1,2,3,4,5,6,7,8,9", ["anchor +3+0", "outside"]),
        ("3x3+0+5: 1,2,3,4,5,6,7,8,9", ["anchor +0+5", "outside"]),
        ("3x3-1-1: 1,2,3,4,5,6,7,8,9", ["geometry '3x3-1-1'", "WxH+X+Y"]),
        ("0x3: 1", ["positive"]),
        ("2x1: 1,2; 3,4", ["';'", "not supported"]),
        ("5000x1: 1", ["too large", str(MAX_KERNEL_SIDE)]),
        ("missing.txt", ["kernel file not found: 'missing.txt'"]),
        ("missing.TOML", ["kernel file not found"]),
        ("no/such/kernel", ["kernel file not found: 'no/such/kernel'"]),
        ("./nope.npy", ["kernel file not found"]),
        ("kernels/", ["is a directory"]),
        ("sobel-x:3", ["takes no parameters"]),
        ("gaussian:sigma=0", ["gaussian", "`sigma`", "positive", "'0'"]),
        ("gaussian:sigma=-1", ["`sigma`", "positive"]),
        ("gaussian:sigma=abc", ["`sigma`", "'abc'"]),
        ("gaussian:sigma=nan", ["`sigma`", "finite"]),
        ("gaussian:sigma=", ["`sigma`"]),
        ("gaussian:size=4", ["`size`", "odd", "'4'"]),
        ("gaussian:size=-3", ["`size`", "'-3'"]),
        ("gaussian:size=2.5", ["`size`"]),
        (
            "gaussian:sgima=2",
            ["unknown parameter 'sgima'", "did you mean sigma", "allowed: sigma, size"],
        ),
        ("gaussian:sigma=1,sigma=2", ["given twice"]),
        ("gaussian:sigma=1,2", ["positional value '2' after"]),
        ("gaussian:1,3,5", ["at most 2 positional"]),
        ("gaussian:1,,3", ["empty parameter"]),
        ("gaussian:sigma=1e6", ["sigma=1e+06", f"over {MAX_KERNEL_SIDE}"]),
        ("gaussian:sigma=1,size=5001", ["at most 4096"]),
        ("gaussian:size=4095", ["weights", str(MAX_KERNEL_TAPS)]),
        ("box:0", ["box", "`size`"]),
        ("box:3x", ["`size`", "'3x'"]),
        ("box:-3", ["`size`"]),
        ("box:5000", ["too large"]),
        ("box:4000x4001", [str(MAX_KERNEL_TAPS)]),
        ("motion:length=0", ["motion", "`length`", "positive"]),
        ("motion:length=2.5", ["`length`"]),
        ("motion:angle=north", ["`angle`", "'north'"]),
        ("motion:speed=3", ["unknown parameter 'speed'", "length, angle"]),
        ("log:size=1", ["log", "`size`", ">= 3"]),
        ("log:size=6", ["`size`", "odd"]),
        ("log:sigma=0", ["`sigma`", "positive"]),
        ("log:sigma=1e-300", ["too small"]),
        ("unsharp:amount=inf", ["`amount`", "finite"]),
        ("unsharp:amount=x", ["`amount`", "'x'"]),
    ],
)
def test_bad_specs_raise_kernel_error_with_a_useful_message(
    spec: str, fragments: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(KernelError) as info:
        load_kernel(spec)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_kernel_error_is_a_usage_error_with_exit_code_2() -> None:
    with pytest.raises(UsageError) as info:
        load_kernel("nope-nope")
    assert isinstance(info.value, ValueError)
    assert info.value.exit_code == 2


def test_a_directory_named_like_a_preset_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sharpen").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_kernel("sharpen").source == "builtin"


def test_an_existing_file_wins_over_a_preset_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "sharpen", "1 2\n3 4\n")
    monkeypatch.chdir(tmp_path)
    k = load_kernel("sharpen")
    assert k.weights.tolist() == [[1, 2], [3, 4]]
    assert k.source == "file:sharpen"


def test_wrong_argument_type() -> None:
    with pytest.raises(KernelError, match="string or a path"):
        load_kernel(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- files


def test_text_file_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "edge.txt",
        "# a hand-made kernel\n\n -1 0 1   # left to right\n-2 0 2\n\n# more\n-1 0 1\n",
    )
    k = load_kernel(str(path))
    assert k.weights.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert k.name == "edge.txt"
    assert k.source == f"file:{path}"
    assert k.scale == 1.0
    assert k.offset == 0.0


def test_csv_file(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "1,2,3\n4, 5, 6,\n7 ,8,9\n")
    assert load_kernel(str(path)).weights.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf1,2\r\n3,4\r\n")
    assert load_kernel(str(path)).weights.tolist() == [[1, 2], [3, 4]]


def test_libvips_header_with_scale_and_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "blur.mat", "3 3 16 128\n1 2 1\n2 4 2\n1 2 1\n")
    k = load_kernel(str(path))
    assert k.weights.tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    assert k.scale == 1 / 16  # libvips divides by its scale
    assert k.offset == 128.0
    assert k.effective_weights.sum() == pytest.approx(1.0)


def test_libvips_header_without_scale_and_non_square(tmp_path: Path) -> None:
    path = write(tmp_path / "row.mat", "# libvips\n3 1\n-1 0 1\n")
    k = load_kernel(str(path))
    assert k.weights.tolist() == [[-1, 0, 1]]
    assert (k.scale, k.offset) == (1.0, 0.0)


def test_libvips_header_with_scale_only(tmp_path: Path) -> None:
    k = load_kernel(str(write(tmp_path / "k.mat", "2 2 4\n1 1\n1 1\n")))
    assert k.weights.tolist() == [[1, 1], [1, 1]]
    assert k.scale == 0.25


def test_first_line_is_data_when_it_does_not_fit_a_header(tmp_path: Path) -> None:
    # "2 2" would say 2 rows follow, but only 1 does: so it is the first row.
    k = load_kernel(str(write(tmp_path / "k.txt", "2 2\n1 2\n")))
    assert k.weights.tolist() == [[2, 2], [1, 2]]
    # A first row with a non-integer is never a header.
    k = load_kernel(str(write(tmp_path / "k2.txt", "0.5 3\n1 2\n")))
    assert k.weights.tolist() == [[0.5, 3], [1, 2]]


def test_libvips_header_scale_zero_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="scale must not be 0"):
        load_kernel(str(write(tmp_path / "k.mat", "2 1 0\n1 1\n")))


def test_header_like_first_line_with_wrong_rows_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "k.mat", "3 3\n1 2 3\n4 5 6\n")
    with pytest.raises(KernelError) as info:
        load_kernel(str(path))
    message = str(info.value)
    assert "line 2 has 3 values but line 1 has 2" in message
    assert "libvips header" in message
    assert "exactly 3 rows of 3 values" in message


def test_unknown_extension_is_read_as_text(tmp_path: Path) -> None:
    assert load_kernel(str(write(tmp_path / "k.kern", "1 0\n0 -1\n"))).shape == (2, 2)


def test_path_object_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "my kernel.txt", "1 2 1\n")
    k = load_kernel(path)
    assert k.weights.tolist() == [[1, 2, 1]]
    assert k.name == "my kernel.txt"


def test_missing_path_object_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="kernel file not found"):
        load_kernel(tmp_path / "sharpen")


def test_directory_path_object_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match="is a directory"):
        load_kernel(tmp_path)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("1 2 3\n4 5\n", ["line 2 has 2 values but line 1 has 3"]),
        ("# c\n1 2 3\n\n4 5 x\n", ["line 4, column 3: the value is not a number"]),
        ("1 2\n3 nan\n", ["line 2, column 2", "finite"]),
        ("1 2\n3 -inf\n", ["line 2, column 2", "finite"]),
        ("# only a comment\n\n", ["no numbers found"]),
        ("", ["no numbers found"]),
        ("1;2\n", ["line 1, column 1: the value is not a number"]),
    ],
)
def test_bad_text_files(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(KernelError) as info:
        load_kernel(str(path))
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_binary_mat_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "matlab.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file\x00\xff\xfe\x00\x01")
    with pytest.raises(KernelError, match="not a text kernel file"):
        load_kernel(str(path))


def test_toml_2d_with_all_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mine.toml",
        'name = "my-edge"\ncategory = "edge"\ndescription = "d"\nreference = "r"\n'
        "weights = [[1, 0], [0, -1.5]]\nscale = 0.5\noffset = 10\nanchor = [0, 1]\n",
    )
    k = load_kernel(str(path))
    assert k.name == "my-edge"
    assert k.category == "edge"
    assert (k.description, k.reference) == ("d", "r")
    assert k.weights.tolist() == [[1, 0], [0, -1.5]]
    assert (k.scale, k.offset) == (0.5, 10.0)
    assert k.anchor == (0, 1)
    assert k.source == f"file:{path}"


def test_toml_defaults(tmp_path: Path) -> None:
    k = load_kernel(str(write(tmp_path / "plain.toml", "weights = [[1, 2, 1]]\n")))
    assert k.name == "plain.toml"
    assert (k.category, k.scale, k.offset, k.anchor) == ("other", 1.0, 0.0, None)


def test_toml_3d_and_4d(tmp_path: Path) -> None:
    k3 = load_kernel(str(write(tmp_path / "k3.toml", "weights = [[[1, 2]], [[3, 4]], [[5, 6]]]\n")))
    assert k3.shape == (3, 1, 2)
    assert k3.weights[2, 0, 1] == 6
    k4 = load_kernel(
        str(write(tmp_path / "k4.toml", "weights = [[[[0.25]], [[0.5]]], [[[1]], [[-1]]]]\n"))
    )
    assert k4.shape == (2, 2, 1, 1)
    assert k4.weights[:, :, 0, 0].tolist() == [[0.25, 0.5], [1, -1]]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('name = "x"\n', ["`weights` key is missing"]),
        ("weights = [[1, 2], [3]]\n", ["row 2 has 1 value but row 1 has 2 values"]),
        ('weights = [[1, "a"]]\n', ["row 1, column 2 is 'a', not a number"]),
        ("weights = [[1, true]]\n", ["row 1, column 2 is True, not a number"]),
        ("weights = [[1, nan]]\n", ["row 1, column 2", "finite"]),
        ("weights = [[1, inf]]\n", ["row 1, column 2", "finite"]),
        ("weights = [1, 2, 3]\n", ["2-D, 3-D or 4-D", "1 level"]),
        ("weights = [[[[[1]]]]]\n", ["2-D, 3-D or 4-D", "more than 4"]),
        ("weights = []\n", ["empty"]),
        ("weights = [[]]\n", ["empty"]),
        ("weights = 3\n", ["nested list"]),
        ("weights = [[[1], [2]], [[3]]]\n", ["weights[1] has 1 value but weights[0] has 2 values"]),
        ("weights = [[[1, 2], [3, 4]], [[5, 6], [7]]]\n", ["weights[1][1] has 1 value"]),
        ("weights = [[1]]\nscal = 2\n", ["unknown key 'scal'"]),
        ('weights = [[1]]\ncategory = "fancy"\n', ["`category` must be one of", "'fancy'"]),
        ("weights = [[1]]\nname = 3\n", ["`name` must be a string"]),
        ('weights = [[1]]\nscale = "2"\n', ["`scale` must be a number"]),
        ("weights = [[1]]\noffset = nan\n", ["`offset` must be a finite number"]),
        ("weights = [[1, 2]]\nanchor = [0, 2]\n", ["`anchor`", "outside"]),
        ("weights = [[1, 2]]\nanchor = [0]\n", ["`anchor` must be two integers"]),
        ("weights = [[1, 2]]\nanchor = [0.0, 1.0]\n", ["`anchor` must be two integers"]),
        ("weights = [[1, 2]\n", ["invalid TOML"]),
    ],
)
def test_bad_toml_files(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(KernelError) as info:
        load_kernel(str(path))
    message = str(info.value)
    assert "\n" not in message or "invalid TOML" in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    "shape", [(3, 3), (2, 5), (3, 3, 3), (2, 3, 1, 4)], ids=["2d", "2d-even", "3d", "4d"]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8])
def test_npy_files(tmp_path: Path, shape: tuple[int, ...], dtype: type) -> None:
    arr = np.arange(math.prod(shape)).reshape(shape).astype(dtype)
    path = tmp_path / "k.npy"
    np.save(path, arr)
    k = load_kernel(str(path))
    assert k.shape == shape
    assert k.weights.dtype == np.float64
    np.testing.assert_array_equal(k.weights, arr.astype(np.float64))
    assert k.name == "k.npy"


@pytest.mark.parametrize(
    ("arr", "fragment"),
    [
        (np.ones(3), "got 1-D"),
        (np.ones((1, 1, 1, 1, 2)), "got 5-D"),
        (np.ones((2, 2), dtype=complex), "real numbers"),
        (np.ones((2, 2), dtype=bool), "real numbers"),
        (np.array([[1.0, np.nan]]), "row 1, column 2"),
        (np.array([[[1.0, np.inf]]]), "weights[0][0][1]"),
        (np.ones((0, 3)), "empty"),
        (np.ones((1, MAX_KERNEL_SIDE + 1)), "too large"),
    ],
)
def test_bad_npy_files(tmp_path: Path, arr: np.ndarray, fragment: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, arr)
    with pytest.raises(KernelError) as info:
        load_kernel(str(path))
    assert fragment in str(info.value)


def test_npy_with_pickled_objects_or_garbage_is_refused(tmp_path: Path) -> None:
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(KernelError, match="not a readable .npy"):
        load_kernel(str(obj))
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not numpy at all")
    with pytest.raises(KernelError, match="not a readable .npy"):
        load_kernel(str(junk))
    npz = tmp_path / "arch.npy"
    with npz.open("wb") as fh:
        np.savez(fh, a=np.ones((2, 2)))
    with pytest.raises(KernelError, match="npz"):
        load_kernel(str(npz))


def test_edited_file_is_reloaded(tmp_path: Path) -> None:
    path = write(tmp_path / "k.txt", "1 2\n")
    assert load_kernel(str(path)).weights.tolist() == [[1, 2]]
    write(path, "3 4 5\n")
    os.utime(path, ns=(1, 1))
    assert load_kernel(str(path)).weights.tolist() == [[3, 4, 5]]


# --------------------------------------------------------------------------- Kernel object


def test_kernel_defaults_and_properties() -> None:
    k = Kernel("k", np.array([[1, 2, 3], [4, 5, 6]]), scale=2)
    assert k.shape == (2, 3)
    assert k.weights.dtype == np.float64
    assert (k.scale, k.offset, k.category, k.anchor) == (2.0, 0.0, "other", None)
    assert k.effective_anchor == (1, 1)
    assert k.effective_weights.tolist() == [[2, 4, 6], [8, 10, 12]]
    assert Kernel("e", np.ones((2, 4))).effective_anchor == (1, 2)
    assert Kernel("d", np.ones((2, 3, 5, 4))).effective_anchor == (2, 2)


def test_kernel_weights_are_a_read_only_copy() -> None:
    src = np.ones((3, 3))
    k = Kernel("k", src)
    src[0, 0] = 5
    assert k.weights[0, 0] == 1
    with pytest.raises(ValueError, match="read-only"):
        k.weights[0, 0] = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.scale = 3.0  # type: ignore[misc]
    ew = k.effective_weights
    ew[0, 0] = 7  # a fresh array, the kernel is untouched
    assert k.weights[0, 0] == 1


def test_kernel_equality_hash_and_repr() -> None:
    a = Kernel("k", np.eye(3), category="edge")
    b = Kernel("k", np.eye(3), category="edge")
    c = Kernel("k", np.eye(3) * 2, category="edge")
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert a != "k"
    assert "shape=(3, 3)" in repr(a)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"weights": np.ones(3)}, "got 1-D"),
        ({"weights": np.ones((1, 1, 1, 1, 1))}, "got 5-D"),
        ({"weights": np.array([["a"]])}, "real numbers"),
        ({"weights": np.array([[1, np.nan]])}, "row 1, column 2"),
        ({"weights": np.ones((0, 2))}, "empty"),
        ({"weights": np.zeros((1, MAX_KERNEL_SIDE + 1))}, "too large"),
        ({"weights": np.ones((2, 2)), "category": "fun"}, "`category` must be one of"),
        ({"weights": np.ones((2, 2)), "scale": math.inf}, "`scale` must be a finite"),
        ({"weights": np.ones((2, 2)), "offset": math.nan}, "`offset` must be a finite"),
        ({"weights": np.ones((2, 3)), "anchor": (2, 0)}, "outside"),
        ({"weights": np.ones((2, 3)), "anchor": (0, -1)}, "outside"),
        ({"weights": np.ones((2, 3)), "anchor": (0,)}, "two integers"),
    ],
)
def test_kernel_validation(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(KernelError) as info:
        Kernel(name="bad", **kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_too_many_taps_is_refused_without_allocating() -> None:
    big = np.broadcast_to(np.float64(1.0), (1001, 1000, 4, 4))  # 16.016e6 taps, no memory
    with pytest.raises(KernelError, match=str(MAX_KERNEL_TAPS)):
        Kernel("big", big)


# --------------------------------------------------------------------------- transformed


def test_transformed_folds_scale_and_keeps_metadata() -> None:
    k = load_kernel("gaussian-3x3")
    t = k.transformed()
    assert t.scale == 1.0
    np.testing.assert_allclose(t.weights, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    assert (t.name, t.category, t.offset, t.source, t.reference) == (
        k.name,
        k.category,
        k.offset,
        k.source,
        k.reference,
    )
    np.testing.assert_array_equal(t.effective_weights, t.weights)


def test_transformed_normalize_and_scale() -> None:
    k = Kernel("k", np.array([[1.0, 3.0]]), scale=2.0)
    assert k.transformed(normalize=True).weights.tolist() == [[0.25, 0.75]]
    assert k.transformed(normalize=True, scale=4).weights.tolist() == [[1.0, 3.0]]
    assert k.transformed(scale=0.5).weights.tolist() == [[1.0, 3.0]]
    np.testing.assert_allclose(
        load_kernel("1,1,1;1,1,1;1,1,1").transformed(normalize=True).weights, np.full((3, 3), 1 / 9)
    )


def test_transformed_normalize_4d_per_output_channel() -> None:
    w = np.array([[[[1.0, 3.0]], [[0.0, 4.0]]], [[[2.0, 2.0]], [[-1.0, 1.0]]]])  # (2, 2, 1, 2)
    t = Kernel("mix", w).transformed(normalize=True)
    np.testing.assert_allclose(t.weights[0], w[0] / 8)
    np.testing.assert_allclose(t.weights[1], w[1] / 4)


def test_transformed_normalize_3d_uses_the_total_sum() -> None:
    w = np.array([[[1.0]], [[3.0]]])
    assert Kernel("c", w).transformed(normalize=True).weights.ravel().tolist() == [0.25, 0.75]


@pytest.mark.parametrize("spec", ["sobel-x", "laplacian", "emboss", "log"])
def test_normalizing_a_zero_sum_kernel_is_an_error(spec: str) -> None:
    with pytest.raises(KernelError, match="sum to 0"):
        load_kernel(spec).transformed(normalize=True)


def test_normalizing_4d_with_a_zero_sum_channel_names_it() -> None:
    w = np.array([[[[1.0]], [[1.0]]], [[[1.0]], [[-1.0]]]])
    with pytest.raises(KernelError, match="output channel 1"):
        Kernel("mix", w).transformed(normalize=True)


def test_transformed_flip_reverses_the_last_two_axes() -> None:
    k = load_kernel("1,2,3; 4,5,6")
    assert k.transformed(flip=True).weights.tolist() == [[6, 5, 4], [3, 2, 1]]
    k4 = Kernel("k4", np.arange(8.0).reshape(2, 1, 2, 2))
    np.testing.assert_array_equal(
        k4.transformed(flip=True).weights, [[[[3, 2], [1, 0]]], [[[7, 6], [5, 4]]]]
    )
    assert k.transformed(flip=True).anchor == (0, 1)  # kh = 2 is even: (1, 1) -> (0, 1)
    odd = load_kernel("1,2,3; 4,5,6; 7,8,9").transformed(flip=True)
    assert odd.weights.tolist() == [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    assert odd.anchor is None  # odd-sized default stays default


def test_transformed_flip_moves_the_anchor() -> None:
    k = load_kernel("3x2+0+0: 1 2 3 4 5 6")
    assert k.anchor == (0, 0)
    t = k.transformed(flip=True)
    assert t.weights.tolist() == [[6, 5, 4], [3, 2, 1]]
    assert t.anchor == (1, 2)
    assert t.transformed(flip=True).anchor == (0, 0)
    # Even-sized default anchor (1, 1) of a 2x2 moves to (0, 0), as scipy.ndimage.convolve.
    assert load_kernel("1,2;3,4").transformed(flip=True).anchor == (0, 0)
    assert load_kernel("1,2,3").transformed(flip=True).anchor is None


def test_flip_with_moved_anchor_matches_scipy_convolve() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 7))
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = Kernel("k", w).transformed(flip=True)
    ay, ax = t.effective_anchor
    # Correlate with the flipped kernel around its anchor, written out with explicit loops.
    padded = np.pad(x, 2, mode="symmetric")
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for p in range(2):
                for q in range(2):
                    out[i, j] += t.weights[p, q] * padded[i + p - ay + 2, j + q - ax + 2]
    np.testing.assert_allclose(out, ndimage.convolve(x, w, mode="reflect"), atol=1e-12)


# --------------------------------------------------------------------------- to_toml


def round_trip(k: Kernel, folder: Path) -> Kernel:
    path = folder / "saved.toml"
    path.write_text(k.to_toml(), encoding="utf-8")
    return load_kernel(str(path))


@pytest.mark.parametrize(
    "spec",
    ["sobel-x", "smooth", "contour", "grayscale", "sepia", "gaussian:sigma=1.3", "motion:7,33",
     "3x2+2+1: 1 2 3 4 5 6", "0.1, 1e-300; -7.5e+200, 0"],
)  # fmt: skip
def test_to_toml_round_trips(tmp_path: Path, spec: str) -> None:
    k = load_kernel(spec)
    back = round_trip(k, tmp_path)
    assert back.source.startswith("file:")
    assert dataclasses.replace(back, source=k.source) == k


def test_to_toml_escapes_strings(tmp_path: Path) -> None:
    k = Kernel(
        'a "quoted" \\ name',
        np.ones((1, 2)),
        description="line1\nline2\ttab \x7f é ✓",
        reference="r",
        category="blur",
        anchor=(0, 1),
    )
    back = round_trip(k, tmp_path)
    assert dataclasses.replace(back, source="") == k


def test_to_toml_text_is_the_preset_format() -> None:
    text = Kernel("k", np.array([[1.0, 0.5]]), scale=0.25, offset=3.0, category="edge").to_toml()
    data = tomllib.loads(text)
    assert data == {
        "name": "k",
        "category": "edge",
        "description": "",
        "weights": [[1, 0.5]],
        "scale": 0.25,
        "offset": 3.0,
    }


def test_every_listed_preset_round_trips(tmp_path: Path) -> None:
    for k in list_kernels():
        back = round_trip(k, tmp_path)
        assert dataclasses.replace(back, source=k.source) == k, k.name


# --------------------------------------------------------------------------- registry


def test_list_kernels_has_files_and_generators_sorted() -> None:
    kernels = list_kernels()
    names = [k.name for k in kernels]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert set(PRESET_NAMES) <= set(names)
    for gen in ("gaussian", "motion", "log", "unsharp"):
        assert gen in names
    by_name = {k.name: k for k in kernels}
    assert by_name["box"].source == "builtin"  # the file hides the generator
    assert by_name["gaussian"].source == "builtin generator"
    assert by_name["gaussian"].shape == (7, 7)
    assert all(k.category in CATEGORIES and k.description for k in kernels)
    assert len(kernels) == len(PRESET_NAMES) + 4


USER_SHARPEN = (
    'category = "sharpen"\ndescription = "mine"\nweights = [[0, -2, 0], [-2, 9, -2], [0, -2, 0]]\n'
)


def test_user_preset_overrides_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "sharpen.toml", USER_SHARPEN)
    write(tmp_path / "My_Blur.toml", 'category = "blur"\nweights = [[0.5, 0.5]]\n')
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    k = load_kernel("sharpen")
    assert k.weights.tolist() == [[0, -2, 0], [-2, 9, -2], [0, -2, 0]]
    assert k.source == f"user:{tmp_path}"
    assert k.description == "mine"
    mine = load_kernel("my-blur")
    assert mine.name == "My_Blur"
    assert mine.weights.tolist() == [[0.5, 0.5]]
    listed = {k.name: k for k in list_kernels()}
    assert listed["sharpen"].source == f"user:{tmp_path}"
    assert listed["My_Blur"].source == f"user:{tmp_path}"
    assert listed["sobel-x"].source == "builtin"
    assert [label for label, _ in kernel_search_path()] == ["builtin", f"user:{tmp_path}"]
    # The name key inside a preset file does not rename it: the file name does.
    write(tmp_path / "other.toml", 'name = "sobel-x"\nweights = [[2]]\n')
    assert load_kernel("other").weights.tolist() == [[2]]
    assert load_kernel("sobel-x").source == "builtin"
    monkeypatch.delenv(config.KERNEL_PATH_ENV)
    assert load_kernel("sharpen").source == "builtin"
    with pytest.raises(KernelError, match="unknown kernel"):
        load_kernel("my-blur")


def test_first_user_folder_wins_and_missing_folders_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first / "k.toml", "weights = [[1]]\n")
    write(second / "k.toml", "weights = [[2]]\n")
    write(second / "only-b.toml", "weights = [[3]]\n")
    paths = [str(tmp_path / "missing"), str(first), "", str(second)]
    monkeypatch.setenv(config.KERNEL_PATH_ENV, os.pathsep.join(paths))
    assert load_kernel("k").weights.tolist() == [[1]]
    assert load_kernel("k").source == f"user:{first}"
    assert load_kernel("only-b").source == f"user:{second}"
    assert len(kernel_search_path()) == 4


def test_user_preset_added_later_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    with pytest.raises(KernelError):
        load_kernel("late")
    write(tmp_path / "late.toml", "weights = [[4]]\n")
    os.utime(tmp_path, ns=(10**18, 10**18))  # make sure the folder's mtime changes
    assert load_kernel("late").weights.tolist() == [[4]]


def test_user_preset_shadowing_a_generator_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "gaussian.toml", "weights = [[9]]\n")
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    assert load_kernel("gaussian").weights.tolist() == [[9]]
    assert load_kernel("gaussian:sigma=1").shape == (7, 7)  # params still go to the generator


def test_broken_user_preset_is_reported_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "broken.toml", "weights = [[1, 2], [3]]\n")
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    assert load_kernel("sobel-x").source == "builtin"  # unaffected
    with pytest.raises(KernelError, match="broken.toml"):
        list_kernels()
    with pytest.raises(KernelError, match=r"broken\.toml.*row 2 has 1 value"):
        load_kernel("broken")


def test_installed_layout_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kernels").mkdir()
    write(tmp_path / "kernels" / "only-installed.toml", "weights = [[5]]\n")
    monkeypatch.setattr(preset_index, "_PACKAGE_DIR", tmp_path)  # as if installed there
    assert kernel_search_path()[0] == ("builtin", tmp_path / "kernels")
    assert load_kernel("only-installed").weights.tolist() == [[5]]


# --------------------------------------------------------------------------- NumPy-free listing


def summary_of(k: Kernel) -> tuple[object, ...]:
    """What `kernels list` showed before preset_index existed, from the full Kernel."""
    return (k.name, k.category, k.shape, float(k.effective_weights.sum()), k.source, k.description)


def info_of(p: preset_index.PresetInfo) -> tuple[object, ...]:
    return (p.name, p.category, p.shape, p.weight_sum, p.source, p.description)


def toml_rows(arr: np.ndarray) -> str:
    return repr(arr.tolist())


@pytest.fixture
def user_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user folder whose presets shadow a file and a generator, with 3-D/4-D and large kernels."""
    rng = np.random.default_rng(7)
    write(tmp_path / "sharpen.toml", USER_SHARPEN)
    write(
        tmp_path / "My_Blur.toml", 'category = "blur"\nscale = 0.7\nweights = [[0.1, 0.2, 0.3]]\n'
    )
    write(
        tmp_path / "gaussian.toml",
        f"scale = 0.1\nanchor = [0, 1]\nweights = {toml_rows(rng.uniform(-1, 1, (3, 2, 2)))}\n",
    )
    write(
        tmp_path / "mix.toml",
        f'category = "color"\nweights = {toml_rows(rng.uniform(0, 1, (3, 3, 1, 1)))}\n',
    )
    # 37 x 41 = 1517 taps: several levels of numpy's pairwise summation
    write(
        tmp_path / "big.toml",
        f'description = "random"\nscale = 0.3\noffset = 4\n'
        f"weights = {toml_rows(rng.normal(0, 1e3, (37, 41)))}\n",
    )
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    return tmp_path


def test_list_presets_matches_list_kernels_for_builtin_presets() -> None:
    infos = preset_index.list_presets()
    assert [info_of(p) for p in infos] == [summary_of(k) for k in list_kernels()]


def test_list_presets_matches_list_kernels_with_user_presets(user_presets: Path) -> None:
    infos = {p.name: p for p in preset_index.list_presets()}
    assert infos["gaussian"].source == f"user:{user_presets}"  # the file hides the generator
    assert infos["mix"].shape == (3, 3, 1, 1)
    assert [info_of(p) for p in infos.values()] == [summary_of(k) for k in list_kernels()]


def test_generator_defaults_match_the_generators() -> None:
    defaults = preset_index._GENERATOR_DEFAULTS
    assert set(defaults) == set(kmod.GENERATORS)
    for name, info in defaults.items():
        k = load_kernel(f"{name}:")  # the generator with its default parameters
        assert info.name == name
        assert (info.category, info.shape, info.source, info.description) == (
            k.category,
            k.shape,
            k.source,
            k.description,
        ), name
        # Frozen from this machine's NumPy; np.exp may round differently elsewhere.
        assert info.weight_sum == pytest.approx(float(k.effective_weights.sum()), abs=1e-12), name


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("weights = [[1, 2], [3]]\n", "row 2 has 1 value"),
        ('weights = [[1]]\ncategory = "nope"\n', "`category` must be one of"),
        ("weights = [[1, 2]]\nanchor = [5, 0]\n", "`anchor` (row 5, col 0) lies outside"),
        ('weights = [[1]]\nscale = "x"\n', "`scale` must be a number"),
        ("weights = [[1]]\nfoo = 1\n", "unknown key 'foo'"),
        ("weights = [[1, 2]\n", "invalid TOML"),
        ("weights = [[nan]]\n", "weights must be finite numbers"),
        ('name = "x"\n', "the `weights` key is missing"),
    ],
)
def test_list_presets_rejects_broken_files_like_list_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, fragment: str
) -> None:
    write(tmp_path / "broken.toml", text)
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    with pytest.raises(KernelError) as full:
        list_kernels()
    with pytest.raises(KernelError) as fast:
        preset_index.list_presets()
    assert str(fast.value) == str(full.value)
    assert fragment in str(fast.value)
    assert "broken.toml" in str(fast.value)


@given(
    arr=hnp.arrays(
        np.float64,
        st.one_of(
            hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6),
            st.tuples(st.integers(1, 40), st.integers(1, 60)),
        ),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64),
    ),
    scale=st.one_of(st.just(1.0), st.floats(-1e3, 1e3, allow_nan=False, width=64)),
)
def test_weight_sum_is_numpy_sum_bit_for_bit(arr: np.ndarray, scale: float) -> None:
    want = float(np.multiply(arr, scale, dtype=np.float64).sum())
    got = presets.weight_sum(arr.ravel().tolist(), scale)
    assert repr(got) == repr(want)  # same bits, sign of zero included (JSON prints it)


def test_weight_sum_is_not_a_left_to_right_sum() -> None:
    values = [0.1] * 10  # 8 running sums, then the rest: not what sum() gets
    assert presets.weight_sum(values) == float(np.sum(values)) == 1.0
    assert sum(values) != 1.0
    assert repr(presets.weight_sum([0.0] * 9, -1.0)) == repr(float(np.sum(np.zeros(9) * -1)))


# --------------------------------------------------------------------------- properties

finite_floats = st.floats(
    min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False, width=64
)


@given(
    arr=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
        elements=finite_floats,
    ),
    value_sep=st.sampled_from([",", ", ", " ", "  ", " , "]),
    row_sep=st.sampled_from([";", "; ", " ;", " ; "]),
)
def test_formatted_matrix_parses_back(arr: np.ndarray, value_sep: str, row_sep: str) -> None:
    text = row_sep.join(value_sep.join(repr(float(v)) for v in row) for row in arr)
    k = load_kernel(text)
    np.testing.assert_array_equal(k.weights, arr)
    assert k.shape == arr.shape


@given(
    arr=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4),
        elements=finite_floats,
    ),
    data=st.data(),
)
def test_imagemagick_string_parses_back(arr: np.ndarray, data: st.DataObject) -> None:
    h, w = arr.shape
    x = data.draw(st.integers(0, w - 1))
    y = data.draw(st.integers(0, h - 1))
    text = f"{w}x{h}+{x}+{y}: " + ", ".join(repr(float(v)) for v in arr.ravel())
    k = load_kernel(text)
    np.testing.assert_array_equal(k.weights, arr)
    assert k.anchor == (y, x)


@given(
    arr=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=64),
    ),
    scale=finite_floats,
    offset=finite_floats,
)
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_to_toml_round_trip_property(
    tmp_path: Path, arr: np.ndarray, scale: float, offset: float
) -> None:
    k = Kernel("prop", arr, scale=scale, offset=offset, category="other")
    back = round_trip(k, tmp_path)
    assert dataclasses.replace(back, source="") == k


JUNK_ALPHABET = string.digits + ".,;:xX+-eE #=/_abcgnsiz\t\n" + "\x00é~"


@given(
    spec=st.one_of(
        st.text(alphabet=JUNK_ALPHABET, max_size=30),
        st.text(max_size=30),
        st.builds(
            lambda name, params: f"{name}:{params}",
            st.sampled_from(["gaussian", "box", "motion", "log", "unsharp", "sobel-x", "nope"]),
            st.text(alphabet=string.digits + ".,=-+xe sigmazlnthaou", max_size=20),
        ),
    )
)
@settings(max_examples=400)
def test_junk_specs_parse_or_raise_kernel_error(spec: str) -> None:
    with tempfile.TemporaryDirectory() as empty, contextlib.chdir(empty):
        try:
            k = load_kernel(spec)
        except KernelError as exc:
            message = str(exc)
        else:
            assert isinstance(k, Kernel)
            assert np.isfinite(k.effective_weights).all()
            return
    assert message
    assert "\n" not in message


# --------------------------------------------------------------------------- one generator table


def test_every_generator_in_the_table_has_weights_and_texts_from_it() -> None:
    from convcli.kernelspec.generators import GENERATOR_FUNCS

    assert list(GENERATOR_FUNCS) == list(presets.GENERATOR_SPECS) == list(presets.GENERATORS)
    for name, spec in presets.GENERATOR_SPECS.items():
        k = load_kernel(f"{name}:")  # the generator even where a preset file has its name
        assert (k.category, k.reference) == (spec.category, spec.reference)
        assert k.source == presets.GENERATOR_SOURCE
        assert k.description == spec.default_description()
        # every parameter of the table is accepted, by keyword and in positional order
        by_key = load_kernel(f"{name}:" + ",".join(f"{p}=3" for p in spec.params))
        by_place = load_kernel(f"{name}:" + ",".join("3" for _ in spec.params))
        assert dataclasses.replace(by_key, name="") == dataclasses.replace(by_place, name="")


def test_generator_defaults_are_read_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = presets.GENERATOR_SPECS["gaussian"]
    monkeypatch.setitem(
        presets.GENERATOR_SPECS, "gaussian", dataclasses.replace(spec, defaults={"sigma": 2.0})
    )
    k = load_kernel("gaussian")
    assert k.shape == (13, 13)
    assert k.description == "Gaussian blur, sigma=2, 13x13, normalized to sum 1"
    motion = presets.GENERATOR_SPECS["motion"]
    monkeypatch.setitem(
        presets.GENERATOR_SPECS,
        "motion",
        dataclasses.replace(motion, defaults={"length": 5, "angle": 90.0}),
    )
    assert load_kernel("motion:").shape == (5, 1)


def test_search_path_comes_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "from-config.toml", "weights = [[7]]\n")
    monkeypatch.setattr(config, "kernel_path_entries", lambda: [str(tmp_path)])
    assert kernel_search_path()[1:] == [(f"user:{tmp_path}", tmp_path)]
    assert load_kernel("from-config").weights.tolist() == [[7]]


# --------------------------------------------------------------------------- applied scale


@pytest.mark.parametrize(
    ("spec", "normalize", "scale"),
    [
        ("box", False, 1.0),
        ("box", True, 2.0),
        ("1,3", True, 2.0),
        ("1,2; 3,4", False, -0.5),
        ("gaussian:sigma=0.7", True, 3.0),
    ],
)
def test_applied_scale_is_the_factor_on_the_weights_as_written(
    spec: str, normalize: bool, scale: float
) -> None:
    k = load_kernel(spec)
    factor = k.applied_scale(normalize=normalize, scale=scale)
    applied = k.transformed(normalize=normalize, scale=scale).weights
    np.testing.assert_allclose(k.weights * factor, applied, rtol=1e-12, atol=0)


def test_applied_scale_values() -> None:
    k = Kernel("two", np.array([[1.0, 3.0]]), scale=0.5)
    assert k.applied_scale() == 0.5
    assert k.applied_scale(scale=4.0) == 2.0
    assert k.applied_scale(normalize=True, scale=2.0) == 0.5  # 0.5 * 2 / (0.5 * 4)


def test_applied_scale_leaves_per_channel_normalizing_of_4d_kernels_out() -> None:
    k = Kernel("mix", np.arange(1.0, 9.0).reshape(2, 1, 2, 2), scale=0.25)
    assert k.applied_scale(normalize=True, scale=2.0) == 0.5


def test_applied_scale_refuses_what_transformed_refuses() -> None:
    k = load_kernel("sobel-x")
    with pytest.raises(KernelError) as fast:
        k.applied_scale(normalize=True)
    with pytest.raises(KernelError) as full:
        k.transformed(normalize=True)
    assert str(fast.value) == str(full.value)
    assert "sum to 0" in str(fast.value)
    with pytest.raises(KernelError, match="`scale` must be a finite number"):
        k.applied_scale(scale=math.inf)
