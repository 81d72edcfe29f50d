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
