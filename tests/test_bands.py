"""Band-by-band filtering (``rows=``) equals the whole-image result."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcli.engine import convolve, correlate
from convcli.errors import OptionError, ShapeError
from tests.support import BORDERS


@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 4),
    st.sampled_from(["same", "valid", "full", 2]),
    st.sampled_from(BORDERS),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(1, 4),
    st.integers(0, 10_000),
)
def test_bands_equal_whole(h, w, kh, kw, padding, border, s, d, band, seed):
    r = np.random.default_rng(seed)
    x = r.uniform(0, 255, size=(h, w, 2))
    k = r.normal(size=(kh, kw))
    opts = {
        "padding": padding,
        "border": border,
        "cval": 3.0,
        "stride": s,
        "dilation": d,
        "dtype": np.float64,
    }
    try:
        whole = correlate(x, k, **opts)
    except ShapeError:
        return
    parts = [
        correlate(x, k, rows=(r0, min(r0 + band, whole.shape[0])), **opts)
        for r0 in range(0, whole.shape[0], band)
    ]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12, atol=1e-9)
    conv = convolve(x, k, rows=(0, min(band, whole.shape[0])), **opts)
    np.testing.assert_allclose(conv, convolve(x, k, **opts)[: conv.shape[0]], atol=1e-9)


@pytest.mark.parametrize("method", ["direct", "separable", "fft", "gemm"])
def test_bands_with_each_method(method):
    r = np.random.default_rng(3)
    x = r.uniform(0, 255, size=(40, 30, 3))
    k = np.outer([1.0, 4, 6, 4, 1], [1.0, 2, 1]) / 48
    whole = correlate(x, k, border="mirror", method=method, dtype=np.float64)
    parts = [
        correlate(x, k, border="mirror", method=method, dtype=np.float64, rows=(a, a + 8))
        for a in range(0, 40, 8)
    ]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-8)


def test_bad_rows():
    with pytest.raises(OptionError, match="rows"):
        correlate(np.ones((4, 4)), np.ones((3, 3)), rows=(2, 9))


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"stride": 2, "border": "constant", "cval": 9.0},
        {"padding": "valid", "alpha": "filter", "abs": True},
        {"dilation": 3, "offset": 7.0},
    ],
)
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("threads", [1, 3])
def test_filter_and_map_in_bands_equals_whole(monkeypatch, opts, alpha, threads):
    from convcli import config, filters
    from convcli.kernelspec import load_kernel

    r = np.random.default_rng(11)
    x = r.integers(0, 256, size=(53, 17, 4 if alpha else 3)).astype(np.uint8)
    chain = filters.prepare_kernels([load_kernel("sobel-x")], filters.FilterOptions())
    options = filters.FilterOptions(**opts, threads=threads)  # bands side by side when > 1
    kw = {"has_alpha": alpha, "max_value": 255.0, "options": options, "to_integer": True}
    whole = filters.map_values(
        filters.filter_array(x, chain, has_alpha=alpha, options=options),
        abs_values=options.abs,
        has_alpha=alpha,
    )
    monkeypatch.setattr(config, "BAND_BYTES", 17 * x.shape[2] * 4 * 5)  # 5-row bands
    banded = filters.filter_and_map(x, chain, **kw)
    np.testing.assert_array_equal(banded, whole)


def test_filter_image_reports_progress_per_band(monkeypatch, tmp_path):
    from PIL import Image

    from convcli import config, runner
    from convcli.kernelspec import load_kernel

    Image.fromarray(np.zeros((40, 10, 3), np.uint8)).save(tmp_path / "in.png")
    monkeypatch.setattr(config, "BAND_BYTES", 10 * 3 * 4 * 8)  # 8-row bands -> 5 bands
    seen = []
    runner.filter_image(
        tmp_path / "in.png",
        tmp_path / "out.png",
        [load_kernel("box")],
        progress=lambda stage, f: seen.append((stage, f)),
    )
    assert seen == [("filtering", f) for f in (0.2, 0.4, 0.6, 0.8, 1.0)] + [("saving", 1.0)]


def test_single_image_bar_appears_only_after_the_delay(monkeypatch):
    from convcli.cli.output import err_console
    from convcli.cli.progress import SlowWorkBar

    bar = SlowWorkBar(err_console())
    bar("filtering", 0.5)
    assert bar.bar is None  # quick work: no bar
    monkeypatch.setattr(SlowWorkBar, "DELAY_S", 0.0)
    bar("filtering", 0.5)
    assert bar.bar is not None
    bar.close()
