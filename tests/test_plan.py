"""The planner and every planned method against the naive reference and the direct path."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.borders import pad
from convcli.engine import (
    METHODS,
    convolve,
    correlate,
    correlate_padded,
    make_plan,
    plan_correlation,
)
from convcli.engine import api as engine
from convcli.engine.analysis import low_rank
from convcli.errors import OptionError, ShapeError
from convcli.shapes import make_geometry, padding_amounts
from tests.helpers import naive_correlate, same_pads
from tests.support import BORDERS

UHD = (2160, 3840, 3)


def gaussian(k: int, sigma: float | None = None) -> np.ndarray:
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (t / (sigma or k / 5)) ** 2)
    return np.outer(g, g) / g.sum() ** 2


def kernel_for(method: str, r: np.random.Generator, kh: int, kw: int) -> np.ndarray:
    if method == "box":
        return np.full((kh, kw), r.uniform(-2, 2))
    if method == "separable" and r.uniform() < 0.5:
        # low rank on purpose, so truncated factors are exercised
        return np.outer(r.normal(size=kh), r.normal(size=kw))
    w = r.normal(size=(kh, kw))
    if method == "einsum" and r.uniform() < 0.5:
        # zero taps, rows and columns: the grid skips some, keeps others
        w[r.uniform(size=w.shape) < 0.4] = 0
        w[r.integers(kh)] = 0
        w[:, r.integers(kw)] = 0
        if not w.any():
            w[r.integers(kh), r.integers(kw)] = 1.5
    return w


@st.composite
def method_case(draw, method):
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9))
    c = draw(st.integers(1, 3))
    kh = draw(st.integers(1, 5))
    kw = draw(st.integers(1, 5))
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {
        "x": r.uniform(-2, 2, size=(h, w, c)),
        "w": kernel_for(method, r, kh, kw),
        "padding": draw(st.one_of(st.sampled_from(["same", "valid", "full"]), st.integers(0, 3))),
        "border": draw(st.sampled_from(BORDERS)),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "cval": draw(st.floats(-2, 2)),
    }


def _naive(case):
    pads = padding_amounts(case["padding"], case["w"].shape, dilation=case["dilation"])
    return naive_correlate(
        case["x"], case["w"], pads, case["stride"], case["dilation"], case["border"], case["cval"]
    )


def _check_against_naive(case, method):
    want = _naive(case)
    kwargs = {k: case[k] for k in ("padding", "border", "cval", "stride", "dilation")}
    if want.shape[0] < 1 or want.shape[1] < 1:
        with pytest.raises(ShapeError):
            correlate(case["x"], case["w"], method=method, dtype=np.float64, **kwargs)
        return
    got = correlate(case["x"], case["w"], method=method, dtype=np.float64, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    got32 = correlate(case["x"], case["w"], method=method, threads=2, dtype=np.float32, **kwargs)
    assert got32.dtype == np.float32
    scale = np.abs(case["w"]).sum() * max(2.0, abs(case["cval"]))
    np.testing.assert_allclose(got32, want, rtol=0, atol=1e-5 * scale)


# -- every method equals the naive reference, by Hypothesis ------------------------


@settings(max_examples=40)
@given(method_case("direct"))
def test_forced_direct_equals_naive(case):
    _check_against_naive(case, "direct")


@settings(max_examples=40)
@given(method_case("separable"))
def test_forced_separable_equals_naive(case):
    _check_against_naive(case, "separable")


@settings(max_examples=40)
@given(method_case("box"))
def test_forced_box_equals_naive(case):
    _check_against_naive(case, "box")


@settings(max_examples=60)
@given(method_case("einsum"))
def test_forced_einsum_equals_naive(case):
    _check_against_naive(case, "einsum")


@contextlib.contextmanager
def planned(method: str, **changes):
    """Make the planner's plans for ``method`` carry ``changes`` (e.g. ``fused``)."""
    planner = engine.plan_correlation

    def patched(*args, **kwargs):
        plan = planner(*args, **kwargs)
        return dataclasses.replace(plan, **changes) if plan.method == method else plan

    engine.plan_correlation = patched
    try:
        yield
    finally:
        engine.plan_correlation = planner


@pytest.mark.parametrize("fused", [True, False], ids=["einsum passes", "sum steps"])
@settings(max_examples=40)
@given(case=method_case("separable"))
def test_separable_both_pass_kinds_equal_naive(fused, case):
    with planned("separable", fused=fused):
        _check_against_naive(case, "separable")


@pytest.mark.parametrize("dtype", [np.uint8, np.float32], ids=["uint8 image", "float32 image"])
@pytest.mark.parametrize(
    ("method", "fused"),
    [("separable", True), ("separable", False), ("einsum", False)],
    ids=["separable einsum passes", "separable sum steps", "einsum"],
)
@pytest.mark.parametrize("border", ["reflect", "constant", "wrap"])
@pytest.mark.parametrize(
    ("padding", "stride", "dilation"),
    [("same", (1, 1), (1, 1)), ((3, 4), (2, 1), (1, 2)), ("same", (1, 3), (2, 1))],
)
def test_strips_read_image_rows_in_place(
    dtype, method, fused, border, padding, stride, dilation, rng
):
    # float32 images are read in place inside the image (edge columns padded
    # apart), uint8 ones converted per strip; small strips make most interior
    x = rng.uniform(0, 255, size=(60, 70, 3)).astype(dtype)
    w = np.outer(rng.normal(size=5), rng.normal(size=3))
    if method == "einsum":
        w += rng.normal(size=w.shape)  # full rank
        w[:, 1] = 0  # a 5x2 grid of taps, the first column left of the anchor
    geometry = {"padding": padding, "stride": stride, "dilation": dilation}
    with planned(method, fused=fused, strip_rows=4):
        plan = make_plan(x.shape, w, method=method, **geometry)
        assert (plan.fused, plan.strip_rows) == (fused, 4)
        got = correlate(x, w, method=method, border=border, cval=7.0, **geometry)
    pads = padding_amounts(padding, w.shape, dilation=dilation)
    want = naive_correlate(x.astype(np.float64), w, pads, stride, dilation, border, 7.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(w).sum() * 255)


@settings(max_examples=40)
@given(method_case("fft"))
def test_forced_fft_equals_naive(case):
    _check_against_naive(case, "fft")


@settings(max_examples=40)
@given(method_case("gemm"))
def test_forced_gemm_equals_naive(case):
    _check_against_naive(case, "gemm")


# -- many strips and tiles: boundaries between work items ---------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("stride", "dilation"), [((1, 1), (1, 1)), ((2, 3), (2, 1)), ((3, 1), (1, 3))]
)
@pytest.mark.parametrize("kshape", [(5, 5), (4, 6), (7, 2)])
def test_small_strips_and_tiles_equal_direct(method, stride, dilation, kshape, rng):
    x = rng.uniform(0, 255, size=(70, 90, 3))
    if method == "separable":
        w = np.outer(rng.normal(size=kshape[0]), rng.normal(size=kshape[1]))
    else:
        w = kernel_for(method, rng, *kshape)
    geom = make_geometry((70, 90), kshape, stride=stride, dilation=dilation)
    xp = pad(x, geom.pad_rows, geom.pad_cols, border="mirror", dtype=np.float64)
    plan = plan_correlation(xp.shape, w, geom, np.float64, 2, method=method)
    eh, ew = (kshape[0] - 1) * dilation[0] + 1, (kshape[1] - 1) * dilation[1] + 1
    small = dataclasses.replace(plan, strip_rows=3, tile=(eh + 16, ew + 21), threads=2)
    want = correlate_padded(xp, w, geom, method="direct", threads=1)
    for fused in {plan.fused, method == "separable"}:  # separable: both kinds of passes
        got = correlate_padded(xp, w, geom, plan=dataclasses.replace(small, fused=fused))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("method", ["separable", "box", "fft"])
@pytest.mark.parametrize("k", [15, 31])
def test_float32_methods_match_float64_direct_on_larger_images(method, k, rng):
    x = rng.uniform(0, 255, size=(96, 130, 3)).astype(np.float32)
    w = {"separable": gaussian(k), "box": np.full((k, k), 1 / k**2), "fft": rng.normal(size=(k, k))}
    got = correlate(x, w[method], method=method, border="reflect")
    want = correlate(x, w[method], method="direct", dtype=np.float64, threads=1)
    scale = np.abs(w[method]).sum() * 255
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * scale)


def test_planned_correlate_equals_direct_for_a_large_kernel(rng):
    x = rng.uniform(0, 1, size=(300, 400, 3)).astype(np.float32)
    w = rng.normal(size=(31, 31))
    assert make_plan(x.shape, w).method == "fft"
    np.testing.assert_allclose(
        correlate(x, w, border="wrap"),
        correlate(x, w, border="wrap", method="direct"),
        atol=2e-6 * np.abs(w).sum(),
    )


def test_convolve_accepts_method(rng):
    x = rng.uniform(size=(20, 25))
    w = rng.normal(size=(4, 3))
    np.testing.assert_allclose(
        convolve(x, w, method="fft", dtype=np.float64),
        convolve(x, w, method="direct", dtype=np.float64),
        atol=1e-12,
    )


# -- what the planner chooses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kernel", "method"),
    [
        ("gaussian 15x15", gaussian(15), "separable"),
        ("box 15x15", np.full((15, 15), 1 / 225), "separable"),
        ("box 63x63", np.full((63, 63), 1 / 63**2), "box"),
        ("gaussian 5x5", gaussian(5), "separable"),
        ("random 9x9", np.random.default_rng(5).normal(size=(9, 9)), "gemm"),
        ("random 13x13", np.random.default_rng(6).normal(size=(13, 13)), "gemm"),
        ("random 31x31", np.random.default_rng(1).normal(size=(31, 31)), "fft"),
        ("random 3x3", np.random.default_rng(2).normal(size=(3, 3)), "einsum"),
        ("sharpen 3x3", np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), "direct"),
        # measured 70 (separable) against 74 (direct) ms: within 10%, a row costs 3 touches
        ("gaussian 3x3", gaussian(3, 0.8), "separable"),
        ("channel sum 15x15", np.random.default_rng(3).normal(size=(3, 15, 15)), "direct"),
        ("channel mix 9x9", np.random.default_rng(4).normal(size=(2, 3, 9, 9)), "direct"),
        ("all zero", np.zeros((7, 7)), "direct"),
    ],
)
def test_planner_choice_for_a_4k_image(name, kernel, method):
    plan = make_plan(UHD, kernel)
    assert plan.method == method, str(plan)
    text = plan.explain()
    assert method in text
    assert str(plan) == text
    assert plan.cost_ms > 0


def test_plan_details_for_separable_and_sparse_kernels():
    plan = make_plan(UHD, gaussian(15))
    assert (plan.rank, plan.taps, plan.kernel_hw) == (1, 30, (15, 15))
    assert "rank 1" in plan.explain()
    sparse = np.zeros((5, 5))
    sparse[0, 0] = sparse[1, 4] = sparse[4, 1] = 1.0  # einsum's grid would be all 25 taps
    plan = make_plan(UHD, sparse)
    assert (plan.method, plan.taps) == ("direct", 3)
    assert "3 non-zero taps" in str(plan)
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    plan = make_plan(UHD, sobel, method="einsum")
    assert (plan.grid, plan.taps) == (((0, 3, 1), (0, 2, 2)), 6)
    assert "3x2 grid" in str(plan)


def test_rank_two_kernel_uses_two_pairs_of_passes(rng):
    w = np.outer(gaussian(21)[10], np.ones(21)) + np.outer(np.ones(21), rng.normal(size=21))
    plan = make_plan(UHD, w, method="separable")
    assert plan.rank == 2
    x = rng.uniform(size=(40, 50, 2))
    np.testing.assert_allclose(
        correlate(x, w, method="separable", dtype=np.float64),
        correlate(x, w, method="direct", dtype=np.float64),
        atol=1e-10,
    )


def test_low_rank_tolerance_depends_on_precision(rng):
    w = gaussian(15) + 1e-10 * rng.normal(size=(15, 15))
    assert low_rank(w, 1e-7)[0] == 1
    assert low_rank(w, 1e-14)[0] > 1
    assert make_plan(UHD, w, dtype=np.float32).method == "separable"
    assert make_plan(UHD, w, dtype=np.float64).rank != 1


def test_small_images_stay_direct():
    assert make_plan((8, 8, 3), np.ones((3, 3))).method == "direct"


def test_stride_makes_fft_less_attractive():
    w = np.random.default_rng(1).normal(size=(31, 31))
    assert make_plan(UHD, w).method == "fft"
    assert make_plan(UHD, w, stride=4).method == "gemm"


@pytest.mark.parametrize(
    ("kernel", "method", "pattern"),
    [
        (np.ones((3, 3, 3)), "fft", "3-D and 4-D"),
        (np.ones((2, 3, 3, 3)), "separable", "3-D and 4-D"),
        (np.ones((3, 3, 3)), "gemm", "3-D and 4-D"),
        (np.eye(3), "box", "all taps equal"),
        (np.ones((3, 3)), "winograd", "`method` must be one of"),
    ],
)
def test_forcing_a_method_that_cannot_run_is_a_clear_error(kernel, method, pattern):
    with pytest.raises(OptionError, match=pattern):
        correlate(np.ones((6, 6, 3)), kernel, method=method)


# -- direct taps of equal weight are summed before one product -------------------------


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    c=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    border=st.sampled_from(BORDERS),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
)
def test_direct_with_repeated_weights_equals_naive(h, w, c, kh, kw, seed, border, stride, dilation):
    r = np.random.default_rng(seed)
    # few distinct values, +1 and -1 among them, so taps share weights
    kernel = r.choice([-1.0, 1.0, 0.0, 0.5, 2.0, -3.0], size=(kh, kw))
    x = r.uniform(-2, 2, size=(h, w, c))
    pads = padding_amounts("same", kernel.shape, dilation=(dilation, dilation))
    want = naive_correlate(x, kernel, pads, (stride, stride), (dilation, dilation), border, 0.5)
    got = correlate(
        x,
        kernel,
        method="direct",
        dtype=np.float64,
        border=border,
        cval=0.5,
        stride=stride,
        dilation=dilation,
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    c=st.integers(1, 3),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    border=st.sampled_from(BORDERS),
    padding=st.sampled_from(["same", "valid", "full", 2]),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    integer_input=st.booleans(),
)
def test_direct_with_one_row_per_strip_equals_naive(
    h, w, c, kh, kw, seed, border, padding, stride, dilation, integer_input
):
    """One output row per strip: every strip pads its own rows (image edges included)."""
    from convcli import config

    r = np.random.default_rng(seed)
    kernel = r.choice([-1.0, 1.0, 0.0, 0.5, 2.0, -3.0, 0.25], size=(kh, kw))
    if integer_input:
        x = r.integers(0, 256, size=(h, w, c), dtype=np.uint8)  # sums overflow uint8
    else:
        x = r.uniform(-2, 2, size=(h, w, c))
    pads = padding_amounts(padding, kernel.shape, dilation=(dilation, dilation))
    want = naive_correlate(x, kernel, pads, (stride, stride), (dilation, dilation), border, 0.5)
    if want.shape[0] < 1 or want.shape[1] < 1:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "DIRECT_STRIP_BYTES", 1)
        got = correlate(
            x,
            kernel,
            method="direct",
            dtype=np.float64,
            padding=padding,
            border=border,
            cval=0.5,
            stride=stride,
            dilation=dilation,
        )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(1, 30),
    w=st.integers(1, 12),
    c=st.integers(1, 3),
    kh=st.integers(1, 6),
    kw=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    border=st.sampled_from(BORDERS),
    padding=st.sampled_from(["same", "valid", "full", 2]),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    block_rows=st.integers(1, 4),
    chunk=st.integers(1, 200),
    integer_input=st.booleans(),
)
def test_gemm_blocks_reading_the_image_in_place_equal_naive(
    h, w, c, kh, kw, seed, border, padding, stride, dilation, block_rows, chunk, integer_input
):
    """Short blocks (most read image rows in place) and tiny column chunks (with a remainder)."""
    import convcli.engine.candidates
    from convcli import config

    r = np.random.default_rng(seed)
    kernel = r.normal(size=(kh, kw)) * (r.uniform(size=(kh, kw)) < 0.8)  # some zero columns
    if integer_input:
        x = r.integers(0, 256, size=(h, w, c), dtype=np.uint8)
    else:
        x = r.uniform(-2, 2, size=(h, w, c))
    pads = padding_amounts(padding, kernel.shape, dilation=dilation)
    want = naive_correlate(x, kernel, pads, stride, dilation, border, 0.5)
    if want.shape[0] < 1 or want.shape[1] < 1 or not np.any(kernel):
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(convcli.engine.candidates, "GEMM_BLOCK_ROWS", ((4096, block_rows),))
        mp.setattr(config, "GEMM_CHUNK_MNK", chunk)
        got = correlate(
            x,
            kernel,
            method="gemm",
            dtype=np.float64,
            padding=padding,
            border=border,
            cval=0.5,
            stride=stride,
            dilation=dilation,
            threads=2,
        )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_gemm_plan_explains_blocks_and_columns():
    k = np.zeros((5, 5))
    k[:, [0, 2, 3]] = 1.0 + np.arange(15).reshape(5, 3)  # 3 non-zero columns, not low rank
    plan = make_plan(UHD, k, method="gemm")
    assert plan.method == "gemm"
    assert plan.taps == 3
    assert plan.block_rows == 12  # 5 rows: the first entry of GEMM_BLOCK_ROWS
    assert plan.strip_rows % plan.block_rows == 0
    assert "3 non-zero column(s)" in plan.explain()
    assert "blocks of 12 output rows" in plan.explain()
    assert make_plan(UHD, np.ones((9, 2)), method="gemm").block_rows == 8
    assert make_plan(UHD, np.ones((15, 2)), method="gemm").block_rows == 4


@pytest.mark.parametrize("n", [1, 7, 97, 360, 1009, 4096])
@pytest.mark.parametrize("limit", [1, 5, 64, 1000, 10**6])
def test_matrix_products_in_column_chunks_equal_one_product(n, limit, rng):
    """Chunks (equal divisors, or equal widths and a remainder) write every column."""
    import convcli.engine.gemm
    from convcli import config

    a = rng.normal(size=(6, 4))
    b = rng.normal(size=(4, n + 3))[:, 2 : 2 + n]  # a view with a row stride
    out = np.full((6, n + 5), np.nan)[:, 1 : 1 + n]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "GEMM_CHUNK_MNK", limit * 24)
        convcli.engine.gemm.matmul_in_chunks(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(
        st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 0.25]), min_size=1, max_size=9
    ),
    units_only=st.booleans(),
    started=st.booleans(),
    planner=st.sampled_from(["products", "horner", "best"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_weighted_sum_steps_compute_the_weighted_sum(weights, units_only, started, planner, seed):
    """The engine's step runner gives sum(w_i * v_i) (+ the old acc), for every plan of steps."""
    from convcli.engine.sumsteps import (
        best_sum_steps,
        horner_sum_steps,
        step_passes,
        weighted_sum_steps,
    )
    from convcli.engine.sumsteps import run_sum_steps as _run_sum_steps

    r = np.random.default_rng(seed)
    views = [r.integers(0, 256, size=(3, 4, 2), dtype=np.uint8) for _ in weights]
    start = r.normal(size=(3, 4, 2))
    if planner == "horner":
        started = False  # Horner's rule rescales acc, so it always starts it
    acc = start.copy() if started else np.full((3, 4, 2), np.nan)
    if planner == "products":
        steps = weighted_sum_steps(weights, units_only=units_only, started=started)
    elif planner == "horner":
        steps = horner_sum_steps(weights)
    else:
        steps = best_sum_steps(weights, units_only=units_only, started=started)
    _run_sum_steps(acc, lambda i: views[i], steps)
    want = sum(w * v.astype(np.float64) for w, v in zip(weights, views, strict=True))
    if started:
        want = want + start
    if not any(weights) and not started:
        assert steps == []  # nothing to compute: the caller fills zeros
        return
    np.testing.assert_allclose(acc, want, rtol=1e-12, atol=1e-9)
    assert step_passes(steps) <= 2 * sum(1 for w in weights if w) + 1


@pytest.mark.parametrize("seed", range(5))
def test_horner_sum_in_float32_is_as_accurate_as_a_plain_sum(seed):
    """Magnitudes over six decades: the float32 error stays within a few ulps of sum |w v|."""
    from convcli.engine.sumsteps import horner_sum_steps
    from convcli.engine.sumsteps import run_sum_steps as _run_sum_steps

    r = np.random.default_rng(seed)
    weights = (r.choice([-1, 1], size=12) * 10.0 ** r.uniform(-6, 0, size=12)).tolist()
    views = [r.uniform(0, 255, size=(64, 3)).astype(np.float32) for _ in weights]
    acc = np.full((64, 3), np.nan, dtype=np.float32)
    _run_sum_steps(acc, lambda i: views[i], horner_sum_steps(weights))
    want = sum(w * v.astype(np.float64) for w, v in zip(weights, views, strict=True))
    bound = sum(abs(w) * v.astype(np.float64) for w, v in zip(weights, views, strict=True))
    assert np.all(np.abs(acc - want) <= 4 * len(weights) * np.finfo(np.float32).eps * bound)


def test_horner_steps_scale_by_ratios_of_at_most_one():
    from convcli.engine.sumsteps import horner_sum_steps

    steps = horner_sum_steps([0.1, -2.0, 0.1, 0.7, -0.7, 3.0])
    scales = [wt for kind, wt, _ in steps if kind == "scale"]
    # 0.1 -> 0.7 -> 2 -> 3, then the largest magnitude itself
    assert scales == pytest.approx([0.1 / 0.7, 0.7 / 2, 2 / 3, 3.0])


def test_best_sum_steps_pick_products_for_sharpen_and_horner_for_a_gaussian_row():
    from convcli.engine.sumsteps import best_sum_steps, step_traffic

    sharpen = best_sum_steps([-1.0, -1.0, 5.0, -1.0, -1.0])
    assert "scale" not in [kind for kind, _, _ in sharpen]
    assert step_traffic(sharpen) == 2 + 4 * 3  # one product, four subtractions
    row = [0.05, 0.25, 0.4, 0.25, 0.05]
    horner = best_sum_steps(row)
    assert "add_scaled" not in [kind for kind, _, _ in horner]
    # pair sum, scale + 2 adds, scale + add, final scale by 0.4
    assert step_traffic(horner) == 3 + (2 + 6) + (2 + 3) + 2


def test_horizontal_steps_keep_the_product_and_drop_empty_components(rng):
    from convcli.engine.analysis import horizontal_steps
    from convcli.engine.sumsteps import run_sum_steps as _run_sum_steps

    g = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
    u = np.stack([g, rng.normal(size=5), np.zeros(5)], axis=1)
    v = np.stack([g / 16, rng.normal(size=5), rng.normal(size=5)])
    us, vs, steps = horizontal_steps(u, v)
    assert vs.shape == (2, 5)  # the third component has an all-zero column factor
    np.testing.assert_allclose(us @ vs, u @ v, rtol=1e-13, atol=1e-13)
    views = [rng.normal(size=(4, 3)) for _ in range(vs.size)]
    acc = np.full((4, 3), np.nan)
    _run_sum_steps(acc, lambda i: views[i], steps)
    want = sum(w * x for w, x in zip(vs.ravel(), views, strict=True))
    np.testing.assert_allclose(acc, want, rtol=1e-12, atol=1e-12)


def test_svd_factors_of_a_symmetric_gaussian_pair_their_mirrored_taps():
    """A 9-tap row: one pair sum, then per magnitude a scaling and two adds (the centre one).

    The SVD leaves mirrored taps a few ulps apart; without snapping them equal
    each would need its own scaling (15 passes instead of 12).
    """
    from convcli.engine.analysis import horizontal_steps, low_rank
    from convcli.engine.sumsteps import step_passes

    rank, u, v = low_rank(gaussian(9, 2.0), 1e-14)
    assert rank == 1
    us, vs, steps = horizontal_steps(u, v)
    assert step_passes(steps) == 1 + 4 * 1 + 7
    np.testing.assert_allclose(us @ vs, gaussian(9, 2.0), rtol=1e-14, atol=1e-17)
    assert vs[0, 4] == 1.0  # the largest tap, signed


def test_unit_scaled_factors_keep_the_product_and_make_unit_weights(rng):
    from convcli.engine.analysis import unit_scaled

    u = rng.normal(size=(5, 2))
    v = np.array([[-0.3, 0.0, 0.3, 0.7, 0.3], [2.0, 2.0, 5.0, 0.0, 0.0]])
    us, vs = unit_scaled(u, v)
    np.testing.assert_allclose(us @ vs, u @ v, rtol=1e-14)
    assert vs[0].tolist() == pytest.approx([-1.0, 0.0, 1.0, 0.7 / 0.3, 1.0])
    assert vs[1].tolist() == pytest.approx([1.0, 1.0, 2.5, 0.0, 0.0])


def test_large_kernels_get_the_direct_traffic_estimated_not_planned(monkeypatch):
    """Planning is Python-speed: past DIRECT_PLAN_TAPS taps no step list is built."""
    import convcli.engine.analysis

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("steps planned for a huge kernel")

    monkeypatch.setattr(convcli.engine.analysis, "best_sum_steps", refuse)
    w = np.random.default_rng(0).normal(size=(21, 21))  # 441 taps
    assert convcli.engine.analysis.direct_traffic(w) == 5 * 441
    assert make_plan(UHD, w).method in ("gemm", "fft")


@pytest.mark.parametrize(
    "w",
    [
        np.array([[1e-50]]),
        np.full((3, 3), 1e-60),
        np.array([[0.0, 1e-50, 0.0], [2e-50, 0.0, -3e-50]]),
        np.full((2, 3, 3, 3), 1e-50),  # channel-mixing
    ],
    ids=["1x1", "box", "sparse", "4d"],
)
def test_weights_that_underflow_the_working_type_give_exact_zeros(w, monkeypatch):
    # poison np.empty, so an output that no method writes would show
    real_empty = np.empty

    def poisoned(*args, **kwargs):
        out = real_empty(*args, **kwargs)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out

    monkeypatch.setattr(np, "empty", poisoned)
    x = np.random.default_rng(0).uniform(0, 255, size=(17, 23, 3)).astype(np.float32)
    for method in (None, "direct"):
        y = correlate(x, w, dtype=np.float32, method=method)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np.zeros_like(y))
    # float64 keeps them: the exact products
    y64 = correlate(x, w, dtype=np.float64, method="direct")
    assert np.all(np.isfinite(y64)) and np.abs(y64).max() > 0


def test_only_the_underflowing_taps_are_dropped(rng):
    x = rng.uniform(size=(15, 19, 3)).astype(np.float32)
    w = np.array([[1e-50, 0.25, 0.0], [0.5, 1e-48, -0.25]])
    kept = np.where(np.abs(w) < 1e-40, 0.0, w)
    for method in ("direct", "einsum", "gemm", "fft", "separable"):
        np.testing.assert_allclose(
            correlate(x, w, dtype=np.float32, method=method),
            naive_correlate(x.astype(np.float64), kept, same_pads(2, 3), border="reflect"),
            rtol=1e-5,
            atol=1e-5,
        )


def test_low_rank_of_a_large_kernel_uses_a_range_finder_and_finds_the_rank(rng):
    from convcli.engine.analysis import low_rank

    a, b = rng.normal(size=(300, 2)), rng.normal(size=(2, 280))
    w = a @ b
    rank, u, v = low_rank(w, 1e-7, max_rank=8)
    assert rank == 2
    np.testing.assert_allclose(u @ v, w, rtol=1e-9, atol=1e-9 * np.abs(w).max())
    full = rng.normal(size=(300, 280))
    rank, u, v = low_rank(full, 1e-7, max_rank=8)
    assert (rank, u.shape, v.shape) == (280, (300, 0), (0, 280))


def test_planning_a_huge_full_rank_kernel_takes_no_full_svd(monkeypatch, rng):
    shapes: list[tuple[int, ...]] = []
    real_svd = np.linalg.svd

    def spy(a, *args, **kwargs):
        shapes.append(np.shape(a))
        return real_svd(a, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "svd", spy)
    plan = make_plan((48, 64, 3), rng.normal(size=(600, 600)))
    assert plan.method in METHODS
    assert all(min(s) <= 40 for s in shapes)  # the range finder's small matrix only


@pytest.mark.parametrize("peak", [1e307, 1e-300])
def test_low_rank_of_extreme_weights_is_the_rank_of_the_scaled_kernel(peak):
    from convcli.engine.analysis import low_rank

    g = np.array([1.0, 2.0, 1.0])
    w = np.outer(g, [1.0, 0.0, -1.0]) * peak
    r, u, v = low_rank(w, 1e-12)
    assert r == 1
    np.testing.assert_allclose(u @ v, w, rtol=1e-12, atol=0)
    full = np.diag([1.0, 2.0, 3.0]) * peak
    assert low_rank(full, 1e-12)[0] == 3
