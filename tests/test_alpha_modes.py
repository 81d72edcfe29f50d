"""Alpha modes with colour hidden under transparent pixels (SPEC section 4), against scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

from convcli.filters import FilterOptions, filter_array, prepare_kernels
from convcli.kernelspec import load_kernel

GREEN = (0, 255, 0)
RED = (200, 50, 30)


def disc_on_hidden_green(n: int = 33, radius: float = 9.5) -> np.ndarray:
    """An opaque red disc on a fully transparent, pure-green background (uint8 RGBA)."""
    yy, xx = np.mgrid[:n, :n]
    inside = (yy - n // 2) ** 2 + (xx - n // 2) ** 2 <= radius**2
    img = np.zeros((n, n, 4), np.uint8)
    img[...] = (*GREEN, 0)
    img[inside] = (*RED, 255)
    return img


def scipy_chain(x: np.ndarray, w: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Each channel correlated with ``w`` by scipy (float64)."""
    x = np.asarray(x, np.float64)
    return np.stack([ndi.correlate(x[..., c], w, mode=mode) for c in range(x.shape[2])], axis=-1)


def run(img: np.ndarray, spec: str, alpha: str, **kw: object) -> np.ndarray:
    kernels = prepare_kernels([load_kernel(spec)], FilterOptions())
    opts = FilterOptions(alpha=alpha, precision="float64", **kw)  # type: ignore[arg-type]
    return filter_array(img, kernels, has_alpha=True, max_value=255, options=opts)


def weights(spec: str) -> np.ndarray:
    return load_kernel(spec).effective_weights


@pytest.mark.parametrize("spec", ["gaussian:sigma=2", "box:5", "box:7x3"])
def test_keep_weights_colour_by_alpha_so_hidden_green_never_shows(spec):
    img = disc_on_hidden_green()
    got = run(img, spec, "keep")
    w = weights(spec)
    a = img[..., 3:].astype(float) / 255
    c = img[..., :3].astype(float)
    conv_a = scipy_chain(a, w)
    conv_1 = scipy_chain(np.ones_like(a), w)
    # conv(a) > 0, up to the documented floor (1e-5 of conv(1)) that keeps rounding out
    seen = conv_a > 1e-5 * conv_1
    want = scipy_chain(a * c, w) * conv_1 / np.where(seen, conv_a, 1)
    want = np.where(seen, want, scipy_chain(c, w))
    np.testing.assert_allclose(got[..., :3], want, atol=1e-9)
    np.testing.assert_array_equal(got[..., 3], img[..., 3])  # alpha byte-identical
    visible = img[..., 3] > 0
    # Every visible pixel keeps the disc's own colour: the green never bleeds in.
    np.testing.assert_allclose(
        got[visible][:, :3], np.broadcast_to(RED, (visible.sum(), 3)), atol=1e-9
    )


def test_plain_is_colour_filtered_as_is_and_shows_the_green_ring():
    img = disc_on_hidden_green()
    got = run(img, "gaussian:sigma=2", "plain")
    w = weights("gaussian:sigma=2")
    np.testing.assert_allclose(got[..., :3], scipy_chain(img[..., :3], w), atol=1e-9)
    np.testing.assert_array_equal(got[..., 3], img[..., 3])
    visible = img[..., 3] > 0
    assert (np.rint(got[visible][:, 1]) > RED[1] + 20).sum() > 20  # the bleeding ring


def test_filter_mode_filters_alpha_like_colour():
    img = disc_on_hidden_green()
    got = run(img, "box:5", "filter")
    np.testing.assert_allclose(got, scipy_chain(img, weights("box:5")), atol=1e-9)


def test_premultiply_divides_by_filtered_alpha():
    img = disc_on_hidden_green()
    w = weights("box:5")
    got = run(img, "box:5", "premultiply")
    a = img[..., 3:].astype(float)
    conv_a = scipy_chain(a, w)
    want_c = scipy_chain(img[..., :3] * (a / 255), w) * 255 / np.where(conv_a > 0, conv_a, 1)
    want_c = np.where(conv_a > 0, want_c, 0)
    np.testing.assert_allclose(got[..., :3], want_c, atol=1e-9)
    np.testing.assert_allclose(got[..., 3:], conv_a, atol=1e-9)


@pytest.mark.parametrize("border", ["reflect", "constant", "wrap"])
@pytest.mark.parametrize("spec", ["gaussian:sigma=1.5", "box:4"])
def test_keep_on_an_opaque_image_equals_the_result_without_alpha(border, spec):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (12, 15, 4), dtype=np.uint8)
    img[..., 3] = 255
    got = run(img, spec, "keep", border=border, cval=40.0, stride=2)
    kernels = prepare_kernels([load_kernel(spec)], FilterOptions())
    opts = FilterOptions(precision="float64", border=border, cval=40.0, stride=2)
    want = filter_array(img[..., :3], kernels, max_value=255, options=opts)
    np.testing.assert_allclose(got[..., :3], want, atol=1e-9)
    np.testing.assert_array_equal(got[..., 3], img[::2, ::2, 3])


def test_keep_filters_colour_as_is_for_kernels_with_negative_weights():
    img = disc_on_hidden_green()
    got = run(img, "sharpen", "keep")
    np.testing.assert_allclose(
        got[..., :3], scipy_chain(img[..., :3], weights("sharpen")), atol=1e-9
    )


def test_keep_adds_kernel_offsets_once(tmp_path: Path):
    preset = tmp_path / "softer.toml"
    preset.write_text('name = "softer"\nweights = [[1, 1], [1, 1]]\nscale = 0.25\noffset = 7.0\n')
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (9, 10, 4), dtype=np.uint8)
    img[..., 3] = 255
    kernels = prepare_kernels([load_kernel(str(preset))] * 2, FilterOptions())
    got = filter_array(img, kernels, has_alpha=True, options=FilterOptions(precision="float64"))
    want = filter_array(img[..., :3], kernels, options=FilterOptions(precision="float64"))
    np.testing.assert_allclose(got[..., :3], want, atol=1e-9)


def test_cli_default_gives_no_green_ring_and_plain_does(tmp_path: Path, run_cli):
    src = tmp_path / "disc.png"
    Image.fromarray(disc_on_hidden_green(), "RGBA").save(src)
    tinted = {}
    for mode in ("keep", "plain"):
        out = tmp_path / f"{mode}.png"
        code, _, err = run_cli("filter", src, "-k", "gaussian:sigma=2", "--alpha", mode, "-o", out)
        assert code == 0, err
        px = np.asarray(Image.open(out))
        visible = px[..., 3] > 0
        tinted[mode] = int((px[visible][:, 1] > RED[1] + 2).sum())
    assert tinted["keep"] == 0
    assert tinted["plain"] > 20
