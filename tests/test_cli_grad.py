"""``convcli grad`` and ``convcli fit`` against independent references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

import convcli.grad.backward
from tests.helpers import numerical_gradient
from tests.support import assert_clean_error, cli

IRREGULAR = np.array([[0.013, -0.917, 0.2071], [-1.0093, 5.00031, -0.9871], [0.1, -1.1, 0.03]])
IRREGULAR_SPEC = "; ".join(",".join(repr(float(v)) for v in row) for row in IRREGULAR)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def pair(tmp_path, rng):
    """An 8-bit RGB input and target (PNG) with their [0, 1] arrays."""
    x8 = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    t8 = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    Image.fromarray(x8).save(tmp_path / "x.png")
    Image.fromarray(t8).save(tmp_path / "t.png")
    return tmp_path / "x.png", tmp_path / "t.png", x8 / 255.0, t8 / 255.0


def scipy_forward(x, w, mode="reflect", stride=1):
    y = np.stack([ndi.correlate(x[..., c], w, mode=mode) for c in range(x.shape[2])], -1)
    return y[::stride, ::stride]


LOSSES = {
    "mse": lambda y, t: np.mean((y - t) ** 2),
    "sse": lambda y, t: 0.5 * np.sum((y - t) ** 2),
    "l1": lambda y, t: np.mean(np.abs(y - t)),
    "sum": lambda y, t: np.sum(y),
}


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize(("border", "stride"), [("reflect", 1), ("wrap", 2), ("mirror", 1)])
def test_grad_json_matches_finite_differences_of_scipy(
    capsys, tmp_path, pair, loss, border, stride
):
    # irregular weights, so no output ties exactly with an 8-bit target (an l1 kink)
    xp, _, x, t = pair
    t_cut = t[::stride, ::stride]
    tp = tmp_path / "t_cut.png"
    Image.fromarray(np.rint(t_cut * 255).astype(np.uint8)).save(tp)
    code, out, err = cli(
        capsys,
        "grad",
        xp,
        "-k",
        IRREGULAR_SPEC,
        "--target",
        tp,
        "--loss",
        loss,
        "--border",
        border,
        "--stride",
        stride,
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["loss_name"] == loss
    assert doc["kernel_shape"] == [3, 3]
    assert doc["input_grad_shape"] is None
    assert doc["check"] is None

    def f(w):
        return LOSSES[loss](scipy_forward(x, w, border, stride), t_cut)

    assert doc["loss"] == pytest.approx(f(IRREGULAR), rel=1e-9)
    np.testing.assert_allclose(
        doc["kernel_grad"], numerical_gradient(f, IRREGULAR), rtol=1e-5, atol=1e-7
    )


def test_sum_needs_no_target_and_input_grad_npy(capsys, tmp_path, rng):
    x8 = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
    Image.fromarray(x8).save(tmp_path / "g.png")
    x = x8[..., None] / 255.0
    w = np.array([[1.0, 2.0], [3.0, -4.0]])
    code, out, err = cli(
        capsys,
        "grad",
        tmp_path / "g.png",
        "-k",
        "1,2; 3,-4",
        "--loss",
        "sum",
        "--save-input-grad",
        tmp_path / "dx.npy",
        "--save-kernel-grad",
        tmp_path / "dw.npy",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["input_grad_shape"] == [5, 6, 1]
    dx = np.load(tmp_path / "dx.npy")
    assert dx.shape == (5, 6, 1)
    assert dx.dtype == np.float64
    want = numerical_gradient(lambda a: scipy_forward(a, w).sum(), x)
    np.testing.assert_allclose(dx, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.load(tmp_path / "dw.npy"), doc["kernel_grad"])


def test_save_kernel_grad_json_and_input_grad_image(capsys, pair, tmp_path):
    xp, tp, _, _ = pair
    code, out, err = cli(
        capsys,
        "grad",
        xp,
        "-k",
        "sobel-x",
        "--target",
        tp,
        "--save-kernel-grad",
        tmp_path / "dw.json",
        "--save-input-grad",
        tmp_path / "dx.npy",
        "--json",
    )
    assert code == 0, err
    np.testing.assert_allclose(
        json.loads((tmp_path / "dw.json").read_text()), json.loads(out)["kernel_grad"]
    )
    dx = np.load(tmp_path / "dx.npy")
    code, _, err = cli(
        capsys,
        "grad",
        xp,
        "-k",
        "sobel-x",
        "--target",
        tp,
        "--save-input-grad",
        tmp_path / "dx.png",
    )
    assert code == 0, err
    img = np.asarray(Image.open(tmp_path / "dx.png")).astype(float)
    want = np.rint(127.5 + 127.5 * dx / np.abs(dx).max())
    np.testing.assert_allclose(img, want, atol=1)


def test_grad_check_passes_and_prints(capsys, pair):
    xp, tp, _, _ = pair
    code, out, err = cli(capsys, "grad", xp, "-k", "box:3", "--target", tp, "--check", "--json")
    assert code == 0, err
    check = json.loads(out)["check"]
    assert check["ok"] is True
    assert check["max_abs_err"] < 1e-6
    assert check["n_pixels"] >= 64
    code, out, _ = cli(capsys, "grad", xp, "-k", "box:3", "--target", tp, "--check")
    assert code == 0
    assert "max abs err" in out
    assert "dL/dw" in out


def test_grad_uses_the_colours_of_an_rgba_input_with_a_note(capsys, pair, tmp_path):
    xp, tp, _, _ = pair
    rgb = np.asarray(Image.open(xp).convert("RGB"))
    alpha = np.full(rgb.shape[:2] + (1,), 77, np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(tmp_path / "a.png")
    code, out, err = cli(
        capsys, "grad", tmp_path / "a.png", "-k", "sharpen", "--target", tp, "--json"
    )
    assert code == 0, err
    assert "alpha channel" in err
    code, plain, err2 = cli(capsys, "grad", xp, "-k", "sharpen", "--target", tp, "--json")
    assert code == 0, err2
    assert "alpha" not in err2
    assert json.loads(out)["kernel_grad"] == json.loads(plain)["kernel_grad"]


def test_grad_check_fails_on_a_wrong_gradient(capsys, pair, monkeypatch):
    xp, tp, _, _ = pair
    real = convcli.grad.backward._kernel_grad_padded
    monkeypatch.setattr(convcli.grad.backward, "_kernel_grad_padded", lambda *a: real(*a) * 1.01)
    code, _, err = cli(capsys, "grad", xp, "-k", "box:3", "--target", tp, "--check")
    assert code == 1
    assert "Error:" in err


@pytest.mark.parametrize(
    ("args", "tokens"),
    [
        (["--loss", "mse"], ["--target"]),
        (["--loss", "huber", "--target", "T"], ["loss"]),
        (["--target", "T", "--save-kernel-grad", "dw.txt"], [".npy", ".json"]),
        (["--target", "T", "--stride", "0"], ["stride"]),
    ],
)
def test_grad_usage_errors(capsys, pair, args, tokens):
    xp, tp, _, _ = pair
    args = [str(tp) if a == "T" else a for a in args]
    code, _, err = cli(capsys, "grad", xp, "-k", "sharpen", *args)
    assert_clean_error(code, err, 2, *tokens)


def test_grad_target_shape_mismatch_names_both(capsys, pair, tmp_path):
    xp, _, _, _ = pair
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "small.png")
    code, _, err = cli(capsys, "grad", xp, "-k", "sharpen", "--target", tmp_path / "small.png")
    assert_clean_error(code, err, 2, "9", "11", "4")


# -- fit -------------------------------------------------------------------------


def test_fit_lstsq_recovers_kernel_and_toml_reuses_it(capsys, tmp_path, rng):
    x = rng.uniform(0, 255, size=(20, 24, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", scipy_forward(x.astype(float), w))
    code, out, err = cli(
        capsys,
        "fit",
        tmp_path / "x.npy",
        tmp_path / "t.npy",
        "--size",
        "3",
        "-o",
        tmp_path / "learned.toml",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["method"] == "lstsq"
    assert doc["steps"] == 0
    np.testing.assert_allclose(doc["kernel"], w, atol=1e-5)
    assert doc["loss"] < 1e-10
    code, _, err = cli(
        capsys,
        "filter",
        tmp_path / "x.npy",
        "-k",
        tmp_path / "learned.toml",
        "-o",
        tmp_path / "again.npy",
        "--precision",
        "float64",
    )
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "again.npy"), scipy_forward(x, w), atol=1e-3)


def test_fit_full_and_gd(capsys, tmp_path, rng):
    x = rng.uniform(0, 1, size=(16, 16, 3))
    w = rng.normal(size=(2, 3, 3, 3)) / 5
    t = np.stack(
        [
            sum(ndi.correlate(x[..., c], w[o, c], mode="reflect") for c in range(3))
            for o in range(2)
        ],
        -1,
    )
    np.save(tmp_path / "x.npy", x * 255)
    np.save(tmp_path / "t.npy", t * 255)
    code, out, err = cli(
        capsys, "fit", tmp_path / "x.npy", tmp_path / "t.npy", "--size", "3", "--full", "--json"
    )
    assert code == 0, err
    np.testing.assert_allclose(json.loads(out)["kernel"], w, atol=1e-6)
    np.save(tmp_path / "t1.npy", scipy_forward(x * 255, w[0, 0]))
    code, out, err = cli(
        capsys,
        "fit",
        tmp_path / "x.npy",
        tmp_path / "t1.npy",
        "--size",
        "3",
        "--method",
        "gd",
        "--steps",
        "300",
        "--lr",
        "0.05",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["method"] == "gd"
    assert doc["steps"] == 300
    rel = np.linalg.norm(np.array(doc["kernel"]) - w[0, 0]) / np.linalg.norm(w[0, 0])
    assert rel < 0.05
    assert "loss" in err  # the loss curve goes to stderr


@pytest.mark.parametrize(
    ("args", "tokens"),
    [
        (["--size", "abc"], ["--size"]),
        (["--size", "3", "--method", "newton"], ["method"]),
        (["--size", "3", "-o", "k.txt"], [".toml"]),
    ],
)
def test_fit_usage_errors(capsys, pair, args, tokens):
    xp, tp, _, _ = pair
    code, _, err = cli(capsys, "fit", xp, tp, *args)
    assert_clean_error(code, err, 2, *tokens)


@pytest.mark.parametrize("cmd", ["grad", "fit"])
def test_grad_fit_help(capsys, cmd):
    code, out, _ = cli(capsys, cmd, "--help")
    assert code == 0
    assert "Examples:" in out


def test_grad_geometry_options_match_naive_reference(capsys, tmp_path, pair):
    """--convolve --dilation --padding --border constant --cval --scale, vs a naive loop."""
    from tests.helpers import naive_correlate

    xp, _, x, _ = pair
    # padding (1, 2), dilation 2, 3x3 kernel on 9x11: (9+2-4-1)+1 = 7 by (11+4-4-1)+1 = 11
    t = np.linspace(0, 1, 7 * 11 * 3).reshape(7, 11, 3)
    np.save(tmp_path / "t.npy", t * 255)
    pads = ((1, 1), (2, 2))
    code, out, err = cli(
        capsys,
        "grad",
        xp,
        "-k",
        IRREGULAR_SPEC,
        "--target",
        tmp_path / "t.npy",
        "--convolve",
        "--dilation",
        "2",
        "--padding",
        "1,2",
        "--border",
        "constant",
        "--cval",
        "51",
        "--scale",
        "0.5",
        "--loss",
        "sse",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)

    def f(w):
        y = naive_correlate(x, (0.5 * w)[::-1, ::-1], pads, (1, 1), (2, 2), "constant", 0.2)
        return 0.5 * np.sum((y - t) ** 2)

    assert doc["loss"] == pytest.approx(f(IRREGULAR), rel=1e-9)
    # the gradient is with respect to the kernel as applied (after --scale)
    np.testing.assert_allclose(
        doc["kernel_grad"],
        numerical_gradient(lambda w: f(2 * w), 0.5 * IRREGULAR),
        rtol=1e-5,
        atol=1e-7,
    )
