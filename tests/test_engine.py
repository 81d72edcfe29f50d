"""The engine against a naive loop reference and against scipy.ndimage."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

import convcli
from convcli.engine import convolve, correlate, flip_kernel
from convcli.errors import OptionError, ShapeError
from convcli.layers import output_shape
from convcli.shapes import padding_amounts
from tests.helpers import naive_correlate, same_pads
from tests.support import BORDERS

ALIASES = {
    "symmetric": "reflect",
    "reflect101": "mirror",
    "edge": "nearest",
    "replicate": "nearest",
    "circular": "wrap",
    "zeros": "constant",
}


def scipy_depthwise(x, w, border, cval=0.0, op=ndi.correlate):
    """Apply a 2-D kernel to each channel with scipy.ndimage."""
    x = np.asarray(x, dtype=np.float64)
    return np.stack(
        [op(x[..., c], np.asarray(w, float), mode=border, cval=cval) for c in range(x.shape[2])],
        axis=-1,
    )


# -- scipy.ndimage as an oracle ------------------------------------------------


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (1, 1), (2, 2), (4, 3), (3, 6), (1, 7)])
def test_correlate_matches_scipy(border, kshape, rng):
    x = rng.uniform(0, 255, size=(17, 23, 3))
    w = rng.normal(size=kshape)
    got = correlate(x, w, border=border, cval=7.5)
    want = scipy_depthwise(x, w, border, cval=7.5)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("kshape", [(3, 3), (2, 2), (4, 5), (1, 4)])
def test_convolve_matches_scipy(border, kshape, rng):
    x = rng.uniform(0, 255, size=(12, 15, 2))
    w = rng.normal(size=kshape)
    got = convolve(x, w, border=border, cval=-3.0)
    want = scipy_depthwise(x, w, border, cval=-3.0, op=ndi.convolve)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize(("h", "w", "k"), [(1, 1, 3), (2, 2, 5), (3, 2, 9), (1, 4, 11), (2, 3, 15)])
def test_padding_wider_than_image_matches_scipy(border, h, w, k, rng):
    x = rng.uniform(0, 1, size=(h, w, 1))
    kern = rng.normal(size=(k, k))
    got = correlate(x, kern, border=border, cval=0.25)
    want = scipy_depthwise(x, kern, border, cval=0.25)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("alias", "canonical"), sorted(ALIASES.items()))
def test_border_aliases_equal_canonical(alias, canonical, rng):
    x = rng.uniform(size=(6, 7, 2))
    w = rng.normal(size=(5, 5))
    np.testing.assert_array_equal(
        correlate(x, w, border=alias, cval=1.0), correlate(x, w, border=canonical, cval=1.0)
    )


def test_channel_sum_kernel_matches_scipy_3d(rng):
    x = rng.uniform(0, 255, size=(10, 11, 3))
    w = rng.normal(size=(3, 3, 3))
    got = correlate(x, w, border="mirror")
    want = sum(ndi.correlate(x[..., c], w[c], mode="mirror") for c in range(3))
    np.testing.assert_allclose(got[..., 0], want, rtol=1e-10, atol=1e-9)
    assert got.shape == (10, 11, 1)


def test_channel_mixing_kernel_matches_scipy_4d(rng):
    x = rng.uniform(0, 255, size=(9, 8, 3))
    w = rng.normal(size=(4, 3, 2, 3))
    got = correlate(x, w, border="wrap")
    for o in range(4):
        want = sum(ndi.correlate(x[..., c], w[o, c], mode="wrap") for c in range(3))
        np.testing.assert_allclose(got[..., o], want, rtol=1e-10, atol=1e-9)


# -- the naive loop reference, by Hypothesis ------------------------------------

padding_st = st.one_of(
    st.sampled_from(["same", "valid", "full"]),
    st.integers(0, 4),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
)


@st.composite
def conv_case(draw):
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9))
    c = draw(st.integers(1, 3))
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    rank = draw(st.sampled_from([2, 3, 4]))
    if rank == 2:
        kshape = (kh, kw)
    elif rank == 3:
        kshape = (c, kh, kw)
    else:
        kshape = (draw(st.integers(1, 3)), c, kh, kw)
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    return {
        "x": r.uniform(-2, 2, size=(h, w, c)),
        "w": r.normal(size=kshape),
        "padding": draw(padding_st),
        "border": draw(st.sampled_from(BORDERS)),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "cval": draw(st.floats(-2, 2)),
    }


def _expected(case):
    kh, kw = case["w"].shape[-2:]
    pads = padding_amounts(case["padding"], (kh, kw), dilation=case["dilation"])
    if case["padding"] == "same":
        assert pads == same_pads(kh, kw, case["dilation"])
    return naive_correlate(
        case["x"], case["w"], pads, case["stride"], case["dilation"], case["border"], case["cval"]
    )


def _run(case, **extra):
    return correlate(
        case["x"],
        case["w"],
        padding=case["padding"],
        border=case["border"],
        cval=case["cval"],
        stride=case["stride"],
        dilation=case["dilation"],
        **extra,
    )


@given(conv_case())
def test_engine_equals_naive_reference(case):
    want = _expected(case)
    if want.shape[0] < 1 or want.shape[1] < 1:
        with pytest.raises(ShapeError, match="empty output"):
            _run(case, dtype=np.float64)
        return
    got = _run(case, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    assert got.shape == output_shape(
        case["x"].shape,
        case["w"].shape,
        padding=case["padding"],
        stride=case["stride"],
        dilation=case["dilation"],
    )


@given(conv_case(), st.integers(1, 3))
def test_float32_and_threads_agree_with_float64(case, threads):
    try:
        want = _run(case, dtype=np.float64, threads=1)
    except ShapeError:
        return
    got = _run(case, threads=threads, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@given(
    st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)
)
def test_same_padding_with_stride_samples_stride_one_result(h, w, k, s, seed):
    r = np.random.default_rng(seed)
    x = r.uniform(size=(h, w, 2))
    kern = r.normal(size=(k, k + 1))
    full = correlate(x, kern, dtype=np.float64)
    strided = correlate(x, kern, stride=s, dtype=np.float64)
    assert strided.shape[:2] == (-(-h // s), -(-w // s))
    np.testing.assert_allclose(strided, full[::s, ::s], rtol=1e-12, atol=1e-12)


@given(st.integers(1, 10), st.integers(1, 10), st.sampled_from(BORDERS), st.integers(0, 99))
def test_identity_kernel_returns_input(h, w, border, seed):
    x = np.random.default_rng(seed).uniform(0, 255, size=(h, w, 3)).astype(np.float32)
    ident = np.zeros((3, 3))
    ident[1, 1] = 1
    np.testing.assert_array_equal(correlate(x, ident, border=border), x)


@given(st.integers(0, 10_000))
def test_linear_in_the_kernel(seed):
    r = np.random.default_rng(seed)
    x = r.uniform(size=(7, 6, 2))
    a, b = r.normal(size=(2, 3, 4))
    lhs = correlate(x, 2 * a - 3 * b, dtype=np.float64)
    rhs = 2 * correlate(x, a, dtype=np.float64) - 3 * correlate(x, b, dtype=np.float64)
    np.testing.assert_allclose(lhs, rhs, atol=1e-10)


# -- hand-computed values and orientation ---------------------------------------


def test_asymmetric_kernel_orientation_hand_computed():
    # correlation with [-1, 0, 1] reads right minus left neighbour
    x = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]])
    got = correlate(x, [[-1.0, 0.0, 1.0]], border="constant", dtype=np.float64)
    np.testing.assert_array_equal(got, [[1.0, 4.0, 8.0, 12.0, -9.0]])
    conv = convolve(x, [[-1.0, 0.0, 1.0]], border="constant", dtype=np.float64)
    np.testing.assert_array_equal(conv, [[-1.0, -4.0, -8.0, -12.0, 9.0]])


def test_even_kernel_anchor_is_k_over_2():
    x = np.zeros((1, 6))
    x[0, 3] = 1.0
    # kernel [a b c d] with anchor 2: out[j] = a x[j-2] + b x[j-1] + c x[j] + d x[j+1]
    got = correlate(x, [[1.0, 2.0, 3.0, 4.0]], border="constant", dtype=np.float64)
    np.testing.assert_array_equal(got, [[0.0, 0.0, 4.0, 3.0, 2.0, 1.0]])


def test_valid_full_and_explicit_padding_shapes():
    x = np.ones((10, 12))
    w = np.ones((3, 5))
    assert correlate(x, w, padding="valid").shape == (8, 8)
    assert correlate(x, w, padding="full").shape == (12, 16)
    assert correlate(x, w, padding=2).shape == (12, 12)
    assert correlate(x, w, padding=(0, 2)).shape == (8, 12)
    assert correlate(x, w, padding="valid", dilation=2).shape == (6, 4)
    assert correlate(x, w, padding="valid", stride=(3, 2)).shape == (3, 4)


def test_constant_border_uses_cval():
    x = np.zeros((3, 3))
    got = correlate(x, np.ones((3, 3)), border="constant", cval=10.0, dtype=np.float64)
    # corner sees 5 padded cells, edge centre 3, middle none
    np.testing.assert_array_equal(got, [[50, 30, 50], [30, 0, 30], [50, 30, 50]])


def test_dtypes():
    x8 = np.full((4, 4, 3), 200, dtype=np.uint8)
    assert correlate(x8, np.ones((3, 3))).dtype == np.float32
    assert correlate(x8, np.ones((3, 3)), dtype="float64").dtype == np.float64
    assert correlate(x8.astype(np.float64), np.ones((3, 3))).dtype == np.float64
    # no overflow or clipping of 8-bit input
    assert correlate(x8, np.ones((3, 3)))[1, 1, 0] == pytest.approx(1800.0)
    x16 = np.full((3, 3), 65535, dtype=np.uint16)
    assert correlate(x16, -np.ones((1, 1)))[0, 0] == pytest.approx(-65535.0)


def test_public_api_reexports():
    assert convcli.correlate is correlate
    assert convcli.convolve is convolve


def test_flip_kernel_moves_anchor():
    k, a = flip_kernel(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(k, [[5, 4, 3], [2, 1, 0]])
    assert a == (0, 1)


# -- degenerate inputs and errors ----------------------------------------------


def test_kernel_larger_than_image_valid_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"empty output rows: kernel spans 5 pixels"):
        correlate(np.ones((3, 8)), np.ones((5, 5)), padding="valid")


def test_all_zero_kernel_and_constant_image():
    assert not correlate(np.full((5, 5), 3.0), np.zeros((3, 3))).any()
    np.testing.assert_allclose(correlate(np.full((5, 5), 3.0), np.ones((3, 3)) / 9), 3.0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"stride": 0}, OptionError, "stride"),
        ({"stride": (1, -1)}, OptionError, "stride"),
        ({"dilation": 0}, OptionError, "dilation"),
        ({"padding": -1}, OptionError, "padding"),
        ({"padding": "middle"}, OptionError, "padding"),
        ({"border": "bounce"}, OptionError, "border"),
        ({"dtype": np.int32}, OptionError, "dtype"),
    ],
)
def test_bad_options_raise_clear_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        correlate(np.ones((4, 4)), np.ones((3, 3)), **kwargs)


def test_channel_mismatch_names_both_counts():
    with pytest.raises(ShapeError, match="kernel expects 4 input channels but the image has 3"):
        correlate(np.ones((4, 4, 3)), np.ones((4, 3, 3)))


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 2, 2, 2)), np.ones((0, 3))])
def test_bad_kernel_rank(bad):
    with pytest.raises(ShapeError, match="kernel"):
        correlate(np.ones((4, 4)), bad)


def test_nan_kernel_rejected():
    with pytest.raises(ShapeError, match="NaN"):
        correlate(np.ones((4, 4)), [[np.nan]])


@pytest.mark.parametrize(
    "bad", [np.ones(4), np.ones((2, 2, 2, 2)), np.ones((0, 4)), np.ones((2, 2), complex)]
)
def test_bad_image(bad):
    with pytest.raises(ShapeError, match="image"):
        correlate(bad, np.ones((1, 1)))
