"""Shape arithmetic against hand-computed values and the engine itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcli.engine import correlate
from convcli.errors import OptionError, ShapeError
from convcli.layers import formula_text, layer_shape, output_shape, parse_layer, parse_size
from convcli.shapes import as_pair, padding_amounts, parse_padding


@pytest.mark.parametrize(
    ("n", "k", "p", "s", "d", "expected"),
    [
        (224, 7, 3, 2, 1, 112),  # ResNet stem
        (112, 3, 1, 2, 1, 56),
        (32, 3, 0, 1, 1, 30),
        (32, 3, 2, 1, 2, 32),  # dilated 'same'
        (5, 5, 0, 1, 1, 1),
        (10, 3, 0, 3, 1, 3),  # floor((10-2-1)/3)+1 = 3
        (7, 2, 0, 2, 1, 3),
    ],
)
def test_output_shape_hand_computed(n, k, p, s, d, expected):
    assert output_shape((n, n), (k, k), padding=p, stride=s, dilation=d) == (expected, expected)


def test_output_shape_channels():
    assert output_shape((10, 12, 3), (3, 3)) == (10, 12, 3)
    assert output_shape((10, 12, 3), (3, 5, 5)) == (10, 12, 1)
    assert output_shape((10, 12, 3), (8, 3, 1, 1)) == (10, 12, 8)
    assert output_shape((10, 12), (3, 3), padding="valid") == (8, 10)


@pytest.mark.parametrize(
    ("padding", "k", "d", "expected"),
    [
        ("same", (3, 3), 1, ((1, 1), (1, 1))),
        ("same", (4, 2), 1, ((2, 1), (1, 0))),
        ("same", (3, 3), 3, ((3, 3), (3, 3))),
        ("valid", (5, 5), 1, ((0, 0), (0, 0))),
        ("full", (3, 5), 1, ((2, 2), (4, 4))),
        (2, (3, 3), 1, ((2, 2), (2, 2))),
        ((1, 3), (3, 3), 1, ((1, 1), (3, 3))),
    ],
)
def test_padding_amounts(padding, k, d, expected):
    assert padding_amounts(padding, k, dilation=d) == expected


def test_same_with_stride_is_ceil():
    for h in range(1, 20):
        for s in range(1, 5):
            assert output_shape((h, 3), (3, 3), stride=s)[0] == -(-h // s)


def test_empty_output_error_has_numbers():
    with pytest.raises(ShapeError, match=r"kernel spans 7 pixels .* padded input is only 5"):
        output_shape((5, 5), (3, 3), padding="valid", dilation=3)


@pytest.mark.parametrize("bad", ["middle", "-1", "1,2,3", "a,b"])
def test_parse_padding_rejects(bad):
    with pytest.raises(OptionError, match="padding"):
        parse_padding(bad)


def test_parse_padding_accepts():
    assert parse_padding("SAME") == "same"
    assert parse_padding("3") == 3
    assert parse_padding("1,2") == (1, 2)


@pytest.mark.parametrize("bad", [0, -1, (1, 0), (1, 2, 3), "2", 1.5, True])
def test_as_pair_rejects(bad):
    with pytest.raises(OptionError, match="stride"):
        as_pair(bad, "stride")


def test_parse_size():
    assert parse_size("3") == (3, 3)
    assert parse_size("3x5") == (3, 5)
    assert parse_size("sharpen") is None
    assert parse_size("3x3: 1,2") is None


def test_parse_layer_and_errors():
    spec = parse_layer("k=3x5,s=2,p=1,d=2,c=16")
    assert spec.kernel_hw == (3, 5)
    assert spec.stride == (2, 2)
    assert spec.padding == 1
    assert spec.dilation == (2, 2)
    assert spec.kernel_shape(3) == (16, 3, 3, 5)
    assert parse_layer("k=3,dw=1").kernel_shape(3) == (3, 3)
    for bad in ["s=2", "k=3,z=1", "k=0", "k", "k=3,c=-1"]:
        with pytest.raises(OptionError):
            parse_layer(bad)


def test_layer_params_macs_receptive_field_hand_computed():
    first = layer_shape((224, 224, 3), (64, 3, 7, 7), padding=3, stride=2)
    assert first.params == 64 * 3 * 49
    assert first.macs == 112 * 112 * 64 * 3 * 49
    assert first.receptive_field == (7, 7)
    second = layer_shape(
        first.output_shape,
        (64, 64, 3, 3),
        padding=1,
        stride=2,
        receptive_field=first.receptive_field,
        jump=first.jump,
    )
    # rf = 7 + (3-1) * 2 = 11
    assert second.receptive_field == (11, 11)
    assert second.output_shape == (56, 56, 64)
    dw = layer_shape((10, 10, 3), (3, 3))
    assert dw.kernel_shape == (3, 1, 3, 3)
    assert dw.depthwise
    assert dw.macs == 10 * 10 * 3 * 9


def test_formula_text_numbers():
    lay = layer_shape((5, 6, 1), (4, 4))
    assert formula_text(lay, 0).endswith("floor((5 + 2 + 1 - 1*(4-1) - 1)/1) + 1 = 5")


@given(
    st.integers(1, 20),
    st.integers(1, 20),
    st.integers(1, 5),
    st.integers(1, 5),
    st.one_of(st.sampled_from(["same", "valid", "full"]), st.integers(0, 3)),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_engine_shape_equals_prediction(h, w, kh, kw, padding, s, d):
    x = np.zeros((h, w, 2), dtype=np.float32)
    k = np.ones((kh, kw))
    try:
        predicted = output_shape(x.shape, k.shape, padding=padding, stride=s, dilation=d)
    except ShapeError:
        with pytest.raises(ShapeError):
            correlate(x, k, padding=padding, stride=s, dilation=d)
        return
    assert correlate(x, k, padding=padding, stride=s, dilation=d).shape == predicted
