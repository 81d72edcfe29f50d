"""Image-level filtering: pipelines, alpha modes, value mapping, files."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

from convcli.conv_options import ConvOptions
from convcli.errors import OptionError
from convcli.filters import (
    FilterOptions,
    explain_chain,
    filter_array,
    map_values,
    output_path_for,
    prepare_kernels,
)
from convcli.kernelspec import Kernel
from convcli.runner import filter_image

BOX3 = Kernel(name="box3", weights=np.ones((3, 3)), scale=1 / 9)
SHARPEN = Kernel(name="sharpen", weights=np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float))
SOBEL_X = Kernel(name="sobel-x", weights=np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float))


def per_channel(x, w, mode="reflect", op=ndi.correlate):
    x = np.asarray(x, np.float64)
    return np.stack([op(x[..., c], w, mode=mode) for c in range(x.shape[2])], axis=-1)


# -- value mapping ----------------------------------------------------------------


def test_map_values_rounds_and_clips():
    y = np.array([[[-3.2, 0.49, 0.5, 1.5, 254.6, 300.0]]]).reshape(1, 6, 1)
    got = map_values(y)
    assert got.dtype == np.uint8
    # rint rounds half to even: 0.5 -> 0, 1.5 -> 2
    np.testing.assert_array_equal(got.ravel(), [0, 0, 0, 2, 255, 255])


def test_map_values_abs_and_rescale_joint_range():
    y = np.array([[[-10.0, 0.0, 10.0], [5.0, -5.0, 0.0]]])
    np.testing.assert_array_equal(map_values(y, abs_values=True).ravel(), [10, 0, 10, 5, 5, 0])
    # joint min -10, max 10 over all channels: v -> (v + 10) * 255 / 20
    want = np.rint((y + 10) * 255 / 20).astype(np.uint8)
    np.testing.assert_array_equal(map_values(y, rescale=True), want)


def test_map_values_rescale_leaves_alpha_and_16bit():
    y = np.zeros((1, 2, 2))
    y[0, :, 0] = [100.0, 200.0]
    y[0, :, 1] = [65535.0, 1234.0]
    got = map_values(y, max_value=65535, rescale=True, has_alpha=True)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got[0, :, 0], [0, 65535])
    np.testing.assert_array_equal(got[0, :, 1], [65535, 1234])


def test_map_values_float_for_npy():
    y = np.array([[[-1.25]]], dtype=np.float32)
    got = map_values(y, to_integer=False)
    assert got.dtype == np.float32
    assert got[0, 0, 0] == -1.25


# -- kernel chain ------------------------------------------------------------------


def test_pipeline_equals_sequential_scipy_without_rounding(rng):
    x = rng.uniform(0, 255, size=(20, 17, 3))
    got = filter_array(x, [BOX3, SOBEL_X], options=FilterOptions(precision="float64"))
    want = per_channel(per_channel(x, np.ones((3, 3)) / 9), SOBEL_X.weights)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_repeat_applies_chain_n_times(rng):
    x = rng.uniform(0, 255, size=(9, 9, 1))
    got = filter_array(x, [BOX3], options=FilterOptions(repeat=3, precision="float64"))
    want = x
    for _ in range(3):
        want = per_channel(want, np.ones((3, 3)) / 9)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_offsets_kernel_then_global(rng):
    x = rng.uniform(0, 255, size=(6, 6, 1))
    k = Kernel(name="emb", weights=np.array([[-1.0, 0, 0], [0, 0, 0], [0, 0, 1.0]]), offset=128)
    got = filter_array(x, [k], options=FilterOptions(offset=2.0, precision="float64"))
    np.testing.assert_allclose(got, per_channel(x, k.weights) + 130, atol=1e-9)


def test_prepare_kernels_normalize_scale_flip():
    k = Kernel(name="k", weights=np.array([[1.0, 2.0, 5.0]]))
    (out,) = prepare_kernels([k], FilterOptions(normalize=True, scale=2.0, convolve=True))
    np.testing.assert_allclose(out.effective_weights, [[10 / 8, 4 / 8, 2 / 8]])


def test_convolve_option_matches_scipy_convolve(rng):
    x = rng.uniform(0, 255, size=(8, 9, 2))
    k = Kernel(name="asym", weights=rng.normal(size=(3, 4)))
    chain = prepare_kernels([k], FilterOptions(convolve=True))
    got = filter_array(x, chain, options=FilterOptions(precision="float64"))
    np.testing.assert_allclose(got, per_channel(x, k.weights, op=ndi.convolve), atol=1e-9)


# -- alpha -----------------------------------------------------------------------


def rgba(rng, h=12, w=10):
    x = rng.uniform(0, 255, size=(h, w, 4))
    x[..., 3] = rng.choice([0.0, 128.0, 255.0], size=(h, w))
    return x


def test_alpha_keep_leaves_alpha(rng):
    x = rgba(rng)
    got = filter_array(x, [SHARPEN], has_alpha=True, options=FilterOptions(precision="float64"))
    np.testing.assert_array_equal(got[..., 3], x[..., 3])
    np.testing.assert_allclose(got[..., :3], per_channel(x[..., :3], SHARPEN.weights), atol=1e-9)


@pytest.mark.parametrize(
    ("opts", "cut"),
    [
        (FilterOptions(stride=2), (slice(None, None, 2), slice(None, None, 2))),
        (FilterOptions(padding="valid"), (slice(1, -1), slice(1, -1))),
    ],
)
def test_alpha_keep_follows_geometry(rng, opts, cut):
    x = rgba(rng)
    got = filter_array(x, [SHARPEN], has_alpha=True, options=opts)
    np.testing.assert_array_equal(got[..., 3], x[..., 3][cut])


def test_alpha_filter_blurs_alpha_like_colour(rng):
    x = rgba(rng)
    got = filter_array(x, [BOX3], has_alpha=True, options=FilterOptions(alpha="filter"))
    np.testing.assert_allclose(got, per_channel(x, np.ones((3, 3)) / 9), rtol=1e-5, atol=1e-3)


def test_premultiply_stops_colour_bleeding():
    # opaque red square on a fully transparent *green* background
    x = np.zeros((21, 21, 4))
    x[..., 1] = 255.0
    x[6:15, 6:15] = [255.0, 0.0, 0.0, 255.0]
    blur = Kernel(name="box5", weights=np.ones((5, 5)), scale=1 / 25)
    pre = filter_array(x, [blur], has_alpha=True, options=FilterOptions(alpha="premultiply"))
    visible = pre[..., 3] > 0
    assert visible.sum() > 9 * 9  # the fringe became partly visible
    assert np.all(pre[visible][:, 1] < 1e-3)  # no green anywhere visible
    np.testing.assert_allclose(pre[visible][:, 0], 255.0, rtol=1e-5)
    naive = filter_array(x, [blur], has_alpha=True, options=FilterOptions(alpha="filter"))
    assert naive[visible][:, 1].max() > 50  # the plain filter does bleed green


def test_bad_alpha_mode():
    with pytest.raises(OptionError, match="alpha"):
        filter_array(np.zeros((3, 3, 2)), [BOX3], has_alpha=True, options=FilterOptions(alpha="x"))  # type: ignore[arg-type]


def test_channel_mixing_kernel_on_rgba_keeps_alpha(rng):
    x = rgba(rng)
    gray = Kernel(name="gray", weights=np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1))
    got = filter_array(x, [gray], has_alpha=True, options=FilterOptions(precision="float64"))
    assert got.shape == (12, 10, 2)
    np.testing.assert_allclose(got[..., 0], x[..., :3] @ [0.299, 0.587, 0.114], atol=1e-9)
    np.testing.assert_array_equal(got[..., 1], x[..., 3])


# -- files ------------------------------------------------------------------------


def test_filter_image_png_and_npy(tmp_path, rng):
    src = tmp_path / "in.png"
    pixels = rng.integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(src)
    rep = filter_image(src, tmp_path / "out.npy", [SHARPEN])
    raw = np.load(tmp_path / "out.npy")
    want = per_channel(pixels, SHARPEN.weights)
    np.testing.assert_allclose(raw, want, atol=1e-3)
    assert rep.input_shape == (16, 20, 3)
    assert rep.output_shape == (16, 20, 3)
    filter_image(src, tmp_path / "out.png", [SHARPEN])
    png = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_array_equal(png, np.clip(np.rint(want), 0, 255).astype(np.uint8))


def test_filter_image_16bit_stays_16bit(tmp_path):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    src = tmp_path / "in16.png"
    Image.fromarray(ramp).save(src)
    filter_image(src, tmp_path / "out16.png", [BOX3])
    out = np.asarray(Image.open(tmp_path / "out16.png"))
    assert out.dtype in (np.uint16, np.int32) and out.max() > 255
    want = np.rint(ndi.correlate(ramp.astype(float), np.ones((3, 3)) / 9, mode="reflect"))
    np.testing.assert_allclose(out, want, atol=1)


def test_output_path_for():
    assert str(output_path_for("a/b/photo.jpg", "out")) == "out/photo.jpg"
    assert str(output_path_for("photo.jpg", "out", suffix="-x", fmt="png")) == "out/photo-x.png"


def test_alpha_filter_with_colour_only_mixing_kernel_keeps_alpha(rng):
    x = rgba(rng)
    gray = Kernel(name="gray", weights=np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1))
    got = filter_array(x, [gray], has_alpha=True, options=FilterOptions(alpha="filter"))
    assert got.shape == (12, 10, 2)
    np.testing.assert_allclose(got[..., 1], x[..., 3], rtol=1e-6)


# -- the geometry as one value, and the layout of the packages ----------------------


def test_filter_options_carry_the_geometry_as_one_conv_value():
    opts = FilterOptions(padding="valid", border="replicate", cval=9, stride=2, dilation=(1, 3))
    assert opts.conv == ConvOptions(
        padding="valid", border="nearest", cval=9.0, stride=(2, 2), dilation=(1, 3)
    )
    assert opts.conv.anchor is None and opts.conv.flip is False  # kernels come prepared
    # a changed copy gets its own value, not the original's
    assert dataclasses.replace(opts, stride=3, threads=1).conv.stride == (3, 3)
    again = pickle.loads(pickle.dumps(opts))  # options travel to worker processes
    assert again == opts and again.conv == opts.conv


def test_bad_border_is_reported_when_filtering_not_when_the_options_are_built():
    opts = FilterOptions(border="bounce")  # as before: building checks nothing
    assert len(explain_chain((8, 8, 3), [SHARPEN], opts)) == 1  # the plan needs no border
    with pytest.raises(OptionError, match=r"unknown border 'bounce'"):
        filter_array(np.zeros((8, 8, 3)), [SHARPEN], options=opts)


def test_every_engine_call_goes_through_one_function_with_options_conv(monkeypatch, rng):
    from convcli.filters import chain

    x = rgba(rng)
    opts = FilterOptions(stride=2, border="constant", cval=3.0, precision="float64")
    want = filter_array(x, [BOX3, SHARPEN], has_alpha=True, options=opts)
    seen = []
    real = chain._correlate

    def spy(x, w, conv, **kw):
        seen.append(conv)
        return real(x, w, conv, **kw)

    monkeypatch.setattr(chain, "_correlate", spy)
    got = filter_array(x, [BOX3, SHARPEN], has_alpha=True, options=opts)
    np.testing.assert_array_equal(got, want)
    assert len(seen) == 4  # colour and alpha, for each of the two steps
    assert all(conv is opts.conv for conv in seen)


def test_filters_package_does_not_import_the_runner():
    code = "import sys, convcli.filters; print('convcli.runner' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout.strip() == "False"


def test_public_filter_image_is_the_runners():
    import convcli
    import convcli.runner

    assert convcli.filter_image is convcli.runner.filter_image
    assert "filter_image" not in vars(convcli.filters)
