"""``-`` as input (stdin) and ``-o -`` (stdout) for ``convcli filter``."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.cli import run
from convcli.errors import ImageError, OptionError
from convcli.images import encode_image, format_from_extension, load_image_bytes

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def png_bytes(rng):
    pixels = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue(), pixels


def feed_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def cli_bytes(capsysbinary, *args):
    code = run([str(a) for a in args])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    return lines[0]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _entry_point():
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-m", "convcli"]


# -- a real pipe -------------------------------------------------------------------


def test_pipe_png_in_png_out_matches_file_to_file(tmp_path, png_bytes):
    data, _ = png_bytes
    (tmp_path / "a.png").write_bytes(data)
    ref = subprocess.run(
        [*_entry_point(), "filter", "a.png", "-k", "box", "-o", "ref.png"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
    )
    assert ref.returncode == 0, ref.stderr
    piped = subprocess.run(
        [*_entry_point(), "filter", "-", "-k", "box", "-o", "-", "--format", "png"],
        input=data,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    got = np.asarray(Image.open(io.BytesIO(piped.stdout)))
    np.testing.assert_array_equal(got, np.asarray(Image.open(tmp_path / "ref.png")))
    # The per-image line goes to stderr; stdout holds the image and nothing else.
    assert b"box" in piped.stderr
    assert piped.stdout.endswith(b"IEND\xaeB`\x82")


def test_pipe_through_a_shell(tmp_path, png_bytes):
    (tmp_path / "a.png").write_bytes(png_bytes[0])
    cmd = " ".join(_entry_point())
    done = subprocess.run(
        f"{cmd} filter - -k box -o - --format png < a.png > b.png",
        shell=True,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == (16, 12)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- in process --------------------------------------------------------------------


def test_stdin_to_file(capsysbinary, monkeypatch, tmp_path, png_bytes):
    data, pixels = png_bytes
    feed_stdin(monkeypatch, data)
    code, out, err = cli_bytes(capsysbinary, "filter", "-", "-k", "box:1", "-o", tmp_path / "o.png")
    assert code == 0, err
    assert out == b""
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), pixels)


def test_stdin_with_json_reports_dash(capsysbinary, monkeypatch, tmp_path, png_bytes):
    import json

    feed_stdin(monkeypatch, png_bytes[0])
    code, out, err = cli_bytes(
        capsysbinary, "filter", "-", "-k", "box", "-o", tmp_path / "o.png", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["results"][0]["input"] == "-"
    assert doc["results"][0]["input_shape"] == [12, 16, 3]


def test_file_to_stdout_png(capsysbinary, tmp_path, png_bytes):
    data, pixels = png_bytes
    (tmp_path / "a.png").write_bytes(data)
    code, out, err = cli_bytes(
        capsysbinary, "filter", tmp_path / "a.png", "-k", "box:1", "-o", "-", "--format", "png"
    )
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(out))), pixels)


@pytest.mark.parametrize("fmt", ["jpg", ".JPEG", "tif", "webp", "bmp"])
def test_stdout_formats_decode(capsysbinary, tmp_path, png_bytes, fmt):
    (tmp_path / "a.png").write_bytes(png_bytes[0])
    code, out, err = cli_bytes(
        capsysbinary, "filter", tmp_path / "a.png", "-k", "box", "-o", "-", "--format", fmt, "-q"
    )
    assert code == 0, err
    assert Image.open(io.BytesIO(out)).size == (16, 12)
    assert err == ""


def test_npy_stdin_to_npy_stdout_keeps_raw_floats(capsysbinary, monkeypatch):
    x = np.arange(20, dtype=np.float64).reshape(4, 5) * 100.0
    buf = io.BytesIO()
    np.save(buf, x)
    feed_stdin(monkeypatch, buf.getvalue())
    code, out, err = cli_bytes(
        capsysbinary, "filter", "-", "-k", "box:1", "-o", "-", "--format", "npy"
    )
    assert code == 0, err
    y = np.load(io.BytesIO(out))
    assert y.shape == (4, 5, 1)
    np.testing.assert_allclose(y[..., 0], x)  # above 255: nothing clipped in .npy


def test_frame_from_stdin_gif(capsysbinary, monkeypatch, tmp_path):
    frames = [Image.new("L", (6, 5), v) for v in (0, 100, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    feed_stdin(monkeypatch, buf.getvalue())
    code, _, err = cli_bytes(
        capsysbinary, "filter", "-", "-k", "box", "-o", tmp_path / "f.png", "--frame", "2"
    )
    assert code == 0, err
    assert np.asarray(Image.open(tmp_path / "f.png").convert("L")).mean() == pytest.approx(200)


# -- refused combinations (exit 2) and bad data (exit 1) ---------------------------


@pytest.mark.parametrize(
    ("args", "token"),
    [
        (["a.png", "-k", "box", "-o", "-"], "--format"),
        (["a.png", "-k", "box", "-o", "-", "--format", "pcx"], "pcx"),
        (["a.png", "-k", "box", "-o", "-", "--format", "png", "--json"], "--json"),
        (["-", "-k", "box", "-d", "out"], "-d"),
        (["-", "a.png", "-k", "box", "-o", "x.png"], "exactly one input"),
    ],
    ids=["no-format", "bad-format", "json", "stdin-with-outdir", "stdin-plus-file"],
)
def test_refused_stream_options_exit_2(capsysbinary, monkeypatch, tmp_path, png_bytes, args, token):
    (tmp_path / "a.png").write_bytes(png_bytes[0])
    monkeypatch.chdir(tmp_path)
    feed_stdin(monkeypatch, png_bytes[0])
    code, out, err = cli_bytes(capsysbinary, "filter", *args)
    assert code == 2, err
    assert out == b""
    assert token in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_stdin_terminal_is_refused(capsysbinary, monkeypatch, tmp_path):
    class Tty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty(io.BytesIO(b"")))
    code, out, err = cli_bytes(capsysbinary, "filter", "-", "-k", "box", "-o", tmp_path / "o.png")
    assert code == 2
    assert "terminal" in one_error_line(err)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n", b"hello, not an image", b"\x93NUMPY\x01\x00garbage"],
    ids=["empty", "png-magic-only", "text", "npy-magic-garbage"],
)
@pytest.mark.parametrize("dest", ["file", "stdout"])
def test_bad_stdin_exit_1_and_nothing_written(capsysbinary, monkeypatch, tmp_path, data, dest):
    feed_stdin(monkeypatch, data)
    target = "-" if dest == "stdout" else str(tmp_path / "o.png")
    fmt = ["--format", "png"] if dest == "stdout" else []  # -o FILE.png has its own
    code, out, err = cli_bytes(capsysbinary, "filter", "-", "-k", "box", "-o", target, *fmt)
    assert code == 1, err
    assert out == b""
    assert "<stdin>" in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_truncated_stdin_exit_1(capsysbinary, monkeypatch, png_bytes):
    feed_stdin(monkeypatch, png_bytes[0][: len(png_bytes[0]) // 2])
    code, out, err = cli_bytes(
        capsysbinary, "filter", "-", "-k", "box", "-o", "-", "--format", "png"
    )
    assert code == 1
    assert out == b""
    one_error_line(err)


# -- library helpers ---------------------------------------------------------------


def test_load_image_bytes_matches_file(tmp_path, png_bytes):
    img = load_image_bytes(png_bytes[0], name="x")
    np.testing.assert_array_equal(img.pixels, png_bytes[1])
    assert img.path == "x"
    assert img.format == "PNG"


def test_load_image_bytes_pixel_limit(png_bytes):
    with pytest.raises(ImageError, match="over the limit"):
        load_image_bytes(png_bytes[0], max_pixels=100)


def test_encode_image_round_trip_and_notes():
    pixels = np.full((3, 4, 4), 200, np.uint8)
    data, notes = encode_image(pixels, "jpg")
    assert Image.open(io.BytesIO(data)).mode == "RGB"
    assert any("alpha" in n for n in notes)


@pytest.mark.parametrize(("ext", "fmt"), [("png", "PNG"), (".TIF", "TIFF"), ("npy", "NPY")])
def test_format_from_extension(ext, fmt):
    assert format_from_extension(ext) == fmt


def test_format_from_extension_refuses_unknown():
    with pytest.raises(OptionError, match="use one of png"):
        format_from_extension("pcx")
