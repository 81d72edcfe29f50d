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
