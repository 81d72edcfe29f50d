import numpy as np
import pytest

from convcli.conv_options import ConvOptions
from convcli.errors import OptionError


def test_normalises_pairs_and_border_alias():
    o = ConvOptions(stride=2, dilation=(1, 3), border="BORDER_REPLICATE".replace("BORDER_", ""))
    assert o.stride == (2, 2)
    assert o.dilation == (1, 3)
    assert o.border == "nearest"


def test_defaults_match_correlate_defaults():
    o = ConvOptions()
    assert (o.padding, o.border, o.cval, o.stride, o.dilation, o.anchor, o.flip) == (
        "same",
        "reflect",
        0.0,
        (1, 1),
        (1, 1),
        None,
        False,
    )


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        ({"stride": 0}, "stride"),
        ({"dilation": (1, -1)}, "dilation"),
        ({"border": "refelct"}, "border"),
    ],
)
def test_bad_values_name_the_option(kw, word):
    with pytest.raises(OptionError, match=word):
        ConvOptions(**kw)


def test_replace_checks_again_and_is_frozen():
    o = ConvOptions()
    assert o.replace(flip=True).flip is True
    with pytest.raises(OptionError, match="stride"):
        o.replace(stride=(1, 0))
    with pytest.raises(AttributeError):
        o.stride = (2, 2)  # type: ignore[misc]


def test_flipped_anchor_matches_flip_kernel():
    from convcli.engine import flip_kernel

    w = np.arange(12.0).reshape(3, 4)
    for anchor in (None, (0, 3), (2, 1)):
        _, expected = flip_kernel(w, anchor)
        assert ConvOptions(anchor=anchor, flip=True).kernel_anchor((3, 4)) == expected
        assert ConvOptions(anchor=anchor).kernel_anchor((3, 4)) == anchor


def test_geometry_output_size_is_the_formula():
    for n, k, p, s, d in [(10, 3, 1, 2, 1), (9, 4, 0, 1, 2), (5, 5, 2, 3, 1)]:
        g = ConvOptions(padding=p, stride=s, dilation=d).geometry((n, n + 1), (k, k))
        assert g.out_hw == (
            (n + 2 * p - d * (k - 1) - 1) // s + 1,
            (n + 1 + 2 * p - d * (k - 1) - 1) // s + 1,
        )


@pytest.mark.parametrize("border", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_correlate_with_options_flipped_is_scipy_convolve(border):
    import scipy.ndimage as ndi

    from convcli.engine import correlate_with

    r = np.random.default_rng(5)
    x = r.normal(size=(9, 11))
    w = r.normal(size=(4, 3))  # even height: the flipped anchor matters
    got = correlate_with(x, w, ConvOptions(border=border, cval=0.5, flip=True), dtype=np.float64)
    want = ndi.convolve(x, w, mode=border, cval=0.5)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_correlate_with_stride_and_dilation_is_the_naive_loop():
    from convcli.engine import correlate_with
    from tests.helpers import naive_correlate

    r = np.random.default_rng(6)
    x = r.normal(size=(13, 10, 2))
    w = r.normal(size=(3, 3))
    opts = ConvOptions(padding=(2, 1), border="wrap", stride=(2, 3), dilation=(1, 2))
    got = correlate_with(x, w, opts, dtype=np.float64)
    want = naive_correlate(x, w, ((2, 2), (1, 1)), (2, 3), (1, 2), "wrap", 0.0)
    np.testing.assert_allclose(got, want, atol=1e-12)
