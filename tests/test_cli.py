"""The command line, through the same ``run`` the console script uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

from tests.support import assert_clean_error

REPO = Path(__file__).resolve().parent.parent
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)


@pytest.fixture
def rgb_png(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


@pytest.fixture
def gray_png(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(20, 18), dtype=np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def per_channel(x, w, mode="reflect"):
    x = np.asarray(x, np.float64)
    return np.stack([ndi.correlate(x[..., c], w, mode=mode) for c in range(x.shape[2])], -1)


# -- filter ----------------------------------------------------------------------


def test_filter_png_matches_scipy(run_cli, tmp_path, rgb_png):
    src, pixels = rgb_png
    code, out, err = run_cli("filter", src, "-k", "sharpen", "-o", tmp_path / "o.png")
    assert code == 0, err
    assert out == ""
    assert "24x32x3 -> 24x32x3" in err
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float)
    want = np.clip(np.rint(per_channel(pixels, sharpen)), 0, 255)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), want)


def test_filter_npy_raw_values_and_json(run_cli, tmp_path, rgb_png):
    src, pixels = rgb_png
    dst = tmp_path / "o.npy"
    code, out, _ = run_cli("filter", src, "-k", "sobel-x", "-o", dst, "--json", "-q")
    assert code == 0
    doc = json.loads(out)
    (res,) = doc["results"]
    assert res["ok"] is True
    assert res["error"] is None
    assert res["input_shape"] == [24, 32, 3]
    assert res["output_shape"] == [24, 32, 3]
    assert res["output"] == str(dst)
    assert isinstance(res["seconds"], float)
    np.testing.assert_allclose(np.load(dst), per_channel(pixels, SOBEL_X), atol=1e-3)


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (["--border", "constant", "--cval", "10"], lambda x: per_channel(x, SOBEL_X, "constant")),
        (["--border", "wrap"], lambda x: per_channel(x, SOBEL_X, "wrap")),
        (["--stride", "2"], lambda x: per_channel(x, SOBEL_X)[::2, ::2]),
        (["--padding", "valid"], lambda x: per_channel(x, SOBEL_X)[1:-1, 1:-1]),
        (["--convolve"], lambda x: per_channel(x, -SOBEL_X)),
        (["--scale", "0.5", "--offset", "3"], lambda x: 0.5 * per_channel(x, SOBEL_X) + 3),
        (["--precision", "float64"], lambda x: per_channel(x, SOBEL_X)),
    ],
    ids=["constant-cval", "wrap", "stride", "valid", "convolve", "scale-offset", "float64"],
)
def test_filter_options(run_cli, tmp_path, rgb_png, args, check):
    src, pixels = rgb_png
    if args[:2] == ["--border", "constant"]:
        want = np.stack(
            [
                ndi.correlate(pixels[..., c].astype(float), SOBEL_X, mode="constant", cval=10)
                for c in range(3)
            ],
            -1,
        )
    else:
        want = check(pixels)
    code, _, err = run_cli("filter", src, "-k", "sobel-x", "-o", tmp_path / "o.npy", *args)
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), want, atol=1e-3)


def test_filter_chain_and_abs_rescale(run_cli, tmp_path, gray_png):
    src, pixels = gray_png
    code, _, err = run_cli(
        "filter",
        src,
        "-k",
        "box",
        "-k",
        "sobel-x",
        "--abs",
        "--rescale",
        "-o",
        tmp_path / "o.png",
    )
    assert code == 0, err
    y = np.abs(
        ndi.correlate(
            ndi.correlate(pixels.astype(float), np.ones((3, 3)) / 9, mode="reflect"),
            SOBEL_X,
            mode="reflect",
        )
    )
    want = np.rint((y - y.min()) * 255 / (y.max() - y.min()))
    got = np.asarray(Image.open(tmp_path / "o.png")).astype(float)
    assert got.ndim == 2
    np.testing.assert_allclose(got, want, atol=1)


def test_filter_batch_outdir_suffix_format(run_cli, tmp_path, rgb_png, gray_png):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        "filter",
        rgb_png[0],
        gray_png[0],
        "-k",
        "box",
        "-d",
        out_dir,
        "--suffix",
        "-b",
        "--format",
        "npy",
        "--json",
    )
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["gray-b.npy", "in-b.npy"]
    assert [r["ok"] for r in json.loads(out)["results"]] == [True, True]


def test_filter_glob(run_cli, tmp_path, rgb_png, gray_png):
    code, _, err = run_cli("filter", str(tmp_path / "*.png"), "-k", "box", "-d", tmp_path / "o")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["gray.png", "in.png"]


def test_batch_failure_reported_rest_still_run(run_cli, tmp_path, rgb_png):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    code, out, err = run_cli("filter", bad, rgb_png[0], "-k", "box", "-d", tmp_path / "o", "--json")
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["ok"] for r in results] == [False, True]
    assert results[0]["error"]
    assert "Error:" in err and "bad.png" in err
    assert (tmp_path / "o" / "in.png").exists()
    assert not (tmp_path / "o" / "bad.png").exists()


def test_output_onto_input_path(run_cli, rgb_png):
    src, pixels = rgb_png
    code, _, err = run_cli("filter", src, "-k", "box", "-o", src)
    assert code == 0, err
    got = np.asarray(Image.open(src)).astype(float)
    np.testing.assert_allclose(got, per_channel(pixels, np.ones((3, 3)) / 9), atol=0.51)


def test_rgba_keeps_alpha(run_cli, tmp_path, rng):
    px = rng.integers(0, 256, size=(10, 12, 4), dtype=np.uint8)
    Image.fromarray(px, "RGBA").save(tmp_path / "a.png")
    code, _, err = run_cli("filter", tmp_path / "a.png", "-k", "box", "-o", tmp_path / "b.png")
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "b.png"))
    assert out.shape == (10, 12, 4)
    np.testing.assert_array_equal(out[..., 3], px[..., 3])


# -- filter errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "tokens"),
    [
        (["-k", "sharpn", "-o", "o.png"], ["sharpen"]),
        (["-k", "sharpen", "--stride", "0", "-o", "o.png"], ["stride"]),
        (["-k", "sharpen", "--border", "bounce", "-o", "o.png"], ["border"]),
        (["-k", "sharpen", "--padding", "middle", "-o", "o.png"], ["padding"]),
        (["-k", "sharpen", "--alpha", "maybe", "-o", "o.png"], ["alpha"]),
        (["-k", "sharpen", "--precision", "float16", "-o", "o.png"], ["precision"]),
        (["-k", "1,2; 3", "-o", "o.png"], ["row 2"]),
        (["-k", "sharpen", "--bogus", "-o", "o.png"], ["--bogus"]),
        (["-k", "sharpen"], ["-o", "-d"]),
        (["-k", "sharpen", "-o", "x.png", "-d", "y"], ["-o", "-d"]),
        (["-k", "sharpen", "-o", "x.xyz"], [".xyz"]),
        (
            ["-k", "0,0,0; 0,1,0; 0,0,0", "--padding", "valid", "--dilation", "40", "-o", "o.png"],
            ["empty"],
        ),
    ],
    ids=[
        "unknown-kernel",
        "stride",
        "border",
        "padding",
        "alpha",
        "precision",
        "ragged",
        "unknown-flag",
        "no-output",
        "both-outputs",
        "bad-extension",
        "empty-output",
    ],
)
def test_filter_usage_errors_exit_2(run_cli, rgb_png, tmp_path, extra, tokens):
    os.chdir(tmp_path)
    code, out, err = run_cli("filter", rgb_png[0], *extra)
    assert_clean_error(code, err, 2, *tokens)
    assert out == ""


def test_missing_input_exit_2(run_cli, tmp_path):
    code, _, err = run_cli("filter", tmp_path / "nope.png", "-k", "box", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "nope.png")


def test_channel_mismatch_exit_2(run_cli, tmp_path, gray_png):
    code, _, err = run_cli("filter", gray_png[0], "-k", "grayscale", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "3", "1")


def test_o_with_two_inputs_exit_2(run_cli, tmp_path, rgb_png, gray_png):
    code, _, err = run_cli("filter", rgb_png[0], gray_png[0], "-k", "box", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "-o")


def test_corrupt_image_exit_1_and_no_output(run_cli, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    code, _, err = run_cli("filter", bad, "-k", "box", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 1, "bad.png")
    assert not (tmp_path / "o.png").exists()


def test_missing_output_folder_exit_1(run_cli, tmp_path, rgb_png):
    code, _, err = run_cli("filter", rgb_png[0], "-k", "box", "-o", tmp_path / "no" / "o.png")
    assert_clean_error(code, err, 1)


def test_pixel_limit_exit_1(run_cli, tmp_path, rgb_png):
    code, _, err = run_cli(
        "filter", rgb_png[0], "-k", "box", "-o", tmp_path / "o.png", "--max-pixels", "100"
    )
    assert_clean_error(code, err, 1, "100")


# -- kernels ---------------------------------------------------------------------


def test_kernels_list_json(run_cli):
    code, out, _ = run_cli("kernels", "list", "--json")
    assert code == 0
    kernels = json.loads(out)["kernels"]
    assert len(kernels) >= 24
    by_name = {k["name"]: k for k in kernels}
    for name in ["sharpen", "sobel-x", "gaussian-3x3", "grayscale", "sepia", "emboss"]:
        assert name in by_name
    assert by_name["grayscale"]["shape"] == [1, 3, 1, 1]
    assert by_name["sepia"]["shape"] == [3, 3, 1, 1]
    for k in kernels:
        assert set(k) >= {"name", "category", "shape", "source", "description"}


def test_kernels_list_table_and_category(run_cli):
    code, out, _ = run_cli("kernels", "list", "--category", "edge")
    assert code == 0
    assert "sobel-x" in out and "sharpen" not in out
    code, out, _ = run_cli("kernels")
    assert code == 0 and "sharpen" in out
    code, _, err = run_cli("kernels", "list", "--category", "nope")
    assert_clean_error(code, err, 2, "category")


def test_kernels_show_json_weights_after_scale(run_cli):
    code, out, _ = run_cli("kernels", "show", "gaussian-3x3", "--json")
    assert code == 0
    doc = json.loads(out)
    np.testing.assert_allclose(doc["weights"], np.outer([1, 2, 1], [1, 2, 1]) / 16)
    assert doc["shape"] == [3, 3]
    code, out, _ = run_cli("kernels", "show", "sobel-x", "--json", "--convolve", "--scale", "2")
    np.testing.assert_allclose(json.loads(out)["weights"], -2 * SOBEL_X)


def test_kernels_show_table_and_unknown(run_cli):
    code, out, _ = run_cli("kernels", "show", "sobel-x")
    assert code == 0 and "-2" in out
    code, _, err = run_cli("kernels", "show", "sobelx")
    assert_clean_error(code, err, 2, "sobel-x")


# -- shape -----------------------------------------------------------------------


def test_shape_json_size_and_layers(run_cli):
    code, out, _ = run_cli(
        "shape",
        "224x224x3",
        "--layer",
        "k=7,s=2,p=3,c=64",
        "--layer",
        "k=3,s=2,p=1",
        "--json",
    )
    assert code == 0
    a, b = json.loads(out)["layers"]
    assert a["output_shape"] == [112, 112, 64]
    assert a["kernel_shape"] == [64, 3, 7, 7]
    assert a["padding"] == [3, 3]
    assert a["stride"] == [2, 2]
    assert a["params"] == 64 * 3 * 7 * 7
    assert a["macs"] == 112 * 112 * 64 * 3 * 49
    assert b["input_shape"] == [112, 112, 64]
    assert b["output_shape"] == [56, 56, 64]
    assert b["receptive_field"] == [11, 11]


def test_shape_from_image_header_and_formula(run_cli, rgb_png):
    code, out, _ = run_cli("shape", rgb_png[0], "-k", "5", "--stride", "2", "--padding", "valid")
    assert code == 0
    # floor((24 - 4 - 1)/2) + 1 = 10 ; floor((32 - 4 - 1)/2) + 1 = 14
    assert "= 10" in out and "= 14" in out
    assert "floor((24 + 2*0 - 1*(5-1) - 1)/2) + 1" in out
    code, out, _ = run_cli("shape", rgb_png[0], "-k", "sharpen", "--json")
    (lay,) = json.loads(out)["layers"]
    assert lay["kernel_shape"] == [3, 1, 3, 3]
    assert lay["depthwise"] is True
    assert lay["output_shape"] == [24, 32, 3]


@pytest.mark.parametrize(
    ("args", "tokens"),
    [
        (["5x5", "-k", "9", "--padding", "valid"], ["empty", "9"]),
        (["5x5", "-k", "3", "--layer", "k=3"], ["-k"]),
        (["5x5"], ["-k"]),
        (["nope.png", "-k", "3"], ["nope.png"]),
        (["5x5x3", "--layer", "k=3,q=1"], ["q"]),
    ],
)
def test_shape_errors(run_cli, args, tokens):
    code, _, err = run_cli("shape", *args)
    assert_clean_error(code, err, 2, *tokens)


# -- help, version, entry points ---------------------------------------------------


@pytest.mark.parametrize(
    "cmd", [[], ["filter"], ["kernels"], ["kernels", "list"], ["kernels", "show"], ["shape"]]
)
def test_help_has_examples(run_cli, cmd):
    code, out, _ = run_cli(*cmd, "--help")
    assert code == 0
    assert "Examples:" in out
    assert "convcli" in out


def test_version(run_cli):
    import convcli

    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"convcli {convcli.__version__}"


def test_import_convcli_loads_no_cli_libraries():
    code = (
        "import sys, convcli; convcli.correlate; "
        "bad = [m for m in ('typer', 'rich', 'PIL') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize(
    "argv", [None, [sys.executable, "-m", "convcli"]], ids=["script", "module"]
)
def test_entry_points_run_in_subprocess(run_installed, tmp_path, rgb_png, argv):
    ok = run_installed(
        "filter", rgb_png[0], "-k", "box", "-o", tmp_path / "s.png", "--json", cwd=tmp_path,
        command=argv,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["results"][0]["ok"]
    bad = run_installed(
        "filter", "missing.png", "-k", "box", "-o", "x.png", cwd=tmp_path, command=argv
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: ")
    assert "Traceback" not in bad.stderr


def test_kernels_show_reports_scale_applied_to_written_weights(run_cli):
    code, out, _ = run_cli("kernels", "show", "box", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["scale"] == pytest.approx(1 / 9)
    np.testing.assert_allclose(doc["weights"], np.full((3, 3), 1 / 9))
    code, out, _ = run_cli("kernels", "show", "1,3", "--json", "--normalize", "--scale", "2")
    doc = json.loads(out)
    assert doc["scale"] == pytest.approx(0.5)
    np.testing.assert_allclose(doc["weights"], [[0.5, 1.5]])


def test_filter_explain_prints_the_plan_per_step(run_cli, tmp_path, rgb_png):
    code, out, err = run_cli(
        "filter",
        rgb_png[0],
        "-k",
        "gaussian:sigma=3",
        "-k",
        "sharpen",
        "-o",
        tmp_path / "o.png",
        "--explain",
    )
    assert code == 0, err
    assert out == ""
    plans = [ln for ln in err.splitlines() if ln.startswith("plan: ")]
    assert len(plans) == 2
    assert "separable" in plans[0]  # a Gaussian has rank 1
    assert "direct" in plans[1]


# -- shared options ------------------------------------------------------------------

# Options whose help differs on purpose: `shape` applies --stride/--dilation to -k only,
# and -k / -o are different options in different commands (one spec or a chain; an
# image or a preset file).
# --full: every weight (kernels show) or an (O,C,K,K) kernel (fit)
PER_COMMAND = {"--stride", "--dilation", "--kernel", "--output", "--full"}


def _commands():
    """Every command as Click builds it, by its path (``"kernels show"``)."""
    import convcli.cli

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    # the Typer-to-Click conversion the CLI itself runs (tests may not import typer)
    return dict(walk(convcli.cli.get_command(convcli.cli.app), []))


def test_an_option_has_one_help_text_in_every_command():
    helps: dict[str, dict[str, str]] = {}
    for path, cmd in _commands().items():
        for param in cmd.params:
            if param.param_type_name == "option":
                long = max(param.opts, key=len)
                helps.setdefault(long, {})[path] = param.help
    shared = {opt: by_cmd for opt, by_cmd in helps.items() if len(by_cmd) > 1}
    assert {"--border", "--padding", "--json", "--scale", "--max-pixels"} <= set(shared)
    differing = {opt: by_cmd for opt, by_cmd in shared.items() if len(set(by_cmd.values())) > 1}
    assert set(differing) <= PER_COMMAND, differing


def test_commands_are_listed_in_help_order(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    commands = out.split("Commands:")[1].split("Limits (")[0]
    listed = [ln.split()[0] for ln in commands.splitlines() if ln.strip()]
    assert listed == ["filter", "grad", "fit", "shape", "kernels"]


def test_shape_reports_the_first_failing_kernel_first(run_cli):
    # each -k is read just before its layer: the empty first layer is the error, not the
    # unknown name after it
    code, _, err = run_cli("shape", "5x5", "-k", "9", "-k", "sharpn", "--padding", "valid")
    assert_clean_error(code, err, 2, "empty")
    code, _, err = run_cli("shape", "5x5", "-k", "sharpn", "-k", "9", "--padding", "valid")
    assert_clean_error(code, err, 2, "sharpen")
