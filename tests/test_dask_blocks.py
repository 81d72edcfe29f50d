"""convcli.dask.correlate / convolve: the chunked result is the whole-image result.

Oracles: :func:`convcli.correlate` on the whole image (the SPEC promises the
same pixels), and the naive loop of ``tests/helpers.py`` for a few cases.
Cases whose rounding does not depend on the block (2-D kernels with the
direct, einsum, gemm, box methods, and separable at stride 1) must match bit
for bit; the others (see ``_exact``) within float32 rounding.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

import convcli
import convcli.dask as cdask
from convcli.engine import make_plan
from tests.helpers import naive_correlate
from tests.support import BORDERS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:dask")


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _kernels(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "odd-3x3": rng.normal(size=(3, 3)),
        "even-4x2": rng.normal(size=(4, 2)),
        "3d": rng.normal(size=(3, 3, 5)),
        "4d": rng.normal(size=(2, 3, 2, 3)),
        "halo-over-chunk-9x11": rng.normal(size=(9, 11)),
        "rank1-gaussian": np.outer([1.0, 4, 6, 4, 1], [1.0, 2, 1]) / 64,
    }


def _exact(shape: tuple[int, ...], w: np.ndarray, **kw: object) -> bool:
    """Whether the engine's arithmetic for this case does not depend on the block's layout.

    Every block runs the whole image's plan.  Measured: the FFT method (tiles
    follow the image), separable at stride 2 (the engine's own ``rows=`` bands
    differ there too) and the per-tap channel matmuls of 3-D/4-D kernels round
    differently when the block's shape or memory layout changes, by about one
    float32 ulp.
    """
    plan = make_plan(shape, w, stride=kw.get("stride", 1), dilation=kw.get("dilation", 1))
    if w.ndim > 2 or plan.method == "fft":
        return False
    return not (plan.method == "separable" and kw.get("stride", 1) != 1)


def _check(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize(
    "kernel", ["odd-3x3", "even-4x2", "3d", "4d", "halo-over-chunk-9x11", "rank1-gaussian"]
)
def test_chunked_equals_whole_image(border: str, stride: int, dilation: int, kernel: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, size=(23, 19, 3)).astype(np.uint8)
    w = _kernels(rng)[kernel]
    kw = {"border": border, "cval": 9.0, "stride": stride, "dilation": dilation}
    want = convcli.correlate(x, w, **kw)
    got = cdask.correlate(da.from_array(x, chunks=(5, 4, 3)), w, **kw).compute()
    _check(got, want, _exact(x.shape, w, stride=stride, dilation=dilation))


@pytest.mark.parametrize(
    "padding", ["same", "valid", "full", 0, 3, (1, 4)], ids=lambda p: f"pad-{p}"
)
@pytest.mark.parametrize("border", BORDERS)
def test_every_padding_and_anchor(padding: object, border: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(17, 13, 2))
    w = rng.normal(size=(4, 5))
    for anchor in (None, (0, 4)):
        if anchor is not None and padding != "same":
            continue
        kw = {"padding": padding, "border": border, "cval": -2.0, "anchor": anchor}
        want = convcli.correlate(x, w, **kw)
        got = cdask.correlate(da.from_array(x, chunks=(4, 6, 1)), w, **kw).compute()
        _check(got, want, True)
        assert got.dtype == np.float64  # float64 in, float64 out, as convcli.correlate


@pytest.mark.parametrize("border", BORDERS)
def test_halo_larger_than_the_image_and_the_chunks(border: str) -> None:
    # a 15x15 kernel dilated by 2 spans 29 pixels on a 6x7 image in 2x3 chunks:
    # the padding wraps/reflects around the image several times
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, size=(6, 7)).astype(np.uint8)
    w = rng.normal(size=(15, 15))
    kw = {"border": border, "dilation": 2, "padding": "full", "method": "direct"}
    want = convcli.correlate(x, w, **kw)
    got = cdask.correlate(da.from_array(x, chunks=(2, 3)), w, **kw).compute()
    _check(got, want, True)
    assert got.ndim == 2  # a 2-D image gives a 2-D result


def test_against_the_naive_loop_and_convolve_flips() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(9, 8, 2)).astype(np.float32)
    w = rng.normal(size=(2, 3, 2))
    got = cdask.correlate(
        da.from_array(x, chunks=3), w, stride=2, border="mirror", padding="same"
    ).compute()
    pads = ((1, 1), (1, 0))  # same padding for a 3x2 kernel: anchor (1, 1)
    ref = naive_correlate(x, w, pads, stride=(2, 2), border="mirror")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    flipped = cdask.convolve(da.from_array(x, chunks=4), w, border="wrap").compute()
    np.testing.assert_array_equal(flipped, convcli.convolve(x, w, border="wrap"))


def test_fft_planned_kernels_within_float32_rounding() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(64, 60, 3)).astype(np.uint8)
    w = rng.normal(size=(21, 21))
    want = convcli.correlate(x, w, method="fft")
    got = cdask.correlate(da.from_array(x, chunks=(16, 32, 3)), w, method="fft").compute()
    _check(got, want, False)


def test_task_names_follow_the_kernel_and_the_options() -> None:
    x = da.from_array(np.arange(36.0).reshape(6, 6), chunks=3)
    a = cdask.correlate(x, np.ones((3, 3)))
    assert a.name == cdask.correlate(x, np.ones((3, 3))).name
    assert a.name != cdask.correlate(x, 2 * np.ones((3, 3))).name
    assert a.name != cdask.correlate(x, np.ones((3, 3)), border="wrap").name


def test_lazy_until_computed_and_bad_input_refused_early() -> None:
    calls = []

    def count(block: np.ndarray) -> np.ndarray:
        if block.size > 1:  # (dask calls it on empty arrays to learn the dtype)
            calls.append(block.shape)
        return block

    x = da.from_array(np.ones((8, 8)), chunks=4).map_blocks(count)
    y = cdask.correlate(x, np.ones((3, 3)))
    assert calls == []
    assert y.shape == (8, 8)
    y.compute()
    assert sorted(calls) == [(4, 4)] * 4  # each input chunk read once
    with pytest.raises(convcli.ConvCliError, match="kernel expects 2 input channels"):
        cdask.correlate(da.ones((8, 8, 3), chunks=4), np.ones((2, 3, 3)))
    with pytest.raises(convcli.ConvCliError, match="border"):
        cdask.correlate(da.ones((8, 8), chunks=4), np.ones((3, 3)), border="bogus")
