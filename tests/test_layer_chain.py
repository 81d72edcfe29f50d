"""Chaining layers over a shape (convcli.layers.chain_layers / chain_kernels)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcli.errors import ShapeError
from convcli.layers import LayerSpec, chain_kernels, chain_layers, layer_shape, parse_layer


def _by_hand(shape, steps):
    """layer_shape per step, carrying receptive field and jump by hand."""
    out, rf, jump = [], (1, 1), (1, 1)
    for kernel_shape, kw in steps:
        lay = layer_shape(shape, kernel_shape(shape[2]), receptive_field=rf, jump=jump, **kw)
        out.append(lay)
        shape, rf, jump = lay.output_shape, lay.receptive_field, lay.jump
    return out


layer_specs = st.builds(
    LayerSpec,
    kernel_hw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(["same", "valid", "full", 1, (0, 2)]),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    out_channels=st.none() | st.integers(1, 5),
    depthwise=st.booleans(),
)


@given(st.lists(layer_specs, min_size=1, max_size=4))
def test_chain_layers_is_layer_shape_step_by_step(specs):
    shape = (64, 48, 3)
    steps = [
        (
            spec.kernel_shape,
            {"padding": spec.padding, "stride": spec.stride, "dilation": spec.dilation},
        )
        for spec in specs
    ]
    try:
        want = _by_hand(shape, steps)
    except ShapeError:
        with pytest.raises(ShapeError):
            chain_layers(shape, specs)
        return
    assert chain_layers(shape, specs) == want


def test_chain_layers_receptive_field():
    specs = [parse_layer("k=7,s=2,p=3,c=64"), parse_layer("k=3,s=2,p=1"), parse_layer("k=3,d=2")]
    layers = chain_layers((224, 224, 3), specs)
    assert [lay.output_shape for lay in layers] == [(112, 112, 64), (56, 56, 64), (56, 56, 64)]
    assert [lay.receptive_field for lay in layers] == [(7, 7), (11, 11), (27, 27)]
    assert [lay.jump for lay in layers] == [(2, 2), (4, 4), (4, 4)]


def test_chain_kernels_shares_the_geometry_and_keeps_anchors():
    kernels = [((3, 3), None), ((1, 3, 2, 2), (0, 0))]
    got = chain_kernels((10, 12, 3), kernels, padding="same", stride=(2, 1), dilation=1)
    steps = [
        (lambda c: (3, 3), {"padding": "same", "stride": (2, 1), "dilation": 1}),
        (
            lambda c: (1, 3, 2, 2),
            {"padding": "same", "stride": (2, 1), "dilation": 1, "anchor": (0, 0)},
        ),
    ]
    assert got == _by_hand((10, 12, 3), steps)
    assert got[1].output_shape == (3, 12, 1)


def test_chain_reads_specs_one_at_a_time():
    seen = []

    def specs():
        for text in ("k=9,p=0", "k=3"):
            seen.append(text)
            yield parse_layer(text)

    with pytest.raises(ShapeError):
        chain_layers((5, 5, 1), specs())
    assert seen == ["k=9,p=0"]  # the error came before the second spec was read


def test_empty_chain():
    assert chain_layers((5, 5, 1), []) == []
    assert chain_kernels((5, 5, 1), []) == []
