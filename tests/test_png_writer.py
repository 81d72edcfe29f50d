"""The PNG writer against an independent byte-by-byte decoder and Pillow."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from convcli import config
from convcli.errors import OptionError
from convcli.images import encode_image, load_image, save_image
from convcli.images.png import adler32_combine, write_png
from tests.helpers import naive_read_png


def _pixels(shape: tuple[int, ...], dtype: type, kind: str, seed: int = 0) -> np.ndarray:
    """Random noise or smooth ramps (which favour different row filters)."""
    top = np.iinfo(dtype).max
    if kind == "noise":
        return np.random.default_rng(seed).integers(0, top + 1, size=shape, dtype=dtype)
    grid = np.indices(shape).sum(axis=0) * (top // 40 + 1)
    return (grid % (top + 1)).astype(dtype)


def _encode(pixels: np.ndarray, **options: object) -> bytes:
    buf = io.BytesIO()
    write_png(buf, pixels, **options)  # type: ignore[arg-type]
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["noise", "ramp"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (7, 1), (5, 6), (4, 5, 1), (6, 3, 2), (5, 7, 3), (3, 4, 4)]
)
def test_round_trip_through_the_reference_decoder(
    shape: tuple[int, ...], dtype: type, kind: str
) -> None:
    pixels = _pixels(shape, dtype, kind)
    back, _ = naive_read_png(_encode(pixels))
    np.testing.assert_array_equal(back, pixels.reshape(back.shape))
    assert back.dtype == dtype


@pytest.mark.parametrize("level", range(10))
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_level_decodes_in_pillow(level: int, channels: int) -> None:
    pixels = _pixels((23, 17, channels), np.uint8, "noise", seed=level)
    pixels[5:15] = 40  # flat rows, so several filter types are used
    image = Image.open(io.BytesIO(_encode(pixels, compress_level=level)))
    back = np.asarray(image)
    np.testing.assert_array_equal(back.reshape(pixels.shape), pixels)
    assert image.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]


def test_sixteen_bit_grey_decodes_in_pillow() -> None:
    pixels = _pixels((9, 11), np.uint16, "noise")
    back = np.asarray(Image.open(io.BytesIO(_encode(pixels))))
    np.testing.assert_array_equal(back, pixels)


def test_level_zero_stores_rows_unfiltered() -> None:
    pixels = _pixels((8, 8, 3), np.uint8, "ramp")
    data = _encode(pixels, compress_level=0)
    _, chunks = naive_read_png(data)
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    assert raw[:: 8 * 3 + 1] == bytes(8)  # every row's filter byte is None (0)
    assert len(data) > pixels.size


def test_filter_choice_adapts_per_row() -> None:
    pixels = np.zeros((40, 64, 3), np.uint8)
    pixels[:10] = np.arange(64, dtype=np.uint8)[None, :, None] * 3  # rows that repeat: Up
    pixels[10:20] = np.arange(40 * 64 * 3).reshape(40, 64, 3)[10:20] % 251  # ramps: Sub
    data = _encode(pixels)
    back, chunks = naive_read_png(data)
    np.testing.assert_array_equal(back, pixels)
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    used = set(raw[:: 64 * 3 + 1])
    assert len(used) >= 2, used


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_many_parts_join_into_one_valid_stream(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    pixels = _pixels((37, 10, 3), np.uint8, "noise")
    whole = _encode(pixels, threads=threads)
    monkeypatch.setattr(config, "PNG_PART_BYTES", 70)  # two rows of 31 bytes per part
    parts = _encode(pixels, threads=threads)
    _, chunks = naive_read_png(parts)
    assert len(chunks[b"IDAT"]) > 10
    for data in (whole, parts):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)
    assert parts == _encode(pixels, threads=1)  # the same bytes whatever the threads


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_equals_adler32_of_the_join(first: bytes, second: bytes) -> None:
    combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


def test_adler32_combine_on_long_strings() -> None:
    first, second = b"\xff" * 70000, b"\xfe" * 123457
    combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


def test_metadata_chunks_are_read_by_pillow() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "convcli test"  # Make
    data = _encode(
        np.zeros((4, 4, 3), np.uint8), icc_profile=icc, dpi=(300, 72), exif=exif.tobytes()
    )
    image = Image.open(io.BytesIO(data))
    assert image.info["icc_profile"] == icc
    assert image.info["dpi"] == pytest.approx((300, 72), abs=0.01)
    assert image.getexif()[0x010F] == "convcli test"


@pytest.mark.parametrize(
    ("pixels", "level"),
    [
        (np.zeros((2, 2, 5), np.uint8), 6),
        (np.zeros((2, 2), np.float32), 6),
        (np.zeros((2, 2), np.uint8), 10),
    ],
)
def test_write_png_refuses_what_png_cannot_hold(pixels: np.ndarray, level: int) -> None:
    with pytest.raises(ValueError, match="PNG|compress_level"):
        _encode(pixels, compress_level=level)


def test_sixteen_bit_colour_png_keeps_sixteen_bits(tmp_path: Path) -> None:
    v = np.array([0, 128, 129, 257 * 100 + 128, 65535], dtype=np.uint16)
    pixels = np.stack([v, v[::-1], v], axis=-1)[np.newaxis]
    notes = save_image(tmp_path / "c.png", pixels, max_value=65535)
    assert notes == []
    back, chunks = naive_read_png((tmp_path / "c.png").read_bytes())
    np.testing.assert_array_equal(back, pixels)
    assert chunks[b"IHDR"][0][8] == 16  # bit depth


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_sixteen_bit_colour_tiff_stays_16_bit(tmp_path: Path, channels: int) -> None:
    import tifffile

    v = np.array([0, 128, 129, 257 * 100 + 128, 65535], dtype=np.uint16)
    pixels = np.stack([v, v[::-1], v, v[::-1]][:channels], axis=-1)[np.newaxis]
    notes = save_image(tmp_path / "c.tif", pixels, max_value=65535)
    assert notes == []
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "c.tif").reshape(pixels.shape), pixels)
    img = load_image(tmp_path / "c.tif")
    assert img.pixels.dtype == np.uint16 and img.max_value == 65535
    assert img.has_alpha == (channels in (2, 4))
    np.testing.assert_array_equal(img.pixels, pixels)


def test_sixteen_bit_colour_becomes_8_bit_with_a_note_in_8_bit_formats(tmp_path: Path) -> None:
    v = np.array([0, 128, 129, 257 * 100 + 128, 65535], dtype=np.uint16)
    pixels = np.stack([v, v[::-1], v], axis=-1)[np.newaxis]
    notes = save_image(tmp_path / "c.bmp", pixels, max_value=65535)
    assert len(notes) == 1
    assert "8-bit" in notes[0]
    img = load_image(tmp_path / "c.bmp")
    expected = np.array([0, 0, 1, 100, 255])  # round(v / 257)
    np.testing.assert_array_equal(img.pixels[0, :, 0], expected)
    np.testing.assert_array_equal(img.pixels[0, :, 1], expected[::-1])


@pytest.mark.parametrize("level", [0, 1, 9])
def test_save_and_encode_give_the_same_png(tmp_path: Path, level: int) -> None:
    pixels = _pixels((30, 20, 3), np.uint8, "noise")
    save_image(tmp_path / "a.png", pixels, compress_level=level)
    data, notes = encode_image(pixels, "png", compress_level=level)
    assert notes == []
    assert (tmp_path / "a.png").read_bytes() == data
    np.testing.assert_array_equal(naive_read_png(data)[0], pixels)


def test_higher_level_gives_a_smaller_file_on_smooth_pixels() -> None:
    pixels = np.tile(_pixels((64, 64, 3), np.uint8, "ramp"), (4, 4, 1))
    sizes = [len(encode_image(pixels, "png", compress_level=lv)[0]) for lv in (0, 1, 9)]
    assert sizes[0] > sizes[1] >= sizes[2]


@pytest.mark.parametrize("level", [-1, 10, 2.5, True, "6"])
def test_bad_compress_level_is_an_option_error(tmp_path: Path, level: object) -> None:
    with pytest.raises(OptionError, match="compress_level"):
        save_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8), compress_level=level)  # type: ignore[arg-type]
    assert not (tmp_path / "a.png").exists()


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from convcli.cli import run

    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_compress_level_changes_size_not_pixels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(np.tile(_pixels((32, 32, 3), np.uint8, "ramp"), (4, 4, 1))).save(src)
    sizes = {}
    decoded = {}
    for level in (0, 9):
        out = tmp_path / f"out{level}.png"
        code, _, err = _cli(
            capsys, "filter", src, "-k", "sharpen", "-o", out, "--compress-level", level
        )
        assert code == 0, err
        sizes[level] = out.stat().st_size
        decoded[level] = naive_read_png(out.read_bytes())[0]
    assert sizes[0] > 2 * sizes[9]
    np.testing.assert_array_equal(decoded[0], decoded[9])


@pytest.mark.parametrize("level", ["-1", "10", "x"])
def test_cli_bad_compress_level_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, level: str
) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    code, _, err = _cli(
        capsys, "filter", src, "-k", "box", "-o", tmp_path / "o.png", "--compress-level", level
    )
    assert code == 2
    assert "compress-level" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
