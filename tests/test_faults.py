"""Fault injection and fuzzing: every failure is one clean ``Error:`` line and the right code.

Fuzzing goes through :func:`convcli.cli.run`, exactly as the console script does.
Faults are injected with ``monkeypatch`` (the tests may run as root, where
``chmod`` does not stop writes).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import convcli.atomic as atomic_module
import convcli.images.png as png_writer
from tests.support import cli, noisy_pngs, start_batch

REPO = Path(__file__).resolve().parent.parent
# Example counts come from the Hypothesis profile (conftest.py): 60 per test by
# default, 500 with HYPOTHESIS_PROFILE=thorough.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LOADER_FORMATS = ("PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP")
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "TIFF": ".tif", "BMP": ".bmp"}
EXTENSIONS["WEBP"] = ".webp"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a small RGB PNG to filter."""
    folder = tmp_path_factory.mktemp("faults")
    pixels = np.random.default_rng(7).integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "in.png")
    return folder


@pytest.fixture(scope="module")
def encoded():
    """The same small image encoded in every loader format."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    out = {}
    for fmt in LOADER_FORMATS:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format=fmt)
        out[fmt] = buf.getvalue()
    return out


def clean_failure(code: int, err: str, allowed: tuple[int, ...]) -> None:
    """Exit code in ``allowed``; a failure is exactly one ``Error:`` line, no traceback."""
    assert code in allowed, err
    assert "Traceback" not in err
    if code != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("Error: "), err
        # An unexpected exception is still one line, but it would be a bug.
        assert "unexpected" not in lines[0], err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- kernel spec fuzzing -----------------------------------------------------------

NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_0", "١", "½", "1e-400"]),
)
SEPARATOR = st.sampled_from([",", ";", " ", "x", ":", "+", "=", "\t", "\n", ";;", ",,", "  "])
PRESET = st.sampled_from(
    ["box", "gaussian", "sharpen", "sobel-x", "motion", "log", "unsharp", "emboss", "nope"]
)
PARAM = st.sampled_from(["sigma", "size", "length", "angle", "amount", "", "x", "sigma=sigma"])


@st.composite
def kernel_specs(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.text(max_size=40))
    if kind == 1:
        parts = draw(st.lists(st.one_of(NUMBER, SEPARATOR), max_size=30))
        return "".join(parts)
    if kind == 2:
        w, h = draw(st.integers(-2, 12)), draw(st.integers(-2, 12))
        values = draw(st.lists(NUMBER, max_size=40))
        return f"{w}x{h}: " + ",".join(values)
    if kind == 3:
        name = draw(PRESET)
        params = draw(st.lists(st.tuples(PARAM, NUMBER), max_size=3))
        body = ",".join(f"{k}={v}" if k else v for k, v in params)
        return f"{name}:{body}" if params or draw(st.booleans()) else name
    size = draw(st.one_of(st.integers(-5, 5000), st.just(10**12)))
    return draw(
        st.sampled_from(["box:{}", "box:{}x3", "gaussian:size={}", "motion:length={}"])
    ).format(size)


@FUZZ
@given(spec=kernel_specs())
@example(spec="")
@example(spec="box:99999999")
@example(spec="box:4097")
@example(spec="box:3000")
@example(spec="gaussian:sigma=1e308")
@example(spec="1,2;3")
@example(spec="\x00")
@example(spec="0,0;0,0")
@example(spec="3x3+9+9: 1,1,1,1,1,1,1,1,1")
def test_fuzz_kernel_spec_clean_exit(capsys, work, spec):
    # 'valid' padding: a kernel larger than the 6x7 image is refused from the
    # shapes alone, so a huge-but-allowed kernel (box:3000, 9M taps) does not
    # spend a minute convolving; every spec is still parsed and checked in full.
    started = time.perf_counter()
    code, out, err = cli(
        capsys, "filter", work / "in.png", "-k", spec, "--padding", "valid", "-o", work / "k.npy"
    )
    clean_failure(code, err, (0, 1, 2))
    assert out == ""
    assert time.perf_counter() - started < 20  # never a hang
    assert leftovers(work) == []


@pytest.mark.parametrize(("spec", "precision"), [("1e37", "float32"), ("1e306", "float64")])
def test_huge_weights_overflow_float(capsys, tmp_path, work, spec, precision):
    out_path = tmp_path / "k.npy"
    code, out, err = cli(
        capsys, "filter", work / "in.png", "-k", spec, "--precision", precision, "-o", out_path
    )
    clean_failure(code, err, (2,))
    assert "too large" in err
    assert not out_path.exists()


SMALL = st.one_of(st.integers(-3, 9).map(str), st.sampled_from(["0.5", "1e-3", "-2.5", "nan"]))


@st.composite
def small_kernel_specs(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        rows = draw(st.lists(st.lists(SMALL, min_size=1, max_size=5), min_size=1, max_size=5))
        sep = draw(st.sampled_from([",", " "]))
        return ";".join(sep.join(r) for r in rows)
    if kind == 1:
        name = draw(st.sampled_from(["box", "gaussian", "motion", "log", "unsharp", "sharpen"]))
        key = draw(st.sampled_from(["size", "sigma", "length", "angle", "amount"]))
        return f"{name}:{key}={draw(SMALL)}"
    return f"box:{draw(st.integers(-2, 25))}x{draw(st.integers(-2, 25))}"


@FUZZ
@given(spec=small_kernel_specs())
def test_fuzz_small_kernels_same_padding(capsys, work, spec):
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", spec, "-o", work / "s.png")
    clean_failure(code, err, (0, 2))
    assert out == ""
    assert leftovers(work) == []


# -- image loader fuzzing ----------------------------------------------------------


@FUZZ
@given(fmt=st.sampled_from(LOADER_FORMATS), cut=st.floats(0, 1, exclude_max=True))
def test_fuzz_truncated_files(capsys, work, encoded, fmt, cut):
    data = encoded[fmt]
    path = work / f"trunc{EXTENSIONS[fmt]}"
    path.write_bytes(data[: int(len(data) * cut)])
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", work / "t.png")
    clean_failure(code, err, (0, 1))
    assert leftovers(work) == []


MAGIC = {
    "PNG": b"\x89PNG\r\n\x1a\n",
    "JPEG": b"\xff\xd8\xff",
    "GIF": b"GIF89a",
    "TIFF-LE": b"II*\x00",
    "TIFF-BE": b"MM\x00*",
    "BMP": b"BM",
    "WEBP": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "NPY": b"\x93NUMPY\x01\x00",
}


@FUZZ
@given(magic=st.sampled_from(sorted(MAGIC)), tail=st.binary(max_size=300))
@example(magic="NPY", tail=b"v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }")
@example(magic="PNG", tail=b"")
def test_fuzz_random_bytes_after_magic(capsys, work, magic, tail):
    path = work / "magic.img"
    path.write_bytes(MAGIC[magic] + tail)
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", work / "m.png")
    clean_failure(code, err, (1,))
    assert not (work / "m.png").exists()


@FUZZ
@given(
    fmt=st.sampled_from(LOADER_FORMATS),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=6),
)
def test_fuzz_corrupted_bytes(capsys, work, encoded, fmt, flips):
    data = bytearray(encoded[fmt])
    for where, value in flips:
        data[int(where * len(data))] ^= value
    path = work / f"flip{EXTENSIONS[fmt]}"
    path.write_bytes(bytes(data))
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", work / "f.png")
    clean_failure(code, err, (0, 1))


@pytest.mark.parametrize("ext", [".png", ".jpg", ".gif", ".tif", ".npy", ".webp"])
def test_zero_size_file_exit_1(capsys, tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(b"")
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.png")
    clean_failure(code, err, (1,))
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("fmt", LOADER_FORMATS)
@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".txt", ""])
def test_mislabelled_extension_is_read_by_content(capsys, tmp_path, encoded, fmt, ext):
    path = tmp_path / f"image{ext}"
    path.write_bytes(encoded[fmt])
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.png")
    assert code == 0, err
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (11, 9)


def test_text_file_named_png_exit_1(capsys, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("just some text\n")
    code, out, err = cli(capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.png")
    clean_failure(code, err, (1,))


# -- injected write faults ---------------------------------------------------------


def _failing_open(monkeypatch, error: OSError) -> None:
    """Make creating the temporary output file fail with ``error``."""
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise error
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


def _half_then_fail(monkeypatch, error: BaseException) -> None:
    """Make the encoders write half an image into the temporary file, then raise ``error``."""
    real_save = Image.Image.save

    def broken(self, fp, *args, **kwargs):
        buf = io.BytesIO()
        real_save(self, buf, *args, **kwargs)
        with open(fp, "wb") as f:
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise error

    monkeypatch.setattr(Image.Image, "save", broken)
    real_write_png = png_writer.write_png

    def broken_png(stream, pixels, **kwargs):
        buf = io.BytesIO()
        real_write_png(buf, pixels, **kwargs)
        stream.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise error

    monkeypatch.setattr(png_writer, "write_png", broken_png)


@pytest.mark.parametrize(
    ("error", "token"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system"), "Read-only file system"),
    ],
    ids=["unwritable-folder", "read-only-filesystem"],
)
def test_unwritable_folder_exit_1(capsys, monkeypatch, tmp_path, work, error, token):
    _failing_open(monkeypatch, error)
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-o", tmp_path / "o.png")
    clean_failure(code, err, (1,))
    assert token in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".npy"])
def test_disk_full_exit_1_no_partial_file(capsys, monkeypatch, tmp_path, work, ext):
    enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _half_then_fail(monkeypatch, enospc)
    real_np_save = np.save

    def np_save_full(file, arr, *args, **kwargs):
        real_np_save(file, arr[: len(arr) // 2], *args, **kwargs)
        raise enospc

    monkeypatch.setattr(np, "save", np_save_full)
    out_path = tmp_path / f"o{ext}"
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-o", out_path)
    clean_failure(code, err, (1,))
    assert "No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_disk_full_at_fsync_exit_1(capsys, monkeypatch, tmp_path, work):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_module.os, "fsync", no_space)
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-o", tmp_path / "o.png")
    clean_failure(code, err, (1,))
    assert list(tmp_path.iterdir()) == []


def test_rename_refused_exit_1(capsys, monkeypatch, tmp_path, work):
    def refused(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic_module.os, "replace", refused)
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-o", tmp_path / "o.png")
    clean_failure(code, err, (1,))
    assert "permission denied" in err
    assert list(tmp_path.iterdir()) == []


def test_output_folder_missing_exit_1(capsys, tmp_path, work):
    code, out, err = cli(
        capsys, "filter", work / "in.png", "-k", "box", "-o", tmp_path / "nope" / "o.png"
    )
    clean_failure(code, err, (1,))
    assert "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_outdir_cannot_be_created_exit_1(capsys, monkeypatch, tmp_path, work):
    def refused(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refused)
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-d", tmp_path / "new")
    clean_failure(code, err, (1,))
    assert "permission denied" in err


def test_outdir_is_a_file_exit_1(capsys, tmp_path, work):
    (tmp_path / "taken").write_text("x")
    code, out, err = cli(capsys, "filter", work / "in.png", "-k", "box", "-d", tmp_path / "taken")
    clean_failure(code, err, (1,))
    assert "a file of that name exists" in err


@pytest.mark.parametrize(
    ("error", "code_wanted"),
    [
        (RuntimeError("encoder crashed"), 1),
        (OSError(errno.EIO, "Input/output error"), 1),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), 1),
        (KeyboardInterrupt(), 130),
    ],
    ids=["exception", "io-error", "disk-full", "ctrl-c"],
)
def test_failure_mid_write_onto_the_input_leaves_it_intact(
    capsys, monkeypatch, tmp_path, work, error, code_wanted
):
    src = tmp_path / "photo.png"
    shutil.copy(work / "in.png", src)
    before = src.read_bytes()
    _half_then_fail(monkeypatch, error)
    code, out, err = cli(capsys, "filter", src, "-k", "sharpen", "-o", src)
    clean_failure(code, err, (code_wanted,))
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_disk_full_in_a_batch_reports_each_and_runs_the_rest(capsys, monkeypatch, tmp_path, work):
    for name in ("a", "b", "c"):
        shutil.copy(work / "in.png", tmp_path / f"{name}.png")
    real_save = Image.Image.save

    def full_for_b(self, fp, *args, **kwargs):
        if ".b.png." in str(fp):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", full_for_b)
    real_write_png = png_writer.write_png

    def png_full_for_b(stream, pixels, **kwargs):
        if ".b.png." in stream.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_png(stream, pixels, **kwargs)

    monkeypatch.setattr(png_writer, "write_png", png_full_for_b)
    out_dir = tmp_path / "out"
    code, out, err = cli(
        capsys, "filter", *(tmp_path / f"{n}.png" for n in "abc"), "-k", "box", "-d", out_dir, "-q"
    )
    assert code == 1
    assert err.count("Error:") == 1
    assert "b.png" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png", "c.png"]


# -- SIGINT during a batch ---------------------------------------------------------


def _entry_point() -> list[str]:
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-m", "convcli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_during_batch_exit_130_no_partial_files(tmp_path, jobs):
    inputs = noisy_pngs(tmp_path, 8, seed=1)
    out_dir = tmp_path / "out"
    proc = start_batch(_entry_point(), inputs, out_dir, "gaussian:sigma=4", jobs, _env())
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".png" for p in out_dir.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text
    assert out == b""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines == ["Error: interrupted"], text
    assert leftovers(out_dir) == []
    written = sorted(out_dir.iterdir())
    assert 1 <= len(written) < len(inputs)
    for path in written:
        with Image.open(path) as im:
            im.load()  # every file left is complete
            assert im.size == (600, 600)
