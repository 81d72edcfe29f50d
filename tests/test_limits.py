"""Resource limits and hostile values: memory, output size, frames, kernel files, non-finite values.

Every limit of :data:`convcli.config.LIMITS` is tried through the command line
with several cases, and its numbers are checked in the error line.  Expected
sizes are computed here by hand, never by the code under test.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli import config
from convcli.errors import KernelError, OptionError
from tests.support import assert_clean_error, cli


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    pixels = np.random.default_rng(3).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


# -- the limits table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8G", 8 << 30), ("512M", 512 << 20), ("64KiB", 64 << 10), ("1000", 1000), ("2t", 2 << 40)],
)
def test_sizes_parse_in_powers_of_1024(text, expected):
    assert config.parse_size(text, "x") == expected


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5G", "G", "8X", "9" * 40])
def test_bad_sizes_are_refused(text):
    with pytest.raises(OptionError, match="positive size"):
        config.parse_size(text, "--max-memory")


def test_every_limit_is_in_the_help_and_the_readme(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    flat = " ".join(out.split())
    for spec in config.LIMITS.values():
        assert spec.env in flat
        assert spec.env in readme
    assert "--max-memory" in readme
    assert "--max-pixels" in readme


def test_defaults_are_safe_on_a_24_gb_machine():
    assert config.LIMITS["memory"].default <= 12 << 30
    assert config.LIMITS["input_bytes"].default <= 2 << 30
    # the largest output a default run may allocate, float32 RGB: under the memory limit x 2
    assert config.LIMITS["output_pixels"].default * 3 * 4 <= 2 * config.LIMITS["memory"].default


# -- memory: filter, grad, fit ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "mib"),
    [
        # 40x30x3 image, 3x3 kernel, same padding, float32:
        # image 3600 values x (1 + 4) bytes + 2 outputs x 3600 x 4 = 46,800 bytes
        (["filter", "IN", "-k", "box", "-o", "OUT.png"], 46_800),
        # float64: 3600 x 9 + 2 x 3600 x 8 = 90,000
        (["filter", "IN", "-k", "box", "-o", "OUT.npy", "--precision", "float64"], 90_000),
        # grad, float64: 8 x (3600 + 42x32x3 + 3 x 3600) = 147,456
        (["grad", "IN", "-k", "box", "--loss", "sum"], 147_456),
        # with --check: x 3.5 = 516,096
        (["grad", "IN", "-k", "box", "--loss", "sum", "--check"], 516_096),
    ],
)
def test_max_memory_refuses_with_the_numbers(capsys, tmp_path, png, args, mib):
    argv = [str(png) if a == "IN" else a.replace("OUT", str(tmp_path / "o")) for a in args]
    limit = mib - 1
    code, _, err = cli(capsys, *argv, "--max-memory", str(limit))
    assert_clean_error(code, err, 2, "--max-memory", "KiB", f"{limit / 1024:.1f} KiB")
    assert f"{mib / 1024:.1f} KiB" in err
    code, _, err = cli(capsys, *argv, "--max-memory", str(mib))
    assert code == 0, err


@pytest.mark.parametrize(("size", "tib"), [("4000", 3725.3), ("1000", 14.6)])
def test_fit_with_a_huge_kernel_is_refused_before_allocating(capsys, png, size, tib):
    # lstsq normal equations: 2 copies x 8 bytes x (k*k)^2 (depthwise)
    code, _, err = cli(capsys, "fit", png, png, "--size", size)
    unit = "TiB" if tib < 1024 else "PiB"
    shown = tib if tib < 1024 else tib / 1024
    assert_clean_error(code, err, 2, "fit --method lstsq", f"{shown:.1f} {unit}")


def test_max_memory_from_the_environment(capsys, monkeypatch, tmp_path, png):
    monkeypatch.setenv("CONVCLI_MAX_MEMORY", "10K")
    code, _, err = cli(capsys, "filter", png, "-k", "box", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "10.0 KiB", "CONVCLI_MAX_MEMORY")


# -- output size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "pixels"),
    [
        (["--padding", "20000"], (40 + 40000) * (30 + 40000)),
        (["--padding", "30000,10000"], (40 + 60000) * (30 + 20000)),
        (["--padding", "full", "--dilation", "20000"], (40 + 2 * 40000) * (30 + 2 * 40000)),
    ],
)
def test_huge_padding_or_dilation_is_a_usage_error(capsys, tmp_path, png, options, pixels):
    code, _, err = cli(capsys, "filter", png, "-k", "box", "-o", tmp_path / "o.npy", *options)
    assert_clean_error(code, err, 2, f"{pixels:,} pixels", "CONVCLI_MAX_OUTPUT_PIXELS")


def test_the_output_limit_holds_in_the_library():
    import convcli

    with pytest.raises(OptionError, match="CONVCLI_MAX_OUTPUT_PIXELS"):
        convcli.correlate(np.zeros((4, 4)), np.ones((3, 3)), padding=40000)


def test_shape_arithmetic_is_not_limited(capsys):
    code, out, err = cli(capsys, "shape", "100000x100000x3", "-k", "3", "--padding", "50000")
    assert code == 0, err


# -- frames -------------------------------------------------------------------------------


def _animation(path: Path, frames: int, size: int, fmt: str) -> None:
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        for _ in range(frames)
    ]
    images[0].save(path, format=fmt, save_all=True, append_images=images[1:])


@pytest.mark.parametrize(("fmt", "ext"), [("GIF", "gif"), ("TIFF", "tif"), ("PNG", "png")])
@pytest.mark.parametrize("frames", [30, 80])
def test_all_frames_counts_every_frame(capsys, monkeypatch, tmp_path, fmt, ext, frames):
    path = tmp_path / f"anim.{ext}"
    _animation(path, frames, 16, fmt)
    monkeypatch.setenv("CONVCLI_MAX_FRAMES_PIXELS", str(16 * 16 * 10))
    code, _, err = cli(
        capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.gif", "--all-frames"
    )
    assert_clean_error(code, err, 1, "frames of 16x16", "CONVCLI_MAX_FRAMES_PIXELS")
    monkeypatch.setenv("CONVCLI_MAX_FRAMES_PIXELS", str(16 * 16 * frames))
    code, _, err = cli(
        capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.gif", "--all-frames", "-q"
    )
    assert code == 0, err


# -- kernel files -------------------------------------------------------------------------


def _toml(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "token"),
    [
        ("weights = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ("weights = " + "[" * 200 + "1" + "]" * 200, "nesting"),
        ("weights = [[" + "9" * 5000 + "]]", "invalid TOML"),
        ("weights = [[1, " + str(10**400) + "]]", "finite"),
        ("weights = [[1, 2]]\nscale = " + str(10**400), "finite"),
        ("weights = [[1, 2]]\n[a]\n" + "[a.b]\n" * 3, "invalid TOML"),
    ],
    ids=["deep", "deep-value", "digits", "huge-weight", "huge-scale", "tables"],
)
def test_hostile_toml_kernels_exit_2(capsys, tmp_path, png, body, token):
    kernel = _toml(tmp_path / "k.toml", body)
    code, _, err = cli(capsys, "filter", png, "-k", kernel, "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, token)
    assert len(err) < 400


def _npy_with_header(header: bytes, tail: bytes = b"") -> bytes:
    body = header + b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + tail


@pytest.mark.parametrize(
    "data",
    [
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), }"),
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (-3, 3), }"),
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (10**30, 3), }"),
        _npy_with_header(b"{'descr': 'zz', 'fortran_order': False, 'shape': (3, 3), }"),
        _npy_with_header(b"{'descr': '<f8'"),
        _npy_with_header(b"[1, 2, 3]"),
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': 7, 'shape': (3, 3), }"),
        b"\x93NUMPY\x09\x00" + b"\x00" * 100,
        b"\x93NUMPY",
    ],
    ids=["short-data", "negative", "huge", "dtype", "cut", "list", "order", "version", "magic"],
)
def test_malformed_npy_kernels_exit_2(capsys, tmp_path, png, data):
    kernel = tmp_path / "k.npy"
    kernel.write_bytes(data)
    code, _, err = cli(capsys, "filter", png, "-k", kernel, "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "k.npy")


@pytest.mark.parametrize(("suffix", "limit"), [(".txt", "1K"), (".toml", "4K"), (".csv", "100")])
def test_text_kernels_over_the_byte_limit_are_refused_unread(
    capsys, monkeypatch, tmp_path, png, suffix, limit
):
    kernel = tmp_path / f"k{suffix}"
    kernel.write_text(("1 " * 3000 + "\n") * 3)
    monkeypatch.setenv("CONVCLI_MAX_KERNEL_FILE_BYTES", limit)
    code, _, err = cli(capsys, "filter", png, "-k", kernel, "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "CONVCLI_MAX_KERNEL_FILE_BYTES", ".npy")


def test_kernels_list_with_a_huge_preset_is_fast(capsys, monkeypatch, tmp_path):
    big = tmp_path / "big.toml"
    with big.open("w") as f:
        f.write("weights = [\n")
        row = "[" + ", ".join(["1"] * 1000) + "],\n"
        for _ in range(12_000):  # 36 MB, over the default 32 MiB
            f.write(row)
        f.write("]\n")
    monkeypatch.setenv("CONVCLI_KERNEL_PATH", str(tmp_path))
    code, out, err = cli(capsys, "kernels", "list", "--json")
    # skipped with one warning naming the file and the fault, before reading it (issue 15)
    assert code == 0, err
    warned = [ln for ln in err.splitlines() if "big.toml" in ln]
    assert len(warned) == 1
    assert "over the limit" in warned[0]
    assert "big" not in {k["name"] for k in json.loads(out)["kernels"]}
    size = big.stat().st_size
    assert size > 32 << 20
    code, _, err = cli(capsys, "filter", str(big), "-k", str(big), "-o", str(tmp_path / "o.png"))
    assert_clean_error(code, err, 2, "big.toml", "over the limit", f"{size / (1 << 20):.1f} MiB")


def test_the_kernel_taps_limit_comes_from_the_environment(capsys, monkeypatch, tmp_path, png):
    monkeypatch.setenv("CONVCLI_MAX_KERNEL_TAPS", "20")
    code, _, err = cli(capsys, "filter", png, "-k", "box:5", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "25 weights", "at most 20", "CONVCLI_MAX_KERNEL_TAPS")


# -- file contents never leak -------------------------------------------------------------

SECRETS = [
    "root:$6$Zk1secret$hash:19000:0:99999:7:::\n",
    "PATH=/usr/bin\0API_TOKEN=abc123secret\0",
    "1 2 3\n4 5 hunter2secret\n",
    "password = 'opensesamesecret'\n",
]


@pytest.mark.parametrize("content", SECRETS)
@pytest.mark.parametrize("suffix", ["", ".txt", ".csv"])
def test_kernel_file_contents_never_reach_the_error(capsys, tmp_path, png, content, suffix):
    secret = tmp_path / f"shadow{suffix}"
    secret.write_text(content)
    code, _, err = cli(capsys, "filter", png, "-k", secret, "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "shadow")
    assert "secret" not in err.replace(str(tmp_path), "")
    assert "hunter2" not in err


# -- non-finite values --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("command", ["filter", "grad"])
def test_non_finite_cval_is_refused(capsys, tmp_path, png, value, command):
    extra = ["-o", tmp_path / "o.npy"] if command == "filter" else ["--loss", "sum"]
    code, _, err = cli(
        capsys, command, png, "-k", "box", "--border", "constant", f"--cval={value}", *extra
    )
    assert_clean_error(code, err, 2, "cval", "finite")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_cval_is_refused_in_the_library(value):
    import convcli

    with pytest.raises(OptionError, match="finite"):
        convcli.correlate(np.zeros((4, 4)), np.ones((3, 3)), border="constant", cval=value)


def test_npy_kernel_of_a_huge_shape_is_refused_from_its_header(tmp_path):
    from convcli.kernelspec import load_kernel

    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 1)))
    data = buf.getvalue().replace(b"(1, 1)", b"(9999, 9999)".ljust(6))
    path = tmp_path / "big.npy"
    path.write_bytes(data)
    with pytest.raises(KernelError, match=r"big\.npy"):
        load_kernel(str(path))


# -- misleading messages, warnings, non-finite results ------------------------------------


@pytest.mark.parametrize(
    ("layer", "tokens"),
    [
        ("k=3,s=0", ["s=", "stride"]),
        ("k=3,d=0", ["d=", "dilation"]),
        ("k=0", ["k=", "kernel size"]),
        ("k=3,s=2x0", ["s=", "stride"]),
    ],
)
def test_layer_errors_name_the_field(capsys, layer, tokens):
    code, _, err = cli(capsys, "shape", "32x32", "--layer", layer)
    assert_clean_error(code, err, 2, *tokens)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_offset_blames_the_offset(capsys, tmp_path, png, value):
    code, _, err = cli(
        capsys, "filter", png, "-k", "box", f"--offset={value}", "-o", tmp_path / "o.png"
    )
    assert_clean_error(code, err, 2, "`offset`", "finite")
    assert "kernel weights" not in err


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("ext", [".tif", ".npy"])
def test_nan_pixels_say_so_the_same_way_for_tiff_and_npy(capsys, tmp_path, bad, ext):
    pixels = np.ones((6, 5), np.float32)
    pixels[2, 3] = bad
    path = tmp_path / f"f{ext}"
    if ext == ".npy":
        np.save(path, pixels)
    else:
        Image.fromarray(pixels).save(path)
    code, _, err = cli(capsys, "filter", path, "-k", "box", "-o", tmp_path / "o.npy")
    assert_clean_error(code, err, 1, "contains NaN or infinite values")


def test_a_folder_in_a_batch_is_named_as_a_folder(capsys, tmp_path, png):
    (tmp_path / "sub").mkdir()
    code, _, err = cli(capsys, "filter", tmp_path / "sub", png, "-k", "box", "-d", tmp_path / "o")
    assert code == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1
    assert "is a folder" in errors[0]
    assert "extension" not in errors[0]


@pytest.mark.parametrize("name", ["a\nb.png", "c\rd.png", "e\n\nf.png"])
def test_a_newline_in_a_file_name_keeps_the_error_on_one_line(capsys, tmp_path, png, name):
    code, _, err = cli(capsys, "filter", png, tmp_path / name, "-k", "box", "-d", tmp_path / "o")
    assert code == 2
    errors = [ln for ln in err.splitlines() if "not found" in ln]
    assert len(errors) == 1
    assert errors[0].startswith("Error: ")


@pytest.mark.parametrize("spec", ["box:4000", "box:200", "gaussian:size=301"])
def test_kernels_show_of_a_huge_kernel_prints_a_bounded_summary(capsys, spec):
    code, out, err = cli(capsys, "kernels", "show", spec)
    assert code == 0, err
    assert len(out.splitlines()) < 80  # a summary, not 40,000+ table rows


@pytest.mark.parametrize("weight", ["1e308", "1e307"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_grad_of_an_overflowing_loss_is_refused(capsys, png, weight, json_flag):
    spec = ";".join([",".join([weight] * 3)] * 3)
    code, out, err = cli(capsys, "grad", png, "-k", spec, "--loss", "sum", *json_flag)
    assert_clean_error(code, err, 2, "overflows float64")
    if json_flag:  # the one JSON error document (issue 15), no numbers
        assert json.loads(out)["error"]["exit_code"] == 2
    else:
        assert out == ""


@pytest.mark.parametrize("lr", ["1e308", "inf", "nan", "0", "-1"])
def test_absurd_learning_rates_are_refused(capsys, png, lr):
    code, _, err = cli(capsys, "fit", png, png, "--size", "3", "--method", "gd", f"--lr={lr}")
    assert_clean_error(code, err, 2, "--lr")


def test_warnings_become_one_note_line_each_or_join_the_error(capsys, monkeypatch):
    import warnings

    import convcli.presets as presets

    real = presets.list_presets

    def noisy(**kw):
        for _ in range(3):
            warnings.warn("first line\nsecond line", RuntimeWarning, stacklevel=1)
        warnings.warn("another", UserWarning, stacklevel=1)
        return real(**kw)

    monkeypatch.setattr(presets, "list_presets", noisy)
    code, _, err = cli(capsys, "kernels", "list")
    assert code == 0
    assert err.splitlines() == [
        "note: first line second line (RuntimeWarning)",
        "note: another (UserWarning)",
    ]

    def failing(**kw):
        warnings.warn("odd\nTIFF tag", UserWarning, stacklevel=1)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(presets, "list_presets", failing)
    code, _, err = cli(capsys, "kernels", "list")
    assert_clean_error(code, err, 1, "Input/output error", "(warnings: odd TIFF tag (UserWarning))")
