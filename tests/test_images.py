"""Tests for convcli.images: loading, saving, metadata, limits and atomic writes.

Expected values are built here from numpy arrays and Pillow primitives, never
taken from the module under test.
"""

from __future__ import annotations

import ast
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from PIL import Image, ImageCms

import convcli.images.png as png_writer
from convcli import config
from convcli.errors import ImageError, ImageTooLargeError, InputNotFoundError, OptionError
from convcli.images import (
    SUPPORTED_OUTPUT_EXTENSIONS,
    LoadedImage,
    atomic_write,
    default_max_pixels,
    load_image,
    output_format,
    read_shape,
    save_image,
)

LOSSLESS = (".png", ".tif", ".tiff", ".bmp", ".npy")
LOSSY = (".jpg", ".jpeg", ".webp")
ORIENTATION = 0x0112
MAKE = 0x010F


# --------------------------------------------------------------------------
# helpers


def smooth_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth colour ramps: lossy codecs reproduce them closely."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = xx * 255 // (w - 1)
    g = yy * 255 // (h - 1)
    b = 255 - (xx + yy) * 255 // (w + h - 2)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def blocks_rgb(h: int = 32, w: int = 48) -> np.ndarray:
    """Asymmetric pattern of flat 8-px blocks: every flip or rotation changes it."""
    a = np.zeros((h, w, 3), dtype=np.uint8)
    a[:8, :8] = (255, 0, 0)
    a[:8, -8:] = (0, 255, 0)
    a[-8:, :16] = (0, 0, 255)
    a[8:16, 16:24] = (255, 255, 255)
    return a


def no_temp_files(folder: Path, *keep: str) -> bool:
    return sorted(p.name for p in folder.iterdir()) == sorted(keep)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def header_only_png(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but whose pixel data is a stub."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------
# output_format


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.png", "PNG"),
        ("a.PNG", "PNG"),
        ("a.jpg", "JPEG"),
        ("a.jpeg", "JPEG"),
        ("a.tif", "TIFF"),
        ("a.TIFF", "TIFF"),
        ("a.webp", "WEBP"),
        ("a.bmp", "BMP"),
        ("a.npy", "NPY"),
    ],
)
def test_output_format_maps_extensions(name: str, fmt: str) -> None:
    assert output_format(name) == fmt


@pytest.mark.parametrize("name", ["out.pcx", "out", "out.png.txt"])
def test_unsupported_extension_lists_supported_ones(name: str) -> None:
    with pytest.raises(OptionError) as info:
        output_format(name)
    message = str(info.value)
    assert name in message
    for ext in SUPPORTED_OUTPUT_EXTENSIONS:
        assert ext in message
    assert info.value.exit_code == 2


def test_save_with_unsupported_extension_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(OptionError):
        save_image(tmp_path / "out.pcx", np.zeros((2, 2, 3), np.uint8))
    assert no_temp_files(tmp_path)


# --------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("ext", LOSSLESS)
def test_rgb_round_trip_lossless_is_exact(tmp_path: Path, ext: str) -> None:
    pixels = smooth_rgb()
    path = tmp_path / f"img{ext}"
    assert save_image(path, pixels) == []
    img = load_image(path)
    assert img.pixels.dtype == np.uint8
    assert img.max_value == 255
    assert not img.has_alpha
    np.testing.assert_array_equal(img.pixels, pixels)
    assert no_temp_files(tmp_path, path.name)


@pytest.mark.parametrize("ext", LOSSY)
def test_rgb_round_trip_lossy_is_close(tmp_path: Path, ext: str) -> None:
    pixels = smooth_rgb()
    path = tmp_path / f"img{ext}"
    assert save_image(path, pixels) == []
    img = load_image(path)
    assert img.shape == (48, 64, 3)
    diff = np.abs(img.pixels.astype(int) - pixels.astype(int))
    assert diff.mean() < 2.0
    assert diff.max() <= 16


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".npy"])
def test_gray_round_trip_keeps_one_channel(tmp_path: Path, ext: str) -> None:
    pixels = smooth_rgb()[:, :, :1].copy()
    path = tmp_path / f"g{ext}"
    assert save_image(path, pixels) == []
    img = load_image(path)
    assert img.shape == (48, 64, 1)
    np.testing.assert_array_equal(img.pixels, pixels)


def test_gray_jpeg_round_trip_is_close(tmp_path: Path) -> None:
    pixels = smooth_rgb()[:, :, 1:2].copy()
    save_image(tmp_path / "g.jpg", pixels)
    img = load_image(tmp_path / "g.jpg")
    assert img.shape == (48, 64, 1)
    assert np.abs(img.pixels.astype(int) - pixels).max() <= 4


def test_gray_webp_is_stored_as_rgb_with_a_note(tmp_path: Path) -> None:
    pixels = smooth_rgb()[:, :, 1:2].copy()
    notes = save_image(tmp_path / "g.webp", pixels)
    assert len(notes) == 1
    assert "RGB" in notes[0]
    img = load_image(tmp_path / "g.webp")
    assert img.shape == (48, 64, 3)
    assert np.abs(img.pixels.astype(int) - pixels).mean() < 2.0


def test_two_dimensional_pixels_save_as_gray(tmp_path: Path) -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    save_image(tmp_path / "g.png", pixels)
    img = load_image(tmp_path / "g.png")
    assert img.mode == "L"
    np.testing.assert_array_equal(img.pixels[:, :, 0], pixels)


@pytest.mark.parametrize("ext", [".png", ".tif", ".npy"])
@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_round_trip_is_exact(tmp_path: Path, ext: str, channels: int) -> None:
    pixels = np.zeros((6, 5, channels), dtype=np.uint8)
    pixels[..., 0] = np.arange(30).reshape(6, 5) * 8
    pixels[..., -1] = [[0, 64, 128, 200, 255]] * 6
    if channels == 4:
        pixels[..., 1] = 77
        pixels[..., 2] = 250
    path = tmp_path / f"a{ext}"
    save_image(path, pixels)
    img = load_image(path)
    assert img.has_alpha
    np.testing.assert_array_equal(img.pixels, pixels)


def test_rgba_webp_keeps_alpha(tmp_path: Path) -> None:
    pixels = np.concatenate([smooth_rgb(), np.full((48, 64, 1), 255, np.uint8)], axis=-1)
    pixels[:, :20, 3] = 0
    save_image(tmp_path / "a.webp", pixels)
    img = load_image(tmp_path / "a.webp")
    assert img.shape == (48, 64, 4)
    assert img.has_alpha
    np.testing.assert_array_equal(img.pixels[..., 3], pixels[..., 3])


# --------------------------------------------------------------------------
# modes


def test_rgb_loads_as_uint8_rgb(tmp_path: Path) -> None:
    Image.new("RGB", (5, 3), (10, 20, 30)).save(tmp_path / "c.png")
    img = load_image(tmp_path / "c.png")
    assert img.shape == (3, 5, 3)
    assert img.mode == "RGB"
    assert img.format == "PNG"
    assert img.path == str(tmp_path / "c.png")
    np.testing.assert_array_equal(img.pixels[1, 1], [10, 20, 30])
    assert img.alpha is None
    assert np.shares_memory(img.color, img.pixels)


def test_la_keeps_alpha_last(tmp_path: Path) -> None:
    Image.new("LA", (4, 2), (90, 33)).save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    assert img.shape == (2, 4, 2)
    assert img.has_alpha
    assert img.color.shape == (2, 4, 1)
    assert img.alpha is not None
    assert img.alpha.shape == (2, 4, 1)
    assert (img.color == 90).all()
    assert (img.alpha == 33).all()


def test_rgba_color_and_alpha_are_views(tmp_path: Path) -> None:
    Image.new("RGBA", (3, 3), (1, 2, 3, 4)).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.color.shape == (3, 3, 3)
    assert img.alpha is not None
    np.testing.assert_array_equal(img.alpha[..., 0], np.full((3, 3), 4))
    assert np.shares_memory(img.alpha, img.pixels)


def test_palette_loads_as_rgb(tmp_path: Path) -> None:
    palette = [0, 0, 0, 200, 10, 10, 10, 200, 10]
    im = Image.new("P", (3, 1))
    im.putpalette(palette)
    im.putdata([0, 1, 2])
    im.save(tmp_path / "p.png")
    img = load_image(tmp_path / "p.png")
    assert img.mode == "P"
    assert img.shape == (1, 3, 3)
    assert not img.has_alpha
    np.testing.assert_array_equal(img.pixels[0], [[0, 0, 0], [200, 10, 10], [10, 200, 10]])


def test_palette_with_transparency_loads_as_rgba(tmp_path: Path) -> None:
    im = Image.new("P", (3, 1))
    im.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10])
    im.putdata([0, 1, 2])
    im.save(tmp_path / "p.png", transparency=0)
    img = load_image(tmp_path / "p.png")
    assert img.shape == (1, 3, 4)
    assert img.has_alpha
    np.testing.assert_array_equal(img.pixels[0, :, 3], [0, 255, 255])
    np.testing.assert_array_equal(img.pixels[0, 1, :3], [200, 10, 10])


def test_gray_with_colour_key_gains_alpha(tmp_path: Path) -> None:
    im = Image.new("L", (3, 1))
    im.putdata([0, 7, 9])
    im.save(tmp_path / "k.png", transparency=7)
    img = load_image(tmp_path / "k.png")
    assert img.shape == (1, 3, 2)
    np.testing.assert_array_equal(img.pixels[0, :, 1], [255, 0, 255])


def test_cmyk_converts_to_rgb(tmp_path: Path) -> None:
    im = Image.new("CMYK", (4, 1))
    im.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)])
    im.save(tmp_path / "c.tif")
    img = load_image(tmp_path / "c.tif")
    assert img.mode == "CMYK"
    assert img.shape == (1, 4, 3)
    expected = [[255, 255, 255], [0, 255, 255], [255, 255, 0], [0, 0, 0]]
    np.testing.assert_array_equal(img.pixels[0], expected)


def test_bilevel_loads_as_0_and_255(tmp_path: Path) -> None:
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    img = load_image(tmp_path / "b.png")
    assert img.shape == (2, 3, 1)
    assert img.pixels.dtype == np.uint8
    np.testing.assert_array_equal(img.pixels[..., 0], bits * 255)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_sixteen_bit_gray_keeps_values_through_load_and_save(tmp_path: Path, ext: str) -> None:
    values = np.array([[0, 255, 256, 1000], [30000, 40000, 65534, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "in.png")
    img = load_image(tmp_path / "in.png")
    assert img.pixels.dtype == np.uint16
    assert img.max_value == 65535
    assert img.shape == (2, 4, 1)
    np.testing.assert_array_equal(img.pixels[..., 0], values)

    out = tmp_path / f"out{ext}"
    assert save_image(out, img.pixels, max_value=img.max_value) == []
    again = load_image(out)
    assert again.pixels.dtype == np.uint16
    np.testing.assert_array_equal(again.pixels[..., 0], values)


def test_float_tiff_loads_as_float32_in_8bit_units(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 127.25], [255.0, 300.5, -2.0]], dtype=np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    img = load_image(tmp_path / "f.tif")
    assert img.mode == "F"
    assert img.pixels.dtype == np.float32
    assert img.max_value == 255.0
    np.testing.assert_array_equal(img.pixels[..., 0], values)


def test_int32_tiff_loads_as_int32(tmp_path: Path) -> None:
    values = np.array([[0, 70000], [65535, 12]], dtype=np.int32)
    Image.fromarray(values).save(tmp_path / "i.tif")
    img = load_image(tmp_path / "i.tif")
    assert img.mode == "I"
    assert img.pixels.dtype == np.int32
    assert img.max_value == 65535
    np.testing.assert_array_equal(img.pixels[..., 0], values)


def test_multi_frame_reads_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img = load_image(tmp_path / "anim.gif")
    assert img.shape == (4, 4, 3)
    np.testing.assert_array_equal(img.pixels[0, 0], [255, 0, 0])


# --------------------------------------------------------------------------
# .npy inputs


@pytest.mark.parametrize(
    ("dtype", "loaded_dtype", "max_value"),
    [
        (np.uint8, np.uint8, 255),
        (np.uint16, np.uint16, 65535),
        (np.int32, np.int32, 65535),
        (np.float16, np.float32, 255.0),
        (np.float32, np.float32, 255.0),
        (np.float64, np.float64, 255.0),
    ],
)
def test_npy_dtypes(tmp_path: Path, dtype: type, loaded_dtype: type, max_value: float) -> None:
    values = (np.arange(12).reshape(3, 4) * 5).astype(dtype)
    np.save(tmp_path / "a.npy", values)
    img = load_image(tmp_path / "a.npy")
    assert img.format == "NPY"
    assert img.mode == "npy"
    assert img.pixels.dtype == loaded_dtype
    assert img.max_value == max_value
    assert img.shape == (3, 4, 1)
    np.testing.assert_array_equal(img.pixels[..., 0], values.astype(loaded_dtype))


@pytest.mark.parametrize(("channels", "alpha"), [(1, False), (2, True), (3, False), (4, True)])
def test_npy_channels_and_alpha(tmp_path: Path, channels: int, alpha: bool) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3, channels), dtype=np.uint8))
    img = load_image(tmp_path / "a.npy")
    assert img.shape == (2, 3, channels)
    assert img.has_alpha is alpha


def test_npy_many_channels_load_without_alpha(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 3, 7), dtype=np.float32))
    img = load_image(tmp_path / "a.npy")
    assert img.shape == (2, 3, 7)
    assert not img.has_alpha


def test_npy_big_endian_becomes_native(tmp_path: Path) -> None:
    values = np.array([[1, 300], [65535, 2]], dtype=">u2")
    np.save(tmp_path / "a.npy", values)
    img = load_image(tmp_path / "a.npy")
    assert img.pixels.dtype == np.uint16
    assert img.pixels.dtype.isnative
    np.testing.assert_array_equal(img.pixels[..., 0], [[1, 300], [65535, 2]])


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((3, 3), dtype=bool),
        np.zeros((3, 3), dtype=complex),
        np.zeros(5, dtype=np.uint8),
        np.zeros((2, 2, 2, 2), dtype=np.uint8),
        np.zeros((0, 3), dtype=np.uint8),
        np.array([[1.0, np.nan]]),
        np.array([[1.0, np.inf]]),
    ],
    ids=["bool", "complex", "1d", "4d", "empty", "nan", "inf"],
)
def test_npy_unusable_arrays_are_image_errors(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ImageError, match="bad.npy"):
        load_image(tmp_path / "bad.npy")


def test_npy_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="obj.npy"):
        load_image(tmp_path / "obj.npy")


def test_npy_truncated_is_image_error(tmp_path: Path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((50, 50), dtype=np.float64))
    path.write_bytes(path.read_bytes()[:500])
    assert read_shape(path) == (50, 50, 1)
    with pytest.raises(ImageError, match="t.npy"):
        load_image(path)


# --------------------------------------------------------------------------
# EXIF orientation

# What each EXIF orientation asks a viewer to do to the stored pixels, in numpy.
ORIENT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENT))
def test_exif_orientation_is_applied_png(tmp_path: Path, orientation: int) -> None:
    stored = blocks_rgb()
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "convcli-test"
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif)
    expected = ORIENT[orientation](stored)

    img = load_image(tmp_path / "o.png")
    np.testing.assert_array_equal(img.pixels, expected)
    assert read_shape(tmp_path / "o.png") == expected.shape


def test_exif_orientation_6_jpeg(tmp_path: Path) -> None:
    stored = blocks_rgb()
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "convcli-test"
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=100, subsampling=0)

    img = load_image(tmp_path / "o.jpg")
    expected = np.rot90(stored, -1)
    assert img.shape == (48, 32, 3)
    assert read_shape(tmp_path / "o.jpg") == (48, 32, 3)
    # Compare block centres (red, green, blue, white, background): away from
    # edges JPEG at quality 100 without chroma subsampling is nearly exact.
    for y, x in [(4, 28), (44, 28), (8, 4), (20, 20), (30, 10)]:
        assert np.abs(img.pixels[y, x].astype(int) - expected[y, x]).max() <= 8

    loaded_exif = Image.Exif()
    loaded_exif.load(img.info["exif"])
    assert ORIENTATION not in loaded_exif or loaded_exif[ORIENTATION] == 1
    assert loaded_exif[MAKE] == "convcli-test"


def test_exif_is_carried_without_rotating_twice(tmp_path: Path) -> None:
    stored = blocks_rgb()
    exif = Image.Exif()
    exif[ORIENTATION] = 8
    exif[MAKE] = "convcli-test"
    Image.fromarray(stored).save(tmp_path / "in.png", exif=exif)
    img = load_image(tmp_path / "in.png")
    save_image(tmp_path / "out.png", img.pixels, info=img.info)

    again = load_image(tmp_path / "out.png")
    np.testing.assert_array_equal(again.pixels, np.rot90(stored, 1))
    with Image.open(tmp_path / "out.png") as im:
        carried = im.getexif()
        assert carried.get(MAKE) == "convcli-test"
        assert carried.get(ORIENTATION, 1) == 1


def test_exif_orientation_in_caller_info_is_removed_on_save(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    save_image(tmp_path / "o.jpg", smooth_rgb(), info={"exif": exif.tobytes()})
    assert load_image(tmp_path / "o.jpg").shape == (48, 64, 3)


# --------------------------------------------------------------------------
# metadata


def test_dpi_and_icc_profile_are_carried(tmp_path: Path) -> None:
    icc = srgb_profile()
    Image.fromarray(smooth_rgb()).save(tmp_path / "in.png", dpi=(300, 300), icc_profile=icc)
    img = load_image(tmp_path / "in.png")
    assert img.info["icc_profile"] == icc
    for ext in (".png", ".jpg", ".tif"):
        out = tmp_path / f"out{ext}"
        assert save_image(out, img.pixels, info=img.info) == []
        with Image.open(out) as im:
            assert im.info.get("icc_profile") == icc
            assert round(float(im.info["dpi"][0])) == 300


def test_rgb_profile_is_not_put_on_a_gray_image(tmp_path: Path) -> None:
    notes = save_image(
        tmp_path / "g.png", np.zeros((4, 4, 1), np.uint8), info={"icc_profile": srgb_profile()}
    )
    assert len(notes) == 1
    assert "profile" in notes[0]
    with Image.open(tmp_path / "g.png") as im:
        assert "icc_profile" not in im.info


# --------------------------------------------------------------------------
# saving: channels, bit depth, alpha, floats


def test_five_channels_to_an_image_format_is_an_option_error(tmp_path: Path) -> None:
    with pytest.raises(OptionError) as info:
        save_image(tmp_path / "five.png", np.zeros((3, 3, 5), np.uint8))
    assert "5 channels" in str(info.value)
    assert ".npy" in str(info.value)
    assert no_temp_files(tmp_path)


def test_npy_saves_raw_values_any_channels(tmp_path: Path) -> None:
    values = np.linspace(-3.5, 400.25, 2 * 3 * 5).reshape(2, 3, 5)
    assert save_image(tmp_path / "raw.npy", values) == []
    back = np.load(tmp_path / "raw.npy")
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, values)


def test_npy_keeps_two_dimensional_shape(tmp_path: Path) -> None:
    values = np.array([[0.25, -1.0], [2.0, 3.0]], dtype=np.float32)
    save_image(tmp_path / "raw.npy", values)
    back = np.load(tmp_path / "raw.npy")
    assert back.shape == (2, 2)
    assert back.dtype == np.float32


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".bmp"])
def test_sixteen_bit_gray_to_8_bit_formats_has_a_note(tmp_path: Path, ext: str) -> None:
    pixels = np.full((8, 8, 1), 257 * 200, dtype=np.uint16)
    notes = save_image(tmp_path / f"g{ext}", pixels, max_value=65535)
    assert any("8-bit" in n for n in notes)
    img = load_image(tmp_path / f"g{ext}")
    assert img.pixels.dtype == np.uint8
    assert np.abs(img.pixels.astype(int) - 200).max() <= 1


@pytest.mark.parametrize(("ext", "fmt"), [(".jpg", "JPEG"), (".bmp", "BMP")])
def test_alpha_is_dropped_for_formats_without_it(tmp_path: Path, ext: str, fmt: str) -> None:
    pixels = np.zeros((8, 8, 4), dtype=np.uint8)
    pixels[..., 0] = 200
    pixels[..., 3] = 10
    notes = save_image(tmp_path / f"a{ext}", pixels)
    assert len(notes) == 1
    assert "alpha" in notes[0]
    assert fmt in notes[0]
    img = load_image(tmp_path / f"a{ext}")
    assert img.shape == (8, 8, 3)
    assert not img.has_alpha
    assert np.abs(img.pixels.astype(int) - [200, 0, 0]).max() <= 3


def test_gray_alpha_to_jpeg_becomes_gray(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8, 2), dtype=np.uint8)
    pixels[..., 0] = 120
    pixels[..., 1] = 255
    notes = save_image(tmp_path / "la.jpg", pixels)
    assert any("alpha" in n for n in notes)
    img = load_image(tmp_path / "la.jpg")
    assert img.shape == (8, 8, 1)
    assert np.abs(img.pixels.astype(int) - 120).max() <= 1


def test_float_pixels_are_rounded_and_clipped(tmp_path: Path) -> None:
    pixels = np.array([[-3.2, 0.4, 0.6, 100.7, 254.6, 300.0, np.nan]])
    save_image(tmp_path / "f.png", pixels)
    img = load_image(tmp_path / "f.png")
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 0, 1, 101, 255, 255, 0])


def test_float_pixels_with_16_bit_range_are_saved_as_16_bit(tmp_path: Path) -> None:
    pixels = np.array([[-1.0, 300.4, 65535.9, 70000.0]])
    assert save_image(tmp_path / "f.png", pixels, max_value=65535) == []
    img = load_image(tmp_path / "f.png")
    assert img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 300, 65535, 65535])


def test_int32_pixels_are_clipped_to_16_bit(tmp_path: Path) -> None:
    pixels = np.array([[-5, 0, 1234, 70000]], dtype=np.int32)
    save_image(tmp_path / "i.tif", pixels, max_value=65535)
    img = load_image(tmp_path / "i.tif")
    np.testing.assert_array_equal(img.pixels[0, :, 0], [0, 0, 1234, 65535])


@pytest.mark.parametrize("quality", [0, 101, 2.5, True])
def test_bad_quality_is_an_option_error(tmp_path: Path, quality: object) -> None:
    with pytest.raises(OptionError, match="quality"):
        save_image(tmp_path / "q.jpg", smooth_rgb(), quality=quality)  # type: ignore[arg-type]


def test_lower_quality_makes_smaller_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    save_image(tmp_path / "lo.jpg", pixels, quality=10)
    save_image(tmp_path / "hi.jpg", pixels)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size


def test_three_dimensional_shape_required(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="shape"):
        save_image(tmp_path / "x.png", np.zeros((2, 2, 2, 2), np.uint8))


# --------------------------------------------------------------------------
# read_shape


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: Image.new("L", (7, 5)).save(p / "x.png"), (5, 7, 1)),
        (lambda p: Image.new("RGBA", (7, 5)).save(p / "x.png"), (5, 7, 4)),
        (lambda p: Image.new("CMYK", (7, 5)).save(p / "x.tif"), (5, 7, 3)),
        (lambda p: Image.new("1", (7, 5)).save(p / "x.png"), (5, 7, 1)),
        (lambda p: Image.new("P", (7, 5)).save(p / "x.png", transparency=0), (5, 7, 4)),
        (lambda p: Image.new("P", (7, 5)).save(p / "x.gif"), (5, 7, 3)),
        (lambda p: Image.fromarray(np.zeros((5, 7), np.uint16)).save(p / "x.png"), (5, 7, 1)),
        (lambda p: np.save(p / "x.npy", np.zeros((5, 7), np.uint8)), (5, 7, 1)),
        (lambda p: np.save(p / "x.npy", np.zeros((5, 7, 2), np.float32)), (5, 7, 2)),
    ],
    ids=["L", "RGBA", "CMYK", "1", "P-transparent", "GIF", "I;16", "npy-2d", "npy-3d"],
)
def test_read_shape_matches_load(tmp_path: Path, make: object, expected: tuple[int, ...]) -> None:
    make(tmp_path)  # type: ignore[operator]
    (path,) = tmp_path.iterdir()
    assert read_shape(path) == expected
    assert load_image(path).shape == expected


def test_read_shape_does_not_decode_pixels(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(smooth_rgb(120, 90)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert read_shape(path) == (120, 90, 3)
    with pytest.raises(ImageError, match="cut.png"):
        load_image(path)


def test_read_shape_of_a_huge_header_ignores_the_pixel_limit(tmp_path: Path) -> None:
    header_only_png(tmp_path / "huge.png", 30000, 20000)
    assert read_shape(tmp_path / "huge.png") == (20000, 30000, 3)


def test_read_shape_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        read_shape(tmp_path / "nope.png")


# --------------------------------------------------------------------------
# pixel limit


def test_default_limit_is_pillows_refusal_size() -> None:
    assert Image.MAX_IMAGE_PIXELS == 89_478_485
    assert default_max_pixels() == 178_956_970


def test_default_limit_follows_pillow_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert default_max_pixels() is None


def test_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    # The pixel data is a stub: decoding would fail with a different error.
    header_only_png(tmp_path / "image.png", 20000, 20000)
    with pytest.raises(ImageTooLargeError) as info:
        load_image(tmp_path / "image.png")
    message = str(info.value)
    assert "image.png" in message
    assert "20000x20000" in message
    assert "400,000,000 pixels" in message
    assert "178,956,970" in message
    assert "--max-pixels" in message
    assert info.value.exit_code == 1
    assert Image.MAX_IMAGE_PIXELS == 89_478_485


def test_explicit_pixel_limit(tmp_path: Path) -> None:
    Image.new("RGB", (5, 4)).save(tmp_path / "small.png")
    with pytest.raises(ImageTooLargeError, match=r"4x5 \(HxW\) = 20 pixels, over the limit of 19"):
        load_image(tmp_path / "small.png", max_pixels=19)
    assert load_image(tmp_path / "small.png", max_pixels=20).shape == (4, 5, 3)


def test_explicit_pixel_limit_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((10, 10), np.uint8))
    with pytest.raises(ImageTooLargeError, match="a.npy"):
        load_image(tmp_path / "a.npy", max_pixels=99)


def test_raised_limit_lets_a_pillow_bomb_through_to_decoding(tmp_path: Path) -> None:
    # Over Pillow's own limits (warning and error) but under ours: no
    # DecompressionBomb* fires (warnings are errors under pytest); the stub
    # pixel data then fails to decode.
    header_only_png(tmp_path / "big.png", 20000, 10000)
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "big.png", max_pixels=10**9)
    assert not isinstance(info.value, ImageTooLargeError)
    assert "big.png" in str(info.value)
    assert "truncated" in str(info.value)
    assert "bomb" not in str(info.value)


def test_between_pillow_warning_and_error_size_no_warning(tmp_path: Path) -> None:
    header_only_png(tmp_path / "mid.png", 10000, 10000)
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "mid.png")
    assert not isinstance(info.value, ImageTooLargeError)
    assert "truncated" in str(info.value)
    assert "bomb" not in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_max_pixels_is_an_option_error(tmp_path: Path, bad: object) -> None:
    Image.new("L", (2, 2)).save(tmp_path / "s.png")
    with pytest.raises(OptionError, match="max_pixels"):
        load_image(tmp_path / "s.png", max_pixels=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# unreadable inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="input file not found: .*x.png") as info:
        load_image(tmp_path / "x.png")
    assert info.value.exit_code == 2


def test_folder_as_input(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="folder"):
        load_image(tmp_path)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageError, match="noise.png") as info:
        load_image(path)
    assert info.value.exit_code == 1


def test_png_magic_then_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    noise = np.random.default_rng(2).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + noise)
    with pytest.raises(ImageError, match="fake.png"):
        load_image(path)
    with pytest.raises(ImageError, match="fake.png"):
        read_shape(path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.jpg"):
        load_image(tmp_path / "empty.jpg")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"cut{ext}"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError, match=f"cut{ext}"):
        load_image(path)


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------
# atomic writes


def write_then_fail(target: Path, error: BaseException) -> None:
    with atomic_write(target) as tmp:
        tmp.write_text("partial")
        raise error


def test_atomic_write_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".")
        assert not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert no_temp_files(tmp_path, "out.txt")


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_atomic_write_failure_keeps_old_target(tmp_path: Path, error: type[BaseException]) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(error):
        write_then_fail(target, error("boom"))
    assert target.read_text() == "old"
    assert no_temp_files(tmp_path, "out.txt")


def test_atomic_write_os_error_becomes_image_error(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(ImageError, match="out.txt"):
        write_then_fail(target, OSError(28, "No space left on device"))
    assert no_temp_files(tmp_path)


def test_atomic_write_permission_error_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="out.txt: permission denied"):
        write_then_fail(tmp_path / "out.txt", PermissionError(13, "Permission denied"))
    assert no_temp_files(tmp_path)


def test_atomic_write_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="output folder does not exist"):
        write_then_fail(tmp_path / "missing" / "out.png", AssertionError("must not get here"))


def test_save_into_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="output folder does not exist") as info:
        save_image(tmp_path / "missing" / "out.png", smooth_rgb())
    assert info.value.exit_code == 1


def test_atomic_write_onto_a_folder(tmp_path: Path) -> None:
    (tmp_path / "sub.png").mkdir()
    with pytest.raises(ImageError, match="folder"):
        save_image(tmp_path / "sub.png", smooth_rgb())


def test_atomic_write_keeps_existing_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_write_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores modes")
def test_atomic_write_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            save_image(folder / "out.png", smooth_rgb())
    finally:
        folder.chmod(0o755)


def test_save_onto_the_input_path(tmp_path: Path) -> None:
    path = tmp_path / "same.png"
    original = smooth_rgb()
    save_image(path, original)
    img = load_image(path)
    save_image(path, 255 - img.pixels)
    np.testing.assert_array_equal(load_image(path).pixels, 255 - original)
    assert no_temp_files(tmp_path, "same.png")


def test_failed_save_onto_the_input_leaves_it_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "same.png"
    save_image(path, smooth_rgb())
    before = path.read_bytes()
    img = load_image(path)

    def broken_write(stream: BinaryIO, pixels: object, **kwargs: object) -> None:
        stream.write(b"\x89PNG half a file")
        raise OSError("disk full")

    monkeypatch.setattr(png_writer, "write_png", broken_write)
    with pytest.raises(ImageError, match="same.png"):
        save_image(path, 255 - img.pixels)
    assert path.read_bytes() == before
    assert no_temp_files(tmp_path, "same.png")


def test_interrupted_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(stream: BinaryIO, pixels: object, **kwargs: object) -> None:
        stream.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(png_writer, "write_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_image(tmp_path / "out.png", smooth_rgb())
    assert no_temp_files(tmp_path)


def test_loaded_image_shape_property() -> None:
    img = LoadedImage(
        pixels=np.zeros((2, 3, 4), np.uint8),
        max_value=255,
        has_alpha=True,
        mode="RGBA",
        format="PNG",
    )
    assert img.shape == (2, 3, 4)
    assert img.color.shape == (2, 3, 3)
    assert img.alpha is not None
    assert img.alpha.shape == (2, 3, 1)


# --------------------------------------------------------------------------
# samples


SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("card.png", (384, 512, 3)),
        ("blobs.png", (256, 256, 3)),
        ("gray.png", (256, 256, 1)),
        ("logo-rgba.png", (128, 128, 4)),
    ],
)
def test_samples_exist_with_documented_shapes(name: str, shape: tuple[int, int, int]) -> None:
    path = SAMPLES / name
    assert path.stat().st_size < 200_000
    img = load_image(path)
    assert img.shape == shape
    assert img.pixels.dtype == np.uint8


def test_logo_sample_has_transparent_background_and_opaque_shape() -> None:
    img = load_image(SAMPLES / "logo-rgba.png")
    alpha = img.pixels[..., 3]
    assert alpha[0, 0] == 0
    assert alpha[64, 64] == 255


@pytest.mark.parametrize(
    ("mode", "dtype"),
    [("L", np.uint8), ("LA", np.uint8), ("RGB", np.uint8), ("RGBA", np.uint8), ("I;16", np.uint16)],
)
def test_large_images_are_copied_out_of_pillow_in_bands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, dtype: type
) -> None:
    channels = len(mode) if mode != "I;16" else 1
    rng = np.random.default_rng(7)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top + 1, size=(45, 31, channels), dtype=dtype)
    plane = pixels[:, :, 0] if channels == 1 else pixels
    path = tmp_path / "big.png"
    Image.fromarray(plane).save(path)
    expected = np.asarray(Image.open(path)).reshape(pixels.shape)
    monkeypatch.setattr(config, "WHOLE_COPY_BYTES", 64)
    monkeypatch.setattr(config, "COPY_BAND_BYTES", 200)  # a few rows per band
    got = load_image(path).pixels
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable


def test_copy_band_size_is_read_from_config_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rows.png"
    Image.fromarray(smooth_rgb(45, 31)).save(path)
    crops: list[tuple[int, int, int, int]] = []
    real_crop = Image.Image.crop

    def counting_crop(self: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
        crops.append(box)
        return real_crop(self, box)

    monkeypatch.setattr(Image.Image, "crop", counting_crop)
    load_image(path)
    assert crops == [(0, 0, 31, 1)]  # one probe row; the image is copied whole
    crops.clear()
    monkeypatch.setattr(config, "WHOLE_COPY_BYTES", 64)
    monkeypatch.setattr(config, "COPY_BAND_BYTES", 31 * 3 * 5)  # five rows per band
    np.testing.assert_array_equal(load_image(path).pixels, smooth_rgb(45, 31))
    assert crops[1:] == [(0, y, 31, min(y + 5, 45)) for y in range(0, 45, 5)]


# --------------------------------------------------------------------------
# the package


def test_package_exports_resolve_to_the_defining_modules() -> None:
    import convcli.images as images_package

    for name in images_package.__all__:
        value = getattr(images_package, name)
        home = getattr(value, "__module__", None)
        if home is not None:
            assert home.startswith(("convcli.images.", "convcli.atomic")), (name, home)
    assert set(images_package.__all__) >= {
        "load_image",
        "save_image",
        "load_frames",
        "save_animation",
        "encode_image",
        "read_shape",
        "atomic_write",
    }


def test_pillow_is_imported_only_inside_the_images_package() -> None:
    package = Path(__file__).resolve().parent.parent / "convcli"
    offenders = []
    for source in sorted(package.rglob("*.py")):
        if source.parent.name == "images" and source.parent.parent == package:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n == "PIL" or n.startswith("PIL.") for n in names):
                offenders.append(f"{source.relative_to(package)}:{node.lineno}")
    assert offenders == []
