"""Every preset (files and generators) applies correctly to an image."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from convcli.filters import FilterOptions, filter_array
from convcli.kernelspec import list_kernels

PRESETS = list_kernels()


def reference(x: np.ndarray, w: np.ndarray, anchor: tuple[int, int]) -> np.ndarray:
    """scipy.ndimage reference: per channel (2-D), or summed/mixed over channels (3-D/4-D)."""
    kh, kw = w.shape[-2:]
    origin = (anchor[0] - kh // 2, anchor[1] - kw // 2)

    def corr(img, k):
        return ndi.correlate(img, k, mode="reflect", origin=origin)

    if w.ndim == 2:
        return np.stack([corr(x[..., c], w) for c in range(x.shape[2])], -1)
    w4 = w[None] if w.ndim == 3 else w
    return np.stack(
        [sum(corr(x[..., c], w4[o, c]) for c in range(x.shape[2])) for o in range(w4.shape[0])],
        -1,
    )


@pytest.mark.parametrize("kernel", PRESETS, ids=[k.name for k in PRESETS])
def test_every_preset_applies_like_scipy(kernel, rng):
    x = rng.uniform(0, 255, size=(23, 19, 3))
    got = filter_array(x, [kernel], options=FilterOptions(precision="float64"))
    want = reference(x, kernel.effective_weights, kernel.effective_anchor) + kernel.offset
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-8)
    assert np.isfinite(got).all()


def test_there_are_at_least_24_presets_in_every_category():
    names = {k.name for k in PRESETS}
    assert len(names) >= 24
    assert {k.category for k in PRESETS} >= {"blur", "edge", "sharpen", "emboss", "color"}
