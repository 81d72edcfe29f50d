"""Backward pass: losses, dL/dw and dL/dx against a naive loop backward and finite differences.

Also the adjoint identities, the finite-difference checker (and that it can
fail), and kernel fitting (exact least squares and Adam).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convcli
import convcli.config
import convcli.grad.check
from convcli.conv_options import ConvOptions
from convcli.engine import convolve, correlate
from convcli.errors import OptionError, ShapeError, UsageError
from convcli.grad import (
    LOSSES,
    check_gradients,
    check_gradients_with,
    fit_kernel,
    input_grad,
    kernel_grad,
    loss_and_grad,
    loss_value_and_grad,
)
from tests.helpers import naive_input_grad, naive_kernel_grad, numerical_gradient, same_pads
from tests.support import BORDERS

# -- cases --------------------------------------------------------------------------

padding_st = st.one_of(
    st.sampled_from(["same", "valid", "full"]),
    st.integers(0, 3),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
)


@st.composite
def grad_case(draw, max_hw=7):
    h = draw(st.integers(1, max_hw))
    w = draw(st.integers(1, max_hw))
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
    x = r.uniform(-2, 2, size=(h, w, c))
    if c == 1 and draw(st.booleans()):
        x = x[:, :, 0]  # a 2-D image stays 2-D
    return {
        "x": x,
        "w": r.normal(size=kshape),
        "padding": draw(padding_st),
        "border": draw(st.sampled_from(BORDERS)),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "cval": draw(st.floats(-2, 2)),
        "flip": draw(st.booleans()),
        "seed": seed,
    }


def options(case, *, cval=None):
    return {
        "padding": case["padding"],
        "border": case["border"],
        "cval": case["cval"] if cval is None else cval,
        "stride": case["stride"],
        "dilation": case["dilation"],
    }


def forward(case, x=None, w=None, *, cval=None):
    """The float64 forward pass the gradients belong to (correlate, or convolve if flip)."""
    op = convolve if case["flip"] else correlate
    x = case["x"] if x is None else x
    w = case["w"] if w is None else w
    return op(x, w, dtype=np.float64, **options(case, cval=cval))


def upstream(case):
    """A random grad_out of the forward output's shape, or None if the output is empty."""
    try:
        y = forward(case)
    except ShapeError:
        return None
    return np.random.default_rng(case["seed"] + 1).normal(size=y.shape)


def explicit_pads(padding, kh, kw, dilation, flip):
    """Padding amounts written from the convolution rule (independent of convcli.shapes)."""
    dh, dw = dilation
    if padding == "same":
        (t, b), (left, right) = same_pads(kh, kw, dilation)
        # convolve flips the kernel and its anchor, so the 'same' margins swap sides
        return ((b, t), (right, left)) if flip else ((t, b), (left, right))
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "full":
        return ((dh * (kh - 1),) * 2, (dw * (kw - 1),) * 2)
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return ((padding[0],) * 2, (padding[1],) * 2)


def naive_backward(case, g):
    x = case["x"]
    x3 = x[:, :, None] if x.ndim == 2 else x
    w = case["w"]
    wf = w[..., ::-1, ::-1] if case["flip"] else w
    g3 = g[:, :, None] if g.ndim == 2 else g
    pads = explicit_pads(case["padding"], *w.shape[-2:], case["dilation"], case["flip"])
    args = (pads, case["stride"], case["dilation"], case["border"])
    gk = naive_kernel_grad(x3, wf, g3, *args, cval=case["cval"])
    gx = naive_input_grad(x3, wf, g3, *args)
    if case["flip"]:
        gk = gk[..., ::-1, ::-1]
    return gk, gx.reshape(x.shape)


def analytic(case, g, **extra):
    opts = {**options(case), "flip": case["flip"], **extra}
    return (
        kernel_grad(case["x"], case["w"], g, **opts),
        input_grad(case["x"], case["w"], g, **opts),
    )


# -- against the naive loop backward and finite differences ------------------------------


@given(grad_case())
def test_gradients_equal_naive_backward(case):
    g = upstream(case)
    if g is None:
        with pytest.raises(ShapeError, match="empty output"):
            kernel_grad(case["x"], case["w"], np.zeros((1, 1)), **options(case))
        return
    gk, gx = analytic(case, g)
    want_k, want_x = naive_backward(case, g)
    assert gk.shape == case["w"].shape
    assert gx.shape == case["x"].shape
    np.testing.assert_allclose(gk, want_k, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(gx, want_x, rtol=1e-10, atol=1e-10)


@settings(max_examples=30)
@given(grad_case(max_hw=6))
def test_gradients_equal_finite_differences(case):
    g = upstream(case)
    if g is None:
        return
    gk, gx = analytic(case, g)
    # L = sum(g * y) has dL/dy = g; it is linear, so central differences are exact but for rounding
    fd_k = numerical_gradient(lambda ww: float(np.sum(g * forward(case, w=ww))), case["w"])
    fd_x = numerical_gradient(lambda xx: float(np.sum(g * forward(case, x=xx))), case["x"])
    np.testing.assert_allclose(gk, fd_k, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-6, atol=1e-6)


@given(grad_case(max_hw=9))
def test_adjoint_identities(case):
    g = upstream(case)
    if g is None:
        return
    # y is linear in w for any border and cval: <g, y> == <dL/dw, w>
    y = forward(case)
    gk, _ = analytic(case, g)
    assert np.vdot(g, y) == pytest.approx(np.vdot(gk, case["w"]), rel=1e-10, abs=1e-9)
    # y is linear in x only when padded cells hold no constant: use cval = 0
    y0 = forward(case, cval=0.0)
    _, gx = analytic(case, g, cval=0.0)
    assert np.vdot(g, y0) == pytest.approx(np.vdot(gx, case["x"]), rel=1e-10, abs=1e-9)


def _test_kernel(kind: str, size: int, r: np.random.Generator) -> np.ndarray:
    if kind == "gauss":
        v = np.exp(-0.5 * (np.arange(size) - size // 2) ** 2 / (size / 5) ** 2)
        return np.outer(v, v)
    if kind == "box":
        return np.full((size, size), 1.0 / size**2)
    return r.normal(size=(size, size))


@pytest.mark.parametrize(
    ("kind", "size", "dilation"),
    [
        ("random", 3, 1),
        ("random", 5, 2),
        ("gauss", 9, 1),  # low rank: separable
        ("box", 7, 1),
        ("random", 17, 1),
        ("random", 31, 1),  # wider than half the image: fft for both gradients
        ("gauss", 61, 1),  # larger than the image
    ],
)
def test_planned_backward_matches_scipy_references(monkeypatch, kind, size, dilation):
    """Both gradients against scipy.signal (zero border), whichever method the planner picks."""
    signal = pytest.importorskip("scipy.signal")
    import convcli.engine.api
    import convcli.engine.weights

    r = np.random.default_rng(size)
    x, g = r.uniform(size=(40, 52, 3)), r.normal(size=(40, 52, 3))
    w = _test_kernel(kind, size, r)
    plans: list[str] = []
    real_plan = convcli.engine.api.plan_correlation
    monkeypatch.setattr(
        convcli.engine.api,
        "plan_correlation",
        lambda *a, **k: plans.append(real_plan(*a, **k).method) or real_plan(*a, **k),
    )
    opts = {"border": "constant", "dilation": dilation}
    (t, b), (left, right) = same_pads(size, size, (dilation, dilation))
    xpad = np.pad(x, ((t, b), (left, right), (0, 0)))
    d = dilation
    want_k = sum(
        signal.correlate(xpad[:, :, c], g[:, :, c], mode="valid")[::d, ::d] for c in range(3)
    )
    wd = np.zeros(((size - 1) * d + 1,) * 2)
    wd[::d, ::d] = w
    full = np.stack([signal.convolve(g[:, :, c], wd, mode="full") for c in range(3)], axis=2)
    want_x = full[t : t + 40, left : left + 52]
    got_x = input_grad(x, w, g, **opts)
    np.testing.assert_allclose(got_x, want_x, rtol=1e-9, atol=1e-9 * np.abs(want_x).max())
    assert plans  # the input gradient went through the planner
    got_k = kernel_grad(x, w, g, **opts)
    np.testing.assert_allclose(got_k, want_k, rtol=1e-9, atol=1e-9 * np.abs(want_k).max())
    for method in ("gemm", "fft") if dilation == 1 else ("gemm",):
        monkeypatch.setattr(
            convcli.engine.weights, "weight_grad_costs", lambda *_a, m=method: {m: 0.0}
        )
        got_k = kernel_grad(x, w, g, **opts)
        np.testing.assert_allclose(got_k, want_k, rtol=1e-9, atol=1e-9 * np.abs(want_k).max())


def test_planned_backward_methods_are_chosen_by_cost():
    from convcli.engine.weights import weight_grad_costs
    from convcli.shapes import make_geometry

    small = make_geometry((1080, 1920), (5, 5))
    large = make_geometry((1080, 1920), (41, 41))
    hp = (1084, 1924, 3)
    assert min(weight_grad_costs(hp, small).items(), key=lambda kv: kv[1])[0] == "gemm"
    assert min(weight_grad_costs((1120, 1960, 3), large).items(), key=lambda kv: kv[1])[0] == "fft"
    assert "fft" not in weight_grad_costs(hp, make_geometry((1080, 1920), (5, 5), stride=2))


@pytest.mark.parametrize(
    ("kshape", "stride", "dilation", "border"),
    [
        ((3, 3), 1, 1, "reflect"),  # each strip's halo reaches 2 strips on: 3 waves
        ((3, 3), 2, 1, "wrap"),  # even/odd waves
        ((2, 3, 5, 4), 1, 2, "mirror"),  # 9 waves
        ((2, 2), 3, 1, "reflect"),  # strips never overlap: one wave
        ((6, 3, 2, 3), 1, 1, "wrap"),  # many (o, c) pairs: one matrix product per tap
        ((2, 3, 2, 3), (3, 2), 1, "nearest"),
        ((3, 4, 3), 2, (2, 1), "constant"),
    ],
)
def test_row_strips_and_threads_give_the_same_gradients(
    monkeypatch, kshape, stride, dilation, border
):
    # tiny strips: one output row each, so strip boundaries and thread waves are exercised
    monkeypatch.setattr(convcli.config, "GRAD_STRIP_BYTES", 8)
    r = np.random.default_rng(7)
    case = {
        "x": r.uniform(size=(13, 11, 3)),
        "w": r.normal(size=kshape),
        "padding": "same",
        "border": border,
        "stride": stride,
        "dilation": dilation,
        "cval": 0.5,
        "flip": False,
        "seed": 3,
    }
    g = upstream(case)
    want_k, want_x = naive_backward(
        {**case, "stride": np.broadcast_to(stride, 2), "dilation": np.broadcast_to(dilation, 2)}, g
    )
    one = analytic(case, g, threads=1)
    three = analytic(case, g, threads=3)
    for got in (one, three):
        np.testing.assert_allclose(got[0], want_k, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got[1], want_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(one[0], three[0])  # per-strip partial sums are added in order
    np.testing.assert_array_equal(one[1], three[1])


# -- hand-computed values, orientation, shapes, dtypes ----------------------------------


def test_hand_computed_kernel_and_input_gradients_and_flip():
    x = np.array([[0.0, 1.0, 4.0, 9.0, 16.0]])
    w = np.array([[-1.0, 0.0, 2.0]])
    g = np.ones((1, 5))
    # correlate: y[j] = -x[j-1] + 2 x[j+1], zero padded
    # dL/dw[q] = sum_j x[j + q - 1]: (0+0+1+4+9, 30, 1+4+9+16+0)
    kg = kernel_grad(x, w, g, border="constant")
    np.testing.assert_array_equal(kg, [[14.0, 30.0, 30.0]])
    # convolve: y[j] = 2 x[j-1] - x[j+1], so the taps read mirrored positions
    np.testing.assert_array_equal(
        kernel_grad(x, w, g, border="constant", flip=True), [[30.0, 30.0, 14.0]]
    )
    # dL/dx[m] = sum of the weights whose tap reads x[m]: -1 from y[m+1], 2 from y[m-1]
    np.testing.assert_array_equal(
        input_grad(x, w, g, border="constant"), [[-1.0, 1.0, 1.0, 1.0, 2.0]]
    )
    # reflect folds the padded cells back: x[0] also feeds y[0]'s left tap, x[4] y[4]'s right
    np.testing.assert_array_equal(
        input_grad(x, w, g, border="reflect"), [[-2.0, 1.0, 1.0, 1.0, 4.0]]
    )


def test_depthwise_kernel_gradient_sums_over_channels(rng):
    x = rng.uniform(size=(6, 5, 3))
    w = rng.normal(size=(3, 2))
    g = rng.normal(size=(6, 5, 3))
    total = sum(kernel_grad(x[:, :, c], w, g[:, :, c]) for c in range(3))
    np.testing.assert_allclose(kernel_grad(x, w, g), total, rtol=1e-12)


@pytest.mark.parametrize(
    ("xshape", "kshape", "gshape"),
    [
        ((6, 7), (3, 3), (6, 7)),
        ((6, 7), (3, 3), (6, 7, 1)),
        ((6, 7, 1), (3, 2), (6, 7)),
        ((6, 7, 3), (3, 5, 2), (6, 7, 1)),
        ((6, 7, 3), (3, 5, 2), (6, 7)),
        ((6, 7, 3), (4, 3, 1, 1), (6, 7, 4)),
        ((6, 7), (2, 1, 2, 2), (6, 7, 2)),
    ],
)
def test_gradient_shapes_follow_kernel_and_image(xshape, kshape, gshape, rng):
    x = rng.uniform(size=xshape)
    w = rng.normal(size=kshape)
    g = rng.normal(size=gshape)
    assert kernel_grad(x, w, g).shape == kshape
    assert input_grad(x, w, g).shape == xshape


def test_wrong_grad_out_shape_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\(5, 5, 3\).*\(6, 6, 3\)"):
        kernel_grad(np.ones((6, 6, 3)), np.ones((3, 3)), np.ones((5, 5, 3)))
    with pytest.raises(ShapeError, match="grad_out"):
        input_grad(np.ones((6, 6, 3)), np.ones((3, 3)), np.ones((6, 6)))


def test_float32_path_agrees_with_float64(rng):
    x = rng.uniform(0, 1, size=(40, 37, 3)).astype(np.float32)
    g = rng.normal(size=(20, 19, 2))
    w = rng.normal(size=(2, 3, 5, 5))
    kw = {"stride": 2, "border": "mirror"}
    k64 = kernel_grad(x, w, g, **kw)
    k32 = kernel_grad(x, w, g, dtype=np.float32, **kw)
    x64 = input_grad(x, w, g, **kw)
    x32 = input_grad(x, w, g, dtype=np.float32, **kw)
    assert k64.dtype == np.float64
    assert k32.dtype == np.float64
    assert x64.dtype == np.float64
    assert x32.dtype == np.float32
    np.testing.assert_allclose(k32, k64, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(x32, x64, rtol=1e-4, atol=1e-4)


def test_zero_taps_and_1x1_image():
    w = np.zeros((3, 3))
    w[1, 1] = 2.0
    g = np.full((1, 1), 3.0)
    np.testing.assert_array_equal(input_grad(np.ones((1, 1)), w, g), [[6.0]])
    # on a 1x1 reflect image every tap reads the single pixel
    np.testing.assert_array_equal(kernel_grad(np.full((1, 1), 2.0), w, g), np.full((3, 3), 6.0))


def test_bad_options_raise_clear_errors():
    x, w, g = np.ones((4, 4)), np.ones((3, 3)), np.ones((4, 4))
    with pytest.raises(OptionError, match="stride"):
        kernel_grad(x, w, g, stride=0)
    with pytest.raises(OptionError, match="border"):
        input_grad(x, w, g, border="bounce")
    with pytest.raises(OptionError, match="dtype"):
        input_grad(x, w, g, dtype=np.int16)
    with pytest.raises(ShapeError, match="kernel expects 2 input channels"):
        kernel_grad(np.ones((4, 4, 3)), np.ones((2, 3, 3)), g)


def test_public_api_reexports():
    assert convcli.kernel_grad is kernel_grad
    assert convcli.input_grad is input_grad
    assert convcli.loss_and_grad is loss_and_grad
    assert convcli.fit_kernel is fit_kernel


# -- losses ---------------------------------------------------------------------------

Y = np.array([[1.0, 2.0], [3.0, 4.0]])
T = np.array([[0.0, 2.0], [5.0, 1.0]])  # y - t = [[1, 0], [-2, 3]]


@pytest.mark.parametrize(
    ("loss", "value", "grad"),
    [
        ("mse", 14 / 4, [[0.5, 0.0], [-1.0, 1.5]]),
        ("sse", 7.0, [[1.0, 0.0], [-2.0, 3.0]]),
        ("l1", 6 / 4, [[0.25, 0.0], [-0.25, 0.25]]),  # subgradient 0 where y == t
        ("sum", 10.0, [[1.0, 1.0], [1.0, 1.0]]),
    ],
)
def test_losses_hand_computed(loss, value, grad):
    got_value, got_grad = loss_value_and_grad(Y, T, loss)
    assert got_value == pytest.approx(value, rel=1e-15)
    np.testing.assert_array_equal(got_grad, grad)
    assert got_grad.shape == Y.shape


@pytest.mark.parametrize("loss", LOSSES)
def test_losses_match_finite_differences(loss, rng):
    y = rng.normal(size=(4, 3, 2))
    t = y + rng.choice([-1.0, 1.0], size=y.shape) * rng.uniform(0.1, 1.0, size=y.shape)
    _, grad = loss_value_and_grad(y, t, loss)
    fd = numerical_gradient(lambda yy: loss_value_and_grad(yy, t, loss)[0], y)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_l1_subgradient_is_zero_at_the_kink():
    _, grad = loss_value_and_grad([[1.0, 2.0, 3.0]], [[1.0, 2.5, 3.0]], "l1")
    np.testing.assert_array_equal(grad, [[0.0, -1 / 3, 0.0]])


def test_sum_needs_no_target_and_others_do():
    assert loss_value_and_grad(Y, None, "sum")[0] == 10.0
    for loss in ("mse", "sse", "l1"):
        with pytest.raises(UsageError, match="needs a target"):
            loss_value_and_grad(Y, None, loss)


def test_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\(3, 2\).*\(2, 2\)"):
        loss_value_and_grad(Y, np.ones((3, 2)), "mse")
    with pytest.raises(ShapeError, match=r"target has shape \(5, 5, 3\).*\(4, 4, 3\)"):
        loss_and_grad(np.ones((4, 4, 3)), np.ones((3, 3)), np.ones((5, 5, 3)))


def test_target_may_differ_by_a_trailing_channel_of_one():
    value, grad = loss_value_and_grad(Y[:, :, None], T, "sse")
    assert value == 7.0
    assert grad.shape == (2, 2, 1)


def test_unknown_loss():
    with pytest.raises(OptionError, match="mse, sse, l1, sum"):
        loss_value_and_grad(Y, T, "huber")


# -- loss_and_grad ---------------------------------------------------------------------


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_and_grad_is_forward_loss_and_backward(loss, flip, rng):
    x = rng.uniform(size=(9, 8, 3))
    w = rng.normal(size=(2, 3, 3, 2))
    t = rng.uniform(size=(5, 4, 2))
    opts = {"stride": 2, "border": "wrap"}
    res = loss_and_grad(x, w, t, loss=loss, flip=flip, with_input_grad=True, **opts)
    y = (convolve if flip else correlate)(x, w, dtype=np.float64, **opts)
    value, g = loss_value_and_grad(y, t, loss)
    np.testing.assert_allclose(res.output, y, rtol=1e-12)
    assert res.loss == pytest.approx(value, rel=1e-12)
    assert res.loss_name == loss
    np.testing.assert_allclose(res.kernel_grad, kernel_grad(x, w, g, flip=flip, **opts), rtol=1e-12)
    np.testing.assert_allclose(res.input_grad, input_grad(x, w, g, flip=flip, **opts), rtol=1e-12)
    assert loss_and_grad(x, w, t, loss=loss, **opts).input_grad is None


# -- check_gradients --------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"border": "constant", "cval": 0.3, "stride": 2},
        {"border": "wrap", "dilation": 2, "flip": True},
        {"padding": "valid", "border": "mirror"},
    ],
    ids=["default", "constant-stride", "wrap-dilation-flip", "valid"],
)
def test_check_gradients_passes_for_correct_gradients(loss, opts, rng):
    x = rng.uniform(size=(12, 11, 2))
    w = rng.normal(size=(2, 2, 3, 3))
    y = (convolve if opts.get("flip") else correlate)(
        x, w, dtype=np.float64, **{k: v for k, v in opts.items() if k != "flip"}
    )
    t = y + rng.normal(scale=0.1, size=y.shape)
    res = check_gradients(x, w, None if loss == "sum" else t, loss=loss, **opts)
    assert res.ok, res
    assert res.n_kernel == w.size
    assert res.n_pixels == 64
    assert res.max_rel_err < 1e-6


@pytest.mark.parametrize("offset", [0.0, 1e-9, 1e-15], ids=["on-kink", "near-kink", "rounding"])
def test_check_gradients_handles_l1_kinks(offset, rng):
    x = rng.uniform(size=(10, 10))
    w = rng.normal(size=(3, 3))
    t = correlate(x, w, dtype=np.float64)
    t[::2] += offset  # half the outputs sit on (or a hair away from) |y - t|'s kink
    res = check_gradients(x, w, t, loss="l1", n_pixels=100)
    assert res.ok, res
    assert res.n_pixels == 100  # fewer values than asked: all of them
    assert (res.n_kinks > 0) == (offset != 0.0)


def test_check_gradients_checks_every_value_of_a_small_image(rng):
    res = check_gradients(rng.uniform(size=(3, 4)), rng.normal(size=(2, 2)), loss="sum")
    assert res.ok
    assert res.n_pixels == 12


@pytest.mark.parametrize("which", ["_kernel_grad_of", "_input_grad_of"])
def test_check_gradients_detects_a_wrong_gradient(monkeypatch, which, rng):
    right = getattr(convcli.grad.check, which)

    def slightly_wrong(*args, **kwargs):
        return right(*args, **kwargs) * (1 + 1e-4)

    monkeypatch.setattr(convcli.grad.check, which, slightly_wrong)
    x = rng.uniform(size=(9, 9, 3))
    w = rng.normal(size=(3, 3))
    res = check_gradients(x, w, rng.uniform(size=(9, 9, 3)), loss="mse")
    assert not res.ok
    assert res.max_rel_err > 1e-5


def test_check_gradients_probes_a_bounded_sample_of_a_large_kernel(monkeypatch, rng):
    forwards: list[int] = []
    real = convcli.grad.check._forward

    def counting(*args):
        fwd = real(*args)
        return lambda xx, ww: forwards.append(1) or fwd(xx, ww)

    monkeypatch.setattr(convcli.grad.check, "_forward", counting)
    x, w, t = (
        rng.uniform(size=(30, 30, 2)),
        rng.normal(size=(15, 15)),
        rng.uniform(size=(30, 30, 2)),
    )
    stages: list[tuple[str, float]] = []
    res = check_gradients_with(
        x, w, t, ConvOptions(), n_weights=10, n_pixels=7, progress=lambda *a: stages.append(a)
    )
    assert res.ok
    assert (res.n_kernel, res.kernel_size, res.n_pixels, res.image_size) == (10, 225, 7, 1800)
    # y0 and the noise estimate's |x| (*) |w|, then two forwards per probe
    assert len(forwards) == 2 + 2 * (10 + 7)
    assert len(stages) == 17
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    # a wrong gradient in a single entry is seen when every entry is probed
    res_all = check_gradients(x, w, t, n_weights=225, n_pixels=0)
    assert res_all.ok
    assert res_all.n_kernel == 225


def test_check_gradients_validates_its_options():
    with pytest.raises(OptionError, match="n_weights"):
        check_gradients(np.ones((3, 3)), np.ones((1, 1)), loss="sum", n_weights=-1)
    with pytest.raises(OptionError, match="n_pixels"):
        check_gradients(np.ones((3, 3)), np.ones((1, 1)), loss="sum", n_pixels=-1)
    with pytest.raises(OptionError, match="eps"):
        check_gradients(np.ones((3, 3)), np.ones((1, 1)), loss="sum", eps=0.0)


# -- fit_kernel -------------------------------------------------------------------------


@pytest.mark.parametrize("border", ["reflect", "wrap", "constant"])
@pytest.mark.parametrize("size", [3, 5])
@pytest.mark.parametrize("depthwise", [True, False], ids=["depthwise", "full"])
def test_lstsq_recovers_a_known_kernel(depthwise, size, border, rng):
    x = rng.uniform(size=(21, 19, 3))
    kshape = (size, size) if depthwise else (2, 3, size, size)
    w = rng.normal(size=kshape)
    t = correlate(x, w, border=border, cval=0.2, dtype=np.float64)
    fit = fit_kernel(x, t, size, depthwise=depthwise, border=border, cval=0.2)
    assert fit.kernel.shape == kshape
    np.testing.assert_allclose(fit.kernel, w, atol=1e-6)
    assert fit.loss < 1e-18
    assert fit.method == "lstsq"
    assert fit.steps == 0
    assert fit.history == []


def test_lstsq_tiles_do_not_change_the_result(rng):
    x = rng.uniform(size=(17, 13, 2))
    t = rng.uniform(size=(9, 7, 3))  # not an exact fit
    kwargs = {"depthwise": False, "stride": 2, "border": "mirror"}
    fits = [fit_kernel(x, t, (3, 4), tile_rows=n, **kwargs) for n in (1, 2, 5, None)]
    for other in fits[1:]:
        np.testing.assert_allclose(other.kernel, fits[0].kernel, rtol=1e-10, atol=1e-12)
        assert other.loss == pytest.approx(fits[0].loss, rel=1e-10)
    # and it is the least-squares optimum: the mse gradient vanishes there
    g = loss_and_grad(x, fits[0].kernel, t, loss="mse", stride=2, border="mirror").kernel_grad
    assert np.abs(g).max() < 1e-10


def test_lstsq_on_a_constant_image_returns_a_minimum_norm_kernel():
    x = np.full((8, 8), 0.5)
    fit = fit_kernel(x, np.full((8, 8), 1.0), 3)
    assert np.all(np.isfinite(fit.kernel))
    np.testing.assert_allclose(fit.kernel, np.full((3, 3), 2 / 9), atol=1e-9)
    assert fit.loss < 1e-20


def test_gd_converges_to_the_known_kernel(rng):
    x = rng.uniform(size=(20, 20))
    w = np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])
    t = correlate(x, w, dtype=np.float64)
    calls = []
    fit = fit_kernel(
        x, t, 3, method="gd", steps=400, lr=0.05, callback=lambda s, v: calls.append((s, v))
    )
    rel = np.linalg.norm(fit.kernel - w) / np.linalg.norm(w)
    assert rel < 1e-2
    assert fit.steps == 400
    assert len(fit.history) == 400
    assert [s for s, _ in calls] == list(range(1, 401))
    assert [v for _, v in calls] == fit.history
    assert fit.loss < fit.history[0] * 1e-6


def _smooth_photo(rng, shape=(48, 56, 3)):
    """A correlated, photo-like image (smoothed noise, edges): an ill-conditioned fit."""
    x = correlate(rng.uniform(size=shape), np.ones((5, 5)) / 25, dtype=np.float64)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return x + 0.5 * ((xx // 12 + yy // 12) % 2)[:, :, None]


@pytest.mark.parametrize("case", ["identity", "gaussian", "full"])
def test_gd_at_its_defaults_reaches_the_least_squares_loss_and_stops_early(rng, case):
    x = _smooth_photo(rng, (24, 28, 3) if case == "full" else (48, 56, 3))
    g = np.exp(-0.5 * (np.arange(7) - 3.0) ** 2 / 1.5**2)
    size, depthwise = {"identity": (3, True), "gaussian": (5, True), "full": (3, False)}[case]
    if case == "identity":
        t = x
    elif case == "gaussian":  # a 7x7 blur fitted by a 5x5 kernel, quantised to 8 bits
        t = np.round(correlate(x, np.outer(g, g) / g.sum() ** 2, dtype=np.float64) * 255) / 255
    else:
        t = correlate(x, rng.normal(size=(2, 3, 3, 3)), dtype=np.float64)
    exact = fit_kernel(x, t, size, depthwise=depthwise)
    calls: list[tuple[int, float]] = []
    fit = fit_kernel(
        x, t, size, method="gd", depthwise=depthwise, callback=lambda s, v: calls.append((s, v))
    )
    assert fit.loss <= 2 * exact.loss + 1e-14
    assert fit.steps == len(fit.history) == len(calls) < 500  # stopped early
    assert [v for _, v in calls] == fit.history
    slack = 1e-12 * fit.history[0]  # rounding, once the loss is near zero
    assert all(b <= a + slack for a, b in zip(fit.history, fit.history[1:], strict=False))
    if case == "identity":
        centre = np.zeros((3, 3))
        centre[1, 1] = 1.0
        np.testing.assert_allclose(fit.kernel, centre, atol=1e-6)


def test_gd_full_kernel(rng):
    x = rng.uniform(size=(12, 12, 2))
    w = rng.normal(scale=0.3, size=(1, 2, 3, 3))
    t = correlate(x, w, dtype=np.float64)
    fit = fit_kernel(x, t, 3, method="gd", depthwise=False, steps=400, lr=0.05)
    assert fit.kernel.shape == (1, 2, 3, 3)
    assert np.linalg.norm(fit.kernel - w) / np.linalg.norm(w) < 1e-2


def test_fit_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"target has shape \(8, 8, 3\).*\(4, 4, 3\)"):
        fit_kernel(np.ones((8, 8, 3)), np.ones((8, 8, 3)), 3, stride=2)
    with pytest.raises(ShapeError, match=r"\(6, 6\).*\(4, 4\)"):
        fit_kernel(np.ones((6, 6)), np.ones((6, 6)), 3, padding="valid")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"method": "adam"}, "method"),
        ({"method": "gd", "steps": 0}, "steps"),
        ({"method": "gd", "lr": -1.0}, "lr"),
        ({"tile_rows": 0}, "tile_rows"),
        ({"border": "bounce"}, "border"),
    ],
)
def test_fit_bad_options(kwargs, pattern):
    with pytest.raises(OptionError, match=pattern):
        fit_kernel(np.ones((5, 5)), np.ones((5, 5)), 3, **kwargs)
