"""16-bit colour end to end (SPEC section 4): PNG and TIFF in, PNG, TIFF and .npy out.

Inputs are written with the field's encoders (imagecodecs' libpng, tifffile), outputs are
read back with the naive PNG reader of tests/helpers.py and tifffile; expected values come
from scipy.ndimage.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import scipy.ndimage as ndi
import tifffile

from convcli.images import load_image, read_shape
from tests.helpers import naive_read_png

BOX3 = np.full((3, 3), 1 / 9)


def wide_pixels(channels: int, h: int = 9, w: int = 11) -> np.ndarray:
    rng = np.random.default_rng(channels)
    x = rng.integers(0, 65536, (h, w, channels)).astype(np.uint16)
    x[0, 0] = 65535
    x[0, 1] = 1  # values no 8-bit image holds
    return x


def box3_reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.stack([ndi.correlate(x[..., c], BOX3, mode="reflect") for c in range(x.shape[2])], -1)


def write_png16(path: Path, x: np.ndarray) -> Path:
    path.write_bytes(imagecodecs.png_encode(x[..., 0] if x.shape[2] == 1 else x))
    return path


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16_bit_colour_png_loads_as_uint16(tmp_path, channels):
    x = wide_pixels(channels)
    img = load_image(write_png16(tmp_path / "in.png", x))
    assert img.pixels.dtype == np.uint16 and img.max_value == 65535
    assert img.has_alpha == (channels in (2, 4))
    np.testing.assert_array_equal(img.pixels, x)
    assert read_shape(tmp_path / "in.png") == x.shape


@pytest.mark.parametrize("out_ext", [".png", ".tif", ".npy"])
@pytest.mark.parametrize("in_ext", [".png", ".tif"])
def test_16_bit_rgb_stays_16_bit_through_filter(tmp_path, run_cli, in_ext, out_ext):
    x = wide_pixels(3)
    src = tmp_path / f"in{in_ext}"
    if in_ext == ".png":
        write_png16(src, x)
    else:
        tifffile.imwrite(src, x, photometric="rgb")
    out = tmp_path / f"out{out_ext}"
    code, _, err = run_cli("filter", src, "-k", "box:3", "--precision", "float64", "-o", out)
    assert code == 0, err
    assert "8-bit" not in err
    want = box3_reference(x)
    if out_ext == ".npy":
        np.testing.assert_allclose(np.load(out), want, atol=1e-6)
        return
    got = naive_read_png(out.read_bytes())[0] if out_ext == ".png" else tifffile.imread(out)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, np.clip(np.rint(want), 0, 65535).astype(np.uint16))


def test_16_bit_rgba_png_keeps_alpha_and_16_bits(tmp_path, run_cli):
    x = wide_pixels(4)
    x[..., 3] = 65535
    src = write_png16(tmp_path / "in.png", x)
    code, _, err = run_cli(
        "filter", src, "-k", "box:3", "--precision", "float64", "-o", tmp_path / "o.png"
    )
    assert code == 0, err
    got = naive_read_png((tmp_path / "o.png").read_bytes())[0]
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got[..., 3], x[..., 3])
    np.testing.assert_array_equal(
        got[..., :3], np.rint(box3_reference(x[..., :3])).astype(np.uint16)
    )


def test_float_planar_multipage_tiff_is_read_with_tifffile(tmp_path):
    # Like scikit-image's multipage_rgb.tif: float, planar, several pages; Pillow cannot decode it.
    pages = np.random.default_rng(0).random((2, 3, 5, 7)).astype(np.float32)
    src = tmp_path / "multipage_rgb.tif"
    with tifffile.TiffWriter(src) as tif:
        for page in pages:
            tif.write(page, photometric="rgb", planarconfig="separate")
    for frame in (0, 1):
        img = load_image(src, frame=frame)
        assert img.pixels.dtype == np.float32
        np.testing.assert_array_equal(img.pixels, np.moveaxis(pages[frame], 0, -1))
    assert read_shape(src) == (5, 7, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_orientation_tag_is_applied(tmp_path, dtype):
    x = wide_pixels(3, 4, 6).astype(dtype)
    src = tmp_path / "o.tif"
    tifffile.imwrite(src, x, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    img = load_image(src)
    np.testing.assert_array_equal(img.pixels, np.rot90(x, -1))  # 6: rotate 90 clockwise
    assert read_shape(src) == (6, 4, 3)


def test_16_bit_rgb_gaussian_equals_imagemagicks_own_output(tmp_path, run_cli):
    # Both files made by ImageMagick 6.9 (commands in tests/data/README.md).
    data = Path(__file__).parent / "data"
    out = tmp_path / "o.png"
    code, _, err = run_cli("filter", data / "im_gradient48.png", "-k", "Gaussian:0x2", "-o", out)
    assert code == 0, err
    ours = naive_read_png(out.read_bytes())[0].astype(int)
    theirs = naive_read_png((data / "im_gradient48_gaussian0x2.png").read_bytes())[0].astype(int)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == (48, 64, 3)
    # Away from the border (where ImageMagick's virtual pixels differ) every 16-bit level agrees.
    np.testing.assert_array_equal(ours[8:-8, 8:-8], theirs[8:-8, 8:-8])


def test_all_frames_of_a_16_bit_colour_tiff_stay_16_bit(tmp_path, run_cli):
    pages = [wide_pixels(3) // (i + 1) for i in range(3)]
    src = tmp_path / "pages.tif"
    with tifffile.TiffWriter(src) as tif:
        for page in pages:
            tif.write(page, photometric="rgb")
    out = tmp_path / "out.tif"
    code, _, err = run_cli(
        "filter", src, "-k", "box:3", "--precision", "float64", "--all-frames", "-o", out
    )
    assert code == 0, err
    with tifffile.TiffFile(out) as tif:
        got = [p.asarray() for p in tif.pages]
    assert len(got) == 3
    for page, want in zip(got, pages, strict=True):
        assert page.dtype == np.uint16
        np.testing.assert_array_equal(page, np.rint(box3_reference(want)).astype(np.uint16))
